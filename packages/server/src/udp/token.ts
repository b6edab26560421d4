/**
 * Stateless address-validation tokens (the QUIC Retry idea): the server answers a request that
 * carries no valid token with a RETRY holding `issuedAt u64 ms ‖ HMAC-SHA256(secret, address ‖
 * port ‖ issuedAt)[0..16]`. Only a client that receives datagrams at its claimed address can echo
 * it, so a spoofed source never gets more than the small RETRY back. Nothing is stored per client.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { UdpLimits } from '@ft/protocol';

/** How long a token stays valid. */
export const TOKEN_LIFETIME_MS = 60_000;
/** Tolerated clock step backwards (tokens "from the future"). */
const FUTURE_SLACK_MS = 5_000;
const MAC_SIZE = UdpLimits.TOKEN_SIZE - 8;

export class TokenMinter {
  private readonly secret: Buffer;

  constructor(
    secret: Buffer = randomBytes(32),
    private readonly now: () => number = Date.now,
  ) {
    this.secret = secret;
  }

  mint(address: string, port: number): Buffer {
    const token = Buffer.allocUnsafe(UdpLimits.TOKEN_SIZE);
    const issuedAt = Math.floor(this.now());
    token.writeBigUInt64BE(BigInt(issuedAt), 0);
    this.mac(address, port, issuedAt).copy(token, 8);
    return token;
  }

  /** True if `token` was minted by us for this address and port, and has not expired. */
  verify(token: Buffer, address: string, port: number): boolean {
    if (token.length !== UdpLimits.TOKEN_SIZE) return false;
    const issuedAt = Number(token.readBigUInt64BE(0));
    const age = this.now() - issuedAt;
    if (age > TOKEN_LIFETIME_MS || age < -FUTURE_SLACK_MS) return false;
    return timingSafeEqual(token.subarray(8), this.mac(address, port, issuedAt));
  }

  private mac(address: string, port: number, issuedAt: number): Buffer {
    return createHmac('sha256', this.secret)
      .update(`ft-udp-token-v1\0${address}\0${port}\0${issuedAt}`)
      .digest()
      .subarray(0, MAC_SIZE);
  }
}
