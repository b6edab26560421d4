/** Messages between the primary and the UDP service process. */
import type { ServerConfig } from '../config.js';
import type { UdpSessionGrant } from './session-grant.js';

export const UDP_CONFIG_ENV = 'FTSERVE_UDP_CONFIG';

export interface UdpChildConfig {
  server: ServerConfig;
  /** UDP port to bind (the TCP port unless --udp-port says otherwise). */
  port: number;
  livenessMs?: number;
  maxTransfers?: number;
  maxPerAddress?: number;
}

/** Primary → UDP service: stop, SIGHUP, or an encrypted session granted over TLS. */
export type ToUdpChild =
  { t: 'shutdown' } | { t: 'reopen-log' } | { t: 'session'; grant: UdpSessionGrant };
export type FromUdpChild =
  { t: 'udp-listening'; host: string; port: number } | { t: 'udp-failed'; code: string };

export function isToUdpChild(m: unknown): m is ToUdpChild {
  const t = (m as ToUdpChild | null)?.t;
  return t === 'shutdown' || t === 'reopen-log' || t === 'session';
}

export function isFromUdpChild(m: unknown): m is FromUdpChild {
  const t = (m as FromUdpChild | null)?.t;
  return t === 'udp-listening' || t === 'udp-failed';
}
