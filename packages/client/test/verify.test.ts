import { randomBytes } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootDigest, sha256 } from '@ft/protocol';
import test from 'ava';
import { ChunkLedger, hashLocalRange } from '../src/verify.js';
import { runsOf } from '../src/file-download/runs.js';

const CS = 1024 * 1024;
const data = randomBytes(3 * CS + 100);
const digests = [0, 1, 2, 3].map((i) => sha256(data.subarray(i * CS, (i + 1) * CS)));
const root = rootDigest(digests);

test('chunks verify against known digests; a wrong one is bad', (t) => {
  const ledger = new ChunkLedger(data.length, CS, root);
  t.is(ledger.count, 4);
  ledger.learn(0, digests);
  t.is(ledger.record(0, digests[0]!), 'verified');
  t.is(ledger.record(1, digests[0]!), 'bad');
  t.deepEqual(ledger.unverifiedBelow(4), [1, 2, 3]);
  t.deepEqual(ledger.rangeOf(3), { offset: 3 * CS, length: 100 });
});

test('a second, different digest for the same chunk is a protocol error', (t) => {
  const ledger = new ChunkLedger(data.length, CS, root);
  ledger.learn(1, [digests[1]!]);
  t.throws(() => ledger.learn(1, [digests[2]!]), { message: /two different digests/ });
  t.throws(() => ledger.learn(4, [digests[0]!]), { message: /out of range/ });
});

test('chunks with unknown digests are settled by the root digest', (t) => {
  const ledger = new ChunkLedger(data.length, CS, root);
  ledger.learn(2, digests.slice(2));
  t.is(ledger.record(0, digests[0]!), 'unknown');
  t.is(ledger.record(1, digests[1]!), 'unknown');
  ledger.record(2, digests[2]!);
  ledger.record(3, digests[3]!);
  t.deepEqual(ledger.unknownChunks(), [0, 1]);
  t.true(ledger.rootMatches());
  ledger.acceptUnknownByRoot();
  t.is(ledger.verifiedCount, 4);
  const wrong = new ChunkLedger(data.length, CS, root);
  wrong.learn(2, digests.slice(2));
  wrong.record(0, sha256(Buffer.from('not it')));
  wrong.record(1, digests[1]!);
  wrong.record(2, digests[2]!);
  wrong.record(3, digests[3]!);
  t.false(wrong.rootMatches());
});

test('learning a digest later settles a chunk that was hashed before', (t) => {
  const ledger = new ChunkLedger(data.length, CS, root);
  ledger.record(0, digests[0]!);
  ledger.record(1, sha256(Buffer.from('x')));
  ledger.learn(0, digests.slice(0, 2));
  t.true(ledger.isVerified(0));
  t.false(ledger.isVerified(1));
  t.deepEqual(ledger.unknownChunks(), []);
});

test('snapshot/restore round-trips digests and the verified bitmap', (t) => {
  const ledger = new ChunkLedger(data.length, CS, root);
  ledger.learn(0, digests);
  ledger.record(0, digests[0]!);
  ledger.record(2, digests[2]!);
  const snap = ledger.snapshot();
  const back = ChunkLedger.restore(
    data.length,
    CS,
    root,
    snap.digests,
    Buffer.from(snap.verified, 'base64'),
  );
  t.deepEqual(
    [0, 1, 2, 3].map((i) => back.isVerified(i)),
    [true, false, true, false],
  );
  t.deepEqual(back.snapshot(), snap);
});

test('hashLocalRange hashes complete chunks and leaves the tail primed', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ftget-verify-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, 'p');
  const present = 2 * CS + 500;
  await writeFile(path, data.subarray(0, present));
  const handle = await open(path, 'r');
  t.teardown(() => handle.close());
  const seen: [number, string][] = [];
  const hasher = await hashLocalRange(handle, CS, 1, present, (i, d) =>
    seen.push([i, d.toString('hex')]),
  );
  t.deepEqual(
    seen,
    [[1, digests[1]!.toString('hex')]],
    'only chunk 1 is complete in the range read',
  );
  t.is(hasher.pending, 500);
  hasher.update(data.subarray(present, 3 * CS));
  await hasher.flushed();
  t.deepEqual(
    seen[1],
    [2, digests[2]!.toString('hex')],
    'the primed tail completes chunk 2 correctly',
  );
});

test('runsOf groups consecutive chunk indices', (t) => {
  t.deepEqual(runsOf([0, 1, 2, 5, 7, 8]), [
    { first: 0, count: 3 },
    { first: 5, count: 1 },
    { first: 7, count: 2 },
  ]);
  t.deepEqual(runsOf([]), []);
});
