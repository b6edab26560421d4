/**
 * Opening the listening socket: dual stack by default ("::" accepting IPv4-mapped clients,
 * "0.0.0.0" where the host has no IPv6), and failures turned into one clear line and exit code 3.
 */
import { createServer } from 'node:net';
import type { Server } from 'node:net';
import { ExitCode, ServeError } from './exit-codes.js';
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
    throw new ServeError(`cannot listen on ${where}: ${why}`, ExitCode.CANNOT_LISTEN, {
      cause: error,
    });
  }
}

/** "host:port" of a listening server, e.g. "[::]:7070". */
export function boundAddress(server: Server): { host: string; port: number; text: string } {
  const a = server.address();
  if (a === null || typeof a === 'string') throw new Error('server is not listening on TCP');
  return { host: a.address, port: a.port, text: hostPort(a.address, a.port) };
}
