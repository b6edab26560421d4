/**
 * An encrypted UDP session as the TCP side grants it (tcp/udp-session-handler.ts) and hands it,
 * through the primary, to the UDP service process (udp/sessions.ts). The keying material is a
 * secret: it travels only over the local IPC channels and is never logged.
 */

/** How long a session accepts new REQUESTs and STATs (its transfers may run on past it). */
export const UDP_SESSION_LIFETIME_MS = 600_000;

export interface UdpSessionGrant {
  /** The 8-byte session id, hex. */
  id: string;
  /** UDP_KEY_MATERIAL_SIZE bytes from the TLS exporter, base64. */
  material: string;
  /** Canonical path (components joined by "/") the session covers: it and what lies under it. */
  prefix: string;
  /** Date.now() after which no new request is accepted in the session. */
  expiresAt: number;
}

export function isUdpSessionGrant(v: unknown): v is UdpSessionGrant {
  const g = v as UdpSessionGrant | null;
  return (
    typeof g === 'object' &&
    g !== null &&
    typeof g.id === 'string' &&
    /^[0-9a-f]{16}$/.test(g.id) &&
    typeof g.material === 'string' &&
    typeof g.prefix === 'string' &&
    typeof g.expiresAt === 'number'
  );
}
