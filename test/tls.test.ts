/**
 * ft over TLS end to end: real ftserve (every process model) and real ftget processes on
 * loopback, with certificates made by openssl for each run (helpers/tls-certs.ts).
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  copyFileSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { encodeHello } from '@ft/protocol';
import { runFtget, spawnFtget } from './helpers/ftget.js';
import { FTSERVE_BIN, runFtserve, serveRoot } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { makeTestPki } from './helpers/tls-certs.js';

const pki = makeTestPki();
const root = mkdtempSync(join(tmpdir(), 'ft-tls-root-'));
const content = randomBytes(3 * 1024 * 1024 + 17);
writeFileSync(join(root, 'file.bin'), content);
const out = mkdtempSync(join(tmpdir(), 'ft-tls-out-'));
let n = 0;
const outFile = (): string => join(out, `f${n++}.bin`);

test.after.always(() => {
  pki.remove();
  rmSync(root, { recursive: true, force: true });
  rmSync(out, { recursive: true, force: true });
});

async function serve(
  t: ExecutionContext,
  extra: string[] = [],
  cert = pki.server,
): Promise<Ftserve> {
  const s = await serveRoot(t, root, [
    '--host',
    '127.0.0.1',
    '--no-udp',
    '--tls-cert',
    cert.cert,
    '--tls-key',
    cert.key,
    ...extra,
  ]);
  return s;
}

const url = (s: { port: number }, host = '127.0.0.1'): string => `fts://${host}:${s.port}/file.bin`;
const FAST = ['--retries', '0'];

for (const [model, args] of [
  ['the pre-forked pool', ['--workers', '2']],
  ['fork-per-connection', ['--fork-per-connection', '--max-children', '4']],
] as const) {
  test(`${model}: ftget downloads over fts:// with --cacert, verified and identical`, async (t) => {
    const s = await serve(t, [...args]);
    const o = outFile();
    const r = await runFtget(['get', url(s), '-o', o, '--cacert', pki.ca, '-v', ...FAST]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, /TLS TLSv1\.3 .* alpn=ft\/3/);
    t.true(readFileSync(o).equals(content));
  });
}

test('--inetd serves TLS on the connection it is handed', async (t) => {
  // A minimal inetd: each accepted connection becomes `ftserve --inetd` with it as stdin.
  const listener = createServer({ pauseOnConnect: true }, (socket: Socket) => {
    const child = spawn(
      process.execPath,
      [
        FTSERVE_BIN,
        '--inetd',
        '--root',
        root,
        '--tls-cert',
        pki.server.cert,
        '--tls-key',
        pki.server.key,
      ],
      { stdio: [socket, socket, 'ignore'] },
    );
    t.teardown(() => child.kill('SIGKILL'));
    socket.destroy();
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => listener.close());
  const port = (listener.address() as { port: number }).port;
  const o = outFile();
  const r = await runFtget([
    'get',
    url({ port }, 'localhost'),
    '-o',
    o,
    '--cacert',
    pki.ca,
    ...FAST,
  ]);
  t.is(r.code, 0, r.stderr);
  t.true(readFileSync(o).equals(content));
});

test('an untrusted certificate fails verification: exit 11, one line, no file', async (t) => {
  const s = await serve(t);
  const o = outFile();
  const r = await runFtget(['get', url(s), '-o', o, ...FAST]);
  t.is(r.code, 11, r.stderr);
  t.regex(r.stderr, /^ftget: error: TLS: 127\.0\.0\.1:\d+: certificate not trusted \(\w+\)\n/);
  t.false(existsSync(o));
});

test('a certificate for another host fails verification: exit 11', async (t) => {
  const s = await serve(t, [], pki.wrongHost);
  const r = await runFtget(['get', url(s), '-o', outFile(), '--cacert', pki.ca, ...FAST]);
  t.is(r.code, 11, r.stderr);
  t.regex(r.stderr, /certificate is not for 127\.0\.0\.1/);
});

test('an expired certificate fails verification: exit 11, and the line says it expired', async (t) => {
  const s = await serve(t, [], pki.expired);
  const o = outFile();
  const r = await runFtget(['get', url(s), '-o', o, '--cacert', pki.ca, ...FAST]);
  t.is(r.code, 11, r.stderr);
  t.regex(
    r.stderr,
    /^ftget: error: TLS: 127\.0\.0\.1:\d+: certificate expired on Feb {2}1 00:00:00 2020 GMT\n/,
  );
  t.false(existsSync(o));
});

test('--pin accepts the server key and refuses any other (exit 11)', async (t) => {
  const s = await serve(t);
  const o = outFile();
  const ok = await runFtget([
    'get',
    url(s),
    '-o',
    o,
    '--cacert',
    pki.ca,
    '--pin',
    pki.server.pin,
    ...FAST,
  ]);
  t.is(ok.code, 0, ok.stderr);
  t.true(readFileSync(o).equals(content));
  const bad = await runFtget([
    'get',
    url(s),
    '-o',
    outFile(),
    '--cacert',
    pki.ca,
    '--pin',
    pki.server2.pin,
    ...FAST,
  ]);
  t.is(bad.code, 11, bad.stderr);
  t.regex(bad.stderr, /does not match --pin/);
  const garbage = await runFtget(['ls', url(s), '--pin', 'md5//abc']);
  t.is(garbage.code, 2, garbage.stderr);
  t.regex(garbage.stderr, /^ftget: error: invalid --pin "md5\/\/abc"\n/);
});

test('--insecure skips verification with a warning on every run (a wrong --pin still fails)', async (t) => {
  const s = await serve(t, [], pki.wrongHost);
  for (let i = 0; i < 2; i++) {
    const o = outFile();
    const r = await runFtget(['get', url(s), '-o', o, '--insecure', ...FAST]);
    t.is(r.code, 0, r.stderr);
    t.regex(r.stderr, /^ftget: warning: --insecure: the server's certificate is not verified/m);
    t.true(readFileSync(o).equals(content));
  }
  const pinned = await runFtget([
    'ls',
    `fts://127.0.0.1:${s.port}/`,
    '--insecure',
    '--pin',
    pki.server.pin,
  ]);
  t.is(pinned.code, 11, pinned.stderr);
});

test('a plaintext client on a TLS port gets TLS_REQUIRED at once: exit 12', async (t) => {
  const s = await serve(t);
  const o = outFile();
  const r = await runFtget(['get', `ft://127.0.0.1:${s.port}/file.bin`, '-o', o, ...FAST]);
  t.is(r.code, 12, r.stderr);
  t.regex(
    r.stderr,
    /^ftget: error: this server speaks ft over TLS only: use an fts:\/\/ URL or --tls\n/,
  );
  t.false(existsSync(o));
  t.regex(s.stderr(), /refused .*reason=plaintext-on-tls-port/);
});

test('a TLS client on a plaintext port fails at once: exit 12', async (t) => {
  const s = await serveRoot(t, root, ['--host', '127.0.0.1', '--no-udp', '--workers', '1']);
  const r = await runFtget(['get', url(s), '-o', outFile(), '--cacert', pki.ca, ...FAST]);
  t.is(r.code, 12, r.stderr);
  t.regex(r.stderr, /^ftget: error: 127\.0\.0\.1:\d+ does not speak TLS/);
  // --tls does the same for a plain ft:// URL.
  const flag = await runFtget(['ls', `ft://127.0.0.1:${s.port}/`, '--tls', '--cacert', pki.ca]);
  t.is(flag.code, 12, flag.stderr);
});

test('TLS handshake garbage is refused without harming the server', async (t) => {
  const s = await serve(t, ['--workers', '1']);
  const raw = connect(s.port, '127.0.0.1');
  raw.on('error', () => {});
  await once(raw, 'connect');
  // A handshake record header followed by nonsense.
  raw.write(Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x40]), randomBytes(64)]));
  raw.resume();
  await once(raw, 'close');
  const o = outFile();
  const r = await runFtget(['get', url(s), '-o', o, '--cacert', pki.ca, ...FAST]);
  t.is(r.code, 0, r.stderr);
  t.true(readFileSync(o).equals(content));
});

/** One TLS connection made by hand: its ALPN, version and whether it resumed `session`. */
async function handshake(
  port: number,
  options: { session?: Buffer; maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {},
): Promise<{ alpn: string | false; version: string | null; reused: boolean; session?: Buffer }> {
  const c = tlsConnect({
    port,
    host: '127.0.0.1',
    ca: readFileSync(pki.ca),
    ALPNProtocols: ['ft/2', 'ft/1'],
    ...(options.session === undefined ? {} : { session: options.session }),
    ...(options.maxVersion === undefined ? {} : { maxVersion: options.maxVersion }),
  });
  let session: Buffer | undefined;
  c.on('session', (b: Buffer) => (session = b));
  await once(c, 'secureConnect');
  const result = {
    alpn: c.alpnProtocol ?? false,
    version: c.getProtocol(),
    reused: c.isSessionReused(),
  };
  // Tickets arrive after the handshake (TLS 1.3): a HELLO gets WELCOME back, by then they are in.
  c.write(encodeHello({ minVersion: 1, maxVersion: 2, name: 'tls-test' }));
  await once(c, 'data');
  c.destroy();
  return { ...result, ...(session === undefined ? {} : { session }) };
}

test('ALPN ft/2, TLS 1.3 only by default, 1.2 with --tls-min 1.2, and tickets resume on every worker', async (t) => {
  const s = await serve(t, ['--workers', '2']);
  const first = await handshake(s.port);
  t.is(first.alpn, 'ft/2');
  t.is(first.version, 'TLSv1.3');
  t.truthy(first.session);
  for (let i = 0; i < 6; i++) {
    const again = await handshake(s.port, { session: first.session! });
    t.true(again.reused, `connection ${i} resumed`);
  }
  await t.throwsAsync(handshake(s.port, { maxVersion: 'TLSv1.2' }));
  const old = await serve(t, ['--workers', '1', '--tls-min', '1.2']);
  const v12 = await handshake(old.port, { maxVersion: 'TLSv1.2' });
  t.is(v12.version, 'TLSv1.2');
  t.is(v12.alpn, 'ft/2');
});

test('SIGHUP reloads the certificate: new connections get it, a running transfer finishes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'ft-tls-reload-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const live = { cert: join(dir, 'live.crt'), key: join(dir, 'live.key'), pin: pki.server.pin };
  copyFileSync(pki.server.cert, live.cert);
  copyFileSync(pki.server.key, live.key);
  const s = await serve(t, ['--workers', '1'], live);
  const o = outFile();
  // 3 MiB at 1 MiB/s: still running when the certificate changes.
  const slow = spawnFtget([
    'get',
    url(s),
    '-o',
    o,
    '--cacert',
    pki.ca,
    '--pin',
    pki.server.pin,
    '--limit-rate',
    '1M',
    '-v',
    ...FAST,
  ]);
  t.teardown(() => slow.child.kill('SIGKILL'));
  // Its -v line about the first bytes: the transfer's connection is up with the old certificate.
  let slowErr = '';
  slow.child.stderr!.on('data', (b: Buffer) => (slowErr += b.toString()));
  await waitForLog(s, /listening/, () => /starting at 0/.test(slowErr));
  copyFileSync(pki.server2.cert, live.cert);
  copyFileSync(pki.server2.key, live.key);
  s.child.kill('SIGHUP');
  await waitForLog(s, /tls-reloaded/);
  const fresh = await runFtget([
    'ls',
    `fts://127.0.0.1:${s.port}/`,
    '--cacert',
    pki.ca,
    '--pin',
    pki.server2.pin,
  ]);
  t.is(fresh.code, 0, fresh.stderr);
  const old = await runFtget([
    'ls',
    `fts://127.0.0.1:${s.port}/`,
    '--cacert',
    pki.ca,
    '--pin',
    pki.server.pin,
  ]);
  t.is(old.code, 11, old.stderr);
  const r = await slow.result;
  t.is(r.code, 0, r.stderr);
  t.true(readFileSync(o).equals(content));
});

