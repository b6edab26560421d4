import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  realpathSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
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

// Each path with the rule that must refuse it: the reason is asserted, so a path refused by an
// earlier rule cannot stand in for a missing one.
for (const [bad, reason] of [
  ['..', /^"\.\." in path$/],
  ['a/../b', /^"\.\." in path$/],
  ['/abs', /^absolute paths are refused$/],
  ['a\\b', /^backslash in path$/],
  ['a\u0000b', /^control characters in path$/],
  ['a\nb', /^control characters in path$/],
  ['x'.repeat(256), /^path component too long$/],
  ['.dot', /^dotfiles are not served$/],
  ['a/.git/config', /^dotfiles are not served$/],
] as const) {
  test(`parseRequestPath refuses ${JSON.stringify(bad.slice(0, 20))} with ACCESS_DENIED`, (t) => {
    const e = t.throws(() => parseRequestPath(bad, { dotfiles: false }), { instanceOf: JailError });
    t.is(e?.wireCode, WireError.ACCESS_DENIED);
    t.regex(e?.message ?? '', reason);
  });
}

// With dotfiles served, nothing but the ".." rule stands between these paths and the parent.
for (const bad of ['..', '../x', 'a/..', 'a/../b', './..', 'a//../../etc/passwd']) {
  test(`only the ".." rule refuses ${JSON.stringify(bad)} when dotfiles are served`, (t) => {
    const e = t.throws(() => parseRequestPath(bad, { dotfiles: true }), { instanceOf: JailError });
    t.is(e?.wireCode, WireError.ACCESS_DENIED);
    t.is(e?.message, '".." in path');
  });
}

test('names that merely contain dots are not ".." components', (t) => {
  t.deepEqual(parseRequestPath('a..b/...', { dotfiles: true }), ['a..b', '...']);
  t.deepEqual(parseRequestPath('x../..y', { dotfiles: true }), ['x..', '..y']);
});

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

/**
 * A jail whose resolve step is followed by `swap()`: the path is checked while it is harmless,
 * then replaced before the open, as a racing local user would do.
 */
class SwappingJail extends PathJail {
  private swapped = false;
  constructor(private readonly swap: () => void) {
    super(root, { dotfiles: false });
  }
  // Once, after the checks of whichever way the jail opens (the resolving one, or the one for
  // plain names that lstats directories and opens with O_NOFOLLOW): a path may take both.
  protected override beforeOpen(): void {
    if (this.swapped) return;
    this.swapped = true;
    this.swap();
  }
}

/** Descriptors of this process open on a path outside the root (by what /proc says they are). */
const outsideFds = (): string[] =>
  readdirSync('/proc/self/fd')
    .map((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        return '';
      }
    })
    .filter((target) => target.startsWith(base) && !jail.contains(target));

test('a file swapped for a symlink to outside between the check and the open is refused', async (t) => {
  const victim = join(root, 'swap.txt');
  writeFileSync(victim, 'inside');
  t.teardown(() => rmSync(victim, { force: true }));
  const swap = () => {
    rmSync(victim);
    symlinkSync(join(base, 'outside.txt'), victim);
  };
  const e = t.throws(() => new SwappingJail(swap).openSync('swap.txt'), { instanceOf: JailError });
  t.is(e?.wireCode, WireError.ACCESS_DENIED);
  t.deepEqual(outsideFds(), [], 'no descriptor of the outside file is left open');
  // The same race through the promise API.
  rmSync(victim);
  writeFileSync(victim, 'inside');
  const e2 = await t.throwsAsync(new SwappingJail(swap).open('swap.txt'), {
    instanceOf: JailError,
  });
  t.is(e2?.wireCode, WireError.ACCESS_DENIED);
});

test('a directory swapped for a symlink to outside between the check and the open is refused', async (t) => {
  // O_NOFOLLOW covers the last component only: here the /proc/self/fd re-check must catch it.
  const dir = join(root, 'swapdir');
  const away = join(base, 'elsewhere');
  mkdirSync(join(base, 'outdir'), { recursive: true });
  writeFileSync(join(base, 'outdir', 'f.txt'), 'outside');
  const reset = () => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(away, { recursive: true, force: true });
    mkdirSync(dir);
    writeFileSync(join(dir, 'f.txt'), 'inside');
  };
  reset();
  t.teardown(() => {
    rmSync(dir, { recursive: true, force: true });
    rmSync(away, { recursive: true, force: true });
  });
  const swap = () => {
    renameSync(dir, away);
    symlinkSync(join(base, 'outdir'), dir);
  };
  const e = t.throws(() => new SwappingJail(swap).openSync('swapdir/f.txt'), {
    instanceOf: JailError,
  });
  t.is(e?.wireCode, WireError.ACCESS_DENIED);
  t.regex(e?.message ?? '', /leads outside the root/);
  t.deepEqual(outsideFds(), [], 'no descriptor of the outside file is left open');
  reset();
  const e2 = await t.throwsAsync(new SwappingJail(swap).open('swapdir/f.txt'), {
    instanceOf: JailError,
  });
  t.regex(e2?.message ?? '', /leads outside the root/);
});
