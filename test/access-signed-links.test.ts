/**
 * Signed links end to end: `ftserve sign` makes keys and links, `ftserve --sign-key` serves
 * exactly the signed path until the link expires (both process models, --inetd, TLS), real
 * ftget processes download and resume with a link, and the signature never appears in the
 * server's log, ftget's messages, --verbose or the partial's state file.
 */
import { createHmac, createHash, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { FrameType, PROTOCOL_VERSION, WireError, encodeHello } from '@ft/protocol';
import { FTGET_BIN, killIfRunning, runFtget, spawnFtget } from './helpers/ftget.js';
import { FTSERVE_BIN, runFtserve, serveRoot } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { RawClient } from './helpers/raw-client.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { makeTestPki } from './helpers/tls-certs.js';
import { startTerminal } from './helpers/tmux.js';

const MiB = 1024 * 1024;
const base = mkdtempSync(join(tmpdir(), 'ft-links-'));
const root = join(base, 'root');
const key = join(base, 'link.key');
const big = randomBytes(8 * MiB + 5);
/** Every link made in this file: none of their signatures may show up in any output. */
const signatures: string[] = [];
/** Every server started here: their logs are checked for signatures at the end. */
const servers: Ftserve[] = [];
const env = { ...process.env, XDG_CONFIG_HOME: join(base, 'no-config'), FTGET_TOKEN: '' };
const FAST = ['--retries', '0'];
let outs = 0;
const out = (): string => join(base, 'out', `o${outs++}`);

test.before(async () => {
  mkdirSync(join(root, 'docs'), { recursive: true });
  mkdirSync(join(base, 'out'));
  writeFileSync(join(root, 'big.bin'), big);
  writeFileSync(join(root, 'docs', 'a.txt'), 'docs-a');
  writeFileSync(join(root, 'docs', 'b.txt'), 'docs-b');
  const made = await runFtserve(['sign', '--new-key', key]);
  if (made.code !== 0) throw new Error(`sign --new-key failed: ${made.stderr}`);
});

test.after('no signature appears in any server log', (t) => {
  for (const s of servers) noSignature(t, s.stderr(), 'the server log');
});

test.after.always(() => rmSync(base, { recursive: true, force: true }));

/** `ftserve sign PATH` for 127.0.0.1:port; the link (its signature remembered). */
async function sign(path: string, port: number, ...extra: string[]): Promise<string> {
  const r = await runFtserve([
    'sign',
    path,
    '--key-file',
    key,
    '--expires',
    '1h',
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
    ...extra,
  ]);
  if (r.code !== 0) throw new Error(`sign failed: ${r.stderr}`);
  const link = r.stdout.trim();
  signatures.push(sigOf(link));
  return link;
}

function sigOf(link: string): string {
  const m = /[?&]sig=([A-Za-z0-9_-]+)/.exec(link);
  if (m === null) throw new Error(`no sig in ${link}`);
  return m[1]!;
}

/** Fails the test if `text` holds any signature made in this file. */
function noSignature(t: ExecutionContext, text: string, where: string): void {
  for (const s of signatures) t.false(text.includes(s), `a signature appears in ${where}`);
}

async function serveLinks(
  t: ExecutionContext,
  extra: string[] = [],
  keyFile = key,
): Promise<Ftserve> {
  const s = await serveRoot(t, root, [
    '--host',
    '127.0.0.1',
    '--no-udp',
    '--sign-key',
    keyFile,
    ...extra,
  ]);
  servers.push(s);
  return s;
}

const get = (args: string[]) => runFtget(['get', ...args, ...FAST], { env });

/** A raw connection whose HELLO carries `credential`. */
async function rawWith(
  port: number,
  credential: string,
  localAddress?: string,
): Promise<RawClient> {
  const c = await RawClient.connect(port, {
    hello: false,
    ...(localAddress === undefined ? {} : { localAddress }),
  });
  c.send(
    encodeHello({
      minVersion: PROTOCOL_VERSION,
      maxVersion: PROTOCOL_VERSION,
      name: 'test',
      token: credential,
    }),
  );
  const w = await c.nextMessage();
  if (w.type !== FrameType.WELCOME) throw new Error(`expected WELCOME, got ${JSON.stringify(w)}`);
  return c;
}

/**
 * The credential of `link` built from PROTOCOL.md §5.7 alone (not with the code under test):
 * ftlink1.<expires>.<kid>.<base64url SHA-256(path)>.<sig>.
 */
function credentialOf(link: string): string {
  const m =
    /^fts?:\/\/[^/]+\/([^?]*)\?expires=(\d+)&kid=([0-9a-f]{8})&sig=([A-Za-z0-9_-]{43})$/.exec(link);
  if (m === null) throw new Error(`unexpected link ${link}`);
  const path = decodeURIComponent(m[1]!);
  const digest = createHash('sha256').update(path, 'utf8').digest('base64url');
  return `ftlink1.${m[2]}.${m[3]}.${digest}.${m[4]}`;
}

test('ftserve sign: --new-key writes a 0600 key once; bad input is one line and exit 2', async (t) => {
  t.is(statSync(key).mode & 0o777, 0o600);
  t.regex(readFileSync(key, 'utf8'), /^[A-Za-z0-9_-]{43}\n$/);
  const again = await runFtserve(['sign', '--new-key', key]);
  t.is(again.code, 2);
  t.regex(again.stderr, /^ftserve: .*link\.key exists already; .*\n$/);
  const open = join(base, 'open.key');
  writeFileSync(open, readFileSync(key));
  chmodSync(open, 0o640);
  const cases: [string[], RegExp][] = [
    [['docs/a.txt', '--expires', '1h'], /--key-file FILE is required/],
    [
      ['docs/a.txt', '--key-file', join(base, 'none.key'), '--expires', '1h'],
      /cannot read signing key file .*none\.key: ENOENT/,
    ],
    [
      ['docs/a.txt', '--key-file', key, '--expires', 'soon'],
      /--expires must be a duration such as 1h/,
    ],
    [['docs/a.txt', '--key-file', key, '--expires', '0h'], /--expires must be a duration/],
    [['docs/a.txt', '--key-file', key], /--expires DURATION is required/],
    [['--key-file', key, '--expires', '1h'], /sign takes one PATH/],
    [['../etc/passwd', '--key-file', key, '--expires', '1h'], /must not contain "\.\."/],
    [
      ['docs/a.txt', '--key-file', open, '--expires', '1h'],
      /accessible by group or others \(mode 0640\); run: chmod 600 /,
    ],
    [
      ['docs/a.txt', '--key-file', key, '--expires', '1h', '--port', '70000'],
      /--port must be in 1\.\.65535/,
    ],
    [['docs/a.txt', '--key-file', key, '--expires', '1h', '--bogus'], /Unknown option '--bogus'/],
  ];
  for (const [args, message] of cases) {
    const r = await runFtserve(['sign', ...args]);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, /^ftserve: [^\n]+\n$/, args.join(' '));
    t.regex(r.stderr, message);
    t.is(r.stdout, '');
  }
  const served = await runFtserve(['--root', root, '--port', '0', '--no-udp', '--sign-key', open]);
  t.is(served.code, 2);
  t.regex(
    served.stderr,
    /^ftserve: signing key file .*open\.key is accessible by group or others \(mode 0640\); run: chmod 600 .*\n$/,
  );
  const junk = join(base, 'junk.key');
  writeFileSync(junk, 'not a key\n', { mode: 0o600 });
  const bad = await runFtserve(['--root', root, '--port', '0', '--no-udp', '--sign-key', junk]);
  t.is(bad.code, 2);
  t.regex(
    bad.stderr,
    /^ftserve: signing key file .*junk\.key must hold one line of base64url.*\n$/,
  );
  const udp = await runFtserve(['--root', root, '--port', '0', '--sign-key', key]);
  t.is(udp.code, 2);
  t.regex(udp.stderr, /^ftserve: --sign-key needs --no-udp \(or --tokens\).*\n$/);
});

