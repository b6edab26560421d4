/**
 * The access check of a UDP REQUEST or STAT on a server started with --tokens or --sign-key: made once the
 * client's address is validated (RETRY token) and before any file-system work, so the answer
 * does not depend on whether the path exists. The request's access token (flag
 * HAS_CREDENTIAL, PROTOCOL.md "UDP datagrams") is checked as HELLO's is over TCP (§5.6):
 * UNAUTHORIZED, FORBIDDEN, or BUSY once an address failed too often. Logs name the token by its
 * name, never its value. This file is the one place where the UDP service checks credentials (access/credential-check.ts,
 * the same check as TCP's: tokens and signed links).
 */
import { DatagramType, WireError } from '@ft/protocol';
import type { UdpRequest, UdpStat } from '@ft/protocol';
import { AuthFailures } from '../access/auth-failures.js';
import { leadsOutsidePrefix } from '../access/prefix-escape.js';
import { checkCredential } from '../access/credential-check.js';
import type { Credentials } from '../access/credential-check.js';
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
    private readonly credentials: Credentials,
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
    const log = (result: string, why: string, kind?: string, name?: string): void =>
      this.logger.warn('udp-request', {
        peer,
        op,
        path: m.path,
        result,
        why,
        ...(name === undefined ? {} : { [kind === 'link' ? 'link' : 'token']: name }),
      });
    const wait = this.failures.blockedFor(address);
    if (wait > 0) {
      log('FT_BUSY', 'auth-rate-limited');
      return {
        code: WireError.BUSY,
        retryAfterMs: wait,
        message: 'too many failed credential checks from this address',
      };
    }
    const check = checkCredential(this.credentials, m.credential, m.path, op);
    if (check.ok) {
      if (check.kind === 'link' || !leadsOutsidePrefix(this.jail, check.prefix, m.path))
        return undefined;
      log('FT_FORBIDDEN', 'symlink leads outside prefix', check.kind, check.name);
      return forbidden();
    }
    log(`FT_${check.code}`, check.why, check.kind, check.name);
    if (check.code === 'FORBIDDEN')
      return { code: WireError.FORBIDDEN, retryAfterMs: 0, message: check.message };
    // Guessing is what the limit slows: a valid credential asking outside its prefix is not counted.
    this.failures.fail(address);
    return { code: WireError.UNAUTHORIZED, retryAfterMs: 0, message: check.message };
  }
}

function forbidden(): UdpRefusal {
  return {
    code: WireError.FORBIDDEN,
    retryAfterMs: 0,
    message: 'the token does not cover this path',
  };
}
