/**
 * Access tokens over UDP, end to end with real ftserve and ftget processes: the UDP service
 * (its own process) checks the REQUEST's or STAT's token after address validation and before
 * any file work, answers UNAUTHORIZED / FORBIDDEN (ftget exit 10), reloads the token file on
 * SIGHUP, rate-limits failures per address, and logs token names, never tokens.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { DatagramType, WireError } from '@ft/protocol';
import { addToken, runFtserve, serveRoot, startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { runFtget } from './helpers/ftget.js';
import { rawUdpClient } from './helpers/udp-raw.js';

const base = mkdtempSync(join(tmpdir(), 'ft-udp-tokens-'));
const root = join(base, 'root');
const tokens = join(base, 'tokens.json');
let server: Ftserve;
let docsToken: string;
let wholeToken: string;

const env = { ...process.env, XDG_CONFIG_HOME: join(base, 'no-config'), FTGET_TOKEN: '' };

function udp(cmd: 'get' | 'stat', path: string, ...args: string[]) {
  const where = ['--host', '127.0.0.1', '--port', String(server.port), '--udp'];
  return runFtget(
    cmd === 'get'
      ? ['get', ...where, path, '-o', '-', '-q', ...args]
      : ['stat', ...where, path, ...args],
    { env },
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
  writeFileSync(join(root, 'secret', 's.txt'), 'SECRET');
  symlinkSync('../secret/s.txt', join(root, 'docs', 'link-out'));
  docsToken = await addToken(tokens, ['--prefix', 'docs/', '--name', 'udp-docs']);
  wholeToken = await addToken(tokens, ['--prefix', '', '--name', 'udp-whole']);
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

test('a token covering the path opens it over UDP (get and stat)', async (t) => {
  const r = await udp('get', 'docs/sub/b.txt', '--token', docsToken);
  t.is(r.code, 0, r.stderr);
  t.is(r.stdout.toString(), 'docs-b');
  const s = await udp('stat', 'docs/a.txt', '--token', docsToken);
  t.is(s.code, 0, s.stderr);
  t.regex(s.stdout.toString(), /size:\s+6 /);
});

test('no token, or an unknown one: UNAUTHORIZED, exit 10, nothing written', async (t) => {
  const none = await udp('get', 'docs/a.txt');
  t.is(none.code, 10);
  t.is(none.stdout.length, 0);
  t.regex(none.stderr, /^ftget: error: this server needs an access token\n/);
  const wrong = await udp('get', 'docs/a.txt', '--token', 'ft_not-a-token');
  t.is(wrong.code, 10);
  t.regex(wrong.stderr, /^ftget: error: invalid, expired or revoked token\n/);
  // The answer does not depend on whether the path exists.
  const missing = await udp('get', 'docs/none.txt');
  t.is(missing.code, 10);
  t.regex(missing.stderr, /needs an access token/);
});

test('a token for another prefix, or a symlink leading out of it: FORBIDDEN, exit 10', async (t) => {
  const other = await udp('get', 'secret/s.txt', '--token', docsToken);
  t.is(other.code, 10);
  t.is(other.stdout.length, 0);
  t.regex(other.stderr, /^ftget: error: the token does not cover this path\n/);
  const link = await udp('get', 'docs/link-out', '--token', docsToken);
  t.is(link.code, 10);
  t.is(link.stdout.length, 0);
  const stat = await udp('stat', 'secret/s.txt', '--token', docsToken);
  t.is(stat.code, 10);
});

test('the UDP log names the token, never shows it', async (t) => {
  await udp('get', 'secret/s.txt', '--token', docsToken);
  await logged('udp-request', 1);
  const log = server.stderr();
  t.regex(log, /udp-request .*op=GET path=secret\/s\.txt result=FT_FORBIDDEN .*token=udp-docs/);
  t.false(log.includes(docsToken));
  t.false(log.includes(wholeToken));
});

/** SIGHUP to the server; waits until the worker and the UDP service have each reloaded. */
async function hangup(): Promise<void> {
  const reloads = server.stderr().split('tokens-reloaded').length - 1;
  server.child.kill('SIGHUP');
  await logged('tokens-reloaded', reloads + 2);
}

