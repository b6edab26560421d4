/**
 * Graceful shutdown of the UDP service: on SIGTERM ftserve refuses new UDP transfers (BUSY) but
 * lets running ones finish within --grace; what is still running after it is ended, and its
 * client is told (BUSY) instead of waiting out the liveness limit.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { DatagramType, WireError } from '@ft/protocol';
import { spawnFtget } from './helpers/ftget.js';
import { startFtserve } from './helpers/ftserve.js';
import { waitFor } from './helpers/procfs.js';
import { startUdpProxy } from './helpers/udp-proxy.js';
import type { UdpProxy } from './helpers/udp-proxy.js';
import { rawUdpClient } from './helpers/udp-raw.js';

const PAYLOAD = 1200;
const SIZE = 3 * 1024 * 1024 + 5;

async function fixture(t: ExecutionContext, grace: number) {
  const dir = await mkdtemp(join(tmpdir(), 'ft-udps-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'srv');
  const dl = join(dir, 'dl');
  await mkdir(root);
  await mkdir(dl);
  const data = randomBytes(SIZE);
  await writeFile(join(root, 'f.bin'), data);
  const server = await startFtserve([
    '--root', root, '--port', '0', '--workers', '1', '--grace', String(grace),
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
      ['get', 'f.bin', '--udp', '--host', '127.0.0.1', '--port', String(proxy.port), '-q', '--retries', '0'],
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
  t.is(exit.code, 0);
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
  t.is(exit.code, 0);
  t.regex(f.server.stderr(), /udp-transfer-end .*reason="server shutting down"/);
  const r = await run.result;
  t.is(r.code, 3, r.stderr);
  t.regex(r.stderr, /shutting down/);
});
