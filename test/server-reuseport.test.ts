/**
 * Prefork listening sockets: by default one SO_REUSEPORT socket per worker (the kernel picks
 * the worker of each connection), with --no-reuseport one socket all workers share. Either way
 * every worker serves, a killed worker's place is taken by a new one without losing the
 * connections the kernel queued for it, and a port another server holds is refused.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { runFtserve, serveRoot } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { childrenOf, fdCount, stateOf, waitFor, zombieChildren } from './helpers/procfs.js';
import { fetchFile } from './helpers/raw-client.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-reuseport-'));
const content = randomBytes(4096);
writeFileSync(join(dir, 'file.bin'), content);

test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** Pids of the processes that logged a transfer of file.bin. */
function servingPids(server: Ftserve): Set<number> {
  const pids = new Set<number>();
  for (const m of server.stderr().matchAll(/ftserve\[(\d+)\] transfer .*path=file\.bin/g))
    pids.add(Number(m[1]));
  return pids;
}

function transfers(server: Ftserve): number {
  return [...server.stderr().matchAll(/ transfer .*path=file\.bin.*result=OK/g)].length;
}

test('with SO_REUSEPORT (the default) the log says so and both workers serve connections', async (t) => {
  const server = await serveRoot(t, dir, ['--no-udp', '--workers', '2', '--host', '127.0.0.1']);
  t.true(
    await waitFor(() =>
      /listening .*model=prefork workers=2 sockets=reuseport/.test(server.stderr()),
    ),
    server.stderr(),
  );
  const workers = childrenOf(server.pid);
  t.is(workers.length, 2);
  // The kernel spreads connections over the sockets by a hash of their addresses and ports:
  // 40 connections from fresh ports all landing on one worker has odds of 2^-39.
  for (let i = 0; i < 40; i++) {
    const r = await fetchFile(server.port, 'file.bin');
    t.true(r.ok && r.body.equals(content));
  }
  t.true(await waitFor(() => transfers(server) === 40), `${transfers(server)} transfers logged`);
  t.deepEqual(
    [...servingPids(server)].sort(),
    [...workers].sort(),
    'every worker served some of the connections',
  );
});

test('a SIGKILLed worker is replaced on its socket: connections queued meanwhile are served, no zombies, descriptors at baseline', async (t) => {
  const server = await serveRoot(t, dir, ['--no-udp', '--workers', '2', '--host', '127.0.0.1']);
  const before = childrenOf(server.pid);
  const baseline = fdCount(server.pid);
  const victim = before[0]!;
  process.kill(victim, 'SIGKILL');
  // Gone (reaped by the primary), and its replacement perhaps not started yet: the connections
  // the kernel hashes to its socket wait in that socket's queue, which the primary holds.
  t.true(await waitFor(() => stateOf(victim) === undefined), 'the victim was reaped');
  const results = await Promise.all(
    Array.from({ length: 20 }, () => fetchFile(server.port, 'file.bin')),
  );
  t.is(results.filter((r) => r.ok && r.body.equals(content)).length, 20);
  t.true(
    await waitFor(() => {
      const now = childrenOf(server.pid);
      return now.length === 2 && !now.includes(victim) && zombieChildren(server.pid).length === 0;
    }),
    `children now: ${childrenOf(server.pid).join(' ')}`,
  );
  const replacement = childrenOf(server.pid).find((pid) => !before.includes(pid))!;
  // The replacement took over the victim's socket: it serves too.
  for (let i = 0; i < 40 && !servingPids(server).has(replacement); i++) {
    const r = await fetchFile(server.port, 'file.bin');
    t.true(r.ok && r.body.equals(content));
    await waitFor(() => transfers(server) >= 21 + i);
  }
  t.true(servingPids(server).has(replacement), 'the replacement worker serves');
  t.regex(server.stderr(), /worker-exited .*signal=SIGKILL/);
  t.true(
    await waitFor(() => fdCount(server.pid) === baseline),
    `fds ${fdCount(server.pid)} vs ${baseline}`,
  );
});

test('--no-reuseport: one shared socket, and the workers serve from it', async (t) => {
  const server = await serveRoot(t, dir, ['--no-udp', '--workers', '2', '--no-reuseport']);
  t.true(
    await waitFor(() => /listening .*model=prefork workers=2 sockets=shared/.test(server.stderr())),
    server.stderr(),
  );
  const results = await Promise.all(
    Array.from({ length: 20 }, () => fetchFile(server.port, 'file.bin', { host: '127.0.0.1' })),
  );
  t.is(results.filter((r) => r.ok && r.body.equals(content)).length, 20);
  t.true(await waitFor(() => transfers(server) === 20));
  for (const pid of servingPids(server)) t.true(childrenOf(server.pid).includes(pid));
});

test('all interfaces by default: the SO_REUSEPORT sockets are dual stack ("::") and IPv4 clients get in', async (t) => {
  const server = await serveRoot(t, dir, ['--no-udp', '--workers', '2']);
  t.true(await waitFor(() => /sockets=reuseport/.test(server.stderr())), server.stderr());
  t.true(server.host === '::' || server.host === '0.0.0.0', server.host);
  for (let i = 0; i < 6; i++) {
    const r = await fetchFile(server.port, 'file.bin', { host: '127.0.0.1' });
    t.true(r.ok && r.body.equals(content));
  }
});

test('a port held by a server with SO_REUSEPORT sockets is refused to a second one, which exits 3', async (t) => {
  const first = await serveRoot(t, dir, ['--no-udp', '--workers', '2', '--host', '127.0.0.1']);
  t.true(await waitFor(() => /sockets=reuseport/.test(first.stderr())), first.stderr());
  const second = await runFtserve([
    '--root',
    dir,
    '--no-udp',
    '--workers',
    '2',
    '--host',
    '127.0.0.1',
    '--port',
    String(first.port),
  ]);
  t.is(second.code, 3);
  t.regex(second.stderr, /^ftserve: cannot listen on .*address already in use\n$/);
  const r = await fetchFile(first.port, 'file.bin', { host: '127.0.0.1' });
  t.true(r.ok && r.body.equals(content));
});
