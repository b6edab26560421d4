/**
 * `ftserve sign` from the real CLI: keys made once with mode 0600, links whose HMAC-SHA256 is
 * recomputed here from PROTOCOL.md §5.7, bad input as one line and exit 2; and, in a real
 * terminal, ftget's progress bar and Ctrl-C line with a signed link never show the signature.
 */
import { createHash, createHmac } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { FTGET_BIN } from './helpers/ftget.js';
import { runFtserve } from './helpers/ftserve.js';
import { LinkFixture } from './helpers/signed-links.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import { startTerminal } from './helpers/tmux.js';

const MiB = 1024 * 1024;
let fx: LinkFixture;

test.before(async () => {
  fx = await LinkFixture.create('ft-links-cli-');
});

test.after('no signature appears in any server log', (t) => {
  for (const s of fx.servers) fx.noSignature(t, s.stderr(), 'the server log');
});

test.after.always(() => fx?.remove());

test('ftserve sign: --new-key writes a 0600 key once; bad input is one line and exit 2', async (t) => {
  t.is(statSync(fx.key).mode & 0o777, 0o600);
  t.regex(readFileSync(fx.key, 'utf8'), /^[A-Za-z0-9_-]{43}\n$/);
  const again = await runFtserve(['sign', '--new-key', fx.key]);
  t.is(again.code, 2);
  t.regex(again.stderr, /^ftserve: .*link\.key exists already; .*\n$/);
  const open = join(fx.base, 'open.key');
  writeFileSync(open, readFileSync(fx.key));
  chmodSync(open, 0o640);
  const cases: [string[], RegExp][] = [
    [['docs/a.txt', '--expires', '1h'], /--key-file FILE is required/],
    [
      ['docs/a.txt', '--key-file', join(fx.base, 'none.key'), '--expires', '1h'],
      /cannot read signing key file .*none\.key: ENOENT/,
    ],
    [
      ['docs/a.txt', '--key-file', fx.key, '--expires', 'soon'],
      /--expires must be a duration such as 1h/,
    ],
    [['docs/a.txt', '--key-file', fx.key, '--expires', '0h'], /--expires must be a duration/],
    [['docs/a.txt', '--key-file', fx.key], /--expires DURATION is required/],
    [['--key-file', fx.key, '--expires', '1h'], /sign takes one PATH/],
    [['../etc/passwd', '--key-file', fx.key, '--expires', '1h'], /must not contain "\.\."/],
    [
      ['docs/a.txt', '--key-file', open, '--expires', '1h'],
      /accessible by group or others \(mode 0640\); run: chmod 600 /,
    ],
    [
      ['docs/a.txt', '--key-file', fx.key, '--expires', '1h', '--port', '70000'],
      /--port must be in 1\.\.65535/,
    ],
    [
      ['docs/a.txt', '--key-file', fx.key, '--expires', '1h', '--bogus'],
      /Unknown option '--bogus'/,
    ],
  ];
  for (const [args, message] of cases) {
    const r = await runFtserve(['sign', ...args]);
    t.is(r.code, 2, args.join(' '));
    t.regex(r.stderr, /^ftserve: [^\n]+\n$/, args.join(' '));
    t.regex(r.stderr, message);
    t.is(r.stdout, '');
  }
  const served = await runFtserve([
    '--root',
    fx.root,
    '--port',
    '0',
    '--no-udp',
    '--sign-key',
    open,
  ]);
  t.is(served.code, 2);
  t.regex(
    served.stderr,
    /^ftserve: signing key file .*open\.key is accessible by group or others \(mode 0640\); run: chmod 600 .*\n$/,
  );
  const junk = join(fx.base, 'junk.key');
  writeFileSync(junk, 'not a key\n', { mode: 0o600 });
  const bad = await runFtserve(['--root', fx.root, '--port', '0', '--no-udp', '--sign-key', junk]);
  t.is(bad.code, 2);
  t.regex(
    bad.stderr,
    /^ftserve: signing key file .*junk\.key must hold one line of base64url.*\n$/,
  );
});

test('the link is ft://host:port/path?expires&kid&sig with the HMAC-SHA256 PROTOCOL.md describes', async (t) => {
  const before = Math.floor(Date.now() / 1000);
  const link = await fx.sign('docs//./a.txt', 7070);
  const m =
    /^ft:\/\/127\.0\.0\.1:7070\/docs\/a\.txt\?expires=(\d+)&kid=([0-9a-f]{8})&sig=([A-Za-z0-9_-]{43})$/.exec(
      link,
    );
  t.truthy(m, link);
  const expires = Number(m![1]);
  t.true(expires >= before + 3600 && expires <= before + 3601 + 60);
  const secret = Buffer.from(readFileSync(fx.key, 'utf8').trim(), 'base64url');
  t.is(m![2], createHash('sha256').update(secret).digest('hex').slice(0, 8));
  const pathHex = createHash('sha256').update('docs/a.txt').digest('hex');
  const mac = createHmac('sha256', secret)
    .update(`ft-signed-link-v1\n${m![2]}\n${expires}\n${pathHex}`)
    .digest('base64url');
  t.is(m![3], mac);
  const tls = await fx.sign('docs/a b.txt', 7443, '--tls');
  t.regex(tls, /^fts:\/\/127\.0\.0\.1:7443\/docs\/a%20b\.txt\?expires=/);
});

test('in a terminal the progress bar and the Ctrl-C line never show the signature', async (t) => {
  const s = await fx.serve(t, ['--workers', '1']);
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port: s.port },
    fault: () => ({ stallAfter: 3 * MiB }),
  });
  t.teardown(() => proxy.close());
  const link = await fx.sign('big.bin', proxy.port);
  const cwd = mkdtempSync(join(fx.base, 'tty-'));
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
  fx.noSignature(t, bar.join('\n') + screen, 'the terminal');
});
