/**
 * Encrypted UDP end to end (PROTOCOL.md "Encrypted UDP sessions"): a real ftserve with TLS and
 * tokens, real ftget processes with `--udp` on fts:// URLs, through the UDP impairment proxy
 * (helpers/udp-proxy.ts) with a plain TCP forwarder on the same port number, so the session's
 * TLS connection and its datagrams both reach the server. Checks what crosses the wire (sealed
 * only, no plaintext), replayed and forged datagrams (dropped, counted, the transfer intact),
 * the refusal of plaintext UDP, and tokens in the session request.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { DatagramType, SEALED_HEADER_SIZE } from '@ft/protocol';
import { runFtget } from './helpers/ftget.js';
import { runFtserve, startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { makeTestPki } from './helpers/tls-certs.js';
import { startUdpProxy } from './helpers/udp-proxy.js';
import type { UdpProxy, UdpProxyOptions } from './helpers/udp-proxy.js';

const pki = makeTestPki();
const SIZE = 2 * 1024 * 1024 + 77;
const PAYLOAD = 1200;

test.after.always(() => pki.remove());

interface Fixture {
  dir: string;
  data: Buffer;
  server: Ftserve;
  whole: string;
  docs: string;
  get(port: number, path: string, args?: string[]): ReturnType<typeof runFtget>;
  /** UDP proxy to the server, with a TCP forwarder on the same port number. */
  proxy(options: Omit<UdpProxyOptions, 'target'>): Promise<UdpProxy>;
  /** Stops the server and returns its final UDP counters (the udp-stopped line). */
  counters(): Promise<Record<string, number>>;
}

async function fixture(t: ExecutionContext, model = ['--workers', '1']): Promise<Fixture> {
  const dir = await mkdtemp(join(tmpdir(), 'ft-udp-enc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'root');
  await mkdir(join(root, 'docs'), { recursive: true });
  const data = randomBytes(SIZE);
  await writeFile(join(root, 'f.bin'), data);
  await writeFile(join(root, 'docs', 'a.txt'), 'docs-a');
  const tokens = join(dir, 'tokens.json');
  const add = async (prefix: string, name: string): Promise<string> => {
    const r = await runFtserve([
      'token',
      'add',
      '--tokens',
      tokens,
      '--prefix',
      prefix,
      '--name',
      name,
    ]);
    if (r.code !== 0) throw new Error(r.stderr);
    return r.stdout.trim();
  };
  const whole = await add('', 'whole');
  const docs = await add('docs/', 'docs');
  const server = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--host',
    '127.0.0.1',
    ...model,
    '--tokens',
    tokens,
    '--tls-cert',
    pki.server.cert,
    '--tls-key',
    pki.server.key,
  ]);
  t.teardown(() => server.stop('SIGKILL'));
  const env = {
    ...process.env,
    FT_UDP_PAYLOAD: String(PAYLOAD),
    XDG_CONFIG_HOME: join(dir, 'no-config'),
    FTGET_TOKEN: '',
  };
  const get = (port: number, path: string, args: string[] = []) =>
    runFtget(['get', `fts://127.0.0.1:${port}/${path}`, '--cacert', pki.ca, '--udp', ...args], {
      cwd: dir,
      env,
      timeoutMs: 100_000,
    });
  const proxy = async (options: Omit<UdpProxyOptions, 'target'>): Promise<UdpProxy> => {
    // The UDP proxy's port number must be free for TCP too; a few tries at most.
    for (let i = 0; i < 5; i++) {
      const p = await startUdpProxy({
        ...options,
        target: { host: '127.0.0.1', port: server.port },
      });
      const tcp = await forward(p.port, server.port).catch(() => undefined);
      if (tcp === undefined) {
        await p.close();
        continue;
      }
      t.teardown(async () => {
        await p.close();
        await new Promise((r) => tcp.close(r));
      });
      return p;
    }
    throw new Error('no port free for both UDP and TCP');
  };
  const counters = async (): Promise<Record<string, number>> => {
    await server.stop();
    const line = /udp-stopped (.*)/.exec(server.stderr())?.[1] ?? '';
    return Object.fromEntries(
      [...line.matchAll(/(\w+)=(\d+)/g)].map(([, k, v]) => [k!, Number(v)]),
    );
  };
  return { dir, data, server, whole, docs, get, proxy, counters };
}

/** A TCP listener on 127.0.0.1:`port` piping each connection to `target`. */
function forward(port: number, target: number): Promise<Server> {
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(target, '127.0.0.1');
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('error', () => {});
      s.on('close', () => sockets.delete(s));
    }
    client.pipe(upstream).pipe(client);
  });
  const close = server.close.bind(server);
  server.close = (cb) => {
    for (const s of sockets) s.destroy();
    return close(cb);
  };
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server));
  });
}

test('an fts:// --udp download is encrypted end to end and byte-identical', async (t) => {
  const f = await fixture(t);
  const seen: { direction: string; datagram: Buffer }[] = [];
  const p = await f.proxy({
    observe: (direction, d) => seen.push({ direction, datagram: Buffer.from(d) }),
  });
  const r = await f.get(p.port, 'f.bin', ['--token', f.whole, '-o', 'out.bin', '-q']);
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(f.dir, 'out.bin'))).equals(f.data));
  t.true(seen.length > SIZE / PAYLOAD, `${seen.length} datagrams`);
  // Every datagram is sealed, in its direction's type; no file bytes cross in the clear.
  for (const { direction, datagram } of seen)
    t.is(
      datagram[2],
      direction === 'toServer' ? DatagramType.SEALED_TO_SERVER : DatagramType.SEALED_TO_CLIENT,
    );
  const probe = f.data.subarray(100_000, 100_032);
  t.false(seen.some(({ datagram }) => datagram.includes(probe)));
  t.regex(f.server.stderr(), /op=UDP_SESSION path=f\.bin result=ok session=[0-9a-f]{16}/);
  t.false(f.server.stderr().includes(f.whole));
});

