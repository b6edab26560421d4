/**
 * EPOLLEXCLUSIVE for the listening socket the prefork workers share, as nginx sets it: the
 * kernel then wakes one idle worker per new connection instead of every worker. Node 20 has no
 * option for it, so this re-registers the socket in libuv's own epoll set: found as the one
 * eventpoll descriptor of this process whose /proc fdinfo lists the socket, deleted and added
 * back with the same events and data plus EPOLLEXCLUSIVE (epoll_ctl through koffi). libuv never
 * modifies the registration of a listening socket it keeps polling (it adds it once, and
 * deletes it when the server closes), which an EPOLLEXCLUSIVE entry allows.
 *
 * Why it pays (docs/BENCHMARKS.md): on one shared socket both workers woke for every
 * connection, and the one that lost the accept spent an event-loop turn for nothing; at one
 * client that cost ~40 µs of CPU per request and the latency of a second process waking.
 *
 * Everything here is an optimisation: where it cannot be done (no koffi, no /proc, a kernel
 * before 4.5 that refuses the flag) the socket stays registered as libuv left it.
 */
import { endianness } from 'node:os';
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { loadLibc } from './libc.js';

const EPOLL_CTL_ADD = 1;
const EPOLL_CTL_DEL = 2;
const EPOLLEXCLUSIVE = 1 << 28;
/** struct epoll_event is packed (12 bytes) on x86; elsewhere its u64 data is 8-byte aligned. */
const PACKED = new Set(['x64', 'ia32']);
/** Linux architectures with the generic epoll constants above. */
const ARCHES = new Set(['x64', 'ia32', 'arm64', 'arm', 'riscv64', 'ppc64', 's390x', 'loong64']);
/** Event-loop turns to wait for libuv to register a new listening socket (it does so at its next poll). */
const MAX_TURNS = 20;

/** 'exclusive', or why the socket is left as it was. */
export type ExclusiveOutcome =
  'exclusive' | 'unsupported' | 'no-libc' | 'not-registered' | 'closed' | `refused ${string}`;

interface Registration {
  epfd: number;
  events: number;
  data: bigint;
}

/** The epoll set (and its entry) that holds `fd`; undefined if none or more than one does. */
function findRegistration(fd: number): Registration | undefined {
  const entry = new RegExp(`^tfd:\\s+${fd}\\s+events:\\s+([0-9a-f]+)\\s+data:\\s+([0-9a-f]+)`, 'm');
  let found: Registration | undefined;
  let count = 0;
  for (const name of readdirSync('/proc/self/fd')) {
    let m: RegExpExecArray | null;
    try {
      if (readlinkSync(`/proc/self/fd/${name}`) !== 'anon_inode:[eventpoll]') continue;
      m = entry.exec(readFileSync(`/proc/self/fdinfo/${name}`, 'utf8'));
    } catch {
      continue; // Closed meanwhile (another thread's descriptor).
    }
    if (m === null) continue;
    count++;
    found = { epfd: Number(name), events: parseInt(m[1]!, 16), data: BigInt(`0x${m[2]!}`) };
  }
  return count === 1 ? found : undefined;
}

function epollEvent(events: number, data: bigint): Buffer {
  const packed = PACKED.has(process.arch);
  const ev = Buffer.alloc(packed ? 12 : 16);
  const at = packed ? 4 : 8;
  if (endianness() === 'LE') {
    ev.writeUInt32LE(events >>> 0, 0);
    ev.writeBigUInt64LE(data, at);
  } else {
    ev.writeUInt32BE(events >>> 0, 0);
    ev.writeBigUInt64BE(data, at);
  }
  return ev;
}

const nextTurn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/**
 * Makes the epoll registration of listening descriptor `fd` exclusive; resolves with what was
 * done. `open` says whether the socket is still listening: checked after every wait, because a
 * closed socket's number may already name another descriptor ('closed': nothing done). Rejects
 * only if the socket could not be registered back as it was, in which case this process no
 * longer accepts on it and should exit (its replacement will).
 */
export async function wakeOneAcceptor(fd: number, open: () => boolean): Promise<ExclusiveOutcome> {
  if (process.platform !== 'linux' || !ARCHES.has(process.arch)) return 'unsupported';
  const libc = await loadLibc();
  if (libc === undefined) return 'no-libc';
  let registration: Registration | undefined;
  for (let turn = 0; turn < MAX_TURNS && registration === undefined; turn++) {
    await nextTurn();
    if (!open()) return 'closed';
    try {
      registration = findRegistration(fd);
    } catch {
      return 'unsupported'; // No /proc.
    }
  }
  if (registration === undefined) return 'not-registered';
  const { epfd, events, data } = registration;
  if ((events & EPOLLEXCLUSIVE) !== 0) return 'exclusive';
  const ctl = libc.func('int epoll_ctl(int, int, int, void *)');
  // Nothing runs between these calls: no connection can be missed (the entry is level-triggered,
  // and a socket already readable is reported again as soon as it is added back).
  if (ctl(epfd, EPOLL_CTL_DEL, fd, null) !== 0)
    return `refused ${errnoName(libc.errno(), libc.codes)}`;
  if (ctl(epfd, EPOLL_CTL_ADD, fd, epollEvent(events | EPOLLEXCLUSIVE, data)) === 0)
    return 'exclusive';
  const why = errnoName(libc.errno(), libc.codes);
  if (ctl(epfd, EPOLL_CTL_ADD, fd, epollEvent(events, data)) !== 0)
    throw new Error(
      `the listening socket could not be polled again: ${errnoName(libc.errno(), libc.codes)}`,
    );
  return `refused ${why}`;
}

function errnoName(errno: number, codes: Readonly<Record<string, number>>): string {
  for (const [name, n] of Object.entries(codes)) if (n === errno) return name;
  return `errno ${errno}`;
}
