/**
 * Opening the listening socket: dual stack by default ("::" accepting IPv4-mapped clients,
 * "0.0.0.0" where the host has no IPv6), and failures turned into one clear line and exit code 3.
 */
import { lookup } from 'node:dns/promises';
import * as net from 'node:net';
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { getSystemErrorName } from 'node:util';
import { ExitCode, ServeError } from '../exit-codes.js';
import { hostPort } from './peer.js';

/** listen(2) backlog of every listening socket (the workers' listen() asks for the same). */
const BACKLOG = 511;

function listenOn(host: string, port: number, backlog: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Accepted sockets stay paused: the accepting process hands them over without reading.
    const server = createServer({ pauseOnConnect: true });
    server.once('error', reject);
    server.listen({ host, port, backlog, ipv6Only: false }, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}

/** Listens on host:port (all interfaces when host is undefined) or throws a ServeError. */
export async function listenTcp(
  host: string | undefined,
  port: number,
  backlog = BACKLOG,
): Promise<Server> {
  try {
    if (host !== undefined) return await listenOn(host, port, backlog);
    try {
      return await listenOn('::', port, backlog);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw error;
      return await listenOn('0.0.0.0', port, backlog);
    }
  } catch (error) {
    throw cannotListen(host, port, error);
  }
}

function cannotListen(host: string | undefined, port: number, error: unknown): ServeError {
  const code = (error as NodeJS.ErrnoException).code;
  const where = hostPort(host ?? '::', port);
  const why =
    code === 'EADDRINUSE'
      ? 'address already in use'
      : code === 'EACCES'
        ? 'permission denied'
        : code === 'EADDRNOTAVAIL'
          ? 'address not available on this host'
          : code === 'ENOTFOUND'
            ? 'unknown host'
            : (code ?? String(error));
  return new ServeError(`cannot listen on ${where}: ${why}`, ExitCode.CANNOT_LISTEN, {
    cause: error,
  });
}

/**
 * The prefork workers' listening sockets, which this process never accepts on: either one bound
 * socket shared by every worker, or (SO_REUSEPORT, see sys/reuseport.ts) one listening socket
 * per worker slot, handed to whichever worker holds that slot. Holding them keeps the port, and
 * the connections queued on a slot's socket, while workers come and go: a replacement worker
 * takes over its slot's socket with its queue.
 */
export interface SharedSocket {
  /** The handle to send to the worker of `slot` (child.send(message, handle)). */
  handleFor(slot: number): object;
  /** 'reuseport': one socket per slot; 'shared': one socket for all. */
  readonly mode: 'reuseport' | 'shared';
  readonly host: string;
  readonly port: number;
  /** "host:port" as in the listening line. */
  readonly text: string;
  close(): void;
}

interface TcpHandle {
  getsockname(out: { address?: string; port?: number }): number;
  close(): void;
}
type CreateServerHandle = (
  address: string | undefined,
  port: number,
  addressType: number,
  fd: number | undefined,
  flags: number,
) => TcpHandle | number;

function errnoError(errno: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno);
  return Object.assign(new Error(code), { code, errno });
}

/**
 * Node 20 has no public way to hold a listening socket without accepting on it, so this uses
 * net._createServerHandle, which Node's own cluster module uses for exactly this (its
 * SCHED_NONE mode); listen(2) happens in the workers.
 */
function serverHandleMaker(): CreateServerHandle {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })
    ._createServerHandle;
  if (typeof create !== 'function')
    throw new ServeError('this Node.js cannot share a listening socket', ExitCode.INTERNAL);
  return create;
}

/** Where to bind: the numeric address of --host, or undefined for all interfaces (dual stack). */
async function resolveHost(
  host: string | undefined,
): Promise<{ address: string | undefined; family: number }> {
  if (host === undefined) return { address: undefined, family: 6 };
  return lookup(host);
}

