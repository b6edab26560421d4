/**
 * ftserve --proxy-protocol: a raw client plays the load balancer, sending PROXY v1 (text) and v2
 * (binary) headers before the ft stream. The address the header names is what the connection
 * log, and the per-IP connection limit, see; a connection without a valid header is refused
 * with one log line; without the flag a PROXY header is just a bad first frame.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer } from 'node:net';
import type { AddressInfo, Socket } from 'node:net';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { FrameType, WireError, encodeHello } from '@ft/protocol';
import { servedFile } from './helpers/fixtures.js';
import { FTSERVE_BIN, runFtserve, startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { RawClient } from './helpers/raw-client.js';

const SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v1(src: string, sport: number, family = 'TCP4', dst = '192.0.2.1'): Buffer {
  return Buffer.from(`PROXY ${family} ${src} ${dst} ${sport} 7070\r\n`, 'latin1');
}

/** A v2 PROXY (command 1) header for TCP over IPv4 or IPv6, with `tlv` bytes after the addresses. */
function v2(src: number[], sport: number, tlv = Buffer.alloc(0)): Buffer {
  const six = src.length === 16;
  const addresses = Buffer.alloc(six ? 36 : 12);
  Buffer.from(src).copy(addresses, 0);
  addresses.writeUInt16BE(sport, six ? 32 : 8);
  addresses.writeUInt16BE(7070, six ? 34 : 10);
  const head = Buffer.from([0x21, six ? 0x21 : 0x11, 0, 0]);
  head.writeUInt16BE(addresses.length + tlv.length, 2);
  return Buffer.concat([SIGNATURE, head, addresses, tlv]);
}

/** A v2 LOCAL header (a balancer's own health check): no addresses. */
const V2_LOCAL = Buffer.concat([SIGNATURE, Buffer.from([0x20, 0x00, 0, 0])]);

const HELLO = encodeHello({ minVersion: 1, maxVersion: 2, name: 'proxy-test' });

async function serve(t: ExecutionContext, extra: string[] = []): Promise<Ftserve> {
  const { root } = await servedFile(t, 'ft-proxyproto-', 4096);
  const server = await startFtserve([
    '--root',
    root,
    '--host',
    '127.0.0.1',
    '--port',
    '0',
    '--workers',
    '1',
    '--no-udp',
    '--proxy-protocol',
    ...extra,
  ]);
  t.teardown(() => server.stop());
  return server;
}

/** Connects, sends `header` then HELLO (in one write unless `split`), and waits for WELCOME. */
async function through(port: number, header: Buffer, split = false): Promise<RawClient> {
  const c = await RawClient.connect(port, { hello: false });
  if (split) {
    for (const byte of header) {
      c.send(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 2));
    }
    c.send(HELLO);
  } else c.send(Buffer.concat([header, HELLO]));
  const m = await c.nextMessage();
  if (m.type !== FrameType.WELCOME) throw new Error(`expected WELCOME, got ${JSON.stringify(m)}`);
  return c;
}

/** Fetches f.bin on `c`, closes, and waits for the server's log line of that connection. */
async function logLineOf(server: Ftserve, c: RawClient, peer: string): Promise<string> {
  const r = await c.get({ path: 'f.bin', offset: 0 });
  if (!r.ok) throw new Error(`GET failed: ${r.error.message}`);
  c.destroy();
  const pattern = new RegExp(` connection peer=${peer.replace(/[[\].]/g, '\\$&')} .*requests=1`);
  await waitFor(() => pattern.test(server.stderr()), 10_000);
  return (
    server
      .stderr()
      .split('\n')
      .find((l) => pattern.test(l)) ?? ''
  );
}

test('a v1 header: the log names the client it gives, and the balancer as via', async (t) => {
  const server = await serve(t);
  const c = await through(server.port, v1('203.0.113.7', 51234));
  const line = await logLineOf(server, c, '203.0.113.7:51234');
  t.regex(line, / via=127\.0\.0\.1:\d+ /);
});

test('a v1 header arriving byte by byte, and a TCP6 one', async (t) => {
  const server = await serve(t);
  const split = await through(server.port, v1('198.51.100.20', 4242), true);
  t.truthy(await logLineOf(server, split, '198.51.100.20:4242'));
  const six = await through(server.port, v1('2001:db8::7', 999, 'TCP6', '2001:db8::1'));
  t.truthy(await logLineOf(server, six, '[2001:db8::7]:999'));
});