test('the link is ft://host:port/path?expires&kid&sig with the HMAC-SHA256 PROTOCOL.md describes', async (t) => {
  const before = Math.floor(Date.now() / 1000);
  const link = await sign('docs//./a.txt', 7070);
  const m =
    /^ft:\/\/127\.0\.0\.1:7070\/docs\/a\.txt\?expires=(\d+)&kid=([0-9a-f]{8})&sig=([A-Za-z0-9_-]{43})$/.exec(
      link,
    );
  t.truthy(m, link);
  const expires = Number(m![1]);
  t.true(expires >= before + 3600 && expires <= before + 3601 + 60);
  const secret = Buffer.from(readFileSync(key, 'utf8').trim(), 'base64url');
  t.is(m![2], createHash('sha256').update(secret).digest('hex').slice(0, 8));
  const pathHex = createHash('sha256').update('docs/a.txt').digest('hex');
  const mac = createHmac('sha256', secret)
    .update(`ft-signed-link-v1\n${m![2]}\n${expires}\n${pathHex}`)
    .digest('base64url');
  t.is(m![3], mac);
  const tls = await sign('docs/a b.txt', 7443, '--tls');
  t.regex(tls, /^fts:\/\/127\.0\.0\.1:7443\/docs\/a%20b\.txt\?expires=/);
});

