/**
 * UDP under hostile conditions, end to end with real processes: handshake loss, duplication
 * and reordering, corruption, black holes short and long, a reflector attempt, a stranger's
 * datagrams injected into a transfer, and many transfers at once.
 */
import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { utimesSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import {
  CloseReason,
  DatagramType,
  EndStatus,
  decodeDatagram,
  encodeUdpAck,
  encodeUdpClose,
  encodeUdpRequest,
  encodeUdpStat,
} from '@ft/protocol';
import { runFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { startUdpProxy } from './helpers/udp-proxy.js';
import type { UdpProxyOptions } from './helpers/udp-proxy.js';

const PAYLOAD = 1200;
const SIZE = 3 * 1024 * 1024 + 99;

async function fixture(t: ExecutionContext, env: NodeJS.ProcessEnv = {}) {
  const dir = await mkdtemp(join(tmpdir(), 'ft-udpf-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'srv');
  const dl = join(dir, 'dl');
  await mkdir(root);
  await mkdir(dl);
  const data = randomBytes(SIZE);
  await writeFile(join(root, 'f.bin'), data);
  await writeFile(join(root, 'small.bin'), data.subarray(0, 5000));
  const server = await startFtserve(['--root', root, '--port', '0', '--workers', '1'], {
    env: { ...process.env, ...env },
  });
  t.teardown(() => server.stop('SIGKILL'));
  const get = (port: number, name: string, args: string[] = [], out = name) =>
    runFtget(
      [
        'get',
        name,
        '--udp',
        '--host',
        '127.0.0.1',
        '--port',
        String(port),
        '-q',
        '-o',
        out,
        ...args,
      ],
      {
        cwd: dl,
        env: { ...process.env, FT_UDP_PAYLOAD: String(PAYLOAD), ...env },
        timeoutMs: 100_000,
      },
    );
  const withProxy = async (options: Omit<UdpProxyOptions, 'target'>) => {
    const p = await startUdpProxy({ ...options, target: { host: '127.0.0.1', port: server.port } });
    t.teardown(() => p.close());
    return p;
  };
  return { dir, root, dl, data, server, get, withProxy };
}

test('30% loss in each direction during the handshake is survived', async (t) => {
  const f = await fixture(t);
  for (const seed of [1, 2, 3]) {
    const p = await f.withProxy({ seed, initialDrop: { count: 12, rate: 0.3 } });
    const r = await f.get(p.port, 'small.bin', [], `small-${seed}`);
    t.is(r.code, 0, r.stderr);
    t.true((await readFile(join(f.dl, `small-${seed}`))).equals(f.data.subarray(0, 5000)));
    t.true(p.stats.toServer.dropped + p.stats.toClient.dropped > 0, `seed ${seed} dropped nothing`);
  }
});

test('duplicated and reordered datagrams in both directions still give identical bytes', async (t) => {
  const f = await fixture(t);
  const imp = { duplicate: 0.1, reorder: 0.1, reorderMs: 4 };
  const p = await f.withProxy({ seed: 9, toServer: imp, toClient: imp });
  const r = await f.get(p.port, 'f.bin');
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(f.dl, 'f.bin'))).equals(f.data));
  t.true(p.stats.toClient.duplicated > 0 && p.stats.toClient.reordered > 0);
});

test('corrupted datagrams are detected and dropped, never written', async (t) => {
  const f = await fixture(t);
  const p = await f.withProxy({
    seed: 5,
    toServer: { corrupt: 0.05 },
    toClient: { corrupt: 0.05 },
  });
  const r = await f.get(p.port, 'f.bin');
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(f.dl, 'f.bin'))).equals(f.data));
  t.true(p.stats.toClient.corrupted > 10);
});

test('a 3-second black hole in the middle of a transfer is recovered from', async (t) => {
  const f = await fixture(t);
  let data = 0;
  let holed = false;
  const p = await f.withProxy({
    seed: 3,
    observe: (direction, d) => {
      if (direction !== 'toClient' || d[2] !== DatagramType.DATA || holed) return;
      if (++data === 500) {
        holed = true;
        p.blackHole(3000);
      }
    },
  });
  const r = await f.get(p.port, 'f.bin');
  t.is(r.code, 0, r.stderr);
  t.true(holed);
  t.true((await readFile(join(f.dl, 'f.bin'))).equals(f.data));
  t.true(p.stats.toClient.dropped > 0);
});

test('a black hole longer than the liveness limit ends the transfer on both sides with exit code 3', async (t) => {
  const f = await fixture(t, { FT_UDP_LIVENESS_MS: '1500' });
  let data = 0;
  const p = await f.withProxy({
    seed: 4,
    observe: (direction, d) => {
      if (direction === 'toClient' && d[2] === DatagramType.DATA && ++data === 300)
        p.blackHole(120_000);
    },
  });
  const started = performance.now();
  const r = await f.get(p.port, 'f.bin', ['--retries', '0']);
  const took = performance.now() - started;
  t.is(r.code, 3, r.stderr);
  t.regex(r.stderr, /no datagram|UDP/);
  // The server frees the transfer too, and says why.
  t.true(
    await waitFor(
      () => /udp-transfer-end .*reason="receiver silent/.test(f.server.stderr()),
      20_000,
    ),
    f.server.stderr(),
  );
  t.log(`client gave up after ${Math.round(took)} ms`);
});

