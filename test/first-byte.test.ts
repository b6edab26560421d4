/**
 * Protocol version 3's streamed digests (docs/PROTOCOL.md §4.13): a GET of a file whose digests
 * the server has never computed is answered at once, the digests following each chunk, instead
 * of after a hash pass over the whole file. Real ftserve and ftget processes on 127.0.0.1; the
 * raw client (test/helpers/raw-client.ts) shows the frames themselves.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DigestAlgorithm, FrameType, rootDigest } from '@ft/protocol';
import type { ChunkDigest, FileHeader } from '@ft/protocol';
import { runFtget } from './helpers/ftget.js';
import { sparseFile } from './helpers/fixtures.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { RawClient } from './helpers/raw-client.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const MiB = 1024 * 1024;
const sha = (b: Buffer): Buffer => createHash('sha256').update(b).digest();

let server: Ftserve;
let base: string;
let root: string;
let counter = 0;

/** `ftget get NAME -o -` against 127.0.0.1:`port`. */
const toStdout = (port: number, name: string) =>
  runFtget(['get', name, '-o', '-', '--host', '127.0.0.1', '--port', String(port)]);

test.before(async () => {
  base = await mkdtemp(join(tmpdir(), 'ft-first-byte-'));
  root = join(base, 'srv');
  await mkdir(root);
  server = await startFtserve(['--root', root, '--port', '0', '--no-udp']);
});
test.after.always(async () => {
  await server?.stop();
  await rm(base, { recursive: true, force: true });
});

/** A new file of random bytes under the root (never seen: no digests anywhere yet). */
async function freshFile(size: number): Promise<{ name: string; data: Buffer }> {
  const name = `f${counter++}.bin`;
  const data = randomBytes(size);
  await writeFile(join(root, name), data);
  return { name, data };
}

/** The digests of each whole chunk of `data`. */
function chunkDigests(data: Buffer, chunkSize: number): Buffer[] {
  const out: Buffer[] = [];
  for (let at = 0; at < data.length; at += chunkSize)
    out.push(sha(data.subarray(at, at + chunkSize)));
  return out;
}

interface Streamed {
  header: FileHeader;
  body: Buffer;
  /** The CHUNK_DIGEST frames, each with the body bytes received before it. */
  digests: { message: ChunkDigest; bodyBefore: number }[];
}

/** Reads a whole GET answer, frames between body pieces included. */
async function readStreamed(client: RawClient): Promise<Streamed> {
  const header = await client.nextMessage();
  if (header.type !== FrameType.FILE) throw new Error(`expected FILE, got ${header.type}`);
  const parts: Buffer[] = [];
  let got = 0;
  const digests: Streamed['digests'] = [];
  for (;;) {
    const e = await client.next();
    if (e.kind === 'close') throw new Error('closed inside the answer');
    if (e.kind === 'data') {
      parts.push(e.chunk);
      got += e.chunk.length;
    } else if (e.message.type === FrameType.CHUNK_DIGEST) {
      digests.push({ message: e.message, bodyBefore: got });
    } else if (e.message.type === FrameType.END) {
      return { header, body: Buffer.concat(parts), digests };
    } else throw new Error(`unexpected frame ${e.message.type}`);
  }
}

test('the first chunk of a never-seen 16 GiB file arrives with its digest before the server has hashed the file', async (t) => {
  const name = `huge${counter++}.bin`;
  await sparseFile(join(root, name), 16 * 1024 * MiB);
  const client = await RawClient.connect(server.port);
  t.teardown(() => client.destroy());
  client.sendGet({ path: name, offset: 0, wantDigests: true, streamDigests: true });
  const header = await client.nextMessage();
  if (header.type !== FrameType.FILE) return t.fail(`expected FILE, got ${header.type}`);
  // Streamed: no digest and no root in the header, so nothing was hashed before it.
  t.is(header.algorithm, DigestAlgorithm.SHA256_CHUNKS_STREAMED);
  t.is(header.chunkSize, 2 * MiB);
  t.is(header.chunkDigests.length, 0);
  t.true(header.root.equals(Buffer.alloc(32)));
  let got = 0;
  while (got < header.chunkSize) {
    const e = await client.next();
    if (e.kind !== 'data') return t.fail(`expected body bytes, got ${e.kind}`);
    got += e.chunk.length;
  }
  t.is(got, header.chunkSize, 'the body pauses exactly at the chunk boundary');
  const digest = await client.nextMessage();
  if (digest.type !== FrameType.CHUNK_DIGEST) return t.fail(`expected CHUNK_DIGEST`);
  t.is(digest.index, 0);
  t.true(digest.digest.equals(sha(Buffer.alloc(2 * MiB))));
  t.is(digest.root, undefined);
  client.destroy();
  // The server still has no digests of the file: it never read it whole (a server that hashes
  // first would have cached them before the header), so the next GET is streamed again.
  const again = await RawClient.connect(server.port);
  t.teardown(() => again.destroy());
  again.sendGet({ path: name, offset: 0, length: 1, wantDigests: true, streamDigests: true });
  const second = await readStreamed(again);
  t.is(second.header.algorithm, DigestAlgorithm.SHA256_CHUNKS_STREAMED);
  t.is(second.digests.length, 1);
  t.true(second.digests[0]!.message.digest.equals(digest.digest), 'chunk 0 read whole to hash it');
});

