/**
 * `ftget get --connections N`: one file over several connections to one real ftserve, each
 * fetching other chunks; interrupted, the partial resumes with one connection or with several.
 * The server caps each connection's rate (--max-rate-per-connection) so that one connection
 * cannot take the whole file before the others have connected.
 */
import { existsSync, readFileSync } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { serveRoot } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { killIfRunning, runFtget, spawnFtget } from './helpers/ftget.js';
import { servedFile } from './helpers/fixtures.js';
import { waitFor } from './helpers/procfs.js';
import { parsePartialState } from '@ft/client';

const MiB = 1024 * 1024;
/**
 * The one-connection bound of client-receive.test.ts, plus for each further connection its
 * 4 MiB receive ring and 2 MiB for its socket and bookkeeping (README: "Memory").
 */
const PEAK_RSS_BOUND_16 = 96 * MiB + 15 * 6 * MiB;
const PEAK_RSS_HOOK = fileURLToPath(new URL('./helpers/peak-rss-hook.js', import.meta.url));

interface Transfer {
  peer: string;
  offset: number;
  length: number;
  bytes: number;
  result: string;
}

/** The server's `transfer` log lines (one per GET). */
function transfers(server: Ftserve): Transfer[] {
  const out: Transfer[] = [];
  const line =
    / transfer peer=(\S+) path=\S+ offset=(\d+) length=(\d+) bytes=(\d+) .*?result=(\S+)/g;
  for (const m of server.stderr().matchAll(line)) {
    out.push({
      peer: m[1]!,
      offset: Number(m[2]),
      length: Number(m[3]),
      bytes: Number(m[4]),
      result: m[5]!,
    });
  }
  return out;
}

async function serve(t: ExecutionContext, size: number) {
  const f = await servedFile(t, 'ft-conns-', size);
  const server = await serveRoot(t, f.root, [
    '--host',
    '127.0.0.1',
    '--no-udp',
    '--workers',
    '1',
    '--max-rate-per-connection',
    '16M',
  ]);
  return { ...f, server, url: `ft://127.0.0.1:${server.port}/f.bin` };
}

test('--connections 4: byte-identical, over 4 connections fetching different ranges', async (t) => {
  const s = await serve(t, 40 * MiB);
  const r = await runFtget(['get', s.url, '-o', 'f.bin', '--connections', '4'], { cwd: s.dl });
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(s.dl, 'f.bin'))).equals(s.data));
  // The server logs a transfer once it ended: wait for every byte of the file to be logged.
  const logged = (): number => transfers(s.server).reduce((n, x) => n + x.bytes, 0);
  t.true(await waitFor(() => logged() >= s.data.length, 10_000), s.server.stderr());
  const all = transfers(s.server);
  const peers = new Set(all.map((x) => x.peer));
  t.is(peers.size, 4, s.server.stderr());
  // Every connection fetched its own ranges: the GETs that ran to their end never overlap, and
  // with those cut short (their back taken by another connection) they cover the whole file.
  const whole = all
    .filter((x) => x.result === 'OK')
    .map((x) => [x.offset, x.offset + x.length] as const)
    .sort((a, b) => a[0] - b[0]);
  for (let k = 1; k < whole.length; k++)
    t.true(whole[k]![0] >= whole[k - 1]![1], `overlap: ${JSON.stringify(whole)}`);
  const sent = all.map((x) => [x.offset, x.offset + x.bytes] as const).sort((a, b) => a[0] - b[0]);
  let covered = 0;
  for (const [from, to] of sent) {
    t.true(from <= covered, `gap before ${from}: ${JSON.stringify(sent)}`);
    covered = Math.max(covered, to);
  }
  t.is(covered, s.data.length);
  for (const peer of peers) t.true(all.some((x) => x.peer === peer && x.bytes > 0));
});

