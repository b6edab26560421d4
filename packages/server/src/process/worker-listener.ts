/**
 * A prefork worker's accept loop. The primary binds the listening socket and shares it with
 * every worker; each worker listens on it and accepts directly (as nginx workers do), so a
 * connection costs no hand-over between processes. Each worker enforces its share of the
 * connection limits (overall and per client IP): without shared memory between processes that
 * is the cheap way to keep the totals within the limits. A worker at its share of
 * --max-connections first sheds its oldest idle connection (see `shed`) so that a server full
 * of slow or idle clients still admits new ones; only a worker whose connections are all busy
 * answers BUSY.
 */
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { WireError } from '@ft/protocol';
import { refuseSocket } from './acceptor.js';
import { ConnectionLimiter } from '../net/limits.js';
import type { Logger } from '../logger.js';
import type { AddressGate } from '../access/address-list.js';
import type { ClientAddress } from '../net/peer.js';
import { identifyClient } from './identify-client.js';
import type { ProxyAccept } from './identify-client.js';

const LIMIT_RETRY_MS = 1000;
const BACKLOG = 511;

export interface WorkerLimits {
  maxConnections: number;
  maxConnectionsPerIp: number;
}

/**
 * Listens on the shared socket `handle` and passes each admitted connection to `serve` with its
 * client (from the PROXY header when `proxy` is given), which must call `done` once when the
 * connection is over. At the overall limit `shed` is asked to
 * close one idle connection and call its `done` at once (false: none is idle). Rejects with the
 * errno code if listen fails.
 */
export function listenShared(
  handle: object,
  limits: WorkerLimits,
  logger: Logger,
  serve: (socket: Socket, done: () => void, client: ClientAddress) => void,
  shed: () => boolean = () => false,
  proxy?: ProxyAccept,
  gate?: AddressGate,
): Promise<Server> {
  const limiter = new ConnectionLimiter(limits.maxConnections, limits.maxConnectionsPerIp);
  const admit = (socket: Socket, client: ClientAddress): void => {
    // --allow/--deny first, on the client's address (the PROXY header's, when there is one): a
    // refused address takes no limit slot and sheds no one.
    if (gate?.refuses(socket, refuseSocket, client.ip) === true) return;
    const { ip } = client;
    let admission = limiter.tryAcquire(ip);
    if (admission === 'max-connections' && !limiter.atIpLimit(ip) && shed())
      admission = limiter.tryAcquire(ip);
    if (admission !== 'ok') {
      logger.warn('refused', {
        peer: client.peer,
        via: client.via,
        reason: admission,
        active: limiter.active,
      });
      refuseSocket(socket, WireError.BUSY, LIMIT_RETRY_MS, `server busy (${admission})`);
      return;
    }
    let released = false;
    const done = (): void => {
      if (released) return;
      released = true;
      limiter.release(ip);
    };
    serve(socket, done, client);
  };
  const server = createServer((socket) =>
    identifyClient(socket, proxy, logger, (client) => admit(socket, client)),
  );
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(handle, BACKLOG, () => {
      server.off('error', reject);
      server.on('error', (error) => logger.error('accept-failed', { error: String(error) }));
      resolve(server);
    });
  });
}
