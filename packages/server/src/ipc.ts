/**
 * Messages between the accepting process and its workers or per-connection children, and how
 * the children are started. Kept free of heavy imports: the child entry loads this too.
 */
import type { ServerConfig } from './config.js';

/** Environment variable that carries a child's configuration (JSON). */
export const CHILD_CONFIG_ENV = 'FTSERVE_CHILD_CONFIG';

/** A worker serves many connections; a one-shot child serves one and exits. */
export type ChildRole = 'worker' | 'oneshot';

export interface ChildConfig {
  role: ChildRole;
  server: ServerConfig;
  serverName: string;
}

/** Primary → child. A 'conn' message carries the socket as its handle. */
export type ToChild = { t: 'conn'; id: number } | { t: 'shutdown' } | { t: 'reopen-log' };

/** Child → primary. */
export type FromChild = { t: 'ready' } | { t: 'closed'; id: number };

export function isFromChild(m: unknown): m is FromChild {
  return (
    typeof m === 'object' &&
    m !== null &&
    ((m as FromChild).t === 'ready' || (m as FromChild).t === 'closed')
  );
}

export function isToChild(m: unknown): m is ToChild {
  const t = (m as ToChild | null)?.t;
  return t === 'conn' || t === 'shutdown' || t === 'reopen-log';
}
