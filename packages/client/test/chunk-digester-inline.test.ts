/**
 * Small chunks are hashed on the calling thread: a 4 KiB download must not pay for starting the
 * hashing thread. Its own file, so that no other test started the thread first in this process.
 */
import { randomBytes } from 'node:crypto';
import { sha256 } from '@ft/protocol';
import test from 'ava';
import { ChunkDigester } from '../src/hashing/chunk-digester.js';
import { INLINE_BUDGET_BYTES, INLINE_CHUNK_BYTES } from '../src/hashing/digester-budget.js';
import { hashThread } from '../src/hashing/hash-worker.js';

const threadStarted = (): boolean =>
  (hashThread as unknown as { worker?: unknown }).worker !== undefined;

async function digest(data: Buffer, chunkSize: number): Promise<[number, string][]> {
  const seen: [number, string][] = [];
  const d = new ChunkDigester(chunkSize, 3, (i, digest) => seen.push([i, digest.toString('hex')]));
  d.update(data);
  d.finish();
  await d.flushed();
  d.dispose();
  return seen;
}

test.serial('a whole chunk up to INLINE_CHUNK_BYTES is hashed without the thread', async (t) => {
  for (const size of [1, 4096, INLINE_CHUNK_BYTES]) {
    const data = randomBytes(size);
    t.deepEqual(await digest(data, 1024 * 1024), [[3, sha256(data).toString('hex')]]);
  }
  t.false(threadStarted());
});

test.serial(
  'larger chunks are hashed here until the inline budget is used up, then on the thread, in order',
  async (t) => {
    // 4 MiB + 1 chunks: three fit in what is left of INLINE_BUDGET_BYTES (16 MiB), the fourth
    // does not and starts the thread; the rest follow it there.
    const chunk = 4 * 1024 * 1024 + 1;
    const data = randomBytes(6 * chunk + 100);
    t.true(7 * chunk > INLINE_BUDGET_BYTES, 'the test outgrows the budget');
    const first = await digest(data.subarray(0, chunk), chunk);
    t.deepEqual(first, [[3, sha256(data.subarray(0, chunk)).toString('hex')]]);
    t.false(threadStarted(), 'a 4 MiB chunk within the budget is hashed here');
    const want: [number, string][] = [];
    for (let at = 0, i = 3; at < data.length; at += chunk, i++)
      want.push([i, sha256(data.subarray(at, at + chunk)).toString('hex')]);
    t.deepEqual(await digest(data, chunk), want);
    t.true(threadStarted());
  },
);
