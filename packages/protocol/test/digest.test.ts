import { createHash } from 'node:crypto';
import test from 'ava';
import fc from 'fast-check';
import {
  ChunkHasher,
  DIGEST_SIZE,
  Limits,
  MIN_CHUNK_SIZE,
  chunkCountFor,
  chunkSizeFor,
  chunksOverlapping,
  rootDigest,
  sha256,
} from '../src/index.js';

/** Digests of `data` split into `chunkSize` chunks, computed the obvious way. */
function reference(data: Buffer, chunkSize: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += chunkSize)
    out.push(sha256(data.subarray(at, at + chunkSize)));
  return out;
}

function hashAll(chunkSize: number, firstChunk: number, parts: readonly Buffer[]) {
  const seen: [number, Buffer][] = [];
  const hasher = new ChunkHasher(chunkSize, firstChunk, (i, d) => seen.push([i, d]));
  for (const p of parts) hasher.update(p);
  hasher.finish();
  return seen;
}

test('sha256 is SHA-256', (t) => {
  t.is(
    sha256(Buffer.from('abc')).toString('hex'),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
});

test('rootDigest is SHA-256 over the concatenated chunk digests', (t) => {
  const chunks = [sha256(Buffer.from('a')), sha256(Buffer.from('b'))];
  t.deepEqual(rootDigest(chunks), createHash('sha256').update(Buffer.concat(chunks)).digest());
  t.deepEqual(rootDigest([]), sha256(Buffer.alloc(0)), 'an empty file has the digest of nothing');
  t.throws(() => rootDigest([Buffer.alloc(31)]), { instanceOf: RangeError });
});

test('ChunkHasher yields the same digests in any chunking of the input', (t) => {
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 64 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.uint8Array({ maxLength: 400 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (chunkSize, first, raw, rawCuts) => {
          const data = Buffer.from(raw);
          const cuts = [...new Set(rawCuts.map((c) => c % (data.length + 1)))].sort(
            (a, b) => a - b,
          );
          const parts: Buffer[] = [];
          let at = 0;
          for (const c of cuts) {
            parts.push(data.subarray(at, c));
            at = c;
          }
          parts.push(data.subarray(at));
          const expected = reference(data, chunkSize).map((d, i): [number, Buffer] => [
            first + i,
            d,
          ]);
          const got = hashAll(chunkSize, first, parts);
          if (JSON.stringify(got) !== JSON.stringify(expected)) throw new Error('digests differ');
        },
      ),
      { numRuns: 500 },
    ),
  );
});

test('ChunkHasher reports a full chunk as soon as it completes and tracks the partial one', (t) => {
  const seen: number[] = [];
  const hasher = new ChunkHasher(4, 7, (i) => seen.push(i));
  hasher.update(Buffer.from('abcdef'));
  t.deepEqual(seen, [7]);
  t.is(hasher.pending, 2);
  hasher.update(Buffer.from('gh'));
  t.deepEqual(seen, [7, 8]);
  t.is(hasher.pending, 0);
  hasher.finish();
  t.deepEqual(seen, [7, 8], 'no empty trailing chunk');
});

test('ChunkHasher refuses a chunk size that could never complete a chunk', (t) => {
  for (const size of [0, -1, 1.5, Number.NaN]) {
    t.throws(() => new ChunkHasher(size, 0, () => undefined), { instanceOf: RangeError });
  }
});

test('chunkSizeFor starts at 1 MiB and doubles so a file never has more than MAX_CHUNKS chunks', (t) => {
  t.is(chunkSizeFor(0), MIN_CHUNK_SIZE);
  t.is(chunkSizeFor(1), MIN_CHUNK_SIZE);
  t.is(chunkSizeFor(MIN_CHUNK_SIZE * Limits.MAX_CHUNKS), MIN_CHUNK_SIZE);
  t.is(chunkSizeFor(MIN_CHUNK_SIZE * Limits.MAX_CHUNKS + 1), 2 * MIN_CHUNK_SIZE);
  t.notThrows(() =>
    fc.assert(
      fc.property(fc.maxSafeNat(), (size) => {
        const chunk = chunkSizeFor(size);
        const count = chunkCountFor(size, chunk);
        if (count > Limits.MAX_CHUNKS) throw new Error(`${count} chunks`);
        // Minimal: half the chunk size would exceed the limit (unless already at the minimum).
        if (chunk > MIN_CHUNK_SIZE && Math.ceil(size / (chunk / 2)) <= Limits.MAX_CHUNKS) {
          throw new Error(`chunk ${chunk} not minimal for ${size}`);
        }
        if (chunk % MIN_CHUNK_SIZE !== 0 || !Number.isInteger(Math.log2(chunk))) {
          throw new Error(`chunk ${chunk} not a power of two`);
        }
      }),
      { numRuns: 1000 },
    ),
  );
});

test('chunkSizeFor fits the FILE chunkSize field (u32) up to 16 TiB', (t) => {
  t.true(chunkSizeFor(2 ** 44) <= 0xffff_ffff);
  t.true(chunkSizeFor(2 ** 44 + 1) > 0xffff_ffff, 'beyond 2^44 bytes a chunk is 4 GiB');
});

test('chunkCountFor counts a short last chunk and none for an empty file', (t) => {
  t.is(chunkCountFor(0, 4), 0);
  t.is(chunkCountFor(4, 4), 1);
  t.is(chunkCountFor(5, 4), 2);
});

test('chunksOverlapping lists every chunk touching the range', (t) => {
  t.deepEqual(chunksOverlapping(0, 10, 4), { first: 0, count: 3 });
  t.deepEqual(chunksOverlapping(4, 4, 4), { first: 1, count: 1 });
  t.deepEqual(chunksOverlapping(3, 2, 4), { first: 0, count: 2 });
  t.deepEqual(chunksOverlapping(8, 0, 4), { first: 2, count: 0 });
  t.notThrows(() =>
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 100 }),
        fc.nat(1000),
        fc.nat(1000),
        (chunkSize, offset, length) => {
          const { first, count } = chunksOverlapping(offset, length, chunkSize);
          const brute: number[] = [];
          for (let c = 0; length > 0 && c * chunkSize < offset + length; c++) {
            if ((c + 1) * chunkSize > offset && c * chunkSize < offset + length) brute.push(c);
          }
          if (count !== brute.length || (count > 0 && first !== brute[0])) {
            throw new Error(`${first}+${count} vs ${brute.join(',')}`);
          }
        },
      ),
    ),
  );
});

test('digests are DIGEST_SIZE bytes', (t) => {
  t.is(sha256(Buffer.alloc(0)).length, DIGEST_SIZE);
  t.is(hashAll(2, 0, [Buffer.from('abc')])[1]?.[1].length, DIGEST_SIZE);
});
