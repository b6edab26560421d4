/**
 * Slow and idle clients must not hold the server: a request frame (and the handshake) has a
 * deadline that trickling bytes cannot extend, a full server sheds its oldest idle connection
 * to admit a new client, and a client that stops reading is cut within --idle-timeout.
 */
import { readFile } from 'node:fs/promises';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { FrameType, WireError, encodeGet, encodeHello } from '@ft/protocol';
import { servedFile } from './helpers/fixtures.js';
import { runFtget } from './helpers/ftget.js';
import { runFtserve, startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { RawClient, stalledDownload } from './helpers/raw-client.js';
import type { ClientEvent } from './helpers/raw-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-slowloris-'));
writeFileSync(join(dir, 'small.bin'), 'hello');
writeFileSync(join(dir, 'big.bin'), '');
// Larger than what the kernel buffers of a connection absorb before a non-reading client stalls.
truncateSync(join(dir, 'big.bin'), 512 * 1024 * 1024);

test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function connectionError(events: ClientEvent[]): { code: number } | undefined {
  const m = events.find((e) => e.kind === 'message');
  return m?.kind === 'message' && m.message.type === FrameType.ERROR ? m.message : undefined;
}

/**
 * Sends `frame` one byte every `everyMs` until it is all sent or the server closes; resolves
 * with the bytes sent and what the server said before closing (undefined: not closed).
 */
async function trickle(
  c: RawClient,
  frame: Buffer,
  everyMs: number,
): Promise<{ sent: number; events: ClientEvent[] | undefined }> {
  let closed: ClientEvent[] | undefined;
  void c.untilClosed(120_000).then(
    (events) => (closed = events),
    () => {},
  );
  let sent = 0;
  while (sent < frame.length && closed === undefined) {
    c.socket.write(frame.subarray(sent, sent + 1));
    sent++;
    await sleep(everyMs);
  }
  await waitFor(() => closed !== undefined, 5000);
  return { sent, events: closed };
}

test('--request-timeout outside 1..3600 is a usage error (exit 2) on one line', async (t) => {
  for (const value of ['0', '3601', 'soon']) {
    const r = await runFtserve(['--root', dir, '--port', '0', '--request-timeout', value]);
    t.is(r.code, 2, r.stderr);
    t.regex(r.stderr, /^ftserve: .*request-timeout.*\n$/);
  }
});

/** A one-worker, TCP-only ftserve over `root` with `flags`, stopped when the test ends. */
async function serve(t: ExecutionContext, flags: string[], root = dir): Promise<Ftserve> {
  const server = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--workers',
    '1',
    '--no-udp',
    ...flags,
  ]);
  t.teardown(() => server.stop());
  return server;
}

const longHello = encodeHello({ minVersion: 1, maxVersion: 1, name: 'x'.repeat(60) });

test('a HELLO trickled one byte at a time is cut at --request-timeout with TIMEOUT', async (t) => {
  const server = await serve(t, ['--idle-timeout', '60', '--request-timeout', '1']);
  const c = await RawClient.connect(server.port, { hello: false });
  t.teardown(() => c.destroy());
  // About 7 s of bytes, each well within --idle-timeout.
  const { sent, events } = await trickle(c, longHello, 100);
  t.true(sent < longHello.length, `the whole HELLO (${sent} bytes) was accepted`);
  t.like(connectionError(events ?? []), { code: WireError.TIMEOUT });
  t.true(
    await waitFor(() => /connection peer=\S+ .*result=request-timeout/.test(server.stderr())),
    'the server logged the request timeout',
  );
});

test('a request frame trickled after the handshake is cut at --request-timeout', async (t) => {
  const server = await serve(t, ['--idle-timeout', '60', '--request-timeout', '1']);
  const c = await RawClient.connect(server.port);
  t.teardown(() => c.destroy());
  const get = encodeGet({
    requestId: 1,
    path: 'small.bin/' + 'y'.repeat(60),
    offset: 0,
    wantDigests: false,
  });
  const { sent, events } = await trickle(c, get, 100);
  t.true(sent < get.length, `the whole GET (${sent} bytes) was accepted`);
  t.like(connectionError(events ?? []), { code: WireError.TIMEOUT });
});

