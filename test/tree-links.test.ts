/**
 * Symlink-safe recursion, end to end with the real ftserve and ftget: a tree with symlink loops
 * (`self -> .`, `up -> ..`) is listed and downloaded to the end; links inside the tree are kept
 * as links, others skipped with a notice; --follow-links copies what links lead to, each
 * directory once; --max-depth bounds a 200-deep chain; the server bounds LIST work per
 * connection and still answers version-1 clients in the version-1 layout.
 */
import {
  lstat,
  mkdir,
  mkdtemp,
  readFile,
  readlink,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { EntryKind, FrameType, LinkKind, WireError, encodeList } from '@ft/protocol';
import type { ListEntry } from '@ft/protocol';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { RawClient } from './helpers/raw-client.js';
import { waitFor } from './helpers/procfs.js';

const DEEP = 200;
let dir: string;
let root: string;
let server: Ftserve;

test.before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ft-tree-links-'));
  root = join(dir, 'srv');
  const loop = join(root, 'looptree');
  await mkdir(join(loop, 'sub'), { recursive: true });
  await mkdir(join(root, 'other'));
  await writeFile(join(loop, 'a.txt'), 'alpha\n');
  await writeFile(join(loop, 'sub', 'b.txt'), 'beta\n');
  await writeFile(join(root, 'other', 'c.txt'), 'gamma\n');
  await writeFile(join(dir, 'secret.txt'), 'secret\n');
  await symlink('.', join(loop, 'self'));
  await symlink('..', join(loop, 'up'));
  await symlink('a.txt', join(loop, 'alink'));
  await symlink('sub', join(loop, 'sublink'));
  await symlink('../other', join(loop, 'ext'));
  await symlink(join(dir, 'secret.txt'), join(loop, 'out'));
  await symlink('nowhere', join(loop, 'dangling'));
  let deep = join(root, 'deep');
  for (let i = 0; i < DEEP; i++) deep = join(deep, 'd');
  await mkdir(deep, { recursive: true });
  await writeFile(join(deep, 'bottom.txt'), 'bottom\n');
  server = await startFtserve(['--root', root, '--port', '0', '--host', '127.0.0.1']);
});

