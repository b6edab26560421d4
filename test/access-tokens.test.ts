/**
 * Access tokens end to end: `ftserve token add|list|revoke`, `ftserve --tokens FILE` with real
 * ftget processes (--token, FTGET_TOKEN, the per-user tokens file), refusals before any file
 * work, SIGHUP reloads, tokens kept out of logs. Tokens over UDP: udp-access.test.ts.
 */
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FrameType, PROTOCOL_VERSION, WireError, encodeHello, encodeStat } from '@ft/protocol';
import { addToken, runFtserve, startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { runFtget } from './helpers/ftget.js';
import { RawClient } from './helpers/raw-client.js';

const base = mkdtempSync(join(tmpdir(), 'ft-tokens-'));
const root = join(base, 'root');
const tokens = join(base, 'tokens.json');
const TOKEN_RE = /^ft_[A-Za-z0-9_-]{43}$/;
let server: Ftserve;
let docsToken: string;

/** A raw connection whose HELLO carries `token` (or none). */
async function rawWith(token: string | undefined, localAddress?: string): Promise<RawClient> {
  const c = await RawClient.connect(server.port, {
    hello: false,
    ...(localAddress === undefined ? {} : { localAddress }),
  });
  c.send(
    encodeHello({
      minVersion: PROTOCOL_VERSION,
      maxVersion: PROTOCOL_VERSION,
      name: 'test-client',
      ...(token === undefined ? {} : { token }),
    }),
  );
  const w = await c.nextMessage();
  if (w.type !== FrameType.WELCOME) throw new Error(`expected WELCOME, got ${JSON.stringify(w)}`);
  return c;
}

function get(path: string, ...args: string[]) {
  return runFtget(
    ['get', '--host', '127.0.0.1', '--port', String(server.port), path, '-o', '-', '-q', ...args],
    {
      env: { ...process.env, XDG_CONFIG_HOME: join(base, 'no-config'), FTGET_TOKEN: '' },
    },
  );
}

/** Waits (bounded) until the server's log has `n` occurrences of `text`. */
async function logged(text: string, n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (server.stderr().split(text).length - 1 >= n) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`log never showed ${n}× ${text}`);
}

test.before(async () => {
  mkdirSync(join(root, 'docs', 'sub'), { recursive: true });
  mkdirSync(join(root, 'secret'));
  writeFileSync(join(root, 'docs', 'a.txt'), 'docs-a');
  writeFileSync(join(root, 'docs', 'sub', 'b.txt'), 'docs-b');
  writeFileSync(join(root, 'docs2.txt'), 'not under docs/');
  writeFileSync(join(root, 'secret', 's.txt'), 'SECRET');
  symlinkSync('../secret/s.txt', join(root, 'docs', 'link-out'));
  symlinkSync('sub/b.txt', join(root, 'docs', 'link-in'));
  docsToken = await addToken(tokens, [
    '--prefix',
    'docs/',
    '--name',
    'docs-team',
    '--expires',
    '30d',
  ]);
  server = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--workers',
    '1',
    '--tokens',
    tokens,
  ]);
});

test.after.always(async () => {
  await server?.stop();
  rmSync(base, { recursive: true, force: true });
});

test.serial(
  'token add prints a fresh 256-bit token once and stores only its hash, mode 0600',
  async (t) => {
    t.regex(docsToken, TOKEN_RE);
    const other = await addToken(tokens, ['--prefix', 'docs', '--name', 'other']);
    t.regex(other, TOKEN_RE);
    t.not(other, docsToken);
    t.is(statSync(tokens).mode & 0o777, 0o600);
    const text = readFileSync(tokens, 'utf8');
    t.false(text.includes(docsToken));
    t.false(text.includes(other));
    const list = await runFtserve(['token', 'list', '--tokens', tokens]);
    t.is(list.code, 0);
    t.regex(list.stdout, /\tdocs-team\tdocs\/\t.*\t20\d\d-/);
    t.false(list.stdout.includes(docsToken));
    const dup = await runFtserve([
      'token',
      'add',
      '--tokens',
      tokens,
      '--prefix',
      'x',
      '--name',
      'other',
    ]);
    t.is(dup.code, 2);
    t.regex(dup.stderr, /^ftserve: a token named "other" exists already.*\n$/);
    const badPrefix = await runFtserve(['token', 'add', '--tokens', tokens, '--prefix', '../x']);
    t.is(badPrefix.code, 2);
    const badExpiry = await runFtserve([
      'token',
      'add',
      '--tokens',
      tokens,
      '--prefix',
      'x',
      '--expires',
      'soon',
    ]);
    t.is(badExpiry.code, 2);
    t.regex(badExpiry.stderr, /--expires must be a duration/);
    const revoke = await runFtserve(['token', 'revoke', '--tokens', tokens, 'other']);
    t.is(revoke.code, 0);
    t.false(readFileSync(tokens, 'utf8').includes('"other"'));
    const missing = await runFtserve(['token', 'revoke', '--tokens', tokens, 'other']);
    t.is(missing.code, 2);
  },
);