for (const [model, args] of [
  ['the pre-forked pool', ['--workers', '2']],
  ['fork-per-connection', ['--fork-per-connection', '--max-children', '4']],
] as const) {
  test(`${model}: a valid link downloads the file byte-identical, and opens nothing else`, async (t) => {
    const s = await serveLinks(t, [...args]);
    const link = await sign('big.bin', s.port);
    const o = out();
    const r = await get([link, '-o', o, '-v']);
    t.is(r.code, 0, r.stderr);
    t.true(readFileSync(o).equals(big));
    noSignature(t, r.stderr, 'ftget --verbose');
    // The same link for another path in the same run (one connection, one credential).
    const dir = out() + '/';
    const other = await get([
      link,
      `ft://127.0.0.1:${s.port}/docs/a.txt`,
      '-o',
      dir,
      '--create-dirs',
    ]);
    t.is(other.code, 10);
    t.regex(other.stderr, /^ftget: error: the signed link is for another path$/m);
    t.true(readFileSync(join(dir, 'big.bin')).equals(big));
    t.false(existsSync(join(dir, 'a.txt')));
    noSignature(t, other.stderr, 'ftget stderr');
    const none = await get([`ft://127.0.0.1:${s.port}/docs/a.txt`, '-o', out()]);
    t.is(none.code, 10);
    t.regex(none.stderr, /^ftget: error: this server needs a signed link\n/);
  });
}

test('an expired link is refused UNAUTHORIZED and says when it expired', async (t) => {
  const s = await serveLinks(t, ['--workers', '1']);
  const r0 = await runFtserve([
    'sign',
    'docs/a.txt',
    '--key-file',
    key,
    '--expires',
    '1s',
    '--host',
    '127.0.0.1',
    '--port',
    String(s.port),
  ]);
  const link = r0.stdout.trim();
  signatures.push(sigOf(link));
  const expires = Number(/expires=(\d+)/.exec(link)![1]);
  for (let i = 0; i < 100 && Date.now() < expires * 1000 + 50; i++)
    await new Promise((r) => setTimeout(r, 50));
  const o = out();
  const r = await get([link, '-o', o]);
  t.is(r.code, 10);
  const at = new Date(expires * 1000).toISOString().replace('.000Z', 'Z');
  t.regex(
    r.stderr,
    new RegExp(`^ftget: error: the signed link expired at ${at.replace(/[.]/g, '\\.')}\\n`),
  );
  t.false(existsSync(o));
  noSignature(t, r.stderr, 'ftget stderr');
  t.regex(s.stderr(), new RegExp(`why=expired link=[0-9a-f]{8}@${at}`));
});

