/**
 * Many files in one `ftget get`: their GETs are pipelined on one connection, several files in
 * flight at once (packages/client/src/session.ts), and files of at most 64 KiB take the
 * small-file path (small-file.ts): verified in memory, fsynced, then renamed. Bytes stay
 * identical, a corrupted file is caught without costing the others, and a SIGKILL mid-batch
 * never leaves an incomplete file at a final name.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { encodeGet, encodeHello } from '@ft/protocol';
import { startFakeServer } from './helpers/fake-server.js';
import { killIfRunning, runFtget, spawnFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';

const KiB = 1024;

async function scratch(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ftget-pipeline-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** `count` files named f000.bin…, sizes from `sizeOf`, written under `root`. */
async function makeFiles(
  root: string,
  count: number,
  sizeOf: (i: number) => number,
): Promise<Map<string, Buffer>> {
  await mkdir(root, { recursive: true });
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const name = `f${String(i).padStart(3, '0')}.bin`;
    const data = randomBytes(sizeOf(i));
    files.set(name, data);
    await writeFile(join(root, name), data);
  }
  return files;
}

/** One `ftget get NAMES… -o OUT/` against 127.0.0.1:`port`, with `extra` flags. */
function getAll(names: Iterable<string>, out: string, port: number, ...extra: string[]) {
  return runFtget([
    'get',
    ...names,
    '-o',
    `${out}/`,
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    ...extra,
  ]);
}

// Both paths: empty, tiny, exactly 64 KiB (the small-file limit), just above it, and 1 MiB+.
const SIZES = [0, 1, 4 * KiB, 64 * KiB, 64 * KiB + 1, 1024 * KiB + 3, 4 * KiB, 300 * KiB];

test('200 files pipelined on one connection arrive byte-identical, with nothing left beside them', async (t) => {
  const dir = await scratch(t);
  const files = await makeFiles(join(dir, 'srv'), 200, (i) => SIZES[i % SIZES.length]!);
  const server = await startFtserve(['--root', join(dir, 'srv'), '--port', '0', '--no-udp']);
  t.teardown(() => server.stop());
  const proxy = await startTcpProxy({ target: { host: '127.0.0.1', port: server.port } });
  t.teardown(() => proxy.close());
  const out = join(dir, 'out');
  const r = await getAll(files.keys(), out, proxy.port, '--json');
  t.is(r.code, 0, r.stderr);
  t.is(proxy.connections, 1, 'one connection for all 200 files');
  const lines = r.stdout.toString().trim().split('\n');
  t.is(lines.length, files.size, 'one --json line per file');
  const paths = new Set(lines.map((l) => (JSON.parse(l) as { path: string }).path));
  t.is(paths.size, files.size, 'every file reported once, under its own name');
  t.deepEqual((await readdir(out)).sort(), [...files.keys()].sort(), 'no .part, state or .tmp');
  for (const [name, data] of files)
    t.true((await readFile(join(out, name))).equals(data), `${name} is byte-identical`);
});

test('while the first response is held back, the GETs of the next files are already sent', async (t) => {
  const dir = await scratch(t);
  const files = await makeFiles(join(dir, 'srv'), 40, () => 4 * KiB);
  const server = await startFtserve(['--root', join(dir, 'srv'), '--port', '0', '--no-udp']);
  t.teardown(() => server.stop());
  // Nothing of the first file's body comes through: one request at a time would send one GET.
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: server.port },
    fault: () => ({ stallAfter: 100 }),
  });
  t.teardown(() => proxy.close());
  const run = spawnFtget([
    'get',
    ...files.keys(),
    '-o',
    `${join(dir, 'out')}/`,
    '--host',
    '127.0.0.1',
    '--port',
    String(proxy.port),
    '-q',
  ]);
  t.teardown(() => killIfRunning(run.child));
  await proxy.waitForStalls(1, 30_000);
  const get = encodeGet({
    requestId: 1,
    path: 'f000.bin',
    offset: 0,
    length: 1,
    wantDigests: true,
  });
  const hello = encodeHello({ minVersion: 1, maxVersion: 1, name: 'ftget' });
  const sent = (gets: number): number => hello.length + gets * get.length;
  for (let i = 0; i < 100 && proxy.bytesUp < sent(16); i++)
    await new Promise((resolve) => setTimeout(resolve, 100));
  // Exactly 16 (PIPELINE_DEPTH): no file finishes, so no 17th starts.
  t.is(proxy.bytesUp, sent(16), `${proxy.bytesUp} bytes sent: HELLO and 16 GETs in flight`);
  run.child.kill('SIGKILL');
  await run.result;
});

