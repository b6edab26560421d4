/**
 * Argument checks shared by the TCP and UDP encoders and decoders: each violation is a
 * ProtocolError with a stable code, so an encoder never emits a frame its decoder would refuse.
 */
import { utf8Length } from './bytes.js';
import { DIGEST_SIZE, DigestAlgorithm, EntryKind, MAX_U64 } from './constants.js';
import { ProtocolError } from './errors.js';
import type { PayloadReader } from './bytes.js';

export function bad(message: string): never {
  throw new ProtocolError('FT_ERR_BAD_VALUE', message);
}

/** `value` must be an integer in min..max. */
export function checkInt(value: number, min: number, max: number, field: string): void {
  if (!Number.isInteger(value) || value < min || value > max)
    bad(`${field} must be an integer in ${min}..${max}, got ${value}`);
}

export function checkBytes(b: Uint8Array, size: number, field: string): void {
  if (b.length !== size) bad(`${field} must be ${size} bytes, got ${b.length}`);
}

/** UTF-8 length of `s`, refused above `max` (paths with FT_ERR_PATH_TOO_LONG). */
export function measure(s: string, max: number, field: string): number {
  const n = utf8Length(s);
  if (n > max) {
    throw new ProtocolError(
      field === 'path' ? 'FT_ERR_PATH_TOO_LONG' : 'FT_ERR_BAD_LENGTH',
      `${field} is ${n} bytes, limit ${max}`,
    );
  }
  return n;
}

/** Refuses flag bits outside `mask`: a v1 peer must not guess what a future bit means. */
export function checkFlags(flags: number, mask: number, what: string): void {
  if ((flags & ~mask) !== 0) {
    throw new ProtocolError(
      'FT_ERR_BAD_FLAGS',
      `${what}: unknown flag bits 0x${flags.toString(16)}`,
    );
  }
}

/** An entry kind (FILE, DIRECTORY, OTHER); anything else is FT_ERR_BAD_VALUE. */
export function checkEntryKind(kind: number, what: string): void {
  if (kind !== EntryKind.FILE && kind !== EntryKind.DIRECTORY && kind !== EntryKind.OTHER) {
    throw new ProtocolError('FT_ERR_BAD_VALUE', `${what}: unknown entry kind ${kind}`);
  }
}

/**
 * Request ids are the client's, but 0 is reserved: ERROR(0) is the connection-level error, so an
 * answer to request 0 could not be told from it (PROTOCOL.md §4.3).
 */
export function checkRequestId(requestId: number): void {
  checkInt(requestId, 1, 0xffff_ffff, 'requestId');
}

/** Reads a request's requestId, refusing the reserved 0 with FT_ERR_BAD_VALUE. */
export function readRequestId(r: PayloadReader, what: string): number {
  const requestId = r.u32();
  if (requestId === 0)
    throw new ProtocolError('FT_ERR_BAD_VALUE', `${what}: requestId 0 is reserved for ERROR`);
  return requestId;
}

/** `value` must be an integer in 0..max. */
export function checkU(value: number, max: number, field: string): void {
  checkInt(value, 0, max, field);
}

/** `value` must be an integer in 0..2^53-1 (what a u64 field may hold here). */
export function checkU64(value: number, field: string): void {
  checkU(value, MAX_U64, field);
}

/** The digest fields FILE and STAT_OK share (algorithm, chunk size, root), checked for encoding. */
export function checkDigestInfo(
  m: { algorithm: number; chunkSize: number; root: Uint8Array },
  streamed = false,
): void {
  const known =
    m.algorithm === DigestAlgorithm.NONE ||
    m.algorithm === DigestAlgorithm.SHA256_CHUNKS ||
    (streamed && m.algorithm === DigestAlgorithm.SHA256_CHUNKS_STREAMED);
  if (!known) bad(`unknown digest algorithm ${m.algorithm}`);
  checkU(m.chunkSize, 0xffff_ffff, 'chunkSize');
  // The decoder refuses this, so the encoder must too: an encoded frame always decodes.
  if (m.algorithm !== DigestAlgorithm.NONE && m.chunkSize === 0) bad('chunk size 0');
  checkBytes(m.root, DIGEST_SIZE, 'root digest');
}
/** Reads the digest fields FILE and STAT_OK share, refusing unknown algorithms and chunk size 0. */
export function readDigestInfo(
  r: PayloadReader,
  what: string,
  streamed = false,
): { algorithm: DigestAlgorithm; chunkSize: number; root: Buffer } {
  const algorithm = r.u8();
  const chunkSize = r.u32();
  const root = r.bytes(DIGEST_SIZE);
  if (algorithm === DigestAlgorithm.NONE) return { algorithm, chunkSize, root };
  // SHA256_CHUNKS_STREAMED exists in FILE only (`streamed`): STAT_OK and UDP answers refuse it.
  const streamedOk = streamed && algorithm === DigestAlgorithm.SHA256_CHUNKS_STREAMED;
  if (algorithm !== DigestAlgorithm.SHA256_CHUNKS && !streamedOk) {
    throw new ProtocolError('FT_ERR_BAD_VALUE', `${what}: unknown digest algorithm ${algorithm}`);
  }
  if (chunkSize === 0) throw new ProtocolError('FT_ERR_BAD_VALUE', `${what}: chunk size 0`);
  return { algorithm, chunkSize, root };
}