/**
 * The workers' sockets for host:port (all interfaces, dual stack, when host is undefined), or a
 * ServeError. With `reusePort`, one SO_REUSEPORT socket per worker where the platform allows
 * (koffi loads, the kernel accepts the option); otherwise, and as the fallback, one shared
 * socket.
 */
export async function bindWorkerSockets(
  host: string | undefined,
  port: number,
  workers: number,
  reusePort: boolean,
): Promise<SharedSocket> {
  if (reusePort) {
    const sockets = await bindReusePort(host, port, workers);
    if (sockets !== undefined) return sockets;
  }
  return bindShared(host, port);
}

async function bindReusePort(
  host: string | undefined,
  port: number,
  workers: number,
): Promise<SharedSocket | undefined> {
  // Loaded only here: the other models and --no-reuseport need neither it nor koffi.
  const { closeFd, openReusePortSockets, reusePortCalls } = await import('../sys/reuseport.js');
  const calls = await reusePortCalls();
  if (calls === undefined) return undefined;
  const create = serverHandleMaker();
  try {
    const { address, family } = await resolveHost(host);
    const open = (a: string, f: 4 | 6): number[] | undefined =>
      openReusePortSockets(calls, a, f, port, workers, BACKLOG);
    let fds: number[] | undefined;
    if (address !== undefined) fds = open(address, family === 6 ? 6 : 4);
    else {
      try {
        fds = open('::', 6);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw error;
        fds = open('0.0.0.0', 4);
      }
    }
    if (fds === undefined) return undefined;
    const handles: TcpHandle[] = [];
    for (const fd of fds) {
      const handle = create(undefined, 0, 4, fd, 0);
      if (typeof handle === 'number') {
        for (const h of handles) h.close();
        for (const rest of fds.slice(handles.length)) closeFd(calls, rest);
        throw errnoError(handle);
      }
      handles.push(handle);
    }
    return holding(handles, 'reuseport', address, port);
  } catch (error) {
    if (error instanceof ServeError) throw error;
    // SysCallError and Node's errors both carry the errno name as `code`.
    throw cannotListen(host, port, error);
  }
}

/** Binds host:port for all workers to share (they listen(2) and accept on it), or throws a ServeError. */
export async function bindShared(host: string | undefined, port: number): Promise<SharedSocket> {
  const create = serverHandleMaker();
  try {
    const { address, family } = await resolveHost(host);
    // With no address Node binds "::" (dual stack) and falls back to "0.0.0.0".
    const handle = create(address, port, family, undefined, 0);
    if (typeof handle === 'number') throw errnoError(handle);
    return holding([handle], 'shared', address, port);
  } catch (error) {
    if (error instanceof ServeError) throw error;
    throw cannotListen(host, port, error);
  }
}

/** The SharedSocket over bound `handles` (the first one names the address); closes them on error. */
function holding(
  handles: TcpHandle[],
  mode: SharedSocket['mode'],
  address: string | undefined,
  port: number,
): SharedSocket {
  const out: { address?: string; port?: number } = {};
  // A bind that failed with EADDRINUSE is reported late, by the next call on the socket.
  const errno = handles[0]!.getsockname(out);
  if (errno !== 0) {
    for (const h of handles) h.close();
    throw errnoError(errno);
  }
  const boundHost = out.address ?? address ?? '::';
  const boundPort = out.port ?? port;
  let open = true;
  return {
    handleFor: (slot) => handles[mode === 'shared' ? 0 : slot % handles.length]!,
    mode,
    host: boundHost,
    port: boundPort,
    text: hostPort(boundHost, boundPort),
    close: () => {
      if (open) for (const h of handles) h.close();
      open = false;
    },
  };
}

/** "host:port" of a listening server, e.g. "[::]:7070". */
export function boundAddress(server: Server): { host: string; port: number; text: string } {
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('server is not listening on TCP');
  return { host: a.address, port: a.port, text: hostPort(a.address, a.port) };
}
