import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { WireError } from '@ft/protocol';
import { JailError, PathJail, parseRequestPath } from '../src/files/path-jail.js';

const base = realpathSync(mkdtempSync(join(tmpdir(), 'ft-jail-unit-')));
const root = join(base, 'root');
mkdirSync(join(root, 'sub'), { recursive: true });
writeFileSync(join(root, 'sub', 'f.txt'), 'f');
writeFileSync(join(root, '.dot'), 'd');
writeFileSync(join(base, 'outside.txt'), 'o');
symlinkSync('../outside.txt', join(root, 'out'));
symlinkSync('sub/f.txt', join(root, 'in'));
symlinkSync('.dot', join(root, 'to-dot'));
symlinkSync('loop', join(root, 'loop'));
test.after.always(() => rmSync(base, { recursive: true, force: true }));

const jail = new PathJail(root, { dotfiles: false });

test('parseRequestPath splits on "/" and drops empty and "." components', (t) => {
  t.deepEqual(parseRequestPath('a/b', { dotfiles: false }), ['a', 'b']);
  t.deepEqual(parseRequestPath('./a//b/', { dotfiles: false }), ['a', 'b']);
  t.deepEqual(parseRequestPath('', { dotfiles: false }), []);
  t.deepEqual(parseRequestPath('.', { dotfiles: false }), []);
});

for (const bad of [
  '..',
  'a/../b',
  '/abs',
  'a\\b',
  'a\u0000b',
  'a\nb',
  'x'.repeat(256),
  '.dot',
  'a/.git/config',
]) {
  test(`parseRequestPath refuses ${JSON.stringify(bad.slice(0, 20))} with ACCESS_DENIED`, (t) => {
    const e = t.throws(() => parseRequestPath(bad, { dotfiles: false }), { instanceOf: JailError });
    t.is(e?.wireCode, WireError.ACCESS_DENIED);
  });
}

test('parseRequestPath allows dotfiles when asked, but never ".."', (t) => {
  t.deepEqual(parseRequestPath('.dot', { dotfiles: true }), ['.dot']);
  t.throws(() => parseRequestPath('..', { dotfiles: true }), { instanceOf: JailError });
});

test('a name of exactly 255 bytes is accepted', (t) => {
  t.deepEqual(parseRequestPath('é'.repeat(127) + 'x', { dotfiles: false }).length, 1);
});

test('resolve follows symlinks that stay inside and refuses those that lead out or to dotfiles', async (t) => {
  t.is(await jail.resolve('in'), join(root, 'sub', 'f.txt'));
  t.is(await jail.resolve(''), root);
  for (const path of ['out', 'to-dot', 'loop']) {
    const e = await t.throwsAsync(jail.resolve(path), { instanceOf: JailError });
    t.is(e?.wireCode, WireError.ACCESS_DENIED, path);
  }
});

test('resolve reports a missing path as NOT_FOUND', async (t) => {
  const e = await t.throwsAsync(jail.resolve('sub/nope'), { instanceOf: JailError });
  t.is(e?.wireCode, WireError.NOT_FOUND);
  const e2 = await t.throwsAsync(jail.resolve('sub/f.txt/x'), { instanceOf: JailError });
  t.is(e2?.wireCode, WireError.NOT_FOUND);
});

test('open returns a read-only handle of the file inside the root', async (t) => {
  const { handle, real } = await jail.open('in');
  t.teardown(() => handle.close());
  t.is(real, join(root, 'sub', 'f.txt'));
  t.is((await handle.readFile()).toString(), 'f');
});

test('contains() does not mistake a sibling with the same prefix for the root', (t) => {
  t.true(jail.contains(root));
  t.true(jail.contains(join(root, 'a')));
  t.false(jail.contains(`${root}-other/a`));
  t.false(jail.contains(base));
});
