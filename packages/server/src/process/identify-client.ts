/**
 * Who a newly accepted connection is from, before it is counted against the per-IP limits:
 * its socket's peer or, with --proxy-protocol, the client named by the load balancer's PROXY
 * header (net/proxy-protocol.ts). A connection whose header is missing, malformed or late is
 * refused with one log line (and an ft ERROR, which a client that bypassed the balancer shows).
 * Connections still sending their header are not counted yet, so they are capped on their own.
 * With --trusted-proxy only the listed balancers may send a header: a connection from any other
 * address is refused (ACCESS_DENIED, one rate-limited log line) before a byte of it is read.
 */
import type { Socket } from 'node:net';
import { WireError } from '@ft/protocol';
import { AddressGate } from '../access/address-list.js';
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
  /** --trusted-proxy: the peers allowed to send a header (undefined: any peer). */
  trusted?: AddressGate | undefined;
}

/** What --trusted-proxy logs and answers for a peer not in it. */
export const UNTRUSTED_PROXY = {
  event: 'proxy-untrusted',
  message: 'this server takes connections only from its load balancers (--trusted-proxy)',
} as const;

/** The gate of --trusted-proxy CIDRs, or undefined when none are given (any peer may send a header). */
export function trustedProxyGate(
  cidrs: readonly string[],
  logger: Logger,
): AddressGate | undefined {
  return cidrs.length === 0 ? undefined : new AddressGate(cidrs, [], logger, UNTRUSTED_PROXY);
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
  // Before anything is read or counted: whoever else connects could name any address.
  if (proxy.trusted?.refuses(socket, refuseSocket) === true) return;
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
