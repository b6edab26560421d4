import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FrameType, WireError } from '@ft/protocol';
import { startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { RawClient } from './helpers/raw-client.js';

const base = mkdtempSync(join(tmpdir(), 'ft-jail-'));
const root = join(base, 'root');
const outside = join(base, 'outside');
const SECRET = 'SECRET-OUTSIDE-THE-ROOT';
const HIDDEN = 'HIDDEN-DOTFILE';
let server: Ftserve;
let dotServer: Ftserve;

test.before(async () => {
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.txt'), SECRET);
  writeFileSync(join(root, 'file.txt'), 'inside');
  writeFileSync(join(root, 'sub', 'inner.txt'), 'inner');
  writeFileSync(join(root, '.hidden'), HIDDEN);
  symlinkSync('../outside/secret.txt', join(root, 'link-out'));
  symlinkSync(join(outside, 'secret.txt'), join(root, 'link-out-abs'));
  symlinkSync('../outside', join(root, 'dir-out'));
  symlinkSync('sub/inner.txt', join(root, 'link-in'));
  symlinkSync(join(root, 'sub'), join(root, 'dir-in-abs'));
  symlinkSync('.hidden', join(root, 'link-to-dotfile'));
  symlinkSync('/etc/passwd', join(root, 'link-etc'));
  symlinkSync('nowhere', join(root, 'link-broken'));
  server = await startFtserve(['--root', root, '--port', '0', '--workers', '1']);
  dotServer = await startFtserve(['--root', root, '--port', '0', '--workers', '1', '--dotfiles']);
});

test.after.always(async () => {
  await Promise.all([server?.stop(), dotServer?.stop()]);
  rmSync(base, { recursive: true, force: true });
});

/** Paths that must be refused with ACCESS_DENIED. */
const DENIED = [
  '../outside/secret.txt',
  'sub/../../outside/secret.txt',
  'sub/../file.txt',
  '..',
  './..',
  '..\\outside\\secret.txt',
  'sub\\..\\..\\outside\\secret.txt',
  '/etc/passwd',
  join(outside, 'secret.txt'),
  '//etc/passwd',
  'file.txt\u0000.png',
  '\u0000',
  'sub/\u0001',
  'x'.repeat(256),
  `sub/${'y'.repeat(300)}`,
  'link-out',
  'link-out-abs',
  'dir-out/secret.txt',
  'dir-out',
  'link-etc',
  '.hidden',
  'sub/../.hidden',
  'link-to-dotfile',
  'file.txt/..',
  // A name starting with "." is a dotfile, whatever follows.
  '..%2foutside%2fsecret.txt',
];

/** Paths that do not exist under the root (encoded forms are never decoded). */
const MISSING = [
  '%2e%2e/outside/secret.txt',
  '%2e%2e%2foutside%2fsecret.txt',
  '%252e%252e/outside/secret.txt',
  '\u2025/outside/secret.txt',
  '\uff0e\uff0e/outside/secret.txt',
  'sub/x..y',
  '~/secret.txt',
  'link-broken',
];

async function fetchAll(
  c: RawClient,
  path: string,
): Promise<{ get: number | string; stat: number | string; list: number | string }> {
  const g = await c.get({ path, offset: 0 });
  const s = await c.stat(path, true);
  const l = await c.list(path);
  const code = (x: { type: number; code?: number }) =>
    x.type === FrameType.ERROR ? x.code! : 'served';
  return {
    get: g.ok ? `served:${g.body.toString()}` : g.error.code,
    stat: code(s),
    list: Array.isArray(l) ? `listed:${l.map((e) => e.name).join(',')}` : l.code,
  };
}

test('traversal, absolute, NUL, long-name, dotfile and outward-symlink paths are refused with ACCESS_DENIED', async (t) => {
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  for (const path of DENIED) {
    const r = await fetchAll(c, path);
    t.is(r.get, WireError.ACCESS_DENIED, `GET ${JSON.stringify(path)}`);
    t.is(r.stat, WireError.ACCESS_DENIED, `STAT ${JSON.stringify(path)}`);
    t.is(r.list, WireError.ACCESS_DENIED, `LIST ${JSON.stringify(path)}`);
  }
});

test('encoded and look-alike traversal forms are plain names that do not exist', async (t) => {
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  for (const path of MISSING) {
    const r = await fetchAll(c, path);
    t.is(r.get, WireError.NOT_FOUND, `GET ${JSON.stringify(path)}`);
    t.is(r.stat, WireError.NOT_FOUND, `STAT ${JSON.stringify(path)}`);
  }
});

test('nothing outside the root is ever served, with or without --dotfiles', async (t) => {
  for (const s of [server, dotServer]) {
    const c = await RawClient.connect(s.port);
    t.teardown(() => c.destroy());
    for (const path of [...DENIED, ...MISSING]) {
      const r = await fetchAll(c, path);
      t.false(JSON.stringify(r).includes(SECRET), `${JSON.stringify(path)} leaked`);
      t.false(
        typeof r.list === 'string' && r.list.includes('secret.txt'),
        `${JSON.stringify(path)} listed outside`,
      );
    }
  }
});

test('symlinks that stay inside the root work; those leading out are not listed', async (t) => {
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  const viaLink = await c.get({ path: 'link-in', offset: 0 });
  t.true(viaLink.ok && viaLink.body.toString() === 'inner');
  const viaDir = await c.get({ path: 'dir-in-abs/inner.txt', offset: 0 });
  t.true(viaDir.ok && viaDir.body.toString() === 'inner');
  const listing = await c.list('');
  t.true(Array.isArray(listing));
  if (Array.isArray(listing)) {
    t.deepEqual(
      listing.map((e) => e.name),
      ['dir-in-abs', 'file.txt', 'link-in', 'sub'],
    );
  }
});

test('--dotfiles serves dotfiles inside the root but still refuses outward links', async (t) => {
  const c = await RawClient.connect(dotServer.port);
  t.teardown(() => c.destroy());
  const hidden = await c.get({ path: '.hidden', offset: 0 });
  t.true(hidden.ok && hidden.body.toString() === HIDDEN);
  const out = await c.get({ path: 'link-out', offset: 0 });
  t.true(!out.ok && out.error.code === WireError.ACCESS_DENIED);
  const up = await c.get({ path: '../outside/secret.txt', offset: 0 });
  t.true(!up.ok && up.error.code === WireError.ACCESS_DENIED);
});

test('a path longer than the protocol limit is a connection-level TOO_LARGE', async (t) => {
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  // Built by hand: the encoder refuses such a path.
  const path = Buffer.alloc(5000, 0x61);
  const payload = Buffer.alloc(4 + 1 + 8 + 8 + 16 + 2 + path.length);
  payload.writeUInt32BE(1, 0);
  payload.writeUInt16BE(path.length, 37);
  path.copy(payload, 39);
  const header = Buffer.alloc(6);
  header[0] = FrameType.GET;
  header.writeUInt32BE(payload.length, 2);
  c.send(Buffer.concat([header, payload]));
  const events = await c.untilClosed();
  const first = events[0];
  t.true(
    first?.kind === 'message' &&
      first.message.type === FrameType.ERROR &&
      first.message.requestId === 0,
  );
  if (first?.kind === 'message' && first.message.type === FrameType.ERROR)
    t.is(first.message.code, WireError.TOO_LARGE);
});

test('with --dotfiles only the ".." rule refuses a ".." that stays inside the root', async (t) => {
  // Resolved, these would all land inside the root (and dotfiles are allowed): a server without
  // the rule would serve them. The refusal must say why.
  const c = await RawClient.connect(dotServer.port);
  t.teardown(() => c.destroy());
  for (const path of [
    'sub/../file.txt',
    'sub/../sub/inner.txt',
    'sub/..',
    'dir-in-abs/../file.txt',
  ]) {
    const g = await c.get({ path, offset: 0 });
    t.false(g.ok, `GET ${path} was served`);
    if (!g.ok) {
      t.is(g.error.code, WireError.ACCESS_DENIED, `GET ${path}`);
      t.regex(g.error.message, /"\.\." in path/);
    }
    const s = await c.stat(path);
    t.is(s.type, FrameType.ERROR, `STAT ${path}`);
    if (s.type === FrameType.ERROR) t.is(s.code, WireError.ACCESS_DENIED);
  }
});
