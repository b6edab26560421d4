/**
 * Kept mtimes and re-runs of `ftget get -r`, end to end with the real ftserve and ftget: the
 * remote mtimes of files and directories, a re-run of an unchanged 1,000-file tree that moves
 * no file bytes (counted in the server's log), the rules for files that differ (--update,
 * --force, --checksum) and --delete.
 */
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  rm,
  stat,
  symlink,
  utimes,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';

const OLD = new Date('2001-02-03T04:05:06.789Z');
const OLDER = new Date('1999-12-31T23:59:58.125Z');

interface Served {
  dir: string;
  root: string;
  server: Ftserve;
}

async function serve(t: ExecutionContext, prefix: string): Promise<Served> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const root = join(dir, 'srv');
  await mkdir(root);
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const server = await startFtserve(['--root', root, '--port', '0', '--host', '127.0.0.1']);
  t.teardown(() => server.stop());
  return { dir, root, server };
}

function get(s: Served, args: string[]) {
  return runFtget(['get', ...args, '--port', String(s.server.port)], { timeoutMs: 120_000 });
}

/** The server's log lines written after `from` characters, once `connections` connections closed. */
async function logAfter(s: Served, from: number, connections: number): Promise<string[]> {
  for (let i = 0; i < 100; i++) {
    const lines = s.server.stderr().slice(from).split('\n');
    if (lines.filter((l) => / connection /.test(l)).length >= connections) return lines;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`fewer than ${connections} connection lines in the server log`);
}

test('get -r gives files and directories the remote mtimes; --no-preserve-mtime does not', async (t) => {
  const s = await serve(t, 'ft-sync-mtime-');
  const tree = join(s.root, 'tree');
  await mkdir(join(tree, 'sub'), { recursive: true });
  await writeFile(join(tree, 'a.txt'), 'alpha');
  await writeFile(join(tree, 'sub', 'b.txt'), 'beta');
  await utimes(join(tree, 'a.txt'), OLD, OLD);
  await utimes(join(tree, 'sub', 'b.txt'), OLDER, OLDER);
  await utimes(join(tree, 'sub'), OLDER, OLDER);
  await utimes(tree, OLD, OLD);

  const out = join(s.dir, 'kept');
  const r = await get(s, ['-r', 'tree', '-o', out]);
  t.is(r.code, 0, r.stderr);
  t.is((await stat(join(out, 'a.txt'))).mtimeMs, OLD.getTime());
  t.is((await stat(join(out, 'sub', 'b.txt'))).mtimeMs, OLDER.getTime());
  t.is((await stat(join(out, 'sub'))).mtimeMs, OLDER.getTime(), 'directories after contents');
  t.is((await stat(out)).mtimeMs, OLD.getTime(), 'the tree root too');

  const single = join(s.dir, 'single.txt');
  t.is((await get(s, ['tree/a.txt', '-o', single])).code, 0);
  t.is((await stat(single)).mtimeMs, OLD.getTime(), 'a single file too');

  const fresh = join(s.dir, 'fresh');
  const n = await get(s, ['-r', 'tree', '-o', fresh, '--no-preserve-mtime']);
  t.is(n.code, 0, n.stderr);
  t.not((await stat(join(fresh, 'a.txt'))).mtimeMs, OLD.getTime());
  t.not((await stat(join(fresh, 'sub'))).mtimeMs, OLDER.getTime());
});