test('a tampered signature, path or expiry is refused UNAUTHORIZED; nothing is written', async (t) => {
  const s = await serveLinks(t, ['--workers', '1']);
  const link = await sign('docs/a.txt', s.port);
  const sig = sigOf(link);
  const flipped = (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
  const expires = Number(/expires=(\d+)/.exec(link)![1]);
  for (const tampered of [
    link.replace(sig, flipped),
    link.replace('docs/a.txt', 'docs/b.txt'),
    link.replace(`expires=${expires}`, `expires=${expires + 86400}`),
  ]) {
    const o = out();
    const r = await get([tampered, '-o', o]);
    t.is(r.code, 10, tampered);
    t.regex(r.stderr, /^ftget: error: invalid signed link: altered, or signed with another key\n/);
    t.false(existsSync(o));
    noSignature(t, r.stderr, 'ftget stderr');
  }
  t.regex(s.stderr(), /result=FT_UNAUTHORIZED why="bad signature" link=[0-9a-f]{8}@/);
  const malformed = await get([link.replace(/sig=.*/, 'sig=short'), '-o', out()]);
  t.is(malformed.code, 2);
  t.regex(malformed.stderr, /^ftget: error: malformed signed link: bad key id or signature\n/);
});

test('a link opens STAT and GET of its path only: not LIST, not a path under it, not another', async (t) => {
  const s = await serveLinks(t, ['--workers', '1']);
  const dirLink = await sign('docs', s.port);
  const ls = await runFtget(['ls', dirLink], { env });
  t.is(ls.code, 10);
  t.regex(ls.stderr, /^ftget: error: a signed link opens one file; LIST is refused\n/);
  t.is(ls.stdout.length, 0);
  const tree = await get(['-r', dirLink, '-o', out() + '/']);
  t.is(tree.code, 10);
  noSignature(t, ls.stderr + tree.stderr, 'ftget stderr');
  const c = await rawWith(s.port, credentialOf(dirLink));
  t.teardown(() => c.destroy());
  t.like(await c.stat('docs'), { type: FrameType.STAT_OK });
  t.like(await c.list('docs'), { type: FrameType.ERROR, code: WireError.FORBIDDEN });
  // Under it, beside it, missing or not: the same refusal, before any file-system work.
  const under = await c.stat('docs/a.txt');
  t.like(under, { type: FrameType.ERROR, code: WireError.FORBIDDEN });
  for (const path of ['docs/nope.txt', 'big.bin', 'nope/x', '../docs'])
    t.deepEqual({ ...(await c.stat(path)), requestId: 0 }, { ...under, requestId: 0 }, path);
  const fileLink = await sign('docs/a.txt', s.port);
  const st = await runFtget(['stat', fileLink], { env });
  t.is(st.code, 0, st.stderr);
  t.regex(st.stdout.toString(), /^path: +\/docs\/a\.txt$/m);
  const garbage = await rawWith(s.port, 'ftlink1.garbage');
  t.teardown(() => garbage.destroy());
  t.like(await garbage.stat('docs/a.txt'), { type: FrameType.ERROR, code: WireError.UNAUTHORIZED });
});

test('an interrupted download resumes with the same link; the state file holds no signature', async (t) => {
  const s = await serveLinks(t, ['--workers', '1']);
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: s.port },
    fault: () => ({ stallAfter: 2 * MiB }),
  });
  t.teardown(() => proxy.close());
  const dl = mkdtempSync(join(base, 'dl-'));
  const viaProxy = await sign('big.bin', proxy.port);
  const run = spawnFtget(['get', viaProxy, '--stall-timeout', '300'], { cwd: dl, env });
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
  noSignature(t, stopped.stderr + state, 'the interrupted run or big.bin.part.json');
  t.false(state.includes('ftlink1'));
  const link = await sign('big.bin', s.port);
  const resumed = await runFtget(['get', '-c', link, '-v', '--progress', 'line', ...FAST], {
    cwd: dl,
    env,
  });
  t.is(resumed.code, 0, resumed.stderr);
  t.regex(resumed.stderr, /^ftget: big\.bin: resuming at /m);
  t.true(readFileSync(join(dl, 'big.bin')).equals(big));
  noSignature(t, resumed.stderr, 'ftget stderr');
});

test('a new key on SIGHUP invalidates links signed with the old one', async (t) => {
  const own = join(base, 'rotating.key');
  t.is((await runFtserve(['sign', '--new-key', own])).code, 0);
  const s = await serveLinks(t, ['--workers', '2'], own);
  const signWith = async (): Promise<string> => {
    const r = await runFtserve([
      'sign',
      'docs/a.txt',
      '--key-file',
      own,
      '--expires',
      '1h',
      '--host',
      '127.0.0.1',
      '--port',
      String(s.port),
    ]);
    signatures.push(sigOf(r.stdout.trim()));
    return r.stdout.trim();
  };
  const old = await signWith();
  t.is((await get([old, '-o', '-'])).stdout.toString(), 'docs-a');
  const next = join(base, 'rotating.key.new');
  t.is((await runFtserve(['sign', '--new-key', next])).code, 0);
  renameSync(next, own);
  const kid = /kid=([0-9a-f]{8})/.exec(await signWith())![1]!;
  s.child.kill('SIGHUP');
  for (let i = 0; i < 200 && s.stderr().split(`sign-key-reloaded key=${kid}`).length < 3; i++)
    await new Promise((r) => setTimeout(r, 50));
  t.is(s.stderr().split(`sign-key-reloaded key=${kid}`).length - 1, 2, 'both workers reloaded');
  const refused = await get([old, '-o', '-']);
  t.is(refused.code, 10);
  t.regex(refused.stderr, /invalid signed link/);
  t.regex(s.stderr(), new RegExp(`why="signed with another key \\(server key ${kid}\\)"`));
  const fresh = await signWith();
  t.is((await get([fresh, '-o', '-'])).stdout.toString(), 'docs-a');
});