test('a v2 header (IPv4, IPv6 with TLVs, IPv4-mapped IPv6) and a v2 LOCAL one', async (t) => {
  const server = await serve(t);
  const four = await through(server.port, v2([203, 0, 113, 9], 40001));
  t.truthy(await logLineOf(server, four, '203.0.113.9:40001'));
  const ipv6 = [0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x05];
  // A TLV (PP2_TYPE_AUTHORITY "example.org") after the addresses is skipped.
  const tlv = Buffer.concat([Buffer.from([0x02, 0, 11]), Buffer.from('example.org')]);
  const six = await through(server.port, v2(ipv6, 40002, tlv));
  t.truthy(await logLineOf(server, six, '[2001:db8::5]:40002'));
  const mapped = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 33];
  const m = await through(server.port, v2(mapped, 40003));
  t.truthy(await logLineOf(server, m, '192.0.2.33:40003'));
  // LOCAL: the balancer speaking for itself; the socket's own address stands.
  const local = await through(server.port, V2_LOCAL);
  const port = local.socket.localPort!;
  t.truthy(await logLineOf(server, local, `127.0.0.1:${port}`));
});

test('the per-IP limit counts the address in the header, not the balancer', async (t) => {
  const server = await serve(t, ['--max-connections-per-ip', '1']);
  const first = await through(server.port, v1('203.0.113.50', 1000));
  t.teardown(() => first.destroy());
  // Same client behind the same balancer: over its limit.
  const again = await RawClient.connect(server.port, { hello: false });
  again.send(Buffer.concat([v1('203.0.113.50', 1001), HELLO]));
  const busy = await again.nextMessage();
  t.is(busy.type, FrameType.ERROR);
  t.is(busy.type === FrameType.ERROR ? busy.code : -1, WireError.BUSY);
  const refused =
    /refused peer=203\.0\.113\.50:1001 via=127\.0\.0\.1:\d+ reason=max-connections-per-ip/;
  t.true(await waitFor(() => refused.test(server.stderr()), 10_000), server.stderr());
  // Another client through the same balancer (same socket address) is admitted.
  const other = await through(server.port, v1('203.0.113.51', 1002));
  other.destroy();
});

test('--allow/--deny judge the address in the header, not the balancer', async (t) => {
  // The balancer (127.0.0.1) is in neither list; only the clients the headers name are.
  const server = await serve(t, ['--deny', '203.0.113.0/24', '--allow', '198.51.100.0/24']);
  const denied = await RawClient.connect(server.port, { hello: false });
  t.teardown(() => denied.destroy());
  denied.send(Buffer.concat([v1('203.0.113.60', 2000), HELLO]));
  const refusal = await denied.nextMessage();
  t.is(refusal.type, FrameType.ERROR);
  t.is(refusal.type === FrameType.ERROR ? refusal.code : -1, WireError.ACCESS_DENIED);
  t.true(
    await waitFor(() => /address-refused ip=203\.0\.113\.60 /.test(server.stderr()), 10_000),
    server.stderr(),
  );
  const allowed = await through(server.port, v1('198.51.100.61', 2001));
  t.truthy(await logLineOf(server, allowed, '198.51.100.61:2001'));
});

