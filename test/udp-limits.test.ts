/**
 * UDP transfer limits from the command line: --udp-max-per-address and --udp-max-transfers turn
 * requests beyond them into ERROR(BUSY), and ftget retries a BUSY answer until a slot frees.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { CloseReason, DatagramType, WireError, decodeDatagram, encodeUdpClose } from '@ft/protocol';
import type { UdpServerMessage } from '@ft/protocol';
import { runFtget } from './helpers/ftget.js';
import { runFtserve, startFtserve } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { startUdpProxy } from './helpers/udp-proxy.js';
import { rawUdpClient } from './helpers/udp-raw.js';
import { servedFile } from './helpers/fixtures.js';

const SIZE = 200_000;

async function fixture(t: ExecutionContext, flags: string[]) {
  const { dir, root, dl, data } = await servedFile(t, 'ft-udpl-', SIZE);
  // A long liveness limit: the held transfer must outlive a slow ftget start on a busy machine.
  const server = await startFtserve(['--root', root, '--port', '0', '--workers', '1', ...flags], {
    env: { ...process.env, FT_UDP_LIVENESS_MS: '60000' },
  });
  t.teardown(() => server.stop('SIGKILL'));
  const raw = async () => {
    const c = await rawUdpClient(server.port);
    t.teardown(() => c.close());
    return c;
  };
  return { dir, dl, data, server, raw };
}

function accepted(m: UdpServerMessage): number {
  if (m.type !== DatagramType.ACCEPT) throw new Error(`expected ACCEPT, got ${m.type}`);
  return m.transferId;
}

test('beyond --udp-max-per-address a request gets BUSY; ftget retries and succeeds once a slot frees', async (t) => {
  const f = await fixture(t, ['--udp-max-per-address', '1']);
  const holder = await f.raw();
  const heldId = accepted(await holder.request('f.bin'));

  const other = await f.raw();
  const busy = await other.request('f.bin');
  t.is(busy.type, DatagramType.ERROR);
  if (busy.type !== DatagramType.ERROR) return;
  t.is(busy.code, WireError.BUSY);
  t.true(busy.retryAfterMs > 0);
  t.regex(busy.message, /from 127\.0\.0\.1 \(limit 1\)|from ::ffff:127\.0\.0\.1 \(limit 1\)/);

  // Without retries ftget gives up on BUSY with the network exit code.
  const refused = await runFtget(
    [
      'get',
      'f.bin',
      '--udp',
      '--host',
      '127.0.0.1',
      '--port',
      String(f.server.port),
      '--retries',
      '0',
      '-q',
      '-o',
      'refused',
    ],
    { cwd: f.dl, timeoutMs: 60_000 },
  );
  t.is(refused.code, 3, refused.stderr);
  t.regex(refused.stderr, /too many UDP transfers/);

  // With retries: the first answer is BUSY; then the holder lets go and a retry gets through.
  let busySeen = 0;
  const proxy = await startUdpProxy({
    target: { host: '127.0.0.1', port: f.server.port },
    observe: (direction, d) => {
      if (direction !== 'toClient' || d[2] !== DatagramType.ERROR) return;
      const m = decodeDatagram(d);
      if (m.type === DatagramType.ERROR && m.code === WireError.BUSY && busySeen++ === 0)
        holder.send(encodeUdpClose({ transferId: heldId, reason: CloseReason.CANCEL }));
    },
  });
  t.teardown(() => proxy.close());
  const r = await runFtget(
    [
      'get',
      'f.bin',
      '--udp',
      '--host',
      '127.0.0.1',
      '--port',
      String(proxy.port),
      '--retries',
      '5',
      '-q',
      '-o',
      'got',
    ],
    { cwd: f.dl, timeoutMs: 60_000 },
  );
  t.is(r.code, 0, r.stderr);
  t.true(busySeen >= 1, 'the first attempt was refused with BUSY');
  t.true((await readFile(join(f.dl, 'got'))).equals(f.data));
  t.true(
    await waitFor(
      () => /udp-transfer-end .*reason="receiver cancelled/.test(f.server.stderr()),
      10_000,
    ),
    f.server.stderr(),
  );
});

test('beyond --udp-max-transfers a request gets BUSY naming the server-wide limit', async (t) => {
  const f = await fixture(t, ['--udp-max-transfers', '1']);
  const holder = await f.raw();
  accepted(await holder.request('f.bin'));
  const other = await f.raw();
  const busy = await other.request('f.bin');
  t.is(busy.type, DatagramType.ERROR);
  if (busy.type !== DatagramType.ERROR) return;
  t.is(busy.code, WireError.BUSY);
  t.regex(busy.message, /too many UDP transfers \(limit 1\)/);
});

test('bad UDP limit values are usage errors (exit 2)', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ft-udpl-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  for (const args of [
    ['--udp-max-transfers', '0'],
    ['--udp-max-per-address', '-3'],
    ['--udp-max-per-address', 'lots'],
  ]) {
    const r = await runFtserve(['--root', dir, '--port', '0', ...args]);
    t.is(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    t.regex(r.stderr, /udp-max/);
    t.notRegex(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
