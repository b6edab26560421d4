/**
 * Graceful shutdown of the UDP service: on SIGTERM ftserve refuses new UDP transfers (BUSY) but
 * lets running ones finish within --grace; what is still running after it is ended, and its
 * client is told (BUSY) instead of waiting out the liveness limit.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { DatagramType, WireError } from '@ft/protocol';
import { runFtget, spawnFtget } from './helpers/ftget.js';
import { parseListeningLine, runFtserve, startFtserve } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { startUdpProxy } from './helpers/udp-proxy.js';
import type { UdpProxy } from './helpers/udp-proxy.js';
import { rawUdpClient } from './helpers/udp-raw.js';
import { servedFile } from './helpers/fixtures.js';

const PAYLOAD = 1200;
const SIZE = 3 * 1024 * 1024 + 5;

async function fixture(t: ExecutionContext, grace: number) {
  const { root, dl, data } = await servedFile(t, 'ft-udps-', SIZE);
  const server = await startFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--workers',
    '1',
    '--grace',
    String(grace),
  ]);
  t.teardown(() => server.stop('SIGKILL'));
  /** Starts ftget through a proxy; `onData(n, proxy)` sees the n-th DATA datagram. */
  const download = async (onData: (n: number, proxy: UdpProxy) => void) => {
    let n = 0;
    const proxy: UdpProxy = await startUdpProxy({
      target: { host: '127.0.0.1', port: server.port },
      observe: (direction, d) => {
        if (direction === 'toClient' && d[2] === DatagramType.DATA) onData(++n, proxy);
      },
    });
    t.teardown(() => proxy.close());
    const run = spawnFtget(
      [
        'get',
        'f.bin',
        '--udp',
        '--host',
        '127.0.0.1',
        '--port',
        String(proxy.port),
        '-q',
        '--retries',
        '0',
      ],
      { cwd: dl, env: { ...process.env, FT_UDP_PAYLOAD: String(PAYLOAD) }, timeoutMs: 90_000 },
    );
    t.teardown(() => run.child.kill('SIGKILL'));
    return run;
  };
  return { dl, data, server, download };
}

test('SIGTERM refuses new UDP transfers but lets a running one finish within --grace', async (t) => {
  const f = await fixture(t, 30);
  let signalled = false;
  const run = await f.download((n, proxy) => {
    if (n !== 300 || signalled) return;
    signalled = true;
    f.server.child.kill('SIGTERM');
    // Hold the running transfer up so the drain is still going on while we knock.
    proxy.blackHole(4000);
  });
  t.true(await waitFor(() => /udp-draining/.test(f.server.stderr()), 30_000), f.server.stderr());
  const late = await rawUdpClient(f.server.port);
  t.teardown(() => late.close());
  const answer = await late.request('f.bin');
  t.is(answer.type, DatagramType.ERROR);
  if (answer.type === DatagramType.ERROR) {
    t.is(answer.code, WireError.BUSY);
    t.regex(answer.message, /shutting down/);
  }
  const r = await run.result;
  t.is(r.code, 0, r.stderr);
  t.true((await readFile(join(f.dl, 'f.bin'))).equals(f.data));
  const exit = await f.server.exited;
  t.is(exit.signal, 'SIGTERM');
  t.regex(f.server.stderr(), /udp-transfer-end .*reason=done/);
});

test('a UDP transfer still running when --grace runs out is ended and its client told BUSY', async (t) => {
  const f = await fixture(t, 1);
  let signalled = false;
  const run = await f.download((n, proxy) => {
    if (n !== 300 || signalled) return;
    signalled = true;
    // The client's ACKs no longer arrive: the transfer cannot finish within the grace period.
    proxy.setImpairment('toServer', { drop: 1 });
    f.server.child.kill('SIGTERM');
  });
  const exit = await f.server.exited;
  t.is(exit.signal, 'SIGTERM');
  t.regex(f.server.stderr(), /udp-transfer-end .*reason="server shutting down"/);
  const r = await run.result;
  t.is(r.code, 3, r.stderr);
  t.regex(r.stderr, /shutting down/);
});

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

test('under --daemon the UDP service serves, and stops with the daemon', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ft-udpd-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'srv');
  await mkdir(root);
  const data = randomBytes(300_000);
  await writeFile(join(root, 'f.bin'), data);
  const pidFile = join(dir, 'ftserve.pid');
  const logFile = join(dir, 'daemon.log');
  const r = await runFtserve([
    '--root',
    root,
    '--port',
    '0',
    '--workers',
    '1',
    '--daemon',
    '--pid-file',
    pidFile,
    '--log-file',
    logFile,
    '--udp-max-per-address',
    '2',
  ]);
  t.is(r.code, 0, r.stderr);
  const line = parseListeningLine(r.stdout.split('\n')[0]!);
  if (line === undefined) return t.fail(`no listening line: ${r.stdout}`);
  t.teardown(() => {
    if (alive(line.pid)) process.kill(line.pid, 'SIGKILL');
  });
  t.not(line.udp, 'off');
  const got = await runFtget(
    [
      'get',
      'f.bin',
      '--udp',
      '--host',
      '127.0.0.1',
      '--port',
      String(line.port),
      '-q',
      '-o',
      join(dir, 'got'),
    ],
    { timeoutMs: 60_000 },
  );
  t.is(got.code, 0, got.stderr);
  t.true((await readFile(join(dir, 'got'))).equals(data));
  process.kill(line.pid, 'SIGTERM');
  t.true(await waitFor(() => !alive(line.pid) && !existsSync(pidFile), 30_000), 'daemon stopped');
  const log = await readFile(logFile, 'utf8');
  t.regex(log, /udp-transfer-end .*reason=done/);
  const udpPid = /ftserve\[(\d+)\] udp-stopped/.exec(log);
  t.truthy(udpPid, log);
  if (udpPid !== null) t.false(alive(Number(udpPid[1])), 'the UDP service process is gone too');
});
