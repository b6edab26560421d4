/**
 * Floods of clean, aborted (before the request and in the middle of a body) and garbage
 * connections, then the process tree is checked where the connections were really held: in
 * the pre-forked pool the workers (the primary never holds a client socket), with
 * --fork-per-connection the primary and its children. No worker is replaced, no child is left
 * over beyond the spares, nobody is a zombie, and every process's descriptors are back at
 * their baseline.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { FrameType, WireError } from '@ft/protocol';
import type { Response } from '@ft/protocol';
import { serveRoot } from './helpers/ftserve.js';
import { childrenOf, fdCount, mostChildren, waitFor, zombieChildren } from './helpers/procfs.js';
import { fetchFile, rawConnection, stalledDownload } from './helpers/raw-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-flood-fds-'));
const small = randomBytes(4096);
writeFileSync(join(dir, 'small.bin'), small);
// Larger than what the kernel buffers on loopback, so an aborted download is cut mid-body.
writeFileSync(join(dir, 'big.bin'), randomBytes(16 * 1024 * 1024));

test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const garbage = Buffer.from('GET /small.bin HTTP/1.1\r\n\r\n'.repeat(4));

/** Starts downloading big.bin, takes the first body bytes, then resets (BUSY retried). */
async function abortedDownload(port: number, onBusy: () => void): Promise<boolean> {
  for (let attempt = 0; attempt < 400; attempt++) {
    try {
      const { c } = await stalledDownload(port);
      c.socket.resetAndDestroy();
      return true;
    } catch (error) {
      const frame = (error as { frame?: Response }).frame;
      if (frame?.type !== FrameType.ERROR || frame.code !== WireError.BUSY) throw error;
      onBusy();
      await new Promise((r) => setTimeout(r, Math.max(frame.retryAfterMs, 10)));
    }
  }
  return false;
}

/** Every kind of connection at once: `n` of each. */
async function flood(port: number, n: number, onBusy: () => void) {
  const [fetched, aborted] = await Promise.all([
    Promise.all(
      Array.from({ length: n }, () => fetchFile(port, 'small.bin', { attempts: 400, onBusy })),
    ),
    Promise.all(Array.from({ length: n }, () => abortedDownload(port, onBusy))),
    Promise.all(Array.from({ length: n }, () => rawConnection(port, undefined))),
    Promise.all(Array.from({ length: n }, () => rawConnection(port, garbage))),
  ]);
  return {
    served: fetched.filter((r) => r.ok && r.body.equals(small)).length,
    aborted: aborted.filter(Boolean).length,
  };
}

test('pre-forked pool: after a flood every worker is the same process, with its descriptors back at baseline; no zombies', async (t) => {
  const server = await serveRoot(t, dir, [
    '--no-udp',
    '--workers',
    '2',
    '--max-connections-per-ip',
    '1000',
  ]);
  t.true(await waitFor(() => childrenOf(server.pid).length === 2), 'two workers');
  const workers = childrenOf(server.pid).sort();
  // Whatever a worker opens once for good (log, digest store) is open after its first requests;
  // the baseline is taken once the warm-up's sockets are all closed (the counts stay put).
  await Promise.all(Array.from({ length: 20 }, () => fetchFile(server.port, 'small.bin')));
  const counts = (): string => [server.pid, ...workers].map(fdCount).join(' ');
  let last = counts();
  t.true(
    await waitFor(
      () => {
        const now = counts();
        const same = now === last;
        last = now;
        return same;
      },
      20_000,
      1000,
    ),
    'descriptor counts settle after the warm-up',
  );
  const baseline = new Map([server.pid, ...workers].map((pid) => [pid, fdCount(pid)]));
  const { served, aborted } = await flood(server.port, 40, () => {});
  t.is(served, 40);
  t.is(aborted, 40);
  t.deepEqual(childrenOf(server.pid).sort(), workers, 'no worker died or was replaced');
  // A leak shows as more descriptors than before (fewer: a warm-up socket was still closing).
  for (const [pid, fds] of baseline)
    t.true(
      await waitFor(() => fdCount(pid) <= fds),
      `${pid === server.pid ? 'primary' : `worker ${pid}`}: ${fdCount(pid)} descriptors, ${fds} before`,
    );
  t.deepEqual(zombieChildren(server.pid), []);
  t.notRegex(server.stderr(), /worker-exited|connection-failed/);
});

test('fork-per-connection: a flood with downloads cut mid-body never runs more than --max-children children; then the spares only, no zombies, descriptors at baseline', async (t) => {
  const server = await serveRoot(t, dir, [
    '--no-udp',
    '--fork-per-connection',
    '--max-children',
    '3',
    '--max-connections-per-ip',
    '1000',
  ]);
  t.true(await waitFor(() => childrenOf(server.pid).length === 2), 'two spares started');
  const baseline = fdCount(server.pid);
  const children = mostChildren(server.pid, 2);
  let busy = 0;
  const { served, aborted } = await flood(server.port, 12, () => busy++);
  const most = await children.stop();
  t.is(served, 12);
  t.is(aborted, 12);
  t.true(busy > 0, 'clients over the cap were told BUSY');
  t.true(most >= 1 && most <= 3, `saw ${most} children at once`);
  t.true(
    await waitFor(
      () => zombieChildren(server.pid).length === 0 && childrenOf(server.pid).length === 2,
    ),
    `children: ${childrenOf(server.pid).join(' ')}`,
  );
  t.true(
    await waitFor(() => fdCount(server.pid) === baseline),
    `fds ${fdCount(server.pid)} vs ${baseline}`,
  );
  // The spares left are fresh children: each holds only what a waiting child holds.
  const spareFds = (): number[] => childrenOf(server.pid).map(fdCount);
  t.true(
    await waitFor(() => spareFds().every((n) => n === spareFds()[0])),
    `spares hold ${spareFds().join(', ')} descriptors`,
  );
  t.deepEqual(zombieChildren(server.pid), []);
});
