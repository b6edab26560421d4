/**
 * Listening sockets with SO_REUSEPORT, one per prefork worker, made through koffi (Node 20's
 * `net` has no `reusePort`). With one socket per worker the kernel hands each new connection to
 * one socket, so only its worker wakes; on one shared socket every worker's epoll wakes for
 * every connection and all but one find nothing to accept.
 *
 * The first socket is bound WITHOUT SO_REUSEPORT and the option is set on it after bind(2): so
 * a port another program (or another ftserve, with or without SO_REUSEPORT) listens on still
 * fails with EADDRINUSE, as with the shared socket, instead of silently joining its group; the
 * others then join the first with SO_REUSEPORT set before bind (same user, same address).
 * Port 0 is resolved by the first bind, and the others bind the port it got.
 *
 * Linux only, on the architectures whose socket constants are the generic ones; everywhere
 * else, and wherever the option is refused, the caller falls back to the shared socket.
 */
import { endianness } from 'node:os';
import { loadLibc } from './libc.js';
import type { CFunction, Libc } from './libc.js';

const AF_INET = 2;
const AF_INET6 = 10;
const SOCK_STREAM = 1;
/** Not inherited by the workers we spawn: each gets its own socket over IPC, and only that one. */
const SOCK_CLOEXEC = 0o2000000;
const SOL_SOCKET = 1;
const SO_REUSEADDR = 2;
const SO_REUSEPORT = 15;
const IPPROTO_IPV6 = 41;
const IPV6_V6ONLY = 26;
/** Architectures with Linux's generic socket constants (not MIPS, SPARC, Alpha, PA-RISC). */
const ARCHES = new Set(['x64', 'arm64', 'ia32', 'arm', 'riscv64', 'ppc64', 's390x', 'loong64']);

/** A failed system call: its name and errno code (EADDRINUSE…), errno as libuv numbers it (negative). */
export class SysCallError extends Error {
  constructor(
    readonly syscall: string,
    readonly code: string,
    readonly errno: number,
  ) {
    super(`${syscall}: ${code}`);
  }
}

interface Calls {
  socket: CFunction;
  setsockopt: CFunction;
  bind: CFunction;
  listen: CFunction;
  close: CFunction;
  inetPton: CFunction;
  ifNameToIndex: CFunction;
  getsockname: CFunction;
  libc: Libc;
}

let calls: Calls | undefined;

function bindCalls(libc: Libc): Calls {
  calls ??= {
    socket: libc.func('int socket(int, int, int)'),
    setsockopt: libc.func('int setsockopt(int, int, int, const void *, uint32_t)'),
    bind: libc.func('int bind(int, const void *, uint32_t)'),
    listen: libc.func('int listen(int, int)'),
    close: libc.func('int close(int)'),
    inetPton: libc.func('int inet_pton(int, const char *, void *)'),
    ifNameToIndex: libc.func('unsigned int if_nametoindex(const char *)'),
    getsockname: libc.func('int getsockname(int, void *, _Inout_ uint32_t *)'),
    libc,
  };
  return calls;
}

/** Whether this platform can have SO_REUSEPORT sockets made here (koffi loaded, Linux). */
export async function reusePortCalls(): Promise<Calls | undefined> {
  if (process.platform !== 'linux' || !ARCHES.has(process.arch)) return undefined;
  const libc = await loadLibc();
  return libc === undefined ? undefined : bindCalls(libc);
}

function fail(c: Calls, syscall: string): never {
  const errno = c.libc.errno();
  const code = Object.entries(c.libc.codes).find(([, n]) => n === errno)?.[0] ?? `errno ${errno}`;
  throw new SysCallError(syscall, code, -errno);
}