test('a streamed body carries each whole chunk digest right after its bytes, the root last, and fills the cache', async (t) => {
  const { name, data } = await freshFile(5 * MiB + 123);
  const expected = chunkDigests(data, MiB);
  const client = await RawClient.connect(server.port);
  t.teardown(() => client.destroy());
  client.sendGet({ path: name, offset: 0, wantDigests: true, streamDigests: true });
  const s = await readStreamed(client);
  t.is(s.header.algorithm, DigestAlgorithm.SHA256_CHUNKS_STREAMED);
  t.true(s.body.equals(data));
  t.deepEqual(
    s.digests.map((d) => [d.message.index, d.bodyBefore]),
    expected.map((_, i) => [i, Math.min((i + 1) * MiB, data.length)]),
  );
  s.digests.forEach((d, i) => t.true(d.message.digest.equals(expected[i]!), `chunk ${i}`));
  t.true(s.digests.at(-1)!.message.root?.equals(rootDigest(expected)), 'the root comes last');
  t.true(s.digests.slice(0, -1).every((d) => d.message.root === undefined));
  // That pass read the whole file in order: the next GET has the digests in its header.
  client.sendGet({ path: name, offset: 0, wantDigests: true, streamDigests: true });
  const cached = await client.readGet();
  if (!cached.ok) return t.fail('refused');
  t.is(cached.header.algorithm, DigestAlgorithm.SHA256_CHUNKS);
  t.true(cached.header.root.equals(rootDigest(expected)));
  t.regex(server.stderr(), new RegExp(`transfer .*path=${name} .*digest=streamed result=OK`));
  // The streamed pass did not compute the plain SHA-256; the first STAT that asks for it does.
  const st = await runFtget([
    'stat',
    name,
    '--json',
    '--host',
    '127.0.0.1',
    '--port',
    String(server.port),
  ]);
  t.is(st.code, 0, st.stderr);
  const info = JSON.parse(st.stdout.toString()) as { sha256: string; digest: string };
  t.is(info.sha256, sha(data).toString('hex'));
  t.is(info.digest, rootDigest(expected).toString('hex'));
});

test('a streamed range that starts and ends inside chunks gets the digests of the whole chunks, no root', async (t) => {
  const { name, data } = await freshFile(4 * MiB);
  const expected = chunkDigests(data, MiB);
  const client = await RawClient.connect(server.port);
  t.teardown(() => client.destroy());
  const offset = MiB + MiB / 2;
  const length = 2 * MiB;
  client.sendGet({ path: name, offset, length, wantDigests: true, streamDigests: true });
  const s = await readStreamed(client);
  t.is(s.header.firstChunk, 1);
  t.true(s.body.equals(data.subarray(offset, offset + length)));
  t.deepEqual(
    s.digests.map((d) => [d.message.index, d.bodyBefore, d.message.root]),
    [
      [1, MiB / 2, undefined],
      [2, MiB / 2 + MiB, undefined],
      [3, length, undefined],
    ],
  );
  s.digests.forEach((d) => t.true(d.message.digest.equals(expected[d.message.index]!)));
  // Not a whole pass: still nothing cached.
  client.sendGet({ path: name, offset: 0, length: 10, wantDigests: true, streamDigests: true });
  t.is((await readStreamed(client)).header.algorithm, DigestAlgorithm.SHA256_CHUNKS_STREAMED);
});

test('version-2 clients, and version-3 GETs without STREAM_DIGESTS, get the digests in the header as before', async (t) => {
  const { name, data } = await freshFile(3 * MiB + 7);
  const expected = chunkDigests(data, MiB);
  const old = await RawClient.connect(server.port, { hello: false });
  t.teardown(() => old.destroy());
  t.is(await old.hello(2), 2);
  const r = await old.get({ path: name, offset: 0, wantDigests: true });
  if (!r.ok) return t.fail('refused');
  t.is(r.header.algorithm, DigestAlgorithm.SHA256_CHUNKS);
  t.deepEqual(r.header.chunkDigests, expected);
  t.true(r.header.root.equals(rootDigest(expected)));
  t.true(r.body.equals(data));
  const { name: other } = await freshFile(2 * MiB);
  const v3 = await RawClient.connect(server.port);
  t.teardown(() => v3.destroy());
  const plain = await v3.get({ path: other, offset: 0, wantDigests: true });
  t.true(plain.ok && plain.header.algorithm === DigestAlgorithm.SHA256_CHUNKS);
  // A file of one chunk is hashed first even when streaming is accepted (about 1 ms of work).
  const { name: small } = await freshFile(MiB);
  const one = await v3.get({ path: small, offset: 0, wantDigests: true, streamDigests: true });
  t.true(one.ok && one.header.algorithm === DigestAlgorithm.SHA256_CHUNKS);
});