test('a re-run of an unchanged 1,000-file tree exits 0 and moves no file bytes', async (t) => {
  const s = await serve(t, 'ft-sync-rerun-');
  const tree = join(s.root, 'tree');
  for (let d = 0; d < 10; d++) {
    await mkdir(join(tree, `d${d}`), { recursive: true });
    for (let f = 0; f < 100; f++)
      await writeFile(join(tree, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`.repeat(f + 1));
  }
  const out = join(s.dir, 'copy');
  const first = await get(s, ['-r', 'tree', '-o', out, '-q']);
  t.is(first.code, 0, first.stderr);
  t.is(await readFile(join(out, 'd3', 'f7.txt'), 'utf8'), 'file 3/7\n'.repeat(8));

  const from = s.server.stderr().length;
  const again = await get(s, ['-r', 'tree', '-o', out]);
  t.is(again.code, 0, again.stderr);
  t.regex(again.stderr, /1000 files up to date/);
  // The re-run's connections: the listing, one for STATs (shared), one for the root's mtime.
  const lines = await logAfter(s, from, 3);
  t.false(
    lines.some((l) => / transfer /.test(l)),
    'no GET request',
  );
  const bytes = lines
    .filter((l) => / connection /.test(l))
    .map((l) => Number(/ bytes=(\d+)/.exec(l)?.[1]));
  t.true(bytes.length >= 3);
  t.deepEqual(
    bytes.filter((b) => b !== 0),
    [],
    'no file bytes sent',
  );
  t.is(
    lines.filter((l) => / op=STAT /.test(l)).length,
    1001,
    'one STAT per file, one for the root',
  );
});

test('a differing file is replaced only with --update (remote change) or --force (local edit)', async (t) => {
  const s = await serve(t, 'ft-sync-differ-');
  const tree = join(s.root, 'tree');
  await mkdir(tree);
  await writeFile(join(tree, 'remote.txt'), 'v1');
  await writeFile(join(tree, 'local.txt'), 'original');
  await writeFile(join(tree, 'same.txt'), 'constant');
  const out = join(s.dir, 'copy');
  t.is((await get(s, ['-r', 'tree', '-o', out])).code, 0);

  await writeFile(join(tree, 'remote.txt'), 'version 2');
  await writeFile(join(out, 'local.txt'), 'edited locally');
  const plain = await get(s, ['-r', 'tree', '-o', out]);
  t.is(plain.code, 9, plain.stderr);
  t.regex(plain.stderr, /remote\.txt differs from the remote file; not replaced/);
  t.regex(plain.stderr, /local\.txt was modified locally and differs from the remote file/);
  t.is(await readFile(join(out, 'remote.txt'), 'utf8'), 'v1', 'never replaced silently');

  const update = await get(s, ['-r', 'tree', '-o', out, '--update']);
  t.is(update.code, 9, update.stderr);
  t.is(await readFile(join(out, 'remote.txt'), 'utf8'), 'version 2');
  t.is(
    await readFile(join(out, 'local.txt'), 'utf8'),
    'edited locally',
    '--update keeps local edits',
  );

  const force = await get(s, ['-r', 'tree', '-o', out, '--force']);
  t.is(force.code, 0, force.stderr);
  t.is(await readFile(join(out, 'local.txt'), 'utf8'), 'original');
  t.regex(force.stderr, /2 files up to date/, 'identical files are not fetched again');
});

test('--checksum compares contents where size and mtime agree', async (t) => {
  const s = await serve(t, 'ft-sync-checksum-');
  const tree = join(s.root, 'tree');
  await mkdir(tree);
  await writeFile(join(tree, 'a.txt'), 'aaaa');
  const out = join(s.dir, 'copy');
  t.is((await get(s, ['-r', 'tree', '-o', out])).code, 0);
  // Same size, same mtime, different bytes: invisible to the quick check.
  const local = join(out, 'a.txt');
  const { mtime } = await stat(local);
  await writeFile(local, 'bbbb');
  await utimes(local, mtime, mtime);
  const quick = await get(s, ['-r', 'tree', '-o', out]);
  t.is(quick.code, 0, quick.stderr);
  t.is(await readFile(local, 'utf8'), 'bbbb');
  const checked = await get(s, ['-r', 'tree', '-o', out, '--checksum']);
  t.is(checked.code, 9, checked.stderr);
  t.regex(checked.stderr, /a\.txt differs from the remote file/);
  const updated = await get(s, ['-r', 'tree', '-o', out, '--checksum', '--update']);
  t.is(updated.code, 0, updated.stderr);
  t.is(await readFile(local, 'utf8'), 'aaaa');
});

test('--delete removes what vanished remotely, only inside the target and only when asked', async (t) => {
  const s = await serve(t, 'ft-sync-delete-');
  const tree = join(s.root, 'tree');
  await mkdir(join(tree, 'gone-dir'), { recursive: true });
  await writeFile(join(tree, 'keep.txt'), 'keep');
  await writeFile(join(tree, 'gone.txt'), 'gone');
  await writeFile(join(tree, 'gone-dir', 'x.txt'), 'x');
  const out = join(s.dir, 'copy');
  t.is((await get(s, ['-r', 'tree', '-o', out])).code, 0);
  // Local extras: a file beside the target, and a link inside it leading out of it.
  const outside = join(s.dir, 'outside');
  await mkdir(outside);
  await writeFile(join(outside, 'precious.txt'), 'precious');
  await symlink(outside, join(out, 'link-out'));
  await rm(join(tree, 'gone.txt'));
  await rm(join(tree, 'gone-dir'), { recursive: true });

  const without = await get(s, ['-r', 'tree', '-o', out]);
  t.is(without.code, 0, without.stderr);
  t.is(await readFile(join(out, 'gone.txt'), 'utf8'), 'gone', 'nothing deleted unless asked');

  const del = await get(s, ['-r', 'tree', '-o', out, '--delete']);
  t.is(del.code, 0, del.stderr);
  for (const name of ['gone.txt', 'gone-dir', 'link-out'])
    await t.throwsAsync(lstat(join(out, name)), { code: 'ENOENT' }, name);
  t.is(await readFile(join(out, 'keep.txt'), 'utf8'), 'keep');
  t.is(await readFile(join(outside, 'precious.txt'), 'utf8'), 'precious', 'links are not followed');
  t.regex(del.stderr, /deleted .*gone\.txt/);
});

test('--include/--exclude: rsync order, excluded directories not listed, kept by --delete', async (t) => {
  const s = await serve(t, 'ft-sync-filter-');
  const tree = join(s.root, 'tree');
  await mkdir(join(tree, 'sub'), { recursive: true });
  await mkdir(join(tree, 'skip'));
  for (const f of ['a.txt', 'b.log', 'keep.log', 'sub/c.txt', 'sub/d.log', 'skip/e.txt'])
    await writeFile(join(tree, f), f);
  const out = join(s.dir, 'copy');
  const from = s.server.stderr().length;
  const args = ['-r', 'tree', '-o', out, '--exclude', 'skip/', '--include=keep.log'];
  const r = await get(s, [...args, '--include', '*.txt', '--include', '*/', '--exclude', '*']);
  t.is(r.code, 0, r.stderr);
  for (const f of ['a.txt', 'keep.log', 'sub/c.txt']) t.is(await readFile(join(out, f), 'utf8'), f);
  for (const f of ['b.log', 'sub/d.log', 'skip'])
    await t.throwsAsync(lstat(join(out, f)), { code: 'ENOENT' }, f);
  const lines = await logAfter(s, from, 1);
  t.false(
    lines.some((l) => / op=LIST path=tree\/skip /.test(l)),
    'an excluded directory is not listed',
  );

  // The order decides: the same two rules the other way round.
  const other = join(s.dir, 'other');
  // Filters before the REMOTE: each flag takes one value, and the REMOTE stays a REMOTE.
  const o = await get(s, [
    '-r',
    '--exclude',
    '*.log',
    '--include',
    'keep.log',
    'tree',
    '-o',
    other,
  ]);
  t.is(o.code, 0, o.stderr);
  await t.throwsAsync(lstat(join(other, 'keep.log')), { code: 'ENOENT' });
  t.is(await readFile(join(other, 'skip', 'e.txt'), 'utf8'), 'skip/e.txt');

  // An excluded local file is neither fetched nor deleted.
  await writeFile(join(out, 'local.log'), 'mine');
  const del = await get(s, [
    ...args,
    '--include',
    '*.txt',
    '--include',
    '*/',
    '--exclude',
    '*',
    '--delete',
  ]);
  t.is(del.code, 0, del.stderr);
  t.is(await readFile(join(out, 'local.log'), 'utf8'), 'mine');
});