test('a file corrupted on the wire among many is refused (exit 6); every other file lands', async (t) => {
  const dir = await scratch(t);
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 30; i++)
    files.set(`f${String(i).padStart(3, '0')}.bin`, randomBytes(i % 3 === 0 ? 200 * KiB : 4 * KiB));
  // f007.bin is corrupted every time it is sent.
  const fake = await startFakeServer({
    files: Object.fromEntries(files),
    behaviour: { corruptPath: 'f007.bin', corruptAt: 100 },
  });
  t.teardown(() => fake.close());
  const out = join(dir, 'out');
  const r = await getAll(files.keys(), out, fake.port);
  t.is(r.code, 6, r.stderr);
  t.regex(r.stderr, /f007\.bin/);
  const landed = (await readdir(out)).filter((n) => n.endsWith('.bin'));
  t.false(landed.includes('f007.bin'), 'the corrupted file never appears at its name');
  for (const [name, data] of files) {
    if (name === 'f007.bin') continue;
    t.true((await readFile(join(out, name))).equals(data), `${name} is byte-identical`);
  }
  t.true(fake.gets.filter((g) => g.path === 'f007.bin').length > 1, 'the bad file was refetched');
});

test('a chunk corrupted once is refetched and the batch completes (exit 0)', async (t) => {
  const dir = await scratch(t);
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 20; i++)
    files.set(`f${String(i).padStart(3, '0')}.bin`, randomBytes(4 * KiB));
  const fake = await startFakeServer({
    files: Object.fromEntries(files),
    behaviour: { corruptPath: 'f005.bin', corruptAt: 4000, corruptOnce: true },
  });
  t.teardown(() => fake.close());
  const out = join(dir, 'out');
  const r = await getAll(files.keys(), out, fake.port, '-q');
  t.is(r.code, 0, r.stderr);
  t.deepEqual((await readdir(out)).sort(), [...files.keys()].sort());
  for (const [name, data] of files)
    t.true((await readFile(join(out, name))).equals(data), `${name} is byte-identical`);
  t.is(fake.gets.filter((g) => g.path === 'f005.bin').length, 2, 'fetched twice');
});

test('SIGKILL during a 1,000-file get: every file at its final name is complete and identical', async (t) => {
  const dir = await scratch(t);
  const files = await makeFiles(join(dir, 'srv'), 1000, (i) =>
    i % 50 === 49 ? 100 * KiB : 4 * KiB,
  );
  // Slow enough that the kill lands mid-batch whatever the machine's load.
  const server = await startFtserve([
    '--root',
    join(dir, 'srv'),
    '--port',
    '0',
    '--no-udp',
    '--max-rate-per-connection',
    '1M',
  ]);
  t.teardown(() => server.stop());
  const out = join(dir, 'out');
  const run = spawnFtget([
    'get',
    ...files.keys(),
    '-o',
    `${out}/`,
    '--port',
    String(server.port),
    '-q',
  ]);
  t.teardown(() => killIfRunning(run.child));
  const finalNames = async (): Promise<string[]> =>
    (await readdir(out).catch(() => [] as string[])).filter((n) => /^f\d{3}\.bin$/.test(n));
  for (let i = 0; i < 600 && (await finalNames()).length < 150; i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  run.child.kill('SIGKILL');
  const r = await run.result;
  t.is(r.signal, 'SIGKILL', 'killed mid-batch, not finished');
  const landed = await finalNames();
  t.true(landed.length >= 150 && landed.length < files.size, `${landed.length} files landed`);
  for (const name of landed)
    t.true((await readFile(join(out, name))).equals(files.get(name)!), `${name} is whole`);
  // A re-run with --resume completes the batch from what is there.
  const again = await runFtget([
    'get',
    ...files.keys(),
    '-o',
    `${out}/`,
    '--port',
    String(server.port),
    '-q',
    '--resume',
  ]);
  t.is(again.code, 0, again.stderr);
  for (const [name, data] of files)
    t.true((await readFile(join(out, name))).equals(data), `${name} after the re-run`);
});
