/**
 * Whether the UDP service lets a REQUEST or STAT go on. In plaintext: once its address is
 * validated (else RETRY), refused on a server with encrypted sessions (TLS), and its access
 * token checked (--tokens, udp-auth.ts). In an encrypted session: while the session is live and
 * covers the path (the TLS side checked the token when it granted the session).
 */
import type { RemoteInfo } from 'node:dgram';
import { WireError } from '@ft/protocol';
import type { UdpRequest, UdpStat } from '@ft/protocol';
import type { PathJail } from '../files/path-jail.js';
import type { UdpServerStats } from './config.js';
import type { UdpSession, UdpSessions } from './sessions.js';
import type { TokenMinter } from './token.js';
import type { UdpAccess, UdpRefusal } from './udp-auth.js';

/** The documented refusal of plaintext UDP on a server with TLS (PROTOCOL.md, ERROR 17). */
export const PLAINTEXT_REFUSED =
  'this server serves UDP only in encrypted sessions: use an fts:// URL (or --tls) with --udp';

export class UdpAdmission {
  constructor(
    private readonly tokens: TokenMinter,
    private readonly access: UdpAccess | undefined,
    private readonly sessions: UdpSessions | undefined,
    private readonly jail: PathJail,
    private readonly stats: UdpServerStats,
  ) {}

  /** undefined: go on; 'retry': answer RETRY (address not validated); else the refusal to send. */
  judge(
    m: UdpRequest | UdpStat,
    rinfo: RemoteInfo,
    session: UdpSession | undefined,
  ): UdpRefusal | 'retry' | undefined {
    if (session !== undefined) {
      if (!this.sessions!.live(session))
        return encryption('the UDP session expired: open a new one');
      if (!this.sessions!.covers(session, m.path, this.jail))
        return {
          code: WireError.FORBIDDEN,
          retryAfterMs: 0,
          message: 'the UDP session does not cover this path',
        };
      return undefined;
    }
    if (!this.tokens.verify(m.token, rinfo.address, rinfo.port)) return 'retry';
    if (this.sessions !== undefined) {
      this.stats.plaintextRefused++;
      return encryption(PLAINTEXT_REFUSED);
    }
    return this.access?.check(m, rinfo.address, `${rinfo.address}:${rinfo.port}`);
  }
}

function encryption(message: string): UdpRefusal {
  return { code: WireError.UDP_ENCRYPTION, retryAfterMs: 0, message };
}