test('without a valid header the connection is refused, with one log line each', async (t) => {
  const server = await serve(t, ['--request-timeout', '1']);
  const cases: [string, Buffer, number, RegExp][] = [
    ['HELLO first', HELLO, WireError.BAD_REQUEST, /reason="not a PROXY header"/],
    [
      'v1 over 107 bytes',
      Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`),
      WireError.BAD_REQUEST,
      /reason="v1 header longer than 107 bytes"/,
    ],
    [
      'v1 malformed',
      Buffer.from('PROXY TCP4 300.1.1.1 192.0.2.1 1 2\r\n'),
      WireError.BAD_REQUEST,
      /reason="malformed v1 header"/,
    ],
    [
      'v2 over 536 bytes',
      v2([203, 0, 113, 1], 1, Buffer.alloc(600)),
      WireError.BAD_REQUEST,
      /reason="v2 header of 628 bytes \(most: 536\)"/,
    ],
    ['nothing at all', Buffer.alloc(0), WireError.TIMEOUT, /reason="no PROXY header within 1 s"/],
  ];
  for (const [name, bytes, code, logged] of cases) {
    const before = server
      .stderr()
      .split('\n')
      .filter((l) => / proxy-header-refused /.test(l));
    const c = await RawClient.connect(server.port, { hello: false });
    if (bytes.length > 0) c.send(bytes);
    const events = await c.untilClosed();
    const frame = events.find((e) => e.kind === 'message');
    t.true(
      frame?.kind === 'message' &&
        frame.message.type === FrameType.ERROR &&
        frame.message.code === code,
      name,
    );
    t.true(await waitFor(() => logged.test(server.stderr()), 10_000), name);
    const after = server
      .stderr()
      .split('\n')
      .filter((l) => / proxy-header-refused /.test(l));
    t.is(after.length, before.length + 1, `${name}: one log line`);
  }
});

test('without --proxy-protocol a PROXY header is a bad first frame', async (t) => {
  const { root } = await servedFile(t, 'ft-noproxy-', 16);
  const server = await startFtserve(['--root', root, '--port', '0', '--workers', '1', '--no-udp']);
  t.teardown(() => server.stop());
  for (const header of [v1('203.0.113.7', 1), v2([203, 0, 113, 7], 1)]) {
    const c = await RawClient.connect(server.port, { hello: false });
    c.send(Buffer.concat([header, HELLO]));
    const events = await c.untilClosed();
    const frame = events.find((e) => e.kind === 'message');
    t.true(
      frame?.kind === 'message' &&
        frame.message.type === FrameType.ERROR &&
        frame.message.code === WireError.BAD_REQUEST,
    );
  }
  t.notRegex(server.stderr(), /203\.0\.113\.7/);
});

/** Runs `ftserve --inetd --proxy-protocol` on one accepted connection; returns our end of it. */
async function inetd(
  t: ExecutionContext,
): Promise<{ client: RawClient; done: Promise<{ code: number | null; stderr: string }> }> {
  const { root } = await servedFile(t, 'ft-proxyinetd-', 4096);
  const listener = createServer({ pauseOnConnect: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => listener.close());
  const clientSocket = connect((listener.address() as AddressInfo).port, '127.0.0.1');
  const [accepted] = (await once(listener, 'connection')) as [Socket];
  const child = spawn(
    process.execPath,
    [FTSERVE_BIN, '--inetd', '--proxy-protocol', '--root', root],
    {
      stdio: [accepted, accepted, 'pipe'],
    },
  );
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  accepted.destroy();
  const done = once(child, 'close').then(([code]) => ({ code: code as number | null, stderr }));
  return { client: RawClient.fromSocket(clientSocket), done };
}

test('--inetd --proxy-protocol: the header names the client; no header, no service', async (t) => {
  const good = await inetd(t);
  good.client.send(Buffer.concat([v1('203.0.113.77', 5555), HELLO]));
  t.is((await good.client.nextMessage()).type, FrameType.WELCOME);
  const r = await good.client.get({ path: 'f.bin', offset: 0 });
  t.true(r.ok);
  good.client.socket.end();
  const ok = await good.done;
  t.is(ok.code, 0, ok.stderr);
  t.regex(ok.stderr, / connection peer=203\.0\.113\.77:5555 via=127\.0\.0\.1:\d+ requests=1/);

  const bad = await inetd(t);
  bad.client.send(HELLO);
  const events = await bad.client.untilClosed();
  t.true(events.some((e) => e.kind === 'message' && e.message.type === FrameType.ERROR));
  const refused = await bad.done;
  t.is(refused.code, 0, refused.stderr);
  t.regex(refused.stderr, / proxy-header-refused .*reason="not a PROXY header"/);
});

test('--proxy-protocol with --fork-per-connection is a usage error', async (t) => {
  const { root } = await servedFile(t, 'ft-proxyfork-', 16);
  const r = await runFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--fork-per-connection',
    '--proxy-protocol',
  ]);
  t.is(r.code, 2);
  t.regex(r.stderr, /^ftserve: --proxy-protocol and --fork-per-connection cannot be combined\n$/);
});

test('--trusted-proxy: a header from a listed balancer is used; any other peer is refused before a byte is read', async (t) => {
  const server = await serve(t, ['--trusted-proxy', '127.0.0.2/32']);
  // The trusted balancer (127.0.0.2): its header names the client, as without the flag.
  const trusted = await RawClient.connect(server.port, { hello: false, localAddress: '127.0.0.2' });
  trusted.send(Buffer.concat([v1('203.0.113.80', 6000), HELLO]));
  t.is((await trusted.nextMessage()).type, FrameType.WELCOME);
  const line = await logLineOf(server, trusted, '203.0.113.80:6000');
  t.regex(line, / via=127\.0\.0\.2:\d+ /);

  // Another peer (127.0.0.3) with a valid header: ACCESS_DENIED, and its header never believed.
  for (let i = 0; i < 2; i++) {
    const other = await RawClient.connect(server.port, { hello: false, localAddress: '127.0.0.3' });
    other.send(Buffer.concat([v1('198.51.100.99', 6001 + i), HELLO]));
    const events = await other.untilClosed();
    const frame = events.find((e) => e.kind === 'message');
    t.true(
      frame?.kind === 'message' &&
        frame.message.type === FrameType.ERROR &&
        frame.message.code === WireError.ACCESS_DENIED,
      JSON.stringify(frame),
    );
    t.false(
      events.some((e) => e.kind === 'message' && e.message.type === FrameType.WELCOME),
      'no handshake for an untrusted peer',
    );
  }
  const refused = / proxy-untrusted ip=127\.0\.0\.3 transport=tcp/;
  t.true(await waitFor(() => refused.test(server.stderr()), 10_000), server.stderr());
  const lines = (re: RegExp): string[] =>
    server
      .stderr()
      .split('\n')
      .filter((l) => re.test(l));
  // One line for the peer (rate-limited per address), no connection or header lines for it.
  t.is(lines(/ proxy-untrusted /).length, 1, server.stderr());
  t.is(lines(/198\.51\.100\.99/).length, 0, 'the untrusted header was never read');
  t.is(lines(/ connection peer=127\.0\.0\.3/).length, 0);
});

test('--trusted-proxy without --proxy-protocol, or with a bad CIDR, is a usage error', async (t) => {
  const { root } = await servedFile(t, 'ft-trusted-usage-', 16);
  const base = ['--root', root, '--port', '0', '--no-udp'];
  const lone = await runFtserve([...base, '--trusted-proxy', '10.0.0.0/8']);
  t.is(lone.code, 2);
  t.regex(lone.stderr, /^ftserve: --trusted-proxy needs --proxy-protocol\n$/);
  const bad = await runFtserve([...base, '--proxy-protocol', '--trusted-proxy', '10.0.0.0/33']);
  t.is(bad.code, 2);
  t.regex(
    bad.stderr,
    /^ftserve: --trusted-proxy takes IPv4 or IPv6 addresses .*"10\.0\.0\.0\/33"\n$/,
  );
});

test('--inetd --proxy-protocol --trusted-proxy: a peer outside the list gets no service', async (t) => {
  const { root } = await servedFile(t, 'ft-trustedinetd-', 4096);
  const listener = createServer({ pauseOnConnect: true });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => listener.close());
  const clientSocket = connect({
    port: (listener.address() as AddressInfo).port,
    host: '127.0.0.1',
    localAddress: '127.0.0.3',
  });
  const [accepted] = (await once(listener, 'connection')) as [Socket];
  const child = spawn(
    process.execPath,
    [FTSERVE_BIN, '--inetd', '--proxy-protocol', '--trusted-proxy', '127.0.0.2', '--root', root],
    { stdio: [accepted, accepted, 'pipe'] },
  );
  t.teardown(() => child.kill('SIGKILL'));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  accepted.destroy();
  const client = RawClient.fromSocket(clientSocket);
  client.send(Buffer.concat([v1('203.0.113.81', 7000), HELLO]));
  const events = await client.untilClosed();
  const frame = events.find((e) => e.kind === 'message');
  t.true(
    frame?.kind === 'message' &&
      frame.message.type === FrameType.ERROR &&
      frame.message.code === WireError.ACCESS_DENIED,
  );
  const [code] = (await once(child, 'close')) as [number | null];
  t.is(code, 0, stderr);
  t.regex(stderr, / proxy-untrusted ip=127\.0\.0\.3 /);
  t.notRegex(stderr, /203\.0\.113\.81/);
});
