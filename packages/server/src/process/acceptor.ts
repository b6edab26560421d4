/**
 * The accepting side of --fork-per-connection: count each new connection against the limits,
 * refuse it with BUSY (and a retry-after hint) when a limit or the model's capacity is reached,
 * or hand it to the model's dispatcher. The accepting process never reads a request. Prefork
 * workers accept for themselves (worker-listener.ts) and share refuseSocket().
 */
import type { Server, Socket } from 'node:net';
import { WireError, encodeError } from '@ft/protocol';
import type { ConnectionLimiter } from '../net/limits.js';
import type { Logger } from '../logger.js';
import { clientOf } from '../net/peer.js';
import type { AddressGate } from '../access/address-list.js';

/** A connection accepted and counted; call release() exactly once when it is over. */
export interface Accepted {
  id: number;
  ip: string;
  peer: string;
  release: () => void;
}

export interface Refusal {
  reason: string;
  retryAfterMs: number;
}

/** Where accepted connections go: a worker pool or per-connection children. */
export interface Dispatcher {
  /**
   * Takes over the socket and will call `accepted.release()` when the connection ends. When at
   * capacity it returns a refusal instead (with a retry-after hint); the acceptor answers BUSY.
   */
  dispatch(socket: Socket, accepted: Accepted): Refusal | undefined;
}

/** Refused sockets kept open to let their BUSY frame arrive; beyond this they are cut at once. */
const MAX_LINGERING = 256;
const LINGER_MS = 1000;
const LIMIT_RETRY_MS = 1000;

let lingering = 0;

/** Sends a connection-level ERROR and closes without reading the client's request. */
export function refuseSocket(
  socket: Socket,
  code: number,
  retryAfterMs: number,
  message: string,
): void {
  socket.on('error', () => {});
  socket.write(encodeError({ requestId: 0, code, retryAfterMs, message }));
  if (lingering >= MAX_LINGERING) {
    socket.destroySoon();
    return;
  }
  // Read and drop what the client already sent, so closing does not turn into a reset that
  // could discard the BUSY frame before the client reads it.
  lingering++;
  socket.end();
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  socket.once('close', () => {
    lingering--;
    clearTimeout(timer);
  });
}

/** Attaches the accept loop to a listening server. */
export function acceptConnections(
  server: Server,
  limiter: ConnectionLimiter,
  dispatcher: Dispatcher,
  logger: Logger,
  gate?: AddressGate,
): void {
  let nextId = 1;
  server.on('connection', (socket: Socket) => {
    // --allow/--deny first: a refused address costs no child and no limit slot.
    if (gate?.refuses(socket, refuseSocket) === true) return;
    const { ip, peer } = clientOf(socket);
    const admission = limiter.tryAcquire(ip);
    if (admission !== 'ok') {
      logger.warn('refused', { peer, reason: admission, active: limiter.active });
      refuseSocket(socket, WireError.BUSY, LIMIT_RETRY_MS, `server busy (${admission})`);
      return;
    }
    let released = false;
    const accepted: Accepted = {
      id: nextId++,
      ip,
      peer,
      release: () => {
        if (released) return;
        released = true;
        limiter.release(ip);
      },
    };
    let refusal: Refusal | undefined;
    try {
      refusal = dispatcher.dispatch(socket, accepted);
    } catch (error) {
      logger.error('dispatch-failed', { peer, error: String(error) });
      accepted.release();
      socket.destroy();
      return;
    }
    if (refusal !== undefined) {
      accepted.release();
      logger.warn('refused', { peer, reason: refusal.reason, active: limiter.active });
      refuseSocket(socket, WireError.BUSY, refusal.retryAfterMs, `server busy (${refusal.reason})`);
    }
  });
  server.on('error', (error) => logger.error('accept-failed', { error: String(error) }));
}