test('without a token every request is refused UNAUTHORIZED: one line, exit 10', async (t) => {
  const r = await get('docs/a.txt');
  t.is(r.code, 10);
  t.is(r.stdout.length, 0);
  t.regex(r.stderr, /^ftget: error: this server needs an access token\n/);
});

test('--token opens paths under its prefix, and only those', async (t) => {
  const ok = await get('docs/a.txt', '--token', docsToken);
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout.toString(), 'docs-a');
  const deep = await get('docs/sub/b.txt', '--token', docsToken);
  t.is(deep.stdout.toString(), 'docs-b');
  for (const path of ['secret/s.txt', 'docs2.txt']) {
    const r = await get(path, '--token', docsToken);
    t.is(r.code, 10, path);
    t.is(r.stdout.length, 0);
    t.regex(r.stderr, /^ftget: error: the token does not cover this path\n/);
  }
  const wrong = await get('docs/a.txt', '--token', 'ft_' + 'A'.repeat(43));
  t.is(wrong.code, 10);
  t.regex(wrong.stderr, /invalid, expired or revoked token/);
});

test('LIST above the prefix is refused, LIST and -r inside it work', async (t) => {
  const env = { ...process.env, FTGET_TOKEN: docsToken, XDG_CONFIG_HOME: join(base, 'no-config') };
  const args = ['--host', '127.0.0.1', '--port', String(server.port)];
  const top = await runFtget(['ls', ...args], { env });
  t.is(top.code, 10);
  t.false(top.stdout.toString().includes('secret'));
  const docs = await runFtget(['ls', ...args, 'docs'], { env });
  t.is(docs.code, 0, docs.stderr);
  t.regex(docs.stdout.toString(), /a\.txt/);
  const out = join(base, 'tree');
  const tree = await runFtget(['get', ...args, '-r', 'docs', '-o', out + '/', '-q'], { env });
  t.is(tree.code, 0, tree.stderr);
  t.is(readFileSync(join(out, 'sub', 'b.txt'), 'utf8'), 'docs-b');
});

test('a refused request does not depend on the file system: existing and missing paths get the same frame', async (t) => {
  for (const token of [undefined, docsToken]) {
    const c = await rawWith(token);
    t.teardown(() => c.destroy());
    const answers = [];
    for (const path of ['secret/s.txt', 'secret/nope.txt', 'nope/deeper/x']) {
      c.send(encodeStat({ requestId: 7, path, wantDigest: false }));
      answers.push(await c.nextMessage());
    }
    const code = token === undefined ? WireError.UNAUTHORIZED : WireError.FORBIDDEN;
    t.like(answers[0], { type: FrameType.ERROR, requestId: 7, code });
    t.deepEqual(answers[1], answers[0]);
    t.deepEqual(answers[2], answers[0]);
    // The connection stays usable after a request-level refusal.
    if (token !== undefined)
      t.like(await c.stat('docs/a.txt'), { type: FrameType.STAT_OK, size: 6 });
  }
});

test.serial('an expired token is refused', async (t) => {
  const short = await addToken(tokens, ['--prefix', 'docs', '--name', 'short', '--expires', '1s']);
  server.child.kill('SIGHUP');
  await logged('tokens-reloaded', 1);
  await new Promise((r) => setTimeout(r, 1200));
  const r = await get('docs/a.txt', '--token', short);
  t.is(r.code, 10);
  t.regex(r.stderr, /invalid, expired or revoked token/);
  t.regex(server.stderr(), /why=expired token=short/);
});

test.serial('revoke takes effect on SIGHUP without a restart', async (t) => {
  const temp = await addToken(tokens, ['--prefix', '', '--name', 'temp']);
  // Before the reload the new token is unknown; after it, it works (whole root).
  t.is((await get('secret/s.txt', '--token', temp)).code, 10);
  const before = server.stderr().split('tokens-reloaded').length - 1;
  server.child.kill('SIGHUP');
  await logged('tokens-reloaded', before + 1);
  const ok = await get('secret/s.txt', '--token', temp);
  t.is(ok.stdout.toString(), 'SECRET');
  t.is((await runFtserve(['token', 'revoke', '--tokens', tokens, 'temp'])).code, 0);
  server.child.kill('SIGHUP');
  await logged('tokens-reloaded', before + 2);
  const after = await get('secret/s.txt', '--token', temp);
  t.is(after.code, 10);
  t.is(after.stdout.length, 0);
  t.false(server.stderr().includes(temp), 'the token never appears in the log');
});

test.serial('tokens never appear in the server log; the log names the token', async (t) => {
  await get('docs/a.txt', '--token', docsToken);
  await get('secret/s.txt', '--token', docsToken);
  const log = server.stderr();
  t.false(log.includes(docsToken));
  t.false(log.includes(docsToken.slice(3)));
  t.regex(log, /result=FT_FORBIDDEN why="outside prefix" token=docs-team/);
});

