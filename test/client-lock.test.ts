import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, open, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { startFakeServer } from './helpers/fake-server.js';
import type { Behaviour } from './helpers/fake-server.js';
import { killIfRunning, runFtget, spawnFtget } from './helpers/ftget.js';

const MiB = 1024 * 1024;

async function setup(t: ExecutionContext, behaviour: (n: number) => Behaviour) {
  const data = randomBytes(3 * MiB + 5);
  const server = await startFakeServer({ files: { 'f.bin': data }, behaviour });
  t.teardown(() => server.close());
  const dl = await mkdtemp(join(tmpdir(), 'ftget-lock-'));
  t.teardown(() => rm(dl, { recursive: true, force: true }));
  const args = (...more: string[]) => [
    'get',
    'f.bin',
    '--host',
    '127.0.0.1',
    '--port',
    String(server.port),
    '--stall-timeout',
    '120',
    ...more,
  ];
  return { data, dl, args, out: join(dl, 'f.bin'), lock: join(dl, 'f.bin.part.lock') };
}

/** A pid that certainly belongs to no process: one of ours that has exited. */
async function deadPid(): Promise<number> {
  const run = spawnFtget(['--version']);
  await run.result;
  return run.child.pid!;
}

test('a second ftget on the same output is refused (exit 9) while the first runs; after a SIGKILL the stale lock is taken over', async (t) => {
  const env = await setup(t, (n) => (n === 0 ? { stallAfterBytes: 1.5 * MiB } : {}));
  const first = spawnFtget(env.args(), { cwd: env.dl });
  t.teardown(() => killIfRunning(first.child));
  for (let i = 0; i < 600 && !existsSync(env.lock); i++) await sleep(50);
  t.is((await readFile(env.lock, 'utf8')).trim(), String(first.child.pid));

  const second = await runFtget(env.args('--resume'), { cwd: env.dl });
  t.is(second.code, 9, second.stderr);
  t.regex(
    second.stderr,
    new RegExp(`another ftget \\(pid ${first.child.pid}\\) is downloading to`),
  );
  t.regex(second.stderr, /hint: .*f\.bin\.part\.lock/);
  t.is(first.child.exitCode, null, 'the first ftget was left alone');

  first.child.kill('SIGKILL');
  await first.result;
  t.true(existsSync(env.lock), 'SIGKILL leaves the lock behind');

  const third = await runFtget(env.args('--resume'), { cwd: env.dl });
  t.is(third.code, 0, third.stderr);
  t.true((await readFile(env.out)).equals(env.data));
  t.false(existsSync(env.lock), 'the lock is released when the download ends');
});

test('a lock left by a dead process or holding garbage does not block a download', async (t) => {
  const env = await setup(t, () => ({}));
  await writeFile(env.lock, `${await deadPid()}\n`);
  const res = await runFtget(env.args(), { cwd: env.dl });
  t.is(res.code, 0, res.stderr);
  t.true((await readFile(env.out)).equals(env.data));
  t.false(existsSync(env.lock));

  await writeFile(env.lock, 'not a pid');
  const again = await runFtget(env.args('--force'), { cwd: env.dl });
  t.is(again.code, 0, again.stderr);
  t.false(existsSync(env.lock));
});

test('a failed download releases its lock too', async (t) => {
  const env = await setup(t, () => ({}));
  const res = await runFtget(['get', 'missing.bin', '-o', 'f.bin', ...env.args().slice(2)], {
    cwd: env.dl,
  });
  t.is(res.code, 4, res.stderr);
  t.false(existsSync(env.lock));
});

test('on a full disk the lock cannot be written: exit 7, and no temporary lock file is left', async (t) => {
  const env = await setup(t, () => ({}));
  const mnt = join(env.dl, 'full');
  await mkdir(mnt);
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', mnt]);
  t.teardown(() => {
    execFileSync('umount', ['-l', mnt]);
  });
  // Fill it to the last block: creating a file still works, writing a byte into it does not.
  const filler = await open(join(mnt, 'filler'), 'w');
  try {
    for (let i = 0; i < 64; i++) await filler.write(Buffer.alloc(4096));
  } catch (error) {
    t.is((error as NodeJS.ErrnoException).code, 'ENOSPC');
  } finally {
    await filler.close();
  }
  const res = await runFtget(env.args(), { cwd: mnt });
  t.is(res.code, 7, res.stderr);
  t.regex(res.stderr, /ENOSPC/);
  t.deepEqual(await readdir(mnt), ['filler'], 'no f.bin.part.lock.<pid>.tmp, no lock, no partial');
});
