/**
 * With --exclusive-accept, prefork workers poll the one shared listening socket with
 * EPOLLEXCLUSIVE (one idle worker wakes per new connection: sys/epoll-exclusive.ts); by default
 * they poll it as libuv registered it. The registration is read from /proc (the worker's eventpoll fdinfo),
 * not inferred from timing. Either way every connection is served and logged, and a killed
 * worker's replacement registers the same way.
 */
import { randomBytes } from 'node:crypto';
import {
  mkdtempSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { serveRoot } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { childrenOf, fdCount, stateOf, waitFor, zombieChildren } from './helpers/procfs.js';
import { fetchFile } from './helpers/raw-client.js';

const EPOLLEXCLUSIVE = 1 << 28;
const dir = mkdtempSync(join(tmpdir(), 'ft-exclusive-'));
const content = randomBytes(4096);
writeFileSync(join(dir, 'file.bin'), content);

test.after.always(() => rmSync(dir, { recursive: true, force: true }));

/** Socket inodes of the TCP sockets listening on `port` (state 0A in /proc/net/tcp and tcp6). */
function listeningInodes(port: number): Set<string> {
  const out = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = readFileSync(table, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue;
      if (parseInt(f[1]!.split(':')[1]!, 16) === port) out.add(f[9]!);
    }
  }
  return out;
}

/** The epoll events with which process `pid` polls the socket listening on `port`, one per epoll entry. */
function listeningPollEvents(pid: number, port: number): number[] {
  const inodes = listeningInodes(port);
  const events: number[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let info: string;
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== 'anon_inode:[eventpoll]') continue;
      info = readFileSync(`/proc/${pid}/fdinfo/${fd}`, 'utf8');
    } catch {
      continue;
    }
    for (const m of info.matchAll(/^tfd:\s+(\d+)\s+events:\s+([0-9a-f]+)/gm)) {
      let target: string;
      try {
        target = readlinkSync(`/proc/${pid}/fd/${m[1]}`);
      } catch {
        continue;
      }
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
      if (inode !== undefined && inodes.has(inode)) events.push(parseInt(m[2]!, 16));
    }
  }
  return events;
}

/** Every worker polls the listening socket once, and with EPOLLEXCLUSIVE iff `exclusive`. */
function workersPoll(server: Ftserve, exclusive: boolean): boolean {
  const workers = childrenOf(server.pid);
  return (
    workers.length > 0 &&
    workers.every((pid) => {
      const events = listeningPollEvents(pid, server.port);
      return events.length === 1 && ((events[0]! & EPOLLEXCLUSIVE) !== 0) === exclusive;
    })
  );
}

function connectionsLogged(server: Ftserve): number {
  return [...server.stderr().matchAll(/ connection peer=.* requests=1 .*result=closed/g)].length;
}

async function serveMany(
  t: { true(v: boolean, m?: string): void },
  server: Ftserve,
): Promise<void> {
  const concurrent = await Promise.all(
    Array.from({ length: 50 }, () => fetchFile(server.port, 'file.bin', { attempts: 50 })),
  );
  t.true(
    concurrent.every((r) => r.ok && r.body.equals(content)),
    '50 concurrent downloads',
  );
  for (let i = 0; i < 10; i++) {
    const r = await fetchFile(server.port, 'file.bin');
    t.true(r.ok && r.body.equals(content), `sequential download ${i}`);
  }
}

const PREFORK = ['--no-udp', '--workers', '2', '--max-connections-per-ip', '1000'];

test('with --exclusive-accept each worker polls the shared socket with EPOLLEXCLUSIVE, says so, and every connection is served and logged', async (t) => {
  const server = await serveRoot(t, dir, [...PREFORK, '--exclusive-accept']);
  t.true(
    await waitFor(() =>
      /listening .*model=prefork workers=2 accept=exclusive/.test(server.stderr()),
    ),
    server.stderr(),
  );
  t.true(workersPoll(server, true), 'both workers poll the socket with EPOLLEXCLUSIVE');
  await serveMany(t, server);
  t.true(
    await waitFor(() => connectionsLogged(server) === 60),
    `${connectionsLogged(server)} logged`,
  );
  t.notRegex(server.stderr(), /exclusive-accept-unavailable|listen-lost/);
});

test('by default (and with --no-exclusive-accept) every worker polls the socket as libuv registered it, and serves', async (t) => {
  const server = await serveRoot(t, dir, PREFORK);
  t.true(
    await waitFor(() => /listening .*model=prefork workers=2 accept=all/.test(server.stderr())),
    server.stderr(),
  );
  t.true(workersPoll(server, false), 'no worker polls with EPOLLEXCLUSIVE');
  await serveMany(t, server);
  t.true(
    await waitFor(() => connectionsLogged(server) === 60),
    `${connectionsLogged(server)} logged`,
  );
});

test('a SIGKILLed worker is replaced by one that also polls exclusively; the server keeps answering, no zombies, descriptors at baseline', async (t) => {
  const server = await serveRoot(t, dir, [...PREFORK, '--exclusive-accept']);
  t.true(await waitFor(() => workersPoll(server, true)));
  const before = childrenOf(server.pid);
  const baseline = fdCount(server.pid);
  const victim = before[0]!;
  process.kill(victim, 'SIGKILL');
  t.true(await waitFor(() => stateOf(victim) === undefined), 'the victim was reaped');
  // The other worker takes the connections meanwhile: the socket is the primary's, not the victim's.
  for (let i = 0; i < 5; i++) {
    const r = await fetchFile(server.port, 'file.bin');
    t.true(r.ok && r.body.equals(content));
  }
  t.true(
    await waitFor(() => /worker-started slot=\d+ pid=\d+ accept=exclusive/.test(server.stderr())),
    server.stderr(),
  );
  t.true(
    await waitFor(() => {
      const now = childrenOf(server.pid);
      return now.length === 2 && !now.includes(victim) && zombieChildren(server.pid).length === 0;
    }),
    `children now: ${childrenOf(server.pid).join(' ')}`,
  );
  t.true(workersPoll(server, true), 'the replacement polls with EPOLLEXCLUSIVE too');
  await serveMany(t, server);
  t.true(
    await waitFor(() => fdCount(server.pid) === baseline),
    `fds ${fdCount(server.pid)} vs ${baseline}`,
  );
});
