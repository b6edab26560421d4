/**
 * What the UDP service sends a peer outside a transfer: RETRY to a peer whose address is not
 * validated yet, ERROR for a refused request, ERROR UNSUPPORTED_VERSION for a datagram of
 * another version. RETRY and the version ERROR go to unvalidated peers, so each is sent only
 * if no larger than AMPLIFICATION_FACTOR × the datagram it answers (no traffic amplification
 * at a spoofed address). Also the keys the service files peers and requests under.
 */
import type { RemoteInfo } from 'node:dgram';
import { WireError, encodeUdpError, encodeUdpRetry } from '@ft/protocol';
import type { UdpVersionError } from '@ft/protocol';
import { AMPLIFICATION_FACTOR, UdpDefaults } from './config.js';
import type { TokenMinter } from './token.js';

/** The refusal an ERROR datagram carries. */
export interface UdpErrorFields {
  code: number;
  message: string;
  retryAfterMs: number;
}

/** BUSY for a request the service cannot take now (shutting down, or at a transfer limit). */
export function busy(message: string): UdpErrorFields {
  return { code: WireError.BUSY, retryAfterMs: UdpDefaults.busyRetryMs, message };
}

/** RETRY with a fresh token for `rinfo`, or undefined when it would amplify `received` bytes. */
export function retryAnswer(
  tokens: TokenMinter,
  nonce: number,
  received: number,
  rinfo: RemoteInfo,
): Buffer | undefined {
  const answer = encodeUdpRetry({ nonce, token: tokens.mint(rinfo.address, rinfo.port) });
  return answer.length > AMPLIFICATION_FACTOR * received ? undefined : answer;
}

/** ERROR UNSUPPORTED_VERSION for `msg`, or undefined when it would amplify it. */
export function versionAnswer(msg: Buffer, error: UdpVersionError): Buffer | undefined {
  const answer = encodeUdpError({
    nonce: 0,
    transferId: 0,
    code: WireError.UNSUPPORTED_VERSION,
    retryAfterMs: 0,
    message: `ft datagram version ${error.version} unsupported; use 1`,
  });
  return answer.length <= AMPLIFICATION_FACTOR * msg.length ? answer : undefined;
}

/** ERROR refusing the request `nonce` (no transfer exists yet: transfer id 0). */
export function errorAnswer(nonce: number, e: UdpErrorFields): Buffer {
  return encodeUdpError({
    nonce,
    transferId: 0,
    code: e.code,
    retryAfterMs: e.retryAfterMs,
    message: e.message,
  });
}

/** The key of one peer (address and port). */
export function peerKey(address: string, port: number): string {
  return `${address}|${port}`;
}

/** The key of one request of one peer (a retransmitted REQUEST has the same nonce). */
export function requestKey(address: string, port: number, nonce: number): string {
  return `${address}|${port}|${nonce}`;
}
