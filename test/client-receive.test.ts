/**
 * The TCP receive path at scale: bodies much larger than the client's receive ring (so it
 * wraps many times and pauses the socket), corruption on the wire and in a stateless partial
 * hashed beside the fetch. (The memory bound of a 1 GiB download: client-memory-bound.test.ts.)
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { startFakeServer } from './helpers/fake-server.js';
import type { Behaviour } from './helpers/fake-server.js';
import { runFtget } from './helpers/ftget.js';

const MiB = 1024 * 1024;
/** Ten times the receive ring, and more chunks than one FILE header's worth of reads. */
const SIZE = 40 * MiB + 4321;
/** Past RING_THREAD_MIN_BYTES: hashed on the ring hashing thread once it is up. */
const LARGE = 256 * MiB + 3 * MiB + 999;
/** The verbose line of the switch to the ring hashing thread. */
const ON_THREAD = /hashing from chunk (\d+) on the ring hashing thread/;

async function withFake(
  t: ExecutionContext,
  behaviour: Behaviour | ((n: number) => Behaviour),
  size = SIZE,
) {
  const data = randomBytes(size);
  const server = await startFakeServer({ files: { 'f.bin': data }, behaviour });
  t.teardown(() => server.close());
  const dl = await mkdtemp(join(tmpdir(), 'ftget-receive-'));
  t.teardown(() => rm(dl, { recursive: true, force: true }));
  const get = (...args: string[]) =>
    runFtget(
      ['get', 'f.bin', '--host', '127.0.0.1', '--port', String(server.port)]
        .concat(['--retry-max-wait', '0.05'])
        .concat(args),
      { cwd: dl },
    );
  return { data, server, dl, get, out: join(dl, 'f.bin'), part: join(dl, 'f.bin.part') };
}

test('a corrupt chunk deep in a large body is caught and only that chunk is fetched again', async (t) => {
  const env = await withFake(t, (n) =>
    n === 0 ? { corruptAt: 29 * MiB + 77, corruptOnce: true } : {},
  );
  const res = await env.get();
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(env.out)).equals(env.data), 'byte-identical');
  t.is(env.server.gets.length, 2);
  t.like(env.server.gets[1], { offset: 29 * MiB, length: MiB });
});

test('a chunk corrupt on every send: exit 6, nothing at the output name, the partial kept', async (t) => {
  const env = await withFake(t, { corruptAt: 17 * MiB + 3 });
  const res = await env.get();
  t.is(res.code, 6, res.stderr);
  t.regex(res.stderr, /chunk 17 .*failed verification/);
  t.false(existsSync(env.out));
  t.is((await stat(env.part)).size, SIZE);
});

test('-o - of a large body stops before a corrupt chunk: stdout holds exactly the verified ones', async (t) => {
  const env = await withFake(t, { corruptAt: 23 * MiB + 100 });
  const res = await env.get('-o', '-');
  t.is(res.code, 6, res.stderr);
  t.is(res.stdout.length, 23 * MiB);
  t.true(res.stdout.equals(env.data.subarray(0, 23 * MiB)));
});

test('-o - of a large body is byte-identical', async (t) => {
  const env = await withFake(t, {});
  const res = await env.get('-o', '-');
  t.is(res.code, 0, res.stderr);
  t.true(res.stdout.equals(env.data));
});

test('a bare partial (no state) is hashed beside the fetch of the rest and completes', async (t) => {
  const env = await withFake(t, {});
  const present = 20 * MiB + 5;
  await writeFile(env.part, env.data.subarray(0, present));
  const res = await env.get('--resume');
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(env.out)).equals(env.data), 'byte-identical');
  t.is(env.server.gets.length, 1, 'the partial was kept: only the rest was fetched');
  t.is(env.server.gets[0]?.offset, present);
});

test('a bare partial with a corrupt whole chunk is caught through the root digest and repaired', async (t) => {
  const env = await withFake(t, {});
  const partial = Buffer.from(env.data.subarray(0, 20 * MiB + 5));
  partial[3 * MiB + 1] = partial[3 * MiB + 1]! ^ 0x40;
  await writeFile(env.part, partial);
  const res = await env.get('--resume');
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(env.out)).equals(env.data), 'byte-identical');
  t.is(env.server.gets[0]?.offset, partial.length, 'the rest was fetched first');
  t.true(env.server.gets.length > 1, 'then the unverifiable prefix again');
});

test("a bare partial larger than the rest, corrupt in both threads' shares of the re-hash, is repaired", async (t) => {
  // 35 whole chunks present, 6 to fetch: chunks 0–20 are re-hashed on the second thread and
  // 21–34 on the one that also hashes the arriving bytes (rehashBeside); damage in each share.
  const env = await withFake(t, {});
  const partial = Buffer.from(env.data.subarray(0, 35 * MiB + 5));
  partial[33 * MiB + 1] = partial[33 * MiB + 1]! ^ 0x40;
  partial[5 * MiB + 1] = partial[5 * MiB + 1]! ^ 0x40; // and chunk 5, on the second thread
  await writeFile(env.part, partial);
  const res = await env.get('--resume');
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(env.out)).equals(env.data), 'byte-identical');
  t.is(env.server.gets[0]?.offset, partial.length, 'the rest was fetched first');
  t.true(env.server.gets.length > 1, 'then the unverifiable prefix again');
});

test('a body past the thread threshold: a chunk corrupt once, after the switch to the ring hashing thread, is caught there and fetched again', async (t) => {
  const corruptAt = 250 * MiB + 4321;
  const env = await withFake(t, (n) => (n === 0 ? { corruptAt, corruptOnce: true } : {}), LARGE);
  const res = await env.get('-v');
  t.is(res.code, 0, res.stderr);
  const switched = ON_THREAD.exec(res.stderr);
  t.truthy(switched, res.stderr);
  t.true(Number(switched![1]) < 250, 'the corrupt chunk was hashed on the thread');
  t.true((await readFile(env.out)).equals(env.data), 'byte-identical');
  t.is(env.server.gets.length, 2);
  t.like(env.server.gets[1], { offset: 250 * MiB, length: MiB });
});

test('-o - of a body past the thread threshold stops before a chunk the thread found corrupt', async (t) => {
  const env = await withFake(t, { corruptAt: 240 * MiB + 9 }, LARGE);
  const res = await env.get('-o', '-', '-v');
  t.is(res.code, 6, res.stderr);
  const switched = ON_THREAD.exec(res.stderr);
  t.truthy(switched, res.stderr);
  t.true(Number(switched![1]) < 240);
  t.is(res.stdout.length, 240 * MiB);
  t.true(res.stdout.equals(env.data.subarray(0, 240 * MiB)));
});
