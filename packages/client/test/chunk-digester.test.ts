import { randomBytes } from 'node:crypto';
import { sha256 } from '@ft/protocol';
import test from 'ava';
import { ChunkDigester } from '../src/hashing/chunk-digester.js';
import { INLINE_BUDGET_BYTES, MAX_SLABS, SLAB_SIZE } from '../src/hashing/digester-budget.js';

const MiB = 1024 * 1024;

function expected(data: Buffer, chunkSize: number, first = 0): [number, string][] {
  const out: [number, string][] = [];
  for (let at = 0; at < data.length; at += chunkSize) {
    out.push([first + at / chunkSize, sha256(data.subarray(at, at + chunkSize)).toString('hex')]);
  }
  return out;
}

async function digestAll(data: Buffer, chunkSize: number, pieces: number[]) {
  const seen: [number, string][] = [];
  const d = new ChunkDigester(chunkSize, 0, (i, digest) => seen.push([i, digest.toString('hex')]));
  let at = 0;
  for (const n of pieces) {
    d.update(data.subarray(at, at + n));
    at += n;
    if (d.congested) await d.flushed();
  }
  d.update(data.subarray(at));
  d.finish();
  await d.flushed();
  d.dispose();
  return seen;
}

test('digests equal SHA-256 of each chunk, whatever the chunk size and the feeding', async (t) => {
  const data = randomBytes(3 * MiB + 777);
  for (const chunkSize of [MiB, 3 * MiB, 5 * MiB, 1000, 7]) {
    const small = chunkSize < 1000 ? data.subarray(0, 5000) : data;
    t.deepEqual(
      await digestAll(small, chunkSize, [1, 64 * 1024, 3, 999_999, 12_345]),
      expected(small, chunkSize),
      `chunk size ${chunkSize}`,
    );
  }
});

test('a chunk larger than a slab is hashed across slabs', async (t) => {
  const data = randomBytes(2 * SLAB_SIZE + 5);
  t.deepEqual(
    await digestAll(data, 4 * SLAB_SIZE, [SLAB_SIZE - 1, 2]),
    expected(data, 4 * SLAB_SIZE),
  );
});

test('chunks are numbered from the first chunk given; pending counts the open chunk', async (t) => {
  const data = randomBytes(2 * MiB + 10);
  const seen: [number, string][] = [];
  const d = new ChunkDigester(MiB, 7, (i, digest) => seen.push([i, digest.toString('hex')]));
  d.update(data);
  t.is(d.pending, 10);
  await d.flushed();
  t.deepEqual(seen, expected(data.subarray(0, 2 * MiB), MiB, 7));
  d.finish();
  await d.flushed();
  t.deepEqual(seen[2], [9, sha256(data.subarray(2 * MiB)).toString('hex')]);
  d.dispose();
});

test('it reports congestion past MAX_SLABS and calls onLow once it caught up', async (t) => {
  let lows = 0;
  const d = new ChunkDigester(MiB, 0, () => {}, { onLow: () => lows++ });
  const block = randomBytes(SLAB_SIZE);
  // The first chunks may be hashed here (INLINE_BUDGET_BYTES): past them, slabs pile up.
  for (let i = 0; i <= INLINE_BUDGET_BYTES / SLAB_SIZE + MAX_SLABS; i++) d.update(block);
  d.update(block.subarray(0, 1));
  t.true(d.congested);
  await d.flushed();
  t.false(d.congested);
  t.true(lows >= 1);
  d.dispose();
});

test('an onChunk that throws fails the digester: onError once, flushed() rejects', async (t) => {
  const errors: Error[] = [];
  const d = new ChunkDigester(
    1000,
    0,
    () => {
      throw new Error('mismatch');
    },
    { onError: (e) => errors.push(e) },
  );
  d.update(randomBytes(3000));
  await t.throwsAsync(d.flushed(), { message: 'mismatch' });
  t.is(errors.length, 1);
  t.is(d.failed?.message, 'mismatch');
  d.dispose();
});

test('after dispose no digest is reported and update is refused', async (t) => {
  const seen: number[] = [];
  const d = new ChunkDigester(1000, 0, (i) => seen.push(i));
  d.update(randomBytes(5000));
  d.dispose();
  await d.flushed();
  t.deepEqual(seen, []);
  t.throws(() => d.update(Buffer.from('x')), { message: /after dispose/ });
});

test('a chunk size that is not a positive integer is refused', (t) => {
  t.throws(() => new ChunkDigester(0, 0, () => {}), { instanceOf: RangeError });
  t.throws(() => new ChunkDigester(1.5, 0, () => {}), { instanceOf: RangeError });
});

test('shared memory is hashed in place, mixed with copied bytes, and released once hashed', async (t) => {
  const data = randomBytes(5 * MiB + 321);
  const shared = Buffer.from(new SharedArrayBuffer(data.length));
  data.copy(shared);
  for (const chunkSize of [MiB, 3 * MiB, 1000]) {
    const input = shared;
    const seen: [number, string][] = [];
    const d = new ChunkDigester(chunkSize, 0, (i, digest) =>
      seen.push([i, digest.toString('hex')]),
    );
    const released: number[] = [];
    let at = 0;
    let id = 0;
    for (const n of [1, 300_000, 7, 2 * MiB, 12_345, 999_999]) {
      const view = input.subarray(at, Math.min(at + n, input.length));
      const mine = id++;
      // Every third piece is copied instead: the order across both paths is the hash.
      if (mine % 3 === 2) d.update(view);
      else d.updateShared(view, () => released.push(mine));
      at += view.length;
    }
    d.updateShared(input.subarray(at), () => released.push(-1));
    // Answers from the thread arrive asynchronously: nothing can be released yet.
    t.deepEqual(released, [], 'shared bytes stay pinned until hashed');
    d.finish();
    await d.flushed();
    d.dispose();
    t.deepEqual(seen, expected(Buffer.from(input), chunkSize), `chunk size ${chunkSize}`);
    t.deepEqual(
      [...released].sort((a, b) => a - b),
      [-1, 0, 1, 3, 4],
      'every shared view released once',
    );
  }
});

test('dispose releases shared bytes not yet sent to the thread', async (t) => {
  const shared = Buffer.from(new SharedArrayBuffer(4096));
  const d = new ChunkDigester(MiB, 0, () => t.fail('no chunk completes'));
  let releases = 0;
  d.updateShared(shared.subarray(0, 1000), () => releases++);
  d.updateShared(shared.subarray(1000, 3000), () => releases++);
  t.is(releases, 0, 'kept while gathered');
  d.dispose();
  t.is(releases, 2);
});
