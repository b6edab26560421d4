/**
 * Messages between the primary and its workers or per-connection children, and how the
 * children are started. Kept free of heavy imports: the child entry loads this too.
 */
import type { ServerConfig } from '../config.js';
import type { UdpSessionGrant } from '../udp/session-grant.js';

/** Environment variable that carries a child's configuration (JSON). */
export const CHILD_CONFIG_ENV = 'FTSERVE_CHILD_CONFIG';

/** A worker serves many connections; a one-shot child serves one and exits. */
export type ChildRole = 'worker' | 'oneshot';

export interface ChildConfig {
  role: ChildRole;
  server: ServerConfig;
  serverName: string;
  /** A UDP service runs and the port speaks TLS: UDP_SESSION grants go to the primary. */
  udpSessions?: boolean;
}

/**
 * Primary → child.
 * - 'listen' (to workers) carries the shared listening socket as its handle, and the worker's
 *   share of the connection limits.
 * - 'conn' (to one-shot children) carries an accepted socket as its handle.
 * - 'reopen-log' (SIGHUP) reopens the log file and reloads the TLS certificate.
 */
export type ToChild =
  | { t: 'listen'; maxConnections: number; maxConnectionsPerIp: number }
  | { t: 'conn'; id: number }
  | { t: 'shutdown' }
  | { t: 'reopen-log' };

/**
 * How a worker is woken for new connections: 'exclusive' (EPOLLEXCLUSIVE: one idle worker per
 * connection) or 'all' (every worker polling the shared socket wakes).
 */
export type AcceptWakeup = 'exclusive' | 'all';

/**
 * Child → primary: started ('ready'), for workers whether listen() on the shared socket worked
 * (and how it is woken),
 * and the encrypted UDP sessions a connection opened ('udp-session', for the UDP service).
 */
export type FromChild =
  | { t: 'ready' }
  | { t: 'listening'; accept: AcceptWakeup }
  | { t: 'listen-failed'; code: string }
  | { t: 'udp-session'; grant: UdpSessionGrant };

const FROM_CHILD = new Set(['ready', 'listening', 'listen-failed', 'udp-session']);
const TO_CHILD = new Set(['listen', 'conn', 'shutdown', 'reopen-log']);

export function isFromChild(m: unknown): m is FromChild {
  return typeof m === 'object' && m !== null && FROM_CHILD.has((m as FromChild).t);
}

export function isToChild(m: unknown): m is ToChild {
  return typeof m === 'object' && m !== null && TO_CHILD.has((m as ToChild).t);
}

/** One worker's share of a limit split over `workers` workers: the shares add up to the limit (at least 1 each). */
export function shareOf(limit: number, workers: number, slot: number): number {
  const base = Math.floor(limit / workers);
  return Math.max(1, base + (slot < limit % workers ? 1 : 0));
}
