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
  backlog = 511,
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
 * A bound TCP socket that this process never accepts on: it is shared with the prefork workers,
 * which listen on it and accept. Holding it keeps the port (and the queue of connections waiting
 * to be accepted) while workers come and go.
 */
export interface SharedSocket {
  /** The handle to send to workers (child.send(message, handle)). */
  readonly handle: object;
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
  fd: undefined,
  flags: number,
) => TcpHandle | number;

function errnoError(errno: number): NodeJS.ErrnoException {
  const code = getSystemErrorName(errno);
  return Object.assign(new Error(code), { code, errno });
}

/**
 * Binds host:port (all interfaces, dual stack, when host is undefined) without accepting, or
 * throws a ServeError. Node 20 has no public way to hold a listening socket without accepting
 * on it, so this uses net._createServerHandle, which Node's own cluster module uses for exactly
 * this (its SCHED_NONE mode); listen(2) happens in the workers.
 */
export async function bindShared(host: string | undefined, port: number): Promise<SharedSocket> {
  const create = (net as unknown as { _createServerHandle?: CreateServerHandle })
    ._createServerHandle;
  if (typeof create !== 'function')
    throw new ServeError('this Node.js cannot share a listening socket', ExitCode.INTERNAL);
  try {
    let address: string | undefined;
    let family = 6;
    if (host !== undefined) {
      ({ address, family } = await lookup(host));
    }
    // With no address Node binds "::" (dual stack) and falls back to "0.0.0.0".
    const handle = create(address, port, family, undefined, 0);
    if (typeof handle === 'number') throw errnoError(handle);
    const out: { address?: string; port?: number } = {};
    // A bind that failed with EADDRINUSE is reported late, by the next call on the socket.
    const errno = handle.getsockname(out);
    if (errno !== 0) {
      handle.close();
      throw errnoError(errno);
    }
    const boundHost = out.address ?? address ?? '::';
    const boundPort = out.port ?? port;
    let open = true;
    return {
      handle,
      host: boundHost,
      port: boundPort,
      text: hostPort(boundHost, boundPort),
      close: () => {
        if (open) handle.close();
        open = false;
      },
    };
  } catch (error) {
    if (error instanceof ServeError) throw error;
    throw cannotListen(host, port, error);
  }
}

/** "host:port" of a listening server, e.g. "[::]:7070". */
export function boundAddress(server: Server): { host: string; port: number; text: string } {
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('server is not listening on TCP');
  return { host: a.address, port: a.port, text: hostPort(a.address, a.port) };
}