test('the per-user tokens file: used by host:port, refused when group/other-readable', async (t) => {
  const config = mkdtempSync(join(base, 'cfg-'));
  mkdirSync(join(config, 'ftget'));
  const file = join(config, 'ftget', 'tokens');
  writeFileSync(
    file,
    `# ftget tokens\n127.0.0.1:1 ft_unused\n127.0.0.1:${server.port} ${docsToken}\n`,
  );
  chmodSync(file, 0o644);
  const env = { ...process.env, XDG_CONFIG_HOME: config, FTGET_TOKEN: '' };
  const args = [
    'get',
    '--host',
    '127.0.0.1',
    '--port',
    String(server.port),
    'docs/a.txt',
    '-o',
    '-',
    '-q',
  ];
  const open = await runFtget(args, { env });
  t.is(open.code, 2);
  t.regex(
    open.stderr,
    /^ftget: error: .*tokens is accessible by group or others \(mode 0644\); run: chmod 600 /,
  );
  t.false(open.stderr.includes(docsToken));
  chmodSync(file, 0o600);
  const ok = await runFtget(args, { env });
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout.toString(), 'docs-a');
  // Precedence: --token over FTGET_TOKEN over the file.
  const envWins = await runFtget(args, { env: { ...env, FTGET_TOKEN: 'ft_bad' } });
  t.is(envWins.code, 10);
  const flagWins = await runFtget([...args, '--token', docsToken], {
    env: { ...env, FTGET_TOKEN: 'ft_bad' },
  });
  t.is(flagWins.code, 0);
});

test('a server without --tokens ignores a token and still serves clients that send none', async (t) => {
  const open = await startFtserve(['--root', root, '--port', '0', '--workers', '1', '--no-udp']);
  t.teardown(() => open.stop());
  const args = [
    'get',
    '--host',
    '127.0.0.1',
    '--port',
    String(open.port),
    'secret/s.txt',
    '-o',
    '-',
    '-q',
  ];
  const env = { ...process.env, XDG_CONFIG_HOME: join(base, 'no-config'), FTGET_TOKEN: '' };
  t.is((await runFtget(args, { env })).stdout.toString(), 'SECRET');
  t.is((await runFtget([...args, '--token', docsToken], { env })).stdout.toString(), 'SECRET');
  t.false(open.stderr().includes(docsToken));
});

test('ftserve --tokens with a missing or malformed file is a one-line usage error', async (t) => {
  const missing = await runFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--tokens',
    join(base, 'none.json'),
  ]);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /^ftserve: cannot read token file .*ENOENT\n$/);
  const junk = join(base, 'junk.json');
  writeFileSync(junk, '{"version": 1, "tokens": [{"name": 3}]}');
  const bad = await runFtserve(['--root', root, '--port', '0', '--tokens', junk]);
  t.is(bad.code, 2);
  t.regex(bad.stderr, /^ftserve: token file .* entry 1 is malformed\n$/);
});

test('failed token checks are rate-limited per client address: BUSY after 20 a minute', async (t) => {
  const c = await rawWith('ft_guess', '127.0.0.3');
  t.teardown(() => c.destroy());
  for (let i = 0; i < 20; i++) {
    c.send(encodeStat({ requestId: i + 1, path: 'docs/a.txt', wantDigest: false }));
    t.like(await c.nextMessage(), { type: FrameType.ERROR, code: WireError.UNAUTHORIZED });
  }
  c.send(encodeStat({ requestId: 99, path: 'docs/a.txt', wantDigest: false }));
  const busy = await c.nextMessage();
  t.like(busy, { type: FrameType.ERROR, requestId: 99, code: WireError.BUSY });
  t.true(busy.type === FrameType.ERROR && busy.retryAfterMs > 0);
  // While limited, the address gets BUSY even with a good token (nothing is checked)...
  const good = await rawWith(docsToken, '127.0.0.3');
  t.teardown(() => good.destroy());
  t.like(await good.stat('docs/a.txt'), { type: FrameType.ERROR, code: WireError.BUSY });
  // ...and other addresses are not affected.
  const other = await rawWith(docsToken, '127.0.0.4');
  t.teardown(() => other.destroy());
  t.like(await other.stat('docs/a.txt'), { type: FrameType.STAT_OK });
});

test('a symlink under the prefix leading outside it does not open what it points to', async (t) => {
  const out = await get('docs/link-out', '--token', docsToken);
  t.is(out.code, 10);
  t.is(out.stdout.length, 0);
  t.regex(out.stderr, /^ftget: error: the token does not cover this path\n/);
  const inside = await get('docs/link-in', '--token', docsToken);
  t.is(inside.code, 0, inside.stderr);
  t.is(inside.stdout.toString(), 'docs-b');
});
