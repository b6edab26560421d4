/**
 * Signed links end to end: ftserve --sign-key serves exactly the signed path until the link
 * expires (both process models, --inetd, TLS, with --tokens too), real ftget processes download
 * and resume with a link, altered, expired and misused links are refused, and the signature
 * never appears in the server's log, ftget's messages, --verbose or the partial's state file.
 * `ftserve sign` itself and the terminal: access-signed-links-cli.test.ts.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, renameSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import test from 'ava';
import { FrameType, WireError } from '@ft/protocol';
import { killIfRunning, runFtget, spawnFtget } from './helpers/ftget.js';
import { FTSERVE_BIN, runFtserve } from './helpers/ftserve.js';
import { FAST, LinkFixture, credentialOf, rawWith, sigOf } from './helpers/signed-links.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { makeTestPki } from './helpers/tls-certs.js';

const MiB = 1024 * 1024;
let fx: LinkFixture;

test.before(async () => {
  fx = await LinkFixture.create('ft-links-');
});

test.after('no signature appears in any server log', (t) => {
  for (const s of fx.servers) fx.noSignature(t, s.stderr(), 'the server log');
});

test.after.always(() => fx?.remove());

for (const [model, args] of [
  ['the pre-forked pool', ['--workers', '2']],
  ['fork-per-connection', ['--fork-per-connection', '--max-children', '4']],
] as const) {
  test(`${model}: a valid link downloads the file byte-identical, and opens nothing else`, async (t) => {
    const s = await fx.serve(t, [...args]);
    const link = await fx.sign('big.bin', s.port);
    const o = fx.out();
    const r = await fx.get([link, '-o', o, '-v']);
    t.is(r.code, 0, r.stderr);
    t.true(readFileSync(o).equals(fx.big));
    fx.noSignature(t, r.stderr, 'ftget --verbose');
    // The same link for another path in the same run (one connection, one credential).
    const dir = fx.out() + '/';
    const other = await fx.get([
      link,
      `ft://127.0.0.1:${s.port}/docs/a.txt`,
      '-o',
      dir,
      '--create-dirs',
    ]);
    t.is(other.code, 10);
    t.regex(other.stderr, /^ftget: error: the signed link is for another path$/m);
    t.true(readFileSync(join(dir, 'big.bin')).equals(fx.big));
    t.false(existsSync(join(dir, 'a.txt')));
    fx.noSignature(t, other.stderr, 'ftget stderr');
    const none = await fx.get([`ft://127.0.0.1:${s.port}/docs/a.txt`, '-o', fx.out()]);
    t.is(none.code, 10);
    t.regex(none.stderr, /^ftget: error: this server needs a signed link\n/);
  });
}

test('an expired link is refused UNAUTHORIZED and says when it expired', async (t) => {
  const s = await fx.serve(t, ['--workers', '1']);
  const link = await fx.sign('docs/a.txt', s.port, '--expires', '1s');
  const expires = Number(/expires=(\d+)/.exec(link)![1]);
  for (let i = 0; i < 100 && Date.now() < expires * 1000 + 50; i++)
    await new Promise((r) => setTimeout(r, 50));
  const o = fx.out();
  const r = await fx.get([link, '-o', o]);
  t.is(r.code, 10);
  const at = new Date(expires * 1000).toISOString().replace('.000Z', 'Z');
  t.regex(
    r.stderr,
    new RegExp(`^ftget: error: the signed link expired at ${at.replace(/[.]/g, '\\.')}\\n`),
  );
  t.false(existsSync(o));
  fx.noSignature(t, r.stderr, 'ftget stderr');
  t.regex(s.stderr(), new RegExp(`why=expired link=[0-9a-f]{8}@${at}`));
});

test('a tampered signature, path or expiry is refused UNAUTHORIZED; nothing is written', async (t) => {
  const s = await fx.serve(t, ['--workers', '1']);
  const link = await fx.sign('docs/a.txt', s.port);
  const sig = sigOf(link);
  const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
  const expires = Number(/expires=(\d+)/.exec(link)![1]);
  for (const tampered of [
    link.replace(sig, flipped),
    link.replace('docs/a.txt', 'docs/b.txt'),
    link.replace(`expires=${expires}`, `expires=${expires + 86400}`),
  ]) {
    const o = fx.out();
    const r = await fx.get([tampered, '-o', o]);
    t.is(r.code, 10, tampered);
    t.regex(r.stderr, /^ftget: error: invalid signed link: altered, or signed with another key\n/);
    t.false(existsSync(o));
    fx.noSignature(t, r.stderr, 'ftget stderr');
  }
  t.regex(s.stderr(), /result=FT_UNAUTHORIZED why="bad signature" link=[0-9a-f]{8}@/);
  const malformed = await fx.get([link.replace(/sig=.*/, 'sig=short'), '-o', fx.out()]);
  t.is(malformed.code, 2);
  t.regex(malformed.stderr, /^ftget: error: malformed signed link: bad key id or signature\n/);
});

