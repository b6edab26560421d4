/**
 * PathJail.openSync's two paths (PathJail's module comment): a path of plain names under the
 * root is opened without realpath(3) (its directories lstat'ed, its last name with O_NOFOLLOW);
 * a path with a symlink anywhere is resolved first. Both must give the same answers: what is served, what is missing, what is refused.
 */
import { execFileSync } from 'node:child_process';
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { WireError } from '@ft/protocol';
import { JailError, PathJail } from '@ft/server';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'ft-jail-open-')));
const root = join(base, 'root');
const outside = join(base, 'outside');

test.before(() => {
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), 'secret');
  writeFileSync(join(root, 'file.txt'), 'inside');
  writeFileSync(join(root, 'sub', 'inner.txt'), 'inner');
  symlinkSync('sub/inner.txt', join(root, 'link-in'));
  symlinkSync('../outside/secret.txt', join(root, 'link-out'));
  symlinkSync('nowhere', join(root, 'link-broken'));
  symlinkSync('../outside', join(root, 'dir-out'));
  execFileSync('mkfifo', [join(root, 'fifo')]);
  mkdirSync(join(root, 'sub', 'deeper'));
  writeFileSync(join(root, 'sub', 'deeper', 'leaf.txt'), 'leaf');
  symlinkSync('sub', join(root, 'dir-in'));
  symlinkSync('../../../outside/secret.txt', join(root, 'sub', 'deeper', 'leaf-out'));
  symlinkSync('../../outside', join(root, 'sub', 'up-out'));
});

test.after.always(() => rmSync(base, { recursive: true, force: true }));

/** What openSync answers for `path`: the real path opened, or the refusal's wire code. */
function answer(jail: PathJail, path: string): string | number {
  try {
    const { fd, real } = jail.openSync(path);
    closeSync(fd);
    return real;
  } catch (error) {
    if (!(error instanceof JailError)) throw error;
    return error.wireCode!;
  }
}

test('a plain name, a directory and a FIFO under the root open as their real paths (never blocking)', (t) => {
  const jail = new PathJail(root, { dotfiles: false });
  t.is(answer(jail, 'file.txt'), join(root, 'file.txt'));
  t.is(answer(jail, './file.txt'), join(root, 'file.txt'));
  t.is(answer(jail, 'sub'), join(root, 'sub'));
  t.is(answer(jail, 'fifo'), join(root, 'fifo'));
  t.is(answer(jail, 'sub/inner.txt'), join(root, 'sub', 'inner.txt'));
});

test('a name that is a symlink is resolved: inside is its target, outside is refused, broken is missing', (t) => {
  const jail = new PathJail(root, { dotfiles: false });
  t.is(answer(jail, 'link-in'), join(root, 'sub', 'inner.txt'));
  t.is(answer(jail, 'link-out'), WireError.ACCESS_DENIED);
  t.is(answer(jail, 'dir-out/secret.txt'), WireError.ACCESS_DENIED);
  t.is(answer(jail, 'link-broken'), WireError.NOT_FOUND);
  t.is(answer(jail, 'absent'), WireError.NOT_FOUND);
  t.is(answer(jail, 'file.txt/x'), WireError.NOT_FOUND);
  t.is(answer(jail, '../outside/secret.txt'), WireError.ACCESS_DENIED);
});

test('nested paths: plain names open in place; a symlinked directory or last name on the way is resolved and checked', (t) => {
  const jail = new PathJail(root, { dotfiles: false });
  t.is(answer(jail, 'sub/deeper/leaf.txt'), join(root, 'sub', 'deeper', 'leaf.txt'));
  t.is(answer(jail, 'sub/deeper'), join(root, 'sub', 'deeper'));
  t.is(answer(jail, 'dir-in/deeper/leaf.txt'), join(root, 'sub', 'deeper', 'leaf.txt'));
  t.is(answer(jail, 'sub/deeper/leaf-out'), WireError.ACCESS_DENIED);
  t.is(answer(jail, 'sub/up-out/secret.txt'), WireError.ACCESS_DENIED);
  t.is(answer(jail, 'sub/absent/leaf.txt'), WireError.NOT_FOUND);
  t.is(answer(jail, 'sub/deeper/absent'), WireError.NOT_FOUND);
  t.is(answer(jail, 'file.txt/deeper/x'), WireError.NOT_FOUND);
});