test('an unvalidated request gets at most 3 times its size back (no amplification)', async (t) => {
  const f = await fixture(t);
  const sock = createSocket('udp4');
  t.teardown(() => new Promise<void>((resolve) => sock.close(() => resolve())));
  let received = 0;
  const answers: number[] = [];
  sock.on('message', (m) => {
    received += m.length;
    answers.push(m[2]!);
  });
  await new Promise<void>((resolve) => sock.bind(0, '127.0.0.1', () => resolve()));
  const request = encodeUdpRequest({
    nonce: 7,
    path: 'f.bin',
    offset: 0,
    wantDigests: true,
    maxPayload: 65000,
    window: 64 * 1024 * 1024,
    token: Buffer.alloc(0),
  });
  const stat = encodeUdpStat({ nonce: 8, path: 'f.bin', wantDigest: true, token: Buffer.alloc(0) });
  const forged = Buffer.from(request);
  forged[1] = 2; // a future version
  const garbage = randomBytes(40);
  let sent = 0;
  for (let i = 0; i < 20; i++) {
    for (const d of [request, stat, forged, garbage]) {
      sock.send(d, f.server.port, '127.0.0.1');
      sent += d.length;
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 1000));
  t.true(received <= 3 * sent, `sent ${sent}, received ${received}`);
  t.true(answers.length > 0);
  // Without a token nothing but RETRY (and version errors) comes back: no file data, no ACCEPT.
  t.deepEqual([...new Set(answers)].sort(), [DatagramType.RETRY, DatagramType.ERROR].sort());
});

test("a stranger's datagrams aimed at a transfer do not disturb it", async (t) => {
  const f = await fixture(t);
  const stranger = createSocket('udp4');
  t.teardown(() => new Promise<void>((resolve) => stranger.close(() => resolve())));
  await new Promise<void>((resolve) => stranger.bind(0, '127.0.0.1', () => resolve()));
  let transferId = 0;
  let injected = 0;
  let data = 0;
  const p = await f.withProxy({
    seed: 8,
    observe: (direction, d) => {
      if (direction !== 'toClient') return;
      if (d[2] === DatagramType.ACCEPT) {
        const m = decodeDatagram(d);
        if (m.type === DatagramType.ACCEPT) transferId = m.transferId;
      }
      if (d[2] === DatagramType.DATA && transferId !== 0 && ++data % 100 === 0) {
        // The stranger knows the transfer id (as an on-path observer would) but not the address.
        for (const forged of [
          encodeUdpClose({ transferId, reason: CloseReason.CANCEL }),
          encodeUdpAck({ transferId, cumulative: 0, windowEnd: SIZE, tsEcho: 1, ranges: [] }),
          encodeUdpAck({ transferId, cumulative: 0, windowEnd: 0, tsEcho: 1, ranges: [] }),
          randomBytes(100),
        ]) {
          stranger.send(forged, f.server.port, '127.0.0.1');
          injected++;
        }
      }
    },
  });
  const r = await f.get(p.port, 'f.bin');
  t.is(r.code, 0, r.stderr);
  t.true(injected > 0);
  t.true((await readFile(join(f.dl, 'f.bin'))).equals(f.data));
});

test('many concurrent UDP transfers all complete', async (t) => {
  const f = await fixture(t);
  const n = 10;
  const results = await Promise.all(
    Array.from({ length: n }, (_, i) => f.get(f.server.port, 'f.bin', [], `copy-${i}`)),
  );
  for (const [i, r] of results.entries()) {
    t.is(r.code, 0, `copy ${i}: ${r.stderr}`);
    t.true((await readFile(join(f.dl, `copy-${i}`))).equals(f.data), `copy ${i}`);
  }
});

test('a file modified during a UDP transfer ends with FIN status CHANGED', async (t) => {
  const f = await fixture(t);
  const file = join(f.root, 'f.bin');
  const fins: number[] = [];
  let touched = false;
  const p = await f.withProxy({
    seed: 11,
    observe: (direction, d) => {
      if (direction !== 'toClient') return;
      if (d[2] === DatagramType.DATA && !touched) {
        // A writer touches the file while it is being sent (new mtime and ctime, same bytes).
        touched = true;
        utimesSync(file, new Date(), new Date(Date.now() + 60_000));
      }
      if (d[2] === DatagramType.FIN) {
        const m = decodeDatagram(d);
        if (m.type === DatagramType.FIN) fins.push(m.status);
      }
    },
  });
  const r = await f.get(p.port, 'f.bin');
  t.true(touched);
  t.true(fins.length > 0, 'a FIN was sent');
  t.is(fins[0], EndStatus.CHANGED, 'the first FIN says the file changed');
  // Only metadata changed: the client checks the content and keeps what it has.
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(f.dl, 'f.bin'))).equals(f.data));
});
