/** Field checks and readers shared by the datagram codecs of several message families. */
import { PayloadReader } from '../../bytes.js';
import { bad, measure } from '../../checks.js';
import { DigestAlgorithm, Limits } from '../../constants.js';
import { ProtocolError } from '../../errors.js';
import { UdpLimits } from '../constants.js';

/** Throws FT_ERR_BAD_VALUE naming the datagram (`what`) and the field at fault. */
export function fail(what: string, message: string): never {
  throw new ProtocolError('FT_ERR_BAD_VALUE', `${what}: ${message}`);
}

/** Reads a u8-length-prefixed address token, at most UdpLimits.MAX_TOKEN bytes. */
export function readToken(r: PayloadReader, what: string): Buffer {
  const len = r.u8();
  if (len > UdpLimits.MAX_TOKEN) fail(what, `token of ${len} bytes`);
  return r.bytes(len);
}

/** Reads a transfer id; 0 is reserved (no transfer) and refused. */
export function readTransferId(r: PayloadReader, what: string): number {
  const id = r.u32();
  if (id === 0) fail(what, 'transfer id 0');
  return id;
}

/** Checks the digest algorithm and chunk size announced by ACCEPT and STAT_OK. */
export function checkDigestFields(
  m: { algorithm: number; chunkSize: number; root: Uint8Array },
  what: string,
): void {
  if (m.algorithm === DigestAlgorithm.NONE) return;
  if (m.algorithm !== DigestAlgorithm.SHA256_CHUNKS)
    fail(what, `unknown digest algorithm ${m.algorithm}`);
  if (m.chunkSize === 0) fail(what, 'chunk size 0');
}

/**
 * Byte length of an optional access token for REQUEST and STAT (-1: absent); 1..256 bytes of
 * UTF-8 like HELLO's token over TCP.
 */
export function measureCredential(credential: string | undefined): number {
  if (credential === undefined) return -1;
  const n = measure(credential, Limits.MAX_TOKEN_BYTES, 'credential');
  if (n === 0) bad('credential must not be empty');
  return n;
}

/** Reads the trailing access token of a REQUEST or STAT whose HAS_CREDENTIAL flag is set. */
export function readCredential(r: PayloadReader, what: string): string {
  const credential = r.string('credential', Limits.MAX_TOKEN_BYTES, 'FT_ERR_BAD_LENGTH');
  if (credential === '') fail(what, 'empty credential');
  return credential;
}