test('replayed datagrams are dropped and counted; the transfer stays correct', async (t) => {
  const f = await fixture(t);
  const captured: Buffer[] = [];
  const p = await f.proxy({
    seed: 3,
    toServer: { duplicate: 0.3 },
    toClient: { duplicate: 0.1 },
    observe: (direction, d) => {
      if (direction === 'toServer' && captured.length < 8) captured.push(Buffer.from(d));
    },
  });
  const r = await f.get(p.port, 'f.bin', ['--token', f.whole, '-o', 'out.bin', '-q']);
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(f.dir, 'out.bin'))).equals(f.data));
  t.true(p.stats.toServer.duplicated > 0);
  // Captured datagrams sent again later, from another address: the session still exists, so
  // they reach its replay window, which drops them (they must not rebind the session either).
  const raw = createSocket('udp4');
  t.teardown(() => raw.close());
  for (const d of captured) raw.send(d, f.server.port, '127.0.0.1');
  await new Promise((resolve) => setTimeout(resolve, 300));
  const c = await f.counters();
  t.true(c['replayed']! >= p.stats.toServer.duplicated + captured.length, JSON.stringify(c));
  t.is(c['forged'], 0);
});

test('forged datagrams (a flipped byte) are dropped and counted; the transfer stays correct', async (t) => {
  const f = await fixture(t);
  let sample: Buffer | undefined;
  const p = await f.proxy({
    seed: 5,
    toServer: { corrupt: 0.1 },
    toClient: { corrupt: 0.03 },
    observe: (direction, d) => {
      if (direction === 'toServer') sample ??= Buffer.from(d);
    },
  });
  const r = await f.get(p.port, 'f.bin', ['--token', f.whole, '-o', 'out.bin', '-q']);
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(f.dir, 'out.bin'))).equals(f.data));
  // One more by hand, a byte of its ciphertext flipped, sent straight to the server. Its packet
  // number is moved ahead of any the session used: a copy under the sample's own number would be
  // dropped as a replay before its tag is checked whenever the original had arrived intact.
  const forged = Buffer.from(sample!);
  forged[SEALED_HEADER_SIZE + 3] = forged[SEALED_HEADER_SIZE + 3]! ^ 0x40;
  forged.writeUInt32BE(1, SEALED_HEADER_SIZE - 8); // packet number 2^32 + its low half
  const raw = createSocket('udp4');
  t.teardown(() => raw.close());
  raw.send(forged, f.server.port, '127.0.0.1');
  await new Promise((resolve) => setTimeout(resolve, 300));
  const c = await f.counters();
  t.true(c['forged']! >= p.stats.toServer.corrupted + 1, JSON.stringify(c));
});

test('plaintext UDP to a TLS server is refused with UDP_ENCRYPTION: one line, exit 12', async (t) => {
  const f = await fixture(t);
  const r = await runFtget(
    ['get', `ft://127.0.0.1:${f.server.port}/f.bin`, '--udp', '--token', f.whole, '-o', 'p.bin'],
    { cwd: f.dir, env: { ...process.env, XDG_CONFIG_HOME: join(f.dir, 'none'), FTGET_TOKEN: '' } },
  );
  t.is(r.code, 12, r.stderr);
  t.regex(
    r.stderr,
    /^ftget: error: this server serves UDP only in encrypted sessions: use an fts:\/\/ URL \(or --tls\) with --udp\n/,
  );
  await t.throwsAsync(readFile(join(f.dir, 'p.bin')));
});

test('the session request carries the token: none or another prefix is refused (exit 10)', async (t) => {
  const f = await fixture(t);
  const none = await f.get(f.server.port, 'f.bin', ['-o', 'n.bin']);
  t.is(none.code, 10, none.stderr);
  t.regex(none.stderr, /^ftget: error: this server needs an access token\n/);
  const other = await f.get(f.server.port, 'f.bin', ['--token', f.docs, '-o', 'o.bin']);
  t.is(other.code, 10, other.stderr);
  t.regex(other.stderr, /^ftget: error: the token does not cover this path\n/);
  const ok = await f.get(f.server.port, 'docs/a.txt', ['--token', f.docs, '-o', '-', '-q']);
  t.is(ok.code, 0, ok.stderr);
  t.is(ok.stdout.toString(), 'docs-a');
  t.false(f.server.stderr().includes(f.docs));
});

test('fork-per-connection: the per-connection child grants the session, the UDP service serves it', async (t) => {
  const f = await fixture(t, ['--fork-per-connection', '--max-children', '2']);
  const r = await f.get(f.server.port, 'f.bin', ['--token', f.whole, '-o', 'fork.bin', '-q']);
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(f.dir, 'fork.bin'))).equals(f.data));
  const c = await f.counters();
  t.is(c['transfers'], 1);
  t.is(c['plaintextRefused'], 0);
});
