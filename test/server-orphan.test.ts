/**
 * Workers whose primary dies (SIGKILL: no shutdown message) must not linger: they stop
 * accepting, let running transfers finish within --grace, cut the rest, and exit.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FrameType } from '@ft/protocol';
import { FTSERVE_BIN, startFtserve } from './helpers/ftserve.js';
import { childrenOf, stateOf, waitFor } from './helpers/procfs.js';
import { finishStalled, stalledDownload } from './helpers/raw-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-orphan-'));
const BIG = 32 * 1024 * 1024;

test.before(() => {
  writeFileSync(join(dir, 'big.bin'), '');
  truncateSync(join(dir, 'big.bin'), BIG);
});

test.after.always(() => rmSync(dir, { recursive: true, force: true }));

function alive(pid: number): boolean {
  const s = stateOf(pid);
  return s !== undefined && s !== 'Z';
}

function refusesConnections(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code === 'ECONNREFUSED'));
  });
}

/** Starts a one-worker server, stalls a download on it, SIGKILLs the primary; returns the orphan. */
async function orphanWithTransfer(grace: number) {
  const server = await startFtserve([
    '--root',
    dir,
    '--port',
    '0',
    '--no-udp',
    '--workers',
    '1',
    '--grace',
    String(grace),
  ]);
  const workers = childrenOf(server.pid);
  const worker = workers[0]!;
  const { c, first } = await stalledDownload(server.port);
  server.child.kill('SIGKILL');
  await server.exited;
  return { server, worker, workers, c, first };
}

test('an orphaned worker cuts a stalled transfer when --grace ends, stops accepting, and exits', async (t) => {
  const { worker, workers, c, server } = await orphanWithTransfer(1);
  t.teardown(() => {
    c.destroy();
    if (alive(worker)) process.kill(worker, 'SIGKILL');
  });
  t.is(workers.length, 1);
  t.true(await waitFor(() => !alive(worker), 30_000), `worker ${worker} still alive`);
  c.socket.resume();
  const events = await c.untilClosed();
  t.false(events.some((e) => e.kind === 'message' && e.message.type === FrameType.END));
  t.true(await refusesConnections(server.port), 'nobody listens on the port any more');
});

test('an orphaned worker lets a transfer finish within --grace, then exits', async (t) => {
  const { worker, c, first } = await orphanWithTransfer(60);
  t.teardown(() => {
    c.destroy();
    if (alive(worker)) process.kill(worker, 'SIGKILL');
  });
  t.true(alive(worker), 'the worker is still serving its transfer');
  const rest = await finishStalled(c, first);
  t.is(rest.bytes, BIG);
  t.true(rest.endOk);
  t.true(await waitFor(() => !alive(worker), 30_000), `worker ${worker} still alive`);
});

/** True if `pid`'s environment holds `name` (the UDP service is told its config that way). */
function hasEnv(pid: number, name: string): boolean {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1')
      .split('\0')
      .some((e) => e.startsWith(`${name}=`));
  } catch {
    return false;
  }
}

test('a UDP service process whose primary is SIGKILLed while it starts up exits too', async (t) => {
  // The window: the service process is forked but has not bound its socket yet. The primary
  // is killed the moment the process appears, 5 times over.
  for (let round = 0; round < 5; round++) {
    const primary = spawn(process.execPath, [FTSERVE_BIN, '--root', dir, '--port', '0'], {
      stdio: 'ignore',
    });
    const pid = primary.pid!;
    let udp: number | undefined;
    const seen = await waitFor(
      () => {
        udp = childrenOf(pid).find((c) => hasEnv(c, 'FTSERVE_UDP_CONFIG'));
        return udp !== undefined;
      },
      15_000,
      5,
    );
    const others = childrenOf(pid);
    primary.kill('SIGKILL');
    t.true(seen, 'the UDP service process started');
    if (udp === undefined) return;
    const gone = await waitFor(() => !alive(udp!), 15_000);
    for (const c of [...others, udp]) if (alive(c)) process.kill(c, 'SIGKILL');
    t.true(gone, `round ${round}: the UDP service process ${udp} outlived its primary`);
  }
});