/** Waits (at most 60 s: the machine may be loaded) until the server's log matches `pattern` and `also` holds. */
async function waitForLog(
  s: Ftserve,
  pattern: RegExp,
  also: () => boolean = () => true,
): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (pattern.test(s.stderr()) && also()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`no ${pattern} in the log: ${s.stderr()}`);
}

test('bad certificate or key files: one line, exit 2', async (t) => {
  const missing = await runFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--tls-cert',
    join(pki.dir, 'nope.crt'),
    '--tls-key',
    pki.server.key,
  ]);
  t.is(missing.code, 2);
  t.regex(missing.stderr, /^ftserve: cannot read the TLS certificate .*nope\.crt: ENOENT\n$/);
  const swapped = await runFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--tls-cert',
    pki.server.key,
    '--tls-key',
    pki.server.key,
  ]);
  t.is(swapped.code, 2);
  t.regex(swapped.stderr, /^ftserve: .*holds no PEM certificate\n$/);
  const mismatch = await runFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--tls-cert',
    pki.server.cert,
    '--tls-key',
    pki.server2.key,
  ]);
  t.is(mismatch.code, 2);
  t.regex(
    mismatch.stderr,
    /^ftserve: cannot use the TLS certificate .* with the key .*: key values mismatch\n$/,
  );
  const alone = await runFtserve(['--root', root, '--port', '0', '--tls-cert', pki.server.cert]);
  t.is(alone.code, 2);
  t.regex(alone.stderr, /^ftserve: --tls-cert and --tls-key go together\n$/);
});
