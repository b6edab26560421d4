import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { acquireOutputLock, lockPathFor } from '../src/output-lock.js';

async function dir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ftget-lock-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

test('the lock holds our pid, refuses a second holder, and is gone after release', async (t) => {
  const out = join(await dir(t), 'f.bin');
  const lock = await acquireOutputLock(out);
  t.is(lock.path, lockPathFor(out));
  t.is((await readFile(lock.path, 'utf8')).trim(), String(process.pid));
  const error = await t.throwsAsync(acquireOutputLock(out), { code: 'FT_LOCAL_CONFLICT' });
  t.regex(error!.message, new RegExp(`another ftget \\(pid ${process.pid}\\) is downloading to`));
  await lock.release();
  await lock.release();
  t.false(existsSync(lock.path));
  const again = await acquireOutputLock(out);
  await again.release();
});

test('a lock of a dead process or with garbage in it is taken over, leaving no temp files', async (t) => {
  const d = await dir(t);
  const out = join(d, 'f.bin');
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  for (const content of [`${dead}\n`, 'garbage', '']) {
    await writeFile(lockPathFor(out), content);
    const lock = await acquireOutputLock(out);
    t.is((await readFile(lock.path, 'utf8')).trim(), String(process.pid));
    await lock.release();
  }
  t.deepEqual(await readdir(d), []);
});
