/**
 * Bodies sent with sendfile(2) (files/sendfile-sender.ts), end to end with the real ftserve
 * and ftget: the bytes are the file's, from any offset, in order when GETs are pipelined, under
 * a rate limit, and in both process models; TLS and --no-sendfile take the read path and are
 * still correct; a file truncated mid-send cuts the connection; a client that stops reading
 * holds no memory of the server's and is cut; no descriptor is left open. The transfer log
 * line says `sendfile=true` when the body went that way, so these tests fail without it.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, closeSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { truncateSync, writeFileSync, writeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { FrameType } from '@ft/protocol';
import { runFtget, spawnFtget, statOn, killIfRunning } from './helpers/ftget.js';
import { serveRoot } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { childrenOf, fdCount, rssOf, waitFor } from './helpers/procfs.js';
import { RawClient, stalledDownload } from './helpers/raw-client.js';
import { makeTestPki } from './helpers/tls-certs.js';

const MiB = 1024 * 1024;
const root = mkdtempSync(join(tmpdir(), 'ft-sendfile-'));
const out = mkdtempSync(join(tmpdir(), 'ft-sendfile-out-'));
// Odd sizes: no piece boundary of the sender falls on the end.
const big = randomBytes(24 * MiB + 4321);
// A one-shot child loads koffi for sendfile only from 128 MiB (ONESHOT_LOAD_AT): huge.bin is
// 1 MiB blocks of big.bin taken at shifting offsets (no two alike), and an odd tail.
const HUGE_BLOCKS = 128;
const hugeHash = createHash('sha256');
const hugeFd = openSync(join(root, 'huge.bin'), 'w');
for (let i = 0; i <= HUGE_BLOCKS; i++) {
  const at = (i * 40_961) % (big.length - MiB);
  const block = big.subarray(at, at + (i < HUGE_BLOCKS ? MiB : 333));
  writeSync(hugeFd, block);
  hugeHash.update(block);
}
closeSync(hugeFd);
const FILES = {
  'big.bin': createHash('sha256').update(big).digest('hex'),
  'huge.bin': hugeHash.digest('hex'),
};
const mid = randomBytes(200 * 1024 + 7);
const small = randomBytes(10_001);
writeFileSync(join(root, 'big.bin'), big);
writeFileSync(join(root, 'mid.bin'), mid);
writeFileSync(join(root, 'small.bin'), small);
writeFileSync(join(root, 'sparse.bin'), '');
truncateSync(join(root, 'sparse.bin'), 1024 * MiB);
const pki = makeTestPki();
let n = 0;
const outFile = (): string => join(out, `o${n++}.bin`);

test.after.always(() => {
  pki.remove();
  rmSync(root, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
});

const sendfileLine = (name: string) =>
  new RegExp(`transfer peer=\\S+ path=${name.replace('.', '\\.')} .*sendfile=true result=OK`);

async function serve(t: ExecutionContext, flags: string[]): Promise<Ftserve> {
  return serveRoot(t, root, ['--host', '127.0.0.1', '--no-udp', ...flags]);
}

async function sha256Of(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** ftget `name` from `server` (digests known first, so the body is not the streamed-digest path). */
async function ftgetFile(
  t: ExecutionContext,
  server: Ftserve,
  name: keyof typeof FILES,
  scheme = 'ft',
  extra: string[] = [],
) {
  const url = `${scheme}://127.0.0.1:${server.port}/${name}`;
  const stat = await runFtget(['stat', url, ...extra]);
  t.is(stat.code, 0, stat.stderr);
  const o = outFile();
  const r = await runFtget(['get', url, '-o', o, '--retries', '0', ...extra]);
  t.is(r.code, 0, r.stderr);
  t.is(await sha256Of(o), FILES[name], 'the bytes are the file’s');
  rmSync(o, { force: true });
}

for (const [model, flags, name] of [
  ['prefork', ['--workers', '1'], 'big.bin'],
  ['fork-per-connection', ['--fork-per-connection', '--max-children', '4'], 'huge.bin'],
] as const) {
  test(`${model}: a large odd-sized file goes with sendfile, bytes identical, descriptors back to baseline`, async (t) => {
    const server = await serve(t, [...flags]);
    // The process that serves: the worker (prefork), or the primary that hands over (fork).
    const worker = model === 'prefork' ? childrenOf(server.pid)[0]! : server.pid;
    const baseline = fdCount(worker);
    await ftgetFile(t, server, name);
    t.true(await waitFor(() => sendfileLine(name).test(server.stderr())), server.stderr());
    t.true(
      await waitFor(() => fdCount(worker) <= baseline, 5000),
      `descriptors: ${fdCount(worker)} now, ${baseline} before`,
    );
  });
}

