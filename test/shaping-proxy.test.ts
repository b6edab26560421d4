/**
 * The delay and per-flow shaping proxy of the tests and the benchmark (helpers/shaping-proxy.ts):
 * one flow stays under its cap over a long window, every round trip pays the delay twice,
 * half-closes and resets pass through, and a receiver that stops reading holds the proxy's
 * queue at its bound (the sender is paused) instead of growing it. Only lower bounds on time.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { startShapingProxy } from './helpers/shaping-proxy.js';
import type { ShapingProxyOptions } from './helpers/shaping-proxy.js';

const MB = 1_000_000;

/** A server running `handler` per connection (half-open allowed), closed at the end of the test. */
async function server(
  t: ExecutionContext,
  handler: (s: net.Socket) => void,
): Promise<{ host: string; port: number }> {
  const sockets = new Set<net.Socket>();
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.add(s);
    s.on('error', () => {});
    handler(s);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    srv.close();
  });
  return { host: '127.0.0.1', port: (srv.address() as AddressInfo).port };
}

async function proxy(t: ExecutionContext, options: ShapingProxyOptions) {
  const p = await startShapingProxy(options);
  t.teardown(() => p.close());
  return p;
}

function connect(port: number): Promise<net.Socket> {
  const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  return new Promise((resolve, reject) => {
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

test('one flow stays under its cap: 16 MB through 8 MB/s take at least 1.5 s, bytes intact', async (t) => {
  const data = randomBytes(16 * MB);
  const target = await server(t, (s) => s.end(data));
  const p = await proxy(t, { target });
  const started = performance.now();
  const s = await connect(p.port);
  const hash = createHash('sha256');
  let got = 0;
  s.on('data', (c: Buffer) => {
    got += c.length;
    hash.update(c);
  });
  await once(s, 'end');
  const seconds = (performance.now() - started) / 1000;
  s.destroy();
  t.is(got, data.length);
  t.true(hash.digest().equals(createHash('sha256').update(data).digest()), 'same bytes');
  t.true(seconds >= 1.5, `took ${seconds.toFixed(2)} s`);
  t.is(p.bytesDown, data.length);
});

test('each connection has its own bucket: two flows both finish, each under the cap', async (t) => {
  const data = randomBytes(4 * MB);
  const target = await server(t, (s) => s.end(data));
  const p = await proxy(t, { target, rateBytesPerSecond: 4 * MB });
  const started = performance.now();
  const one = async (): Promise<number> => {
    const s = await connect(p.port);
    let got = 0;
    s.on('data', (c: Buffer) => (got += c.length));
    await once(s, 'end');
    s.destroy();
    t.is(got, data.length);
    return (performance.now() - started) / 1000;
  };
  const times = await Promise.all([one(), one()]);
  for (const s of times) t.true(s >= 0.75, `a 4 MB flow at 4 MB/s took ${s.toFixed(2)} s`);
  t.is(p.connections, 2);
  t.is(p.bytesDown, 2 * data.length);
});

test('every round trip pays the delay both ways (40 ms RTT by default)', async (t) => {
  const target = await server(t, (s) => s.on('data', (d: Buffer) => s.write(d)));
  const p = await proxy(t, { target });
  const s = await connect(p.port);
  t.teardown(() => s.destroy());
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    s.write(`ping ${i}`);
    const [echo] = (await once(s, 'data')) as [Buffer];
    const ms = performance.now() - started;
    t.is(echo.toString(), `ping ${i}`);
    t.true(ms >= 39, `round trip ${ms.toFixed(1)} ms`);
  }
});

test('a half-close travels after the bytes before it; the other direction keeps going', async (t) => {
  const target = await server(t, (s) => {
    const parts: Buffer[] = [];
    s.on('data', (d: Buffer) => parts.push(d));
    // Answer only once the client's FIN arrived: what it sent, reversed, then our own FIN.
    s.on('end', () =>
      s.end(Buffer.from(Buffer.concat(parts).toString().split('').reverse().join(''))),
    );
  });
  const p = await proxy(t, { target, delayMs: 5 });
  const s = await connect(p.port);
  s.write('hello ');
  s.end('world');
  const parts: Buffer[] = [];
  s.on('data', (d: Buffer) => parts.push(d));
  await once(s, 'end');
  t.is(Buffer.concat(parts).toString(), 'dlrow olleh');
  s.destroy();
  for (let i = 0; i < 100 && p.open > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.is(p.open, 0, 'the proxy let go of the connection');
});

test('a reset on one side reaches the other, and the proxy frees the connection', async (t) => {
  const target = await server(t, (s) => s.once('data', () => s.resetAndDestroy()));
  const p = await proxy(t, { target, delayMs: 5 });
  const s = await connect(p.port);
  let error: NodeJS.ErrnoException | undefined;
  s.on('error', (e) => (error = e));
  const closed = new Promise((resolve) => s.once('close', resolve));
  s.write('x');
  await closed;
  t.is(error?.code, 'ECONNRESET', 'the client sees a reset, not a clean FIN');
  for (let i = 0; i < 100 && p.open > 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.is(p.open, 0);
});

test('a receiver that stops reading: the proxy queue stays at its bound, the sender is held back', async (t) => {
  let sent = 0;
  const target = await server(t, (s) => {
    const block = randomBytes(64 * 1024);
    // Write as fast as the socket takes it, for at most 64 MB.
    const pump = (): void => {
      while (sent < 64 * MB) {
        sent += block.length;
        if (!s.write(block)) {
          s.once('drain', pump);
          return;
        }
      }
      s.end();
    };
    pump();
  });
  const maxQueuedBytes = 512 * 1024;
  const p = await proxy(t, { target, rateBytesPerSecond: 1000 * MB, delayMs: 1, maxQueuedBytes });
  const s = await connect(p.port);
  t.teardown(() => s.destroy());
  s.pause();
  await new Promise((r) => setTimeout(r, 1500));
  // One read (at most 64 KiB) may land on top of the bound before the pause takes effect.
  t.true(p.peakQueuedBytes <= maxQueuedBytes + 64 * 1024, `peak queue ${p.peakQueuedBytes}`);
  // Kernel buffers on both hops hold some megabytes; the 64 MB did not all leave the sender.
  t.true(sent < 48 * MB, `sender got ${sent} bytes out`);
});