/** struct sockaddr_in / sockaddr_in6 for a numeric address ("::1", "fe80::1%eth0", "10.0.0.1"). */
function sockaddr(c: Calls, address: string, family: 4 | 6, port: number): Buffer {
  const le = endianness() === 'LE';
  const [ip, scope] = family === 6 ? address.split('%', 2) : [address, undefined];
  const raw = Buffer.alloc(16);
  if (c.inetPton(family === 6 ? AF_INET6 : AF_INET, ip, raw) !== 1)
    throw new SysCallError('inet_pton', 'EINVAL', -22);
  if (family === 4) {
    const sa = Buffer.alloc(16);
    if (le) sa.writeUInt16LE(AF_INET, 0);
    else sa.writeUInt16BE(AF_INET, 0);
    sa.writeUInt16BE(port, 2);
    raw.copy(sa, 4, 0, 4);
    return sa;
  }
  const sa = Buffer.alloc(28);
  if (le) sa.writeUInt16LE(AF_INET6, 0);
  else sa.writeUInt16BE(AF_INET6, 0);
  sa.writeUInt16BE(port, 2);
  raw.copy(sa, 8);
  if (scope !== undefined && scope !== '') {
    const index = /^\d+$/.test(scope) ? Number(scope) : (c.ifNameToIndex(scope) as number);
    if (index === 0) throw new SysCallError('if_nametoindex', 'EADDRNOTAVAIL', -99);
    if (le) sa.writeUInt32LE(index, 24);
    else sa.writeUInt32BE(index, 24);
  }
  return sa;
}

function setInt(c: Calls, fd: number, level: number, name: number, value: number): boolean {
  const v = Buffer.alloc(4);
  if (endianness() === 'LE') v.writeInt32LE(value);
  else v.writeInt32BE(value);
  return c.setsockopt(fd, level, name, v, 4) === 0;
}

function boundPort(c: Calls, fd: number): number {
  const sa = Buffer.alloc(28);
  const len = [28];
  if (c.getsockname(fd, sa, len) !== 0) fail(c, 'getsockname');
  return sa.readUInt16BE(2);
}

/**
 * `count` listening sockets on address:port in one SO_REUSEPORT group, as descriptors; the
 * caller owns them. Undefined when the kernel refuses SO_REUSEPORT (nothing is left open);
 * throws SysCallError when socket/bind/listen fail (EADDRINUSE, EAFNOSUPPORT…).
 */
export function openReusePortSockets(
  c: Calls,
  address: string,
  family: 4 | 6,
  port: number,
  count: number,
  backlog: number,
): number[] | undefined {
  const fds: number[] = [];
  try {
    let bound = port;
    for (let i = 0; i < count; i++) {
      const fd = c.socket(family === 6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      if (fd < 0) fail(c, 'socket');
      fds.push(fd);
      // As libuv does for every TCP bind: a port with connections in TIME_WAIT can be rebound.
      if (!setInt(c, fd, SOL_SOCKET, SO_REUSEADDR, 1)) fail(c, 'setsockopt');
      if (i > 0 && !setInt(c, fd, SOL_SOCKET, SO_REUSEPORT, 1)) throw new Refused();
      // Dual stack on "::", as Node binds it (libuv clears IPV6_V6ONLY unless asked).
      if (family === 6 && !setInt(c, fd, IPPROTO_IPV6, IPV6_V6ONLY, 0)) fail(c, 'setsockopt');
      const sa = sockaddr(c, address, family, bound);
      if (c.bind(fd, sa, sa.length) !== 0) fail(c, 'bind');
      if (i === 0) {
        bound = boundPort(c, fd);
        if (!setInt(c, fd, SOL_SOCKET, SO_REUSEPORT, 1)) throw new Refused();
      }
      if (c.listen(fd, backlog) !== 0) fail(c, 'listen');
    }
    return fds;
  } catch (error) {
    for (const fd of fds) c.close(fd);
    if (error instanceof Refused) return undefined;
    throw error;
  }
}

/** SO_REUSEPORT was refused (an old kernel, a seccomp filter): the caller falls back. */
class Refused extends Error {}

/** Closes a descriptor of ours that no Node handle owns (yet). */
export function closeFd(c: Calls, fd: number): void {
  c.close(fd);
}