test('a resume from an odd offset and pipelined GETs: right bytes, in order, on one connection', async (t) => {
  const server = await serve(t, ['--workers', '1']);
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  const offset = 7_777_777;
  // Written back to back before any answer: the server answers them strictly in order.
  const ids = [
    c.sendGet({ path: 'big.bin', offset }),
    c.sendGet({ path: 'small.bin', offset: 0 }),
    c.sendGet({ path: 'mid.bin', offset: 3 }),
    c.sendGet({ path: 'big.bin', offset: 1, length: 5 * MiB + 1 }),
  ];
  const want = [big.subarray(offset), small, mid.subarray(3), big.subarray(1, 1 + 5 * MiB + 1)];
  for (let i = 0; i < ids.length; i++) {
    const r = await c.readGet();
    t.true(r.ok, `GET ${i} answered`);
    if (!r.ok) return;
    t.is(r.header.requestId, ids[i]!);
    t.true(r.body.equals(want[i]!), `GET ${i}: the bytes of its range`);
  }
  t.true(
    await waitFor(() => (server.stderr().match(/sendfile=true result=OK/g) ?? []).length >= 3),
    'the three ranges above 64 KiB went with sendfile',
  );
});

test('TLS takes the read path: bytes identical, no sendfile', async (t) => {
  const server = await serve(t, [
    '--workers',
    '1',
    '--tls-cert',
    pki.server.cert,
    '--tls-key',
    pki.server.key,
  ]);
  await ftgetFile(t, server, 'big.bin', 'fts', ['--cacert', pki.ca]);
  t.regex(server.stderr(), /transfer peer=\S+ path=big\.bin .*result=OK/);
  t.notRegex(server.stderr(), /sendfile=true/);
});

test('--no-sendfile takes the read path: bytes identical, no sendfile', async (t) => {
  const server = await serve(t, ['--workers', '1', '--no-sendfile']);
  await ftgetFile(t, server, 'big.bin');
  t.regex(server.stderr(), /transfer peer=\S+ path=big\.bin .*result=OK/);
  t.notRegex(server.stderr(), /sendfile=true/);
});

test('a rate limit still paces a sendfile body', async (t) => {
  const server = await serve(t, ['--workers', '1', '--max-rate-per-connection', '4M']);
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  const started = performance.now();
  const r = await c.get({ path: 'big.bin', offset: 0, length: 16 * MiB }, 60_000);
  const ms = performance.now() - started;
  t.true(r.ok && r.body.equals(big.subarray(0, 16 * MiB)));
  // 16 MiB at 4 MiB/s: about 4 s (the bucket starts full); only a loose lower bound.
  t.true(ms > 2500, `16 MiB at 4M took ${Math.round(ms)} ms`);
  t.true(
    await waitFor(() => /sendfile=true result=OK/.test(server.stderr())),
    'sent with sendfile',
  );
});

test('a file truncated while it is sent: the connection is cut, ftget exits 5 and keeps its partial', async (t) => {
  const path = join(root, 'shrinking.bin');
  const data = randomBytes(24 * MiB + 99);
  writeFileSync(path, data);
  t.teardown(() => rmSync(path, { force: true }));
  const server = await serve(t, ['--workers', '1', '--max-rate-per-connection', '4M']);
  t.is((await statOn(server.port, 'shrinking.bin')).code, 0);
  const o = outFile();
  const run = spawnFtget(
    ['get', `ft://127.0.0.1:${server.port}/shrinking.bin`, '-o', o, '--no-restart'],
    { timeoutMs: 60_000 },
  );
  t.teardown(() => killIfRunning(run.child));
  const partSize = (): number => {
    try {
      return statSync(`${o}.part`).size;
    } catch {
      return 0;
    }
  };
  t.true(await waitFor(() => partSize() >= MiB, 30_000), 'the download has begun');
  // Far beyond what the server has sent by now (4 MiB/s), far before the end.
  truncateSync(path, 16 * MiB + 3);
  const r = await run.result;
  t.is(r.code, 5, r.stderr);
  t.regex(server.stderr(), /path=shrinking\.bin .*sendfile=true result=truncated/);
  t.true(partSize() >= MiB, 'the partial is kept');
  const part = await readFile(`${o}.part`);
  t.true(part.subarray(0, MiB).equals(data.subarray(0, MiB)), 'what it holds is the file’s');
});

test('clients that stop reading hold no server memory and are cut by the stall watch', async (t) => {
  const server = await serve(t, ['--workers', '1']);
  const worker = childrenOf(server.pid)[0]!;
  const baseline = fdCount(worker);
  const rssBefore = rssOf(worker);
  // More stalled downloads than the stall watch keeps (8): the longest-stalled are reset.
  const stalled: Awaited<ReturnType<typeof stalledDownload>>[] = [];
  t.teardown(() => stalled.forEach((s) => s.c.destroy()));
  for (let i = 0; i < 12; i++) stalled.push(await stalledDownload(server.port, 'sparse.bin'));
  t.true(
    await waitFor(() => (server.stderr().match(/result=stalled/g) ?? []).length >= 4, 30_000),
    'the stall watch cut the connections beyond its allowance',
  );
  // No read buffers (2 × 512 KiB each on the read path): a piece of 16 KiB per stalled send.
  const grown = rssOf(worker) - rssBefore;
  t.true(grown < 12 * MiB, `the worker grew by ${Math.round(grown / MiB)} MiB`);
  for (const s of stalled) s.c.destroy();
  t.true(
    await waitFor(() => fdCount(worker) <= baseline, 10_000),
    `descriptors: ${fdCount(worker)} now, ${baseline} before`,
  );
  // The worker still serves.
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  const r = await c.get({ path: 'mid.bin', offset: 0 });
  t.true(r.ok && r.body.equals(mid) && r.end.type === FrameType.END);
});
