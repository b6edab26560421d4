import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FrameType, WireError, encodeHello } from '@ft/protocol';
import { sparseFile } from './helpers/fixtures.js';
import { serveRoot, startFtserve } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { RawClient } from './helpers/raw-client.js';
import type { ClientEvent } from './helpers/raw-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-limits-'));
const small = randomBytes(10_000);
const BIG = 64 * 1024 * 1024;
let server: Ftserve;

test.before(async () => {
  writeFileSync(join(dir, 'small.bin'), small);
  await sparseFile(join(dir, 'big.bin'), BIG);
  server = await startFtserve([
    '--root',
    dir,
    '--port',
    '0',
    '--workers',
    '1',
    '--idle-timeout',
    '1',
  ]);
});

test.after.always(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function connectionError(events: ClientEvent[]): { requestId: number; code: number } | undefined {
  // The last frame: a valid HELLO before the bad frame gets its WELCOME first (PROTOCOL.md §5.4).
  const m = events.filter((e) => e.kind === 'message').at(-1);
  return m?.kind === 'message' && m.message.type === FrameType.ERROR ? m.message : undefined;
}

async function downloadWorks(port = server.port): Promise<boolean> {
  const c = await RawClient.connect(port);
  try {
    const r = await c.get({ path: 'small.bin', offset: 0 });
    return r.ok && r.body.equals(small);
  } finally {
    c.destroy();
  }
}

test('a client that connects and sends nothing gets TIMEOUT and is closed; others are served meanwhile', async (t) => {
  const idle = await RawClient.connect(server.port, { hello: false });
  t.teardown(() => idle.destroy());
  t.true(await downloadWorks());
  const events = await idle.untilClosed();
  t.like(connectionError(events), { requestId: 0, code: WireError.TIMEOUT });
});

test('a client that goes quiet after HELLO gets TIMEOUT and is closed', async (t) => {
  const quiet = await RawClient.connect(server.port);
  t.teardown(() => quiet.destroy());
  const r = await quiet.get({ path: 'small.bin', offset: 0 });
  t.true(r.ok);
  const events = await quiet.untilClosed();
  t.like(connectionError(events), { requestId: 0, code: WireError.TIMEOUT });
});

test('a client that stops reading mid-body is cut off without affecting others', async (t) => {
  const slow = await RawClient.connect(server.port);
  t.teardown(() => slow.destroy());
  slow.sendGet({ path: 'big.bin', offset: 0 });
  slow.socket.pause();
  const port = slow.socket.localPort;
  t.true(await downloadWorks());
  t.true(
    await waitFor(
      () =>
        new RegExp(`connection peer=127\\.0\\.0\\.1:${port} .*result=timeout`).test(
          server.stderr(),
        ),
      30_000,
    ),
    'the server logged the timeout',
  );
  slow.socket.resume();
  let bytes = 0;
  const events = await slow.untilClosed();
  for (const e of events) if (e.kind === 'data') bytes += e.chunk.length;
  t.true(bytes < BIG, `got ${bytes} bytes of ${BIG}`);
  t.false(events.some((e) => e.kind === 'message' && e.message.type === FrameType.END));
  t.true(await downloadWorks());
});

for (const [name, bytes, code] of [
  ['random bytes', randomBytes(200), WireError.BAD_REQUEST],
  ['an HTTP request', Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), WireError.BAD_REQUEST],
  [
    'a HELLO followed by an unknown frame type',
    Buffer.concat([
      encodeHello({ minVersion: 1, maxVersion: 1, name: 'x' }),
      Buffer.from([0x55, 0, 0, 0, 0, 0]),
    ]),
    WireError.BAD_REQUEST,
  ],
  [
    'a HELLO with an oversized length',
    Buffer.from([FrameType.HELLO, 0, 0xff, 0xff, 0xff, 0xff]),
    WireError.TOO_LARGE,
  ],
  [
    'a HELLO for an unsupported version',
    encodeHello({ minVersion: 7, maxVersion: 9, name: 'future' }),
    WireError.UNSUPPORTED_VERSION,
  ],
] as const) {
  test(`a client sending ${name} gets a connection-level error and is closed`, async (t) => {
    const c = await RawClient.connect(server.port, { hello: false });
    t.teardown(() => c.destroy());
    c.send(bytes);
    const events = await c.untilClosed();
    t.like(connectionError(events), { requestId: 0, code });
    t.true(await downloadWorks());
  });
}

test('--max-connections-per-ip refuses the extra connection with BUSY and a retry-after hint', async (t) => {
  const limited = await serveRoot(t, dir, ['--workers', '1', '--max-connections-per-ip', '2']);
  const a = await RawClient.connect(limited.port);
  const b = await RawClient.connect(limited.port);
  t.teardown(() => {
    a.destroy();
    b.destroy();
  });
  const c = await RawClient.connect(limited.port, { hello: false });
  t.teardown(() => c.destroy());
  const events = await c.untilClosed();
  const refusal = events.find((e) => e.kind === 'message');
  t.true(refusal?.kind === 'message' && refusal.message.type === FrameType.ERROR);
  if (refusal?.kind === 'message' && refusal.message.type === FrameType.ERROR) {
    t.is(refusal.message.code, WireError.BUSY);
    t.true(refusal.message.retryAfterMs > 0);
  }
  a.destroy();
  let served = false;
  for (let i = 0; i < 100 && !served; i++) {
    served = await downloadWorks(limited.port).catch(() => false);
    if (!served) await new Promise((r) => setTimeout(r, 50));
  }
  t.true(served, 'a slot freed up after a connection closed');
  t.regex(limited.stderr(), /refused .*reason=max-connections-per-ip/);
});
