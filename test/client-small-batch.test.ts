/**
 * The batch flush of the small-file path (packages/client/src/small-batch.ts): small files of
 * one `ftget get` are written into temp files, made durable together by one syncfs (libc's,
 * through koffi, on ftget's own directory descriptor) per batch, and only then renamed; the
 * --verbose lines show which way each batch went. What must hold: nothing reaches a final name before its
 * batch's flush returned success (a kill -9 between the flush and the renames leaves only
 * complete temp files); a flush that fails or cannot run falls back to one fsync per file; a
 * file that fails verification never gets a temp file or a name; an interrupt leaves no temp
 * file behind and only complete files at final names.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { startFakeServer } from './helpers/fake-server.js';
import { killIfRunning, runFtget, spawnFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';

const KiB = 1024;
const FINAL = /^f\d{3}\.bin$/;

async function scratch(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'ftget-small-batch-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function makeFiles(root: string, count: number, size: number): Promise<Map<string, Buffer>> {
  await mkdir(root, { recursive: true });
  const files = new Map<string, Buffer>();
  for (let i = 0; i < count; i++) {
    const name = `f${String(i).padStart(3, '0')}.bin`;
    const data = randomBytes(size);
    files.set(name, data);
    await writeFile(join(root, name), data);
  }
  return files;
}

function getArgs(names: Iterable<string>, out: string, port: number): string[] {
  return ['get', ...names, '-o', `${out}/`, '--host', '127.0.0.1', '--port', String(port), '-q'];
}

/** The --verbose lines of the batch flushes: files made durable by syncfs, files fsynced alone. */
function flushes(stderr: string): { syncfsFiles: number; fsyncFiles: number; noSyncfs: number } {
  let syncfsFiles = 0;
  let fsyncFiles = 0;
  for (const m of stderr.matchAll(/small files: (\d+) made durable by \d+ syncfs/g))
    syncfsFiles += Number(m[1]);
  for (const m of stderr.matchAll(/small files: (\d+) fsynced one by one/g))
    fsyncFiles += Number(m[1]);
  const noSyncfs = [...stderr.matchAll(/small files: no syncfs \(/g)].length;
  return { syncfsFiles, fsyncFiles, noSyncfs };
}

function verboseArgs(names: Iterable<string>, out: string, port: number): string[] {
  return getArgs(names, out, port)
    .filter((a) => a !== '-q')
    .concat('--verbose');
}

test('300 small files: the batch path is taken (one syncfs per batch, through koffi); files identical', async (t) => {
  const dir = await scratch(t);
  const files = await makeFiles(join(dir, 'srv'), 300, 4 * KiB);
  const server = await startFtserve(['--root', join(dir, 'srv'), '--port', '0', '--no-udp']);
  t.teardown(() => server.stop());
  const out = join(dir, 'out');
  const r = await runFtget(verboseArgs(files.keys(), out, server.port));
  t.is(r.code, 0, r.stderr);
  t.deepEqual((await readdir(out)).sort(), [...files.keys()].sort(), 'no .tmp left');
  for (const [name, data] of files)
    t.true((await readFile(join(out, name))).equals(data), `${name} is byte-identical`);
  t.deepEqual(flushes(r.stderr), { syncfsFiles: 300, fsyncFiles: 0, noSyncfs: 0 }, r.stderr);
});

test('kill -9 between the flush and the renames: no final name, only complete temp files', async (t) => {
  const dir = await scratch(t);
  const files = await makeFiles(join(dir, 'srv'), 40, 4 * KiB);
  const server = await startFtserve(['--root', join(dir, 'srv'), '--port', '0', '--no-udp']);
  t.teardown(() => server.stop());
  const out = join(dir, 'out');
  const marker = join(dir, 'held');
  const run = spawnFtget(getArgs(files.keys(), out, server.port), {
    env: { ...process.env, FTGET_TEST_HOLD_BEFORE_RENAME: marker },
  });
  t.teardown(() => killIfRunning(run.child));
  let held: string[] = [];
  for (let i = 0; i < 600 && held.length === 0; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    held = (await readFile(marker, 'utf8').catch(() => '')).split('\n').filter(Boolean);
  }
  t.true(held.length > 0, 'a batch was flushed and held before its renames');
  run.child.kill('SIGKILL');
  t.is((await run.result).signal, 'SIGKILL');
  const names = await readdir(out);
  t.deepEqual(
    names.filter((n) => FINAL.test(n)),
    [],
    'nothing at a final name before its rename',
  );
  for (const temp of held) {
    const name = /^(f\d{3}\.bin)\.part\.\d+\.\d+\.tmp$/.exec(temp.split('/').at(-1)!)?.[1];
    t.truthy(name, temp);
    t.true((await readFile(temp)).equals(files.get(name!)!), `${temp} holds the whole file`);
  }
  // The next run ignores the temp files (never a final name) and completes the batch.
  const again = await runFtget(getArgs(files.keys(), out, server.port));
  t.is(again.code, 0, again.stderr);
  for (const [name, data] of files)
    t.true((await readFile(join(out, name))).equals(data), `${name} after the re-run`);
});

for (const [why, mode] of [
  ['reports an error', 'fail-after:0'],
  ['cannot be called (koffi not loadable)', 'unavailable'],
] as const) {
  test(`a syncfs that ${why}: each file is fsynced on its own and the batch completes`, async (t) => {
    const dir = await scratch(t);
    const files = await makeFiles(join(dir, 'srv'), 60, 2 * KiB);
    const server = await startFtserve(['--root', join(dir, 'srv'), '--port', '0', '--no-udp']);
    t.teardown(() => server.stop());
    const out = join(dir, 'out');
    const r = await runFtget(verboseArgs(files.keys(), out, server.port), {
      env: { ...process.env, FTGET_TEST_SYNCFS: mode },
    });
    t.is(r.code, 0, r.stderr);
    t.deepEqual((await readdir(out)).sort(), [...files.keys()].sort());
    for (const [name, data] of files)
      t.true((await readFile(join(out, name))).equals(data), `${name} is byte-identical`);
    const f = flushes(r.stderr);
    t.is(f.syncfsFiles, 0, r.stderr);
    t.is(f.noSyncfs, 1, 'syncfs is given up once, for the rest of the run');
  });
}

test('syncfs fails in the middle of the run: what was flushed stays, the rest is fsynced file by file', async (t) => {
  const dir = await scratch(t);
  const files = await makeFiles(join(dir, 'srv'), 700, 4 * KiB);
  const server = await startFtserve(['--root', join(dir, 'srv'), '--port', '0', '--no-udp']);
  t.teardown(() => server.stop());
  const out = join(dir, 'out');
  const r = await runFtget(verboseArgs(files.keys(), out, server.port), {
    env: { ...process.env, FTGET_TEST_SYNCFS: 'fail-after:1' },
  });
  t.is(r.code, 0, r.stderr);
  t.deepEqual((await readdir(out)).sort(), [...files.keys()].sort(), 'no .tmp left');
  for (const [name, data] of files)
    t.true((await readFile(join(out, name))).equals(data), `${name} is byte-identical`);
  const f = flushes(r.stderr);
  t.true(f.syncfsFiles >= 1, `the first batch went by syncfs (${f.syncfsFiles} files)`);
  t.is(f.noSyncfs, 1, r.stderr);
  // Every file not in the first (good) flush was fsynced on its own before its rename, or went
  // straight to the per-file path once batching was off.
  t.true(f.syncfsFiles < files.size, `${f.syncfsFiles} files by syncfs`);
});

test('a small file that fails verification in a batch gets no name and leaves no temp file', async (t) => {
  const dir = await scratch(t);
  const files = new Map<string, Buffer>();
  for (let i = 0; i < 30; i++)
    files.set(`f${String(i).padStart(3, '0')}.bin`, randomBytes(4 * KiB));
  const fake = await startFakeServer({
    files: Object.fromEntries(files),
    behaviour: { corruptPath: 'f011.bin', corruptAt: 10 },
  });
  t.teardown(() => fake.close());
  const out = join(dir, 'out');
  const r = await runFtget(getArgs(files.keys(), out, fake.port));
  t.is(r.code, 6, r.stderr);
  const names = await readdir(out);
  t.false(names.includes('f011.bin'), 'the corrupted file never appears at its name');
  t.deepEqual(
    names.filter((n) => n.endsWith('.tmp')),
    [],
    'no temp file of the batch is left',
  );
  for (const [name, data] of files) {
    if (name === 'f011.bin') continue;
    t.true((await readFile(join(out, name))).equals(data), `${name} is byte-identical`);
  }
});

test('SIGINT mid-batch: ftget dies by SIGINT, files at final names are whole, no temp file left', async (t) => {
  const dir = await scratch(t);
  const files = await makeFiles(join(dir, 'srv'), 600, 4 * KiB);
  // Slow enough that the signal lands mid-batch whatever the machine's load.
  const server = await startFtserve([
    '--root',
    join(dir, 'srv'),
    '--port',
    '0',
    '--no-udp',
    '--max-rate-per-connection',
    '512k',
  ]);
  t.teardown(() => server.stop());
  const out = join(dir, 'out');
  const run = spawnFtget(getArgs(files.keys(), out, server.port));
  t.teardown(() => killIfRunning(run.child));
  const finalNames = async (): Promise<string[]> =>
    (await readdir(out).catch(() => [] as string[])).filter((n) => FINAL.test(n));
  for (let i = 0; i < 600 && (await finalNames()).length < 100; i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  run.child.kill('SIGINT');
  const r = await run.result;
  t.is(r.signal, 'SIGINT', r.stderr);
  const names = await readdir(out);
  t.deepEqual(
    names.filter((n) => n.endsWith('.tmp')),
    [],
    'waiting temp files are removed',
  );
  const landed = names.filter((n) => FINAL.test(n));
  t.true(landed.length >= 100 && landed.length < files.size, `${landed.length} files landed`);
  for (const name of landed)
    t.true((await readFile(join(out, name))).equals(files.get(name)!), `${name} is whole`);
});

test('the server dies in the middle of a batch: what was received is flushed and kept, nothing else has a name', async (t) => {
  const dir = await scratch(t);
  const files = await makeFiles(join(dir, 'srv'), 600, 4 * KiB);
  // Slow enough that the kill lands mid-run whatever the machine's load.
  const server = await startFtserve([
    ...['--root', join(dir, 'srv'), '--port', '0', '--no-udp'],
    ...['--max-rate-per-connection', '512k'],
  ]);
  t.teardown(() => server.stop());
  const out = join(dir, 'out');
  const run = spawnFtget([...verboseArgs(files.keys(), out, server.port), '--retries', '0']);
  t.teardown(() => killIfRunning(run.child));
  const finalNames = async (): Promise<string[]> =>
    (await readdir(out).catch(() => [] as string[])).filter((n) => FINAL.test(n));
  for (let i = 0; i < 600 && (await finalNames()).length < 100; i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  const before = (await finalNames()).length;
  await server.stop('SIGKILL');
  const r = await run.result;
  t.not(r.code, 0, 'the files after the kill failed');
  const names = await readdir(out);
  t.deepEqual(
    names.filter((n) => n.endsWith('.tmp')),
    [],
    'no temp file is left',
  );
  const landed = names.filter((n) => FINAL.test(n));
  t.true(landed.length >= before && landed.length < files.size, `${landed.length} files landed`);
  for (const name of landed)
    t.true((await readFile(join(out, name))).equals(files.get(name)!), `${name} is whole`);
  // Every file that joined a batch was flushed and renamed, none dropped by the failure.
  t.is(flushes(r.stderr).syncfsFiles, landed.length, r.stderr);
});
