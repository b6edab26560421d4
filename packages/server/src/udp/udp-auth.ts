/**
 * The access check of a UDP REQUEST or STAT on a server started with --tokens: made once the
 * client's address is validated (RETRY token) and before any file-system work, so the answer
 * does not depend on whether the path exists. The request's access token (flag
 * HAS_CREDENTIAL, PROTOCOL.md "UDP datagrams") is checked as HELLO's is over TCP (§5.6):
 * UNAUTHORIZED, FORBIDDEN, or BUSY once an address failed too often. Logs name the token by its
 * name, never its value. This file is the one place where the UDP service asks the token store.
 */
import { DatagramType, WireError } from '@ft/protocol';
import type { UdpRequest, UdpStat } from '@ft/protocol';
import { AuthFailures } from '../access/auth-failures.js';
import { leadsOutsidePrefix } from '../access/prefix-escape.js';
import type { TokenStore } from '../access/token-store.js';
import type { PathJail } from '../files/path-jail.js';
import type { Logger } from '../logger.js';

/** Why a request is refused: the ERROR datagram's fields. */
export interface UdpRefusal {
  code: number;
  retryAfterMs: number;
  message: string;
}

/** The token check of the UDP service (one per process: its failure counts are per address). */
export class UdpAccess {
  constructor(
    private readonly store: TokenStore,
    private readonly jail: PathJail,
    private readonly logger: Logger,
    private readonly failures = new AuthFailures(),
  ) {}

  /**
   * The refusal for `m` from `address`, or undefined if its token lets it through; refusals
   * are logged (peer, op, path, why, the token's name).
   */
  check(m: UdpRequest | UdpStat, address: string, peer: string): UdpRefusal | undefined {
    const op = m.type === DatagramType.REQUEST ? 'GET' : 'STAT';
    const log = (result: string, why: string, name?: string): void =>
      this.logger.warn('udp-request', {
        peer,
        op,
        path: m.path,
        result,
        why,
        ...(name === undefined ? {} : { token: name }),
      });
    const wait = this.failures.blockedFor(address);
    if (wait > 0) {
      log('FT_BUSY', 'auth-rate-limited');
      return {
        code: WireError.BUSY,
        retryAfterMs: wait,
        message: 'too many failed token checks from this address',
      };
    }
    const check = this.store.check(m.credential, m.path);
    if (check.ok) {
      if (!leadsOutsidePrefix(this.jail, check.prefix, m.path)) return undefined;
      log('FT_FORBIDDEN', 'symlink leads outside prefix', check.name);
      return forbidden();
    }
    log(`FT_${check.code}`, check.why, check.name);
    if (check.code === 'FORBIDDEN') return forbidden();
    // Guessing is what the limit slows: a valid token asking outside its prefix is not counted.
    this.failures.fail(address);
    return {
      code: WireError.UNAUTHORIZED,
      retryAfterMs: 0,
      message:
        m.credential === undefined
          ? 'this server needs an access token'
          : 'invalid, expired or revoked token',
    };
  }
}

function forbidden(): UdpRefusal {
  return {
    code: WireError.FORBIDDEN,
    retryAfterMs: 0,
    message: 'the token does not cover this path',
  };
}