test('a link opens STAT and GET of its path only: not LIST, not a path under it, not another', async (t) => {
  const s = await fx.serve(t, ['--workers', '1']);
  const dirLink = await fx.sign('docs', s.port);
  const ls = await runFtget(['ls', dirLink], { env: fx.env });
  t.is(ls.code, 10);
  t.regex(ls.stderr, /^ftget: error: a signed link opens one file; LIST is refused\n/);
  t.is(ls.stdout.length, 0);
  const tree = await fx.get(['-r', dirLink, '-o', fx.out() + '/']);
  t.is(tree.code, 10);
  fx.noSignature(t, ls.stderr + tree.stderr, 'ftget stderr');
  const c = await rawWith(s.port, credentialOf(dirLink));
  t.teardown(() => c.destroy());
  t.like(await c.stat('docs'), { type: FrameType.STAT_OK });
  t.like(await c.list('docs'), { type: FrameType.ERROR, code: WireError.FORBIDDEN });
  // Under it, beside it, missing or not: the same refusal, before any file-system work.
  const under = await c.stat('docs/a.txt');
  t.like(under, { type: FrameType.ERROR, code: WireError.FORBIDDEN });
  for (const path of ['docs/nope.txt', 'big.bin', 'nope/x', '../docs'])
    t.deepEqual({ ...(await c.stat(path)), requestId: 0 }, { ...under, requestId: 0 }, path);
  const fileLink = await fx.sign('docs/a.txt', s.port);
  const st = await runFtget(['stat', fileLink], { env: fx.env });
  t.is(st.code, 0, st.stderr);
  t.regex(st.stdout.toString(), /^path: +\/docs\/a\.txt$/m);
  const garbage = await rawWith(s.port, 'ftlink1.garbage');
  t.teardown(() => garbage.destroy());
  t.like(await garbage.stat('docs/a.txt'), { type: FrameType.ERROR, code: WireError.UNAUTHORIZED });
});

test('an interrupted download resumes with the same link; the state file holds no signature', async (t) => {
  const s = await fx.serve(t, ['--workers', '1']);
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: s.port },
    fault: () => ({ stallAfter: 2 * MiB }),
  });
  t.teardown(() => proxy.close());
  const dl = mkdtempSync(join(fx.base, 'dl-'));
  const viaProxy = await fx.sign('big.bin', proxy.port);
  const run = spawnFtget(['get', viaProxy, '--stall-timeout', '300'], { cwd: dl, env: fx.env });
  t.teardown(() => killIfRunning(run.child));
  await proxy.waitForStalls(1);
  const part = join(dl, 'big.bin.part');
  for (let i = 0; i < 200 && !(existsSync(part) && statSync(part).size > MiB); i++)
    await new Promise((r) => setTimeout(r, 50));
  run.child.kill('SIGINT');
  const stopped = await run.result;
  t.is(stopped.signal, 'SIGINT', stopped.stderr);
  t.regex(stopped.stderr, /"ftget get -c <the signed link> -o big\.bin" continues/);
  const state = readFileSync(join(dl, 'big.bin.part.json'), 'utf8');
  fx.noSignature(t, stopped.stderr + state, 'the interrupted run or big.bin.part.json');
  t.false(state.includes('ftlink1'));
  const link = await fx.sign('big.bin', s.port);
  const resumed = await runFtget(['get', '-c', link, '-v', '--progress', 'line', ...FAST], {
    cwd: dl,
    env: fx.env,
  });
  t.is(resumed.code, 0, resumed.stderr);
  t.regex(resumed.stderr, /^ftget: big\.bin: resuming at /m);
  t.true(readFileSync(join(dl, 'big.bin')).equals(fx.big));
  fx.noSignature(t, resumed.stderr, 'ftget stderr');
});

test('a new key on SIGHUP invalidates links signed with the old one', async (t) => {
  const own = join(fx.base, 'rotating.key');
  t.is((await runFtserve(['sign', '--new-key', own])).code, 0);
  const s = await fx.serve(t, ['--workers', '2'], own);
  const signWith = (): Promise<string> => fx.sign('docs/a.txt', s.port, '--key-file', own);
  const old = await signWith();
  t.is((await fx.get([old, '-o', '-'])).stdout.toString(), 'docs-a');
  const next = join(fx.base, 'rotating.key.new');
  t.is((await runFtserve(['sign', '--new-key', next])).code, 0);
  renameSync(next, own);
  const kid = /kid=([0-9a-f]{8})/.exec(await signWith())![1]!;
  s.child.kill('SIGHUP');
  for (let i = 0; i < 200 && s.stderr().split(`sign-key-reloaded key=${kid}`).length < 3; i++)
    await new Promise((r) => setTimeout(r, 50));
  t.is(s.stderr().split(`sign-key-reloaded key=${kid}`).length - 1, 2, 'both workers reloaded');
  const refused = await fx.get([old, '-o', '-']);
  t.is(refused.code, 10);
  t.regex(refused.stderr, /invalid signed link/);
  t.regex(s.stderr(), new RegExp(`why="signed with another key \\(server key ${kid}\\)"`));
  const fresh = await signWith();
  t.is((await fx.get([fresh, '-o', '-'])).stdout.toString(), 'docs-a');
});

