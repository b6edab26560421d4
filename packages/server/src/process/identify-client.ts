/**
 * Who a newly accepted connection is from, before it is counted against the per-IP limits:
 * its socket's peer or, with --proxy-protocol, the client named by the load balancer's PROXY
 * header (net/proxy-protocol.ts). A connection whose header is missing, malformed or late is
 * refused with one log line (and an ft ERROR, which a client that bypassed the balancer shows).
 * Connections still sending their header are not counted yet, so they are capped on their own.
 */
import type { Socket } from 'node:net';
import { WireError } from '@ft/protocol';
import type { Logger } from '../logger.js';
import { clientOf, peerOf } from '../net/peer.js';
import type { ClientAddress } from '../net/peer.js';
import { readProxyHeader } from '../net/proxy-protocol.js';
import { refuseSocket } from './acceptor.js';

export interface ProxyAccept {
  /** Deadline for the whole header (the request deadline). */
  timeoutMs: number;
  /** Connections that may be reading their header at once in this process. */
  maxPending: number;
}

const BACKLOG_RETRY_MS = 1000;
let pending = 0;

/**
 * Calls `then` with the client of `socket` (at once without `proxy`, else once its PROXY header
 * has arrived); refuses the connection itself if the header does not come right.
 */
export function identifyClient(
  socket: Socket,
  proxy: ProxyAccept | undefined,
  logger: Logger,
  then: (client: ClientAddress) => void,
): void {
  if (proxy === undefined) {
    then(clientOf(socket));
    return;
  }
  if (pending >= proxy.maxPending) {
    logger.warn('refused', { peer: peerOf(socket), reason: 'proxy-header-backlog' });
    refuseSocket(socket, WireError.BUSY, BACKLOG_RETRY_MS, 'server busy (proxy-header-backlog)');
    return;
  }
  const balancer = peerOf(socket);
  pending++;
  void readProxyHeader(socket, proxy.timeoutMs).then((read) => {
    pending--;
    if (read.ok) {
      then(clientOf(socket, read.source));
      return;
    }
    logger.warn('proxy-header-refused', { peer: balancer, reason: read.reason });
    if (socket.destroyed) return;
    refuseSocket(
      socket,
      read.timeout ? WireError.TIMEOUT : WireError.BAD_REQUEST,
      0,
      `expected a PROXY protocol header from the load balancer: ${read.reason}`,
    );
  });
}