test.after.always(async () => {
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const port = (): string => String(server.port);

async function freshDir(prefix: string): Promise<string> {
  return mkdtemp(join(dir, prefix));
}

test('ls -R of a tree with symlink loops finishes and shows the links', async (t) => {
  const r = await runFtget(['ls', '-R', 'looptree', '--port', port()], { timeoutMs: 30_000 });
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.stdout.toString().trim().split('\n'), [
    'a.txt',
    'alink -> /looptree/a.txt',
    'dangling -> ?',
    'ext -> /other/',
    'out -> ?',
    'self -> /looptree/',
    'sub/',
    'sub/b.txt',
    'sublink -> /looptree/sub/',
    'up -> /',
  ]);
});

test('ls -R --follow-links lists each directory once, with a notice for each loop', async (t) => {
  const r = await runFtget(['ls', '-R', '--follow-links', 'looptree', '--port', port(), '--json'], {
    timeoutMs: 30_000,
  });
  t.is(r.code, 0, r.stderr);
  const paths = (JSON.parse(r.stdout.toString()) as { relativePath: string }[]).map(
    (e) => e.relativePath,
  );
  t.true(paths.includes('ext/c.txt'), 'a link to a directory outside the tree is followed');
  t.true(paths.includes('up/other'), 'the link to the root is followed once');
  t.false(
    paths.some((p) => p.startsWith('self/') || p.startsWith('up/looptree/')),
    'no directory is listed twice',
  );
  t.regex(r.stderr, /self: symlink not followed, directory \/looptree already listed/);
  t.regex(r.stderr, /sublink: symlink not followed, directory \/looptree\/sub already listed/);
});

test('get -r keeps links inside the tree as links and skips the others with a notice', async (t) => {
  const out = await freshDir('get-');
  const r = await runFtget(['get', '-r', 'looptree', '-o', join(out, 'copy'), '--port', port()], {
    timeoutMs: 30_000,
  });
  t.is(r.code, 0, r.stderr);
  const copy = join(out, 'copy');
  t.is(await readFile(join(copy, 'a.txt'), 'utf8'), 'alpha\n');
  t.is(await readFile(join(copy, 'sub', 'b.txt'), 'utf8'), 'beta\n');
  t.is(await readlink(join(copy, 'self')), '.');
  t.is(await readlink(join(copy, 'alink')), 'a.txt');
  t.is(await readlink(join(copy, 'sublink')), 'sub');
  for (const name of ['up', 'ext', 'out', 'dangling']) {
    await t.throwsAsync(lstat(join(copy, name)), { code: 'ENOENT' }, name);
    t.regex(r.stderr, new RegExp(`skipping symlink looptree/${name}: `), name);
  }
  t.regex(r.stderr, /looptree\/up: it leads outside the downloaded tree/);
  t.regex(r.stderr, /looptree\/out: it leads outside the server's root or nowhere/);
  t.false(r.stderr.includes('secret'), 'nothing about the outside target leaks');
});

test('get -r --follow-links copies what links lead to, each directory once', async (t) => {
  const out = await freshDir('follow-');
  const r = await runFtget(
    ['get', '-r', '--follow-links', 'looptree', '-o', join(out, 'copy'), '--port', port()],
    { timeoutMs: 30_000 },
  );
  t.is(r.code, 0, r.stderr);
  const copy = join(out, 'copy');
  t.true((await lstat(join(copy, 'alink'))).isFile());
  t.is(await readFile(join(copy, 'alink'), 'utf8'), 'alpha\n');
  t.is(await readFile(join(copy, 'ext', 'c.txt'), 'utf8'), 'gamma\n');
  const chain = Array.from({ length: DEEP }, () => 'd');
  t.is(await readFile(join(copy, 'up', 'deep', ...chain, 'bottom.txt'), 'utf8'), 'bottom\n');
  // Each directory once: /other came through ext, /looptree and /looptree/sub are the tree itself.
  for (const again of [['self'], ['sublink'], ['up', 'looptree'], ['up', 'other']]) {
    await t.throwsAsync(lstat(join(copy, ...again)), { code: 'ENOENT' }, again.join('/'));
  }
  t.regex(r.stderr, /up\/other: not descended, directory \/other already listed/);
  t.regex(r.stderr, /skipping symlink looptree\/out: /);
});

test('--max-depth bounds ls -R and get -r of a 200-deep chain', async (t) => {
  const full = await runFtget(['ls', '-R', 'deep', '--port', port()], { timeoutMs: 60_000 });
  t.is(full.code, 0, full.stderr);
  const all = full.stdout.toString().trim().split('\n');
  t.is(all.length, DEEP + 1, 'without --max-depth the whole chain is listed');
  t.true(all[DEEP]!.endsWith('/bottom.txt'));

  const ls = await runFtget(['ls', '-R', 'deep', '--max-depth', '4', '--port', port()]);
  t.is(ls.code, 0, ls.stderr);
  t.deepEqual(ls.stdout.toString().trim().split('\n'), [
    'd/',
    'd/d/',
    'd/d/d/',
    'd/d/d/d/',
    'd/d/d/d/d/',
  ]);

  const out = await freshDir('deep-');
  const get = await runFtget([
    'get',
    '-r',
    'deep',
    '--max-depth',
    '2',
    '-o',
    out,
    '--port',
    port(),
  ]);
  t.is(get.code, 0, get.stderr);
  t.true((await lstat(join(out, 'd', 'd', 'd'))).isDirectory());
  await t.throwsAsync(lstat(join(out, 'd', 'd', 'd', 'd')), { code: 'ENOENT' });
});

test('LIST with WANT_LINKS marks links and never names a target outside the root', async (t) => {
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  const listing = (await c.list('looptree', true)) as ListEntry[];
  t.true(Array.isArray(listing));
  const byName = new Map(listing.map((e) => [e.name, e]));
  t.like(byName.get('a.txt'), { kind: EntryKind.FILE, link: LinkKind.NONE, target: '' });
  t.like(byName.get('self'), {
    kind: EntryKind.DIRECTORY,
    link: LinkKind.INSIDE,
    target: 'looptree',
  });
  t.like(byName.get('up'), { kind: EntryKind.DIRECTORY, link: LinkKind.INSIDE, target: '' });
  t.like(byName.get('alink'), { kind: EntryKind.FILE, link: LinkKind.INSIDE, size: 6 });
  t.like(byName.get('out'), {
    kind: EntryKind.OTHER,
    link: LinkKind.UNSERVABLE,
    target: '',
    size: 0,
  });
  t.like(byName.get('dangling'), { kind: EntryKind.OTHER, link: LinkKind.UNSERVABLE });
});

test('a version-1 client gets the version-1 LIST layout, outward links left out', async (t) => {
  const c = await RawClient.connect(server.port, { hello: false });
  t.teardown(() => c.destroy());
  t.is(await c.hello(1), 1);
  const listing = (await c.list('looptree')) as ListEntry[];
  t.deepEqual(
    listing.map((e) => e.name),
    ['a.txt', 'alink', 'ext', 'self', 'sub', 'sublink', 'up'],
  );
  t.true(listing.every((e) => e.link === undefined));
});

test('the server bounds LIST work per connection: rate (BUSY) and depth (TOO_LARGE), logged', async (t) => {
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  const deepPath = Array.from({ length: 257 }, () => 'd').join('/');
  const tooDeep = await c.list(`deep/${deepPath}`);
  t.like(tooDeep, { type: FrameType.ERROR, code: WireError.TOO_LARGE });
  // Far more LISTs than the burst, pipelined, in batches until some are refused: a loaded
  // machine may answer slower than the sustained rate for a while (then nothing needs refusing).
  const BATCH = 2000;
  let busy = 0;
  let ok = 0;
  let retryAfter = 0;
  for (let batch = 0; batch < 20 && busy === 0; batch++) {
    const frames = Array.from({ length: BATCH }, (_, i) =>
      encodeList({ requestId: 1000 + batch * BATCH + i, path: 'looptree/sub' }),
    );
    c.send(Buffer.concat(frames));
    for (let answered = 0; answered < BATCH;) {
      const m = await c.nextMessage();
      if (m.type === FrameType.ERROR) {
        t.is(m.code, WireError.BUSY);
        retryAfter = Math.max(retryAfter, m.retryAfterMs);
        busy++;
        answered++;
      } else if (m.type === FrameType.LIST_OK && !m.more) {
        ok++;
        answered++;
      }
    }
  }
  t.true(ok >= 1000, `the burst is served (${ok})`);
  t.true(busy > 0, 'requests beyond the rate are refused');
  t.true(retryAfter > 0, 'BUSY says when to retry');
  // The log line and the BUSY frame leave on different descriptors: wait (bounded) for the line.
  await waitFor(() => /list-rate-limited/.test(server.stderr()), 5000);
  t.regex(server.stderr(), /list-rate-limited/);
  t.regex(server.stderr(), /FT_TOO_LARGE/);
});