test.serial(
  'tokens added or revoked while the server runs take effect over UDP at SIGHUP',
  async (t) => {
    const extra = await addToken(tokens, ['--prefix', 'docs', '--name', 'udp-revoked']);
    await hangup();
    const before = await udp('get', 'docs/a.txt', '--token', extra);
    t.is(before.code, 0, before.stderr);
    const revoked = await runFtserve(['token', 'revoke', '--tokens', tokens, 'udp-revoked']);
    t.is(revoked.code, 0, revoked.stderr);
    await hangup();
    const after = await udp('get', 'docs/a.txt', '--token', extra);
    t.is(after.code, 10);
    t.regex(after.stderr, /invalid, expired or revoked token/);
  },
);

test('failed UDP token checks are rate-limited per address: BUSY after 20 a minute', async (t) => {
  const c = await rawUdpClient(server.port, '127.0.0.5');
  t.teardown(() => c.close());
  for (let i = 0; i < 20; i++)
    t.like(await c.request('docs/a.txt', 10_000, `ft_guess${i}`), {
      type: DatagramType.ERROR,
      code: WireError.UNAUTHORIZED,
    });
  const busy = await c.request('docs/a.txt', 10_000, wholeToken);
  t.like(busy, { type: DatagramType.ERROR, code: WireError.BUSY });
  t.true(busy.type === DatagramType.ERROR && busy.retryAfterMs > 0);
  // Other addresses are not affected.
  const other = await rawUdpClient(server.port, '127.0.0.6');
  t.teardown(() => other.close());
  t.like(await other.request('docs/a.txt', 10_000, docsToken), { type: DatagramType.ACCEPT });
});

test('a signed link opens its one file over UDP; an altered or expired one is refused', async (t) => {
  const key = join(base, 'link.key');
  const made = await runFtserve(['sign', '--new-key', key]);
  t.is(made.code, 0, made.stderr);
  const s = await serveRoot(t, root, ['--host', '127.0.0.1', '--workers', '1', '--sign-key', key]);
  const sign = async (path: string, expires: string): Promise<string> => {
    const r = await runFtserve([
      'sign',
      path,
      '--key-file',
      key,
      '--expires',
      expires,
      '--host',
      '127.0.0.1',
      '--port',
      String(s.port),
    ]);
    t.is(r.code, 0, r.stderr);
    return r.stdout.trim();
  };
  const link = await sign('docs/a.txt', '1h');
  const ok = await runFtget(['get', '--udp', link, '-o', '-', '-q'], { env });
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout.toString(), 'docs-a');
  // One character of the signature changed: UNAUTHORIZED from the UDP service, nothing served.
  const sig = /sig=([A-Za-z0-9_-]+)/.exec(link)![1]!;
  const altered = link.replace(sig, (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1));
  const bad = await runFtget(['get', '--udp', '--retries', '0', altered, '-o', '-', '-q'], { env });
  t.is(bad.code, 10, bad.stderr);
  t.regex(bad.stderr, /invalid signed link/);
  const short = await sign('docs/a.txt', '1s');
  await new Promise((r) => setTimeout(r, 2100));
  const late = await runFtget(['get', '--udp', '--retries', '0', short, '-o', '-', '-q'], { env });
  t.is(late.code, 10, late.stderr);
  t.regex(late.stderr, /expired/);
  // The refusal is logged by link (key id and expiry), in the UDP service's log lines.
  for (let i = 0; i < 100 && !/udp-request[^\n]*link=/.test(s.stderr()); i++)
    await new Promise((r) => setTimeout(r, 50));
  t.regex(s.stderr(), /udp-request[^\n]*result=FT_UNAUTHORIZED[^\n]*link=/);
  t.false(s.stderr().includes(sig), 'the signature is not in the log');
});