test('a signed fts:// link downloads over TLS', async (t) => {
  const pki = makeTestPki();
  t.teardown(() => pki.remove());
  const s = await fx.serve(t, [
    '--workers',
    '1',
    '--tls-cert',
    pki.server.cert,
    '--tls-key',
    pki.server.key,
  ]);
  const link = await fx.sign('big.bin', s.port, '--tls');
  t.regex(link, /^fts:\/\//);
  const o = fx.out();
  const r = await fx.get([link, '-o', o, '--cacert', pki.ca, '-v']);
  t.is(r.code, 0, r.stderr);
  t.true(readFileSync(o).equals(fx.big));
  fx.noSignature(t, r.stderr, 'ftget --verbose');
});

test('--inetd serves a signed link on the connection it is handed', async (t) => {
  let log = '';
  const listener = createServer({ pauseOnConnect: true }, (socket: Socket) => {
    const child = spawn(
      process.execPath,
      [FTSERVE_BIN, '--inetd', '--root', fx.root, '--sign-key', fx.key],
      { stdio: [socket, socket, 'pipe'] },
    );
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (log += d));
    t.teardown(() => child.kill('SIGKILL'));
    socket.destroy();
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => listener.close());
  const port = (listener.address() as { port: number }).port;
  const o = fx.out();
  const r = await fx.get([await fx.sign('big.bin', port), '-o', o]);
  t.is(r.code, 0, r.stderr);
  t.true(readFileSync(o).equals(fx.big));
  const denied = await fx.get([
    await fx.sign('docs/a.txt', port),
    `ft://127.0.0.1:${port}/docs/b.txt`,
    '-o',
    fx.out() + '/',
    '--create-dirs',
  ]);
  t.is(denied.code, 10);
  // The child may log the refusal after ftget has its answer and exits: wait for the line
  // (bounded), then check it.
  for (let i = 0; i < 200 && !/why="other path"/.test(log); i++)
    await new Promise((r) => setTimeout(r, 50));
  t.regex(log, /why="other path" link=[0-9a-f]{8}@/);
  fx.noSignature(t, log, 'the --inetd log');
});

test('with --tokens and --sign-key either kind of credential works', async (t) => {
  const tokens = join(fx.base, 'tokens.json');
  const added = await runFtserve([
    'token',
    'add',
    '--tokens',
    tokens,
    '--prefix',
    'docs',
    '--name',
    'docs',
  ]);
  const token = added.stdout.trim();
  const s = await fx.serve(t, ['--workers', '1', '--tokens', tokens]);
  t.is(
    (
      await fx.get([`ft://127.0.0.1:${s.port}/docs/b.txt`, '-o', '-', '--token', token])
    ).stdout.toString(),
    'docs-b',
  );
  t.true((await fx.get([await fx.sign('big.bin', s.port), '-o', '-'])).stdout.equals(fx.big));
  const none = await fx.get([`ft://127.0.0.1:${s.port}/docs/b.txt`, '-o', '-']);
  t.is(none.code, 10);
  t.regex(none.stderr, /^ftget: error: this server needs an access token or a signed link\n/);
  t.false(s.stderr().includes(token));
});

test('failed link checks count towards the per-address limit: BUSY after 20', async (t) => {
  const s = await fx.serve(t, ['--workers', '1']);
  const link = await fx.sign('docs/a.txt', s.port);
  const cred = credentialOf(link);
  const forged = cred.slice(0, -2) + (cred.endsWith('AA') ? 'BA' : 'AA');
  const c = await rawWith(s.port, forged, '127.0.0.6');
  t.teardown(() => c.destroy());
  for (let i = 0; i < 20; i++)
    t.like(await c.stat('docs/a.txt'), { type: FrameType.ERROR, code: WireError.UNAUTHORIZED });
  t.like(await c.stat('docs/a.txt'), { type: FrameType.ERROR, code: WireError.BUSY });
  const other = await rawWith(s.port, cred, '127.0.0.7');
  t.teardown(() => other.destroy());
  t.like(await other.stat('docs/a.txt'), { type: FrameType.STAT_OK, size: 6 });
});