test('a signed fts:// link downloads over TLS', async (t) => {
  const pki = makeTestPki();
  t.teardown(() => pki.remove());
  const s = await serveLinks(t, [
    '--workers',
    '1',
    '--tls-cert',
    pki.server.cert,
    '--tls-key',
    pki.server.key,
  ]);
  const link = await sign('big.bin', s.port, '--tls');
  t.regex(link, /^fts:\/\//);
  const o = out();
  const r = await get([link, '-o', o, '--cacert', pki.ca, '-v']);
  t.is(r.code, 0, r.stderr);
  t.true(readFileSync(o).equals(big));
  noSignature(t, r.stderr, 'ftget --verbose');
});

test('--inetd serves a signed link on the connection it is handed', async (t) => {
  let log = '';
  const listener = createServer({ pauseOnConnect: true }, (socket: Socket) => {
    const child = spawn(
      process.execPath,
      [FTSERVE_BIN, '--inetd', '--root', root, '--sign-key', key],
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
  const o = out();
  const r = await get([await sign('big.bin', port), '-o', o]);
  t.is(r.code, 0, r.stderr);
  t.true(readFileSync(o).equals(big));
  const denied = await get([
    await sign('docs/a.txt', port),
    `ft://127.0.0.1:${port}/docs/b.txt`,
    '-o',
    out() + '/',
    '--create-dirs',
  ]);
  t.is(denied.code, 10);
  t.regex(log, /why="other path" link=[0-9a-f]{8}@/);
  noSignature(t, log, 'the --inetd log');
});

test('with --tokens and --sign-key either kind of credential works', async (t) => {
  const tokens = join(base, 'tokens.json');
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
  const s = await serveLinks(t, ['--workers', '1', '--tokens', tokens]);
  t.is(
    (
      await get([`ft://127.0.0.1:${s.port}/docs/b.txt`, '-o', '-', '--token', token])
    ).stdout.toString(),
    'docs-b',
  );
  t.true((await get([await sign('big.bin', s.port), '-o', '-'])).stdout.equals(big));
  const none = await get([`ft://127.0.0.1:${s.port}/docs/b.txt`, '-o', '-']);
  t.is(none.code, 10);
  t.regex(none.stderr, /^ftget: error: this server needs an access token or a signed link\n/);
  t.false(s.stderr().includes(token));
});

test('failed link checks count towards the per-address limit: BUSY after 20', async (t) => {
  const s = await serveLinks(t, ['--workers', '1']);
  const link = await sign('docs/a.txt', s.port);
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

test('in a terminal the progress bar and the Ctrl-C line never show the signature', async (t) => {
  const s = await serveLinks(t, ['--workers', '1']);
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: s.port },
    fault: () => ({ stallAfter: 3 * MiB }),
  });
  t.teardown(() => proxy.close());
  const link = await sign('big.bin', proxy.port);
  const cwd = mkdtempSync(join(base, 'tty-'));
  const term = startTerminal(
    `${process.execPath} ${FTGET_BIN} get '${link}' --stall-timeout 300`,
    100,
    24,
    cwd,
  );
  t.teardown(() => term.kill());
  const bar = await term.waitFor((screen) => screen.some((l) => /^big\.bin .*[█░].* \d+%/.test(l)));
  t.true(
    bar.some((l) => /^big\.bin .*[█░]/.test(l)),
    bar.join('\n'),
  );
  term.keys('C-c');
  t.like(await term.waitExit(), { signal: 'SIGINT' });
  const screen = term.capture(true).join('\n');
  t.regex(screen, /"ftget get -c <the signed link> -o big\.bin" continues/);
  noSignature(t, bar.join('\n') + screen, 'the terminal');
});