/** Chunks the state file at `path` vouches for (0 while there is none). */
function verifiedChunks(path: string): number {
  if (!existsSync(path)) return 0;
  const st = parsePartialState(readFileSync(path, 'utf8'));
  if (st === undefined) return 0;
  let n = 0;
  for (const byte of Buffer.from(st.verified, 'base64'))
    for (let b = 0; b < 8; b++) if ((byte & (1 << b)) !== 0) n++;
  return n;
}

/** Starts a 4-connection download and interrupts it once its state vouches for some chunks. */
async function interrupted(t: ExecutionContext, url: string, dl: string): Promise<void> {
  const run = spawnFtget(['get', url, '-o', 'f.bin', '--connections', '4', '--limit-rate', '12M'], {
    cwd: dl,
  });
  t.teardown(() => killIfRunning(run.child));
  const state = join(dl, 'f.bin.part.json');
  const saved = await waitFor(() => verifiedChunks(state) >= 4, 30_000, 100);
  t.true(saved, 'the state file vouched for chunks');
  run.child.kill('SIGINT');
  const r = await run.result;
  t.is(r.signal, 'SIGINT', r.stderr);
}

for (const connections of [1, 4]) {
  test(`an interrupted --connections 4 download resumes with ${connections} connection(s), byte-identical`, async (t) => {
    const s = await serve(t, 48 * MiB);
    await interrupted(t, s.url, s.dl);
    t.true(verifiedChunks(join(s.dl, 'f.bin.part.json')) >= 4);
    const before = transfers(s.server).length;
    const r = await runFtget(
      ['get', s.url, '-o', 'f.bin', '-c', '--json', '--connections', String(connections)],
      { cwd: s.dl },
    );
    t.is(r.code, 0, r.stderr);
    t.true((await readFile(join(s.dl, 'f.bin'))).equals(s.data));
    const result = JSON.parse(r.stdout.toString()) as { resumedFrom: number };
    t.true(result.resumedFrom > 0, r.stdout.toString());
    // The resumed run fetched less than the whole file: what the state vouched for stayed.
    await waitFor(() => transfers(s.server).length > before, 10_000);
    const moved = transfers(s.server)
      .slice(before)
      .reduce((n, x) => n + x.bytes, 0);
    t.true(moved < s.data.length, `moved ${moved}`);
  });
}

test('peak RSS of a 512 MiB download over 16 connections stays under the stated bound', async (t) => {
  const f = await servedFile(t, 'ft-conns-rss-', 0);
  // A sparse file: the server reads it fast, the client still receives, hashes and writes it all.
  const big = await open(join(f.root, 'f.bin'), 'w');
  await big.truncate(512 * MiB);
  await big.close();
  const server = await serveRoot(t, f.root, ['--host', '127.0.0.1', '--no-udp']);
  const peakFile = join(f.dir, 'peak-rss');
  const r = await runFtget(
    ['get', `ft://127.0.0.1:${server.port}/f.bin`, '--connections', '16', '-q'],
    {
      cwd: f.dl,
      timeoutMs: 300_000,
      env: {
        ...process.env,
        NODE_OPTIONS: `--import ${JSON.stringify(PEAK_RSS_HOOK)}`,
        FT_TEST_PEAK_RSS_FILE: peakFile,
      },
    },
  );
  t.is(r.code, 0, r.stderr);
  t.is((await stat(join(f.dl, 'f.bin'))).size, 512 * MiB);
  const peak = Number((await readFile(peakFile, 'utf8')).trim());
  t.log(`peak RSS ${(peak / MiB).toFixed(1)} MiB`);
  t.true(peak > 0, 'the hook reported');
  t.true(peak <= PEAK_RSS_BOUND_16, `peak RSS ${peak} > ${PEAK_RSS_BOUND_16}`);
  const peers = new Set([...server.stderr().matchAll(/ transfer peer=(\S+)/g)].map((m) => m[1]));
  t.true(peers.size > 1, 'several connections were used');
});