/** ftget get NAME into a fresh directory, with `args`; resolves with the run and its directory. */
async function ftget(name: string, port: number, ...args: string[]) {
  const dl = await mkdtemp(join(base, 'dl-'));
  const res = await runFtget(
    ['get', name, '-o', 'out.bin', '--host', '127.0.0.1', '--port', String(port), ...args],
    { cwd: dl },
  );
  return { res, dl, out: join(dl, 'out.bin') };
}

test('ftget downloads a never-seen file with streamed digests, byte for byte', async (t) => {
  const { name, data } = await freshFile(6 * MiB + 999);
  const { res, out } = await ftget(name, server.port, '--json');
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(out)).equals(data));
  const json = JSON.parse(res.stdout.toString()) as { digest: string };
  t.is(json.digest, rootDigest(chunkDigests(data, MiB)).toString('hex'));
  t.regex(server.stderr(), new RegExp(`transfer .*path=${name} .*digest=streamed result=OK`));
});

test('a byte flipped on the way is still caught with streamed digests, and the chunk refetched', async (t) => {
  const { name, data } = await freshFile(4 * MiB + 5);
  // Flip a byte of chunk 1's body on the first connection (WELCOME and FILE are ~130 bytes).
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: server.port },
    fault: (n) => (n === 0 ? { flipAt: MiB + 4096 } : undefined),
  });
  t.teardown(() => proxy.close());
  const { res, out } = await ftget(name, proxy.port);
  t.is(res.code, 0, res.stderr);
  t.is(proxy.flips, 1);
  t.true((await readFile(out)).equals(data), 'the final file is the server’s');
  t.regex(server.stderr(), new RegExp(`transfer .*path=${name} .*digest=streamed`));
  // The refetch of the bad chunk (RECHECK) found the digests cached by the first, whole pass.
  t.regex(server.stderr(), new RegExp(`transfer .*path=${name} offset=${MiB} .*digest=cached`));
});

test('a partial left by a streamed download records only chunks whose digest arrived, and --resume completes it', async (t) => {
  const { name, data } = await freshFile(6 * MiB + 77);
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: server.port },
    fault: (n) => (n === 0 ? { cutAfter: 3 * MiB + MiB / 2 } : undefined),
  });
  t.teardown(() => proxy.close());
  const cut = await ftget(name, proxy.port, '--retries', '0');
  t.is(cut.res.code, 3, cut.res.stderr);
  const statePath = `${cut.out}.part.json`;
  t.true(existsSync(statePath));
  const state = JSON.parse(await readFile(statePath, 'utf8')) as {
    root: string;
    digests: string[];
    verified: string;
  };
  t.regex(state.root, /^0{64}$/, 'no root known: the digests were streamed');
  const verified = Buffer.from(state.verified, 'base64');
  const expected = chunkDigests(data, MiB);
  state.digests.forEach((d, i) => {
    const isVerified = (verified[i >> 3]! & (1 << (i & 7))) !== 0;
    if (isVerified) t.is(d, expected[i]!.toString('hex'), `chunk ${i} verified against its digest`);
    if (d === '') t.false(isVerified, `chunk ${i} has no digest, so it is not verified`);
  });
  t.is(state.digests[4], '', 'no digest of a chunk the cut came before');
  const res = await runFtget(
    [
      'get',
      name,
      '-o',
      'out.bin',
      '--host',
      '127.0.0.1',
      '--port',
      String(server.port),
      '--resume',
    ],
    { cwd: cut.dl },
  );
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(cut.out)).equals(data));
  t.false(existsSync(statePath));
});

test('-o - (stdout) of a never-seen file streams the digests too, byte for byte', async (t) => {
  const { name, data } = await freshFile(3 * MiB + 1);
  const res = await toStdout(server.port, name);
  t.is(res.code, 0, res.stderr);
  t.true(res.stdout.equals(data));
  t.regex(server.stderr(), new RegExp(`transfer .*path=${name} .*digest=streamed result=OK`));
});

test('-o - stops before a chunk whose bytes do not match its streamed digest (exit 6)', async (t) => {
  const { name, data } = await freshFile(4 * MiB);
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: server.port },
    // In chunk 2's bytes (WELCOME, FILE and two CHUNK_DIGESTs come first: ~230 bytes).
    fault: () => ({ flipAt: 2 * MiB + 4096 }),
  });
  t.teardown(() => proxy.close());
  const res = await toStdout(proxy.port, name);
  t.is(res.code, 6, res.stderr);
  t.regex(res.stderr, /chunk 2 .*does not match its digest/);
  // Only the verified chunks before it reached stdout: nothing unverified was ever written.
  t.true(res.stdout.equals(data.subarray(0, 2 * MiB)));
});