test('at --max-connections the oldest idle connection is shed for a new client', async (t) => {
  const server = await serve(t, ['--max-connections', '2']);
  const oldest = await RawClient.connect(server.port);
  t.teardown(() => oldest.destroy());
  const older = await RawClient.connect(server.port);
  t.teardown(() => older.destroy());
  const fresh = await RawClient.connect(server.port);
  t.teardown(() => fresh.destroy());
  t.like(await fresh.stat('small.bin'), { type: FrameType.STAT_OK });
  const events = await oldest.untilClosed();
  t.like(connectionError(events), { code: WireError.BUSY });
  t.like(await older.stat('small.bin'), { type: FrameType.STAT_OK });
  t.true(await waitFor(() => /connection peer=\S+ .*result=shed/.test(server.stderr())));
});

test('connections in the middle of a transfer are not shed: the new client gets BUSY', async (t) => {
  const server = await serve(t, ['--max-connections', '2']);
  const a = await stalledDownload(server.port);
  t.teardown(() => a.c.destroy());
  const b = await stalledDownload(server.port);
  t.teardown(() => b.c.destroy());
  const late = await RawClient.connect(server.port, { hello: false });
  t.teardown(() => late.destroy());
  t.like(connectionError(await late.untilClosed()), { code: WireError.BUSY });
});

interface Trickler {
  stop(): Promise<void>;
}

/**
 * `count` connections from `localAddress`, each trickling a HELLO one byte every `everyMs` and
 * reconnecting (a bounded number of times) whenever the server closes it.
 */
function trickleFrom(localAddress: string, port: number, count: number, everyMs: number): Trickler {
  let stopping = false;
  const sockets = new Set<Socket>();
  const slot = async (): Promise<void> => {
    for (let round = 0; round < 100 && !stopping; round++) {
      const s = connect({ port, host: '127.0.0.1', localAddress });
      sockets.add(s);
      s.on('error', () => {});
      s.resume();
      let open = true;
      s.once('close', () => (open = false));
      for (let i = 0; open && !stopping; i = (i + 1) % longHello.length) {
        // A HELLO that never completes: only its first bytes, over and over.
        if (s.writable) s.write(longHello.subarray(i % 8, (i % 8) + 1));
        await sleep(everyMs);
      }
      s.destroy();
      sockets.delete(s);
      if (!stopping) await sleep(200);
    }
  };
  const slots = Array.from({ length: count }, () => slot());
  return {
    async stop() {
      stopping = true;
      for (const s of sockets) s.destroy();
      await Promise.all(slots);
    },
  };
}

test('hundreds of trickling connections from several addresses do not lock out a download', async (t) => {
  const { root, dl, data } = await servedFile(t, 'ft-slowloris-dl-', 1024 * 1024);
  const server = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--workers',
    '2',
    '--no-udp',
    '--max-connections',
    '200',
  ]);
  t.teardown(() => server.stop());
  const attackers = ['127.0.0.2', '127.0.0.3', '127.0.0.4', '127.0.0.5', '127.0.0.6'].map((a) =>
    trickleFrom(a, server.port, 60, 300),
  );
  t.teardown(() => Promise.all(attackers.map((a) => a.stop())));
  // 300 trickling connections for 200 places: wait until the server is full (refusing or shedding).
  t.true(
    await waitFor(() => /reason=max-connections |result=shed/.test(server.stderr()), 30_000),
    'the attack filled the server',
  );
  const r = await runFtget(
    ['get', 'f.bin', '-o', 'out.bin', '--host', '127.0.0.1', '--port', String(server.port)].concat([
      '--retries',
      '0',
    ]),
    { cwd: dl },
  );
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(dl, 'out.bin'))).equals(data));
});

test('a client that stops reading is cut within --idle-timeout, not after twice it', async (t) => {
  const server = await serve(t, ['--idle-timeout', '4']);
  const stalled = await stalledDownload(server.port);
  t.teardown(() => stalled.c.destroy());
  const stalledPort = stalled.c.socket.localPort;
  // Half an idle period later a second client goes quiet after its HELLO: its TIMEOUT comes
  // 1.5 idle periods after the first client stopped reading, so the first must be cut before.
  await sleep(2000);
  const quiet = await RawClient.connect(server.port);
  t.teardown(() => quiet.destroy());
  const quietPort = quiet.socket.localPort;
  await quiet.untilClosed(30_000);
  const line = (port: number | undefined) =>
    new RegExp(`connection peer=127\\.0\\.0\\.1:${port} .*result=timeout`);
  t.true(await waitFor(() => line(stalledPort).test(server.stderr()), 30_000));
  t.true(await waitFor(() => line(quietPort).test(server.stderr()), 30_000));
  const log = server.stderr();
  const stalledAt = log.search(line(stalledPort));
  const quietAt = log.search(line(quietPort));
  t.true(quietAt >= 0, 'the quiet client timed out');
  t.true(stalledAt < quietAt, 'the client that stopped reading was cut first');
});
