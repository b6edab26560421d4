/**
 * The ring hashing thread (packages/client/src/hashing/ring-hasher.ts) under ChunkDigester:
 * digests right and in chunk order across the switch from main-thread hashing to the thread,
 * receive memory released only once hashed, copies for bytes outside shared memory, and the
 * fallback to main-thread hashing when the thread cannot start. (End to end, with corruption
 * on the wire: client-receive.test.ts.)
 */
import { createHash, randomFillSync } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import { ChunkDigester, RingHasher } from '@ft/client';

const MiB = 1024 * 1024;
const CHUNK = MiB;
/** Six and a half chunks: the last one short. */
const SIZE = 6 * MiB + 12345;
/** The size of one received view (one socket read into the ring). */
const VIEW = 256 * 1024;

function sharedData(): Buffer {
  return randomFillSync(Buffer.from(new SharedArrayBuffer(SIZE)));
}

function expectedDigests(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += CHUNK)
    out.push(
      createHash('sha256')
        .update(data.subarray(at, at + CHUNK))
        .digest(),
    );
  return out;
}

/** Waits (no time limit of its own: ava's timeout bounds it) until `done()` holds. */
async function until(done: () => boolean): Promise<void> {
  while (!done()) await sleep(2);
}

function digesterFor(ring: RingHasher) {
  const got: [number, Buffer][] = [];
  const digester = new ChunkDigester(CHUNK, 0, (index, digest) => got.push([index, digest]), {
    inline: true,
    ring,
  });
  return { digester, got };
}

test('chunks begun before the thread is ready are hashed here, the rest on the thread, in order', async (t) => {
  const data = sharedData();
  const ring = new RingHasher();
  ring.start();
  const { digester, got } = digesterFor(ring);
  let pinned = 0;
  const feed = (from: number, to: number): void => {
    for (let at = from; at < to; at += VIEW) {
      pinned++;
      digester.updateShared(data.subarray(at, Math.min(at + VIEW, to)), () => pinned--);
    }
  };
  // A chunk and a half before the thread runs: chunk 1 is begun here and must end here.
  feed(0, CHUNK + CHUNK / 2);
  t.false(digester.onRing);
  await until(() => ring.ready);
  feed(CHUNK + CHUNK / 2, SIZE);
  t.true(digester.onRing, 'chunks from 2 on went to the thread');
  digester.finish();
  await digester.flushed();
  t.is(pinned, 0, 'every view released once hashed');
  t.true(ring.jobsRun > 0);
  t.deepEqual(
    got.map(([i]) => i),
    [0, 1, 2, 3, 4, 5, 6],
  );
  t.deepEqual(
    got.map(([, d]) => d.toString('hex')),
    expectedDigests(data).map((d) => d.toString('hex')),
  );
  digester.dispose();
});

test('bytes outside shared memory reach the thread through a copy, digests unchanged', async (t) => {
  const data = sharedData();
  const ring = new RingHasher();
  ring.start();
  await until(() => ring.ready);
  const { digester, got } = digesterFor(ring);
  // Shared views and plain copies interleaved, views straddling chunk ends.
  for (let at = 0, k = 0; at < SIZE; at += VIEW + 1000, k++) {
    const view = data.subarray(at, Math.min(at + VIEW + 1000, SIZE));
    if (k % 3 === 1) digester.update(Buffer.from(view));
    else digester.updateShared(view, () => {});
  }
  t.true(digester.onRing);
  digester.finish();
  await digester.flushed();
  t.deepEqual(
    got.map(([, d]) => d.toString('hex')),
    expectedDigests(data).map((d) => d.toString('hex')),
  );
  t.false(digester.congested);
  digester.dispose();
});

test('a corrupt byte hashed on the thread gives a different digest for that chunk only', async (t) => {
  const data = sharedData();
  const expected = expectedDigests(data);
  data.writeUInt8(data.readUInt8(3 * CHUNK + 77) ^ 0xff, 3 * CHUNK + 77);
  const ring = new RingHasher();
  ring.start();
  await until(() => ring.ready);
  const { digester, got } = digesterFor(ring);
  for (let at = 0; at < SIZE; at += VIEW)
    digester.updateShared(data.subarray(at, at + VIEW), () => {});
  digester.finish();
  await digester.flushed();
  const differ = got.filter(([i, d]) => !d.equals(expected[i]!)).map(([i]) => i);
  t.deepEqual(differ, [3]);
  digester.dispose();
});

test('a thread that cannot start: every chunk is hashed on the main thread, digests right', async (t) => {
  const data = sharedData();
  const ring = new RingHasher(new URL('file:///nonexistent/ft-ring-hash-thread.cjs'));
  ring.start();
  await until(() => ring.failed !== undefined);
  t.false(ring.ready);
  const { digester, got } = digesterFor(ring);
  let pinned = 0;
  for (let at = 0; at < SIZE; at += VIEW) {
    pinned++;
    digester.updateShared(data.subarray(at, at + VIEW), () => pinned--);
  }
  digester.finish();
  await digester.flushed();
  t.false(digester.onRing);
  t.is(pinned, 0);
  t.deepEqual(
    got.map(([, d]) => d.toString('hex')),
    expectedDigests(data).map((d) => d.toString('hex')),
  );
  digester.dispose();
});
