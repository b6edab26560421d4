/**
 * `ftget get --parallel N`, end to end: files of a tree (and several REMOTEs) are fetched over
 * several connections at once, every file arrives intact, and without the flag one connection
 * serves them all, one after the other.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';

/** The client addresses (with ports) that were sent files, from server log lines. */
function getPeers(log: string): Set<string> {
  return new Set([...log.matchAll(/ transfer peer=(\S+) path=/g)].map((m) => m[1]!));
}

test('--parallel fetches several files at once over several connections', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ft-parallel-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'srv');
  await mkdir(join(root, 'tree'), { recursive: true });
  const files = Array.from({ length: 8 }, (_, i) => ({
    name: `f${i}.bin`,
    data: randomBytes(300_000 + i),
  }));
  for (const f of files) await writeFile(join(root, 'tree', f.name), f.data);
  // Slow connections, so that the downloads overlap whatever the machine's load.
  const server = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    '--max-rate-per-connection',
    '1M',
  ]);
  t.teardown(() => server.stop());
  const port = String(server.port);

  const from = server.stderr().length;
  const r = await runFtget([
    'get',
    '-r',
    'tree',
    '-o',
    join(dir, 'par'),
    '--parallel',
    '4',
    '--port',
    port,
    '-q',
  ]);
  t.is(r.code, 0, r.stderr);
  for (const f of files) t.true((await readFile(join(dir, 'par', f.name))).equals(f.data), f.name);
  for (let i = 0; i < 100 && getPeers(server.stderr().slice(from)).size < 2; i++)
    await new Promise((res) => setTimeout(res, 100));
  const peers = getPeers(server.stderr().slice(from));
  t.true(peers.size >= 2 && peers.size <= 4, `${peers.size} connections served GETs`);

  const mid = server.stderr().length;
  const serial = await runFtget([
    'get',
    'tree/f0.bin',
    'tree/f1.bin',
    '-o',
    `${join(dir, 'ser')}/`,
    '--port',
    port,
    '-q',
  ]);
  t.is(serial.code, 0, serial.stderr);
  for (
    let i = 0;
    i < 50 && !/ transfer peer=\S+ path=tree\/f1\.bin /.test(server.stderr().slice(mid));
    i++
  )
    await new Promise((res) => setTimeout(res, 100));
  t.is(getPeers(server.stderr().slice(mid)).size, 1, 'without --parallel: one connection');
});
