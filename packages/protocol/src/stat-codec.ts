/**
 * STAT and STAT_OK, split from codec.ts: the request, and the answer with its optional
 * version-2 whole-file SHA-256. Encoders return one Buffer holding header and payload; decoders
 * take a complete payload (codec.ts's decodePayload calls them).
 */
import {
  DIGEST_SIZE,
  DigestAlgorithm,
  EntryKind,
  FrameType,
  Limits,
  STAT_FLAGS_MASK,
  StatFlags,
  VALIDATOR_SIZE,
} from './constants.js';
import { FrameWriter, PayloadReader } from './bytes.js';
import {
  bad,
  checkBytes,
  checkDigestInfo,
  checkEntryKind as checkKind,
  checkFlags,
  checkRequestId,
  checkU,
  checkU64,
  measure,
  readDigestInfo,
  readRequestId,
} from './checks.js';
import { ProtocolError } from './errors.js';
import type { StatRequest, StatResult } from './messages.js';

// STAT: requestId u32 flags u8 path str16
export function encodeStat(m: Omit<StatRequest, 'type'>): Buffer {
  checkRequestId(m.requestId);
  const n = measure(m.path, Limits.MAX_PATH_BYTES, 'path');
  const flags =
    (m.wantDigest ? StatFlags.WANT_DIGEST : 0) |
    (m.wantSha256 === true ? StatFlags.WANT_SHA256 : 0);
  return new FrameWriter(FrameType.STAT, 4 + 1 + 2 + n)
    .u32(m.requestId)
    .u8(flags)
    .string(m.path, n)
    .done();
}
export function decodeStat(r: PayloadReader): StatRequest {
  const requestId = readRequestId(r, 'STAT');
  const flags = r.u8();
  checkFlags(flags, STAT_FLAGS_MASK, 'STAT');
  const path = r.string('path', Limits.MAX_PATH_BYTES, 'FT_ERR_PATH_TOO_LONG');
  return {
    type: FrameType.STAT,
    requestId,
    path,
    wantDigest: (flags & StatFlags.WANT_DIGEST) !== 0,
    ...(flags & StatFlags.WANT_SHA256 ? { wantSha256: true } : {}),
  };
}

// STAT_OK: requestId u32 kind u8 size u64 mtimeMs u64 validator[16] algorithm u8 chunkSize u32 root[32]
//          then (version 2, answering WANT_SHA256 for a regular file) sha256[32]
export function encodeStatResult(m: Omit<StatResult, 'type'>): Buffer {
  checkU(m.requestId, 0xffff_ffff, 'requestId');
  checkKind(m.kind, 'STAT_OK');
  checkU64(m.size, 'size');
  checkU64(m.mtimeMs, 'mtimeMs');
  checkBytes(m.validator, VALIDATOR_SIZE, 'validator');
  checkDigestInfo(m);
  if (m.sha256 !== undefined) {
    checkBytes(m.sha256, DIGEST_SIZE, 'sha256');
    if (m.kind !== EntryKind.FILE || m.algorithm !== DigestAlgorithm.SHA256_CHUNKS)
      bad('sha256 without a file digest');
  }
  const size = 4 + 1 + 8 + 8 + VALIDATOR_SIZE + 1 + 4 + DIGEST_SIZE;
  const w = new FrameWriter(FrameType.STAT_OK, size + (m.sha256 === undefined ? 0 : DIGEST_SIZE))
    .u32(m.requestId)
    .u8(m.kind)
    .u64(m.size)
    .u64(m.mtimeMs)
    .bytes(m.validator)
    .u8(m.algorithm)
    .u32(m.chunkSize)
    .bytes(m.root);
  if (m.sha256 !== undefined) w.bytes(m.sha256);
  return w.done();
}
export function decodeStatResult(r: PayloadReader): StatResult {
  const requestId = r.u32();
  const kind = r.u8();
  checkKind(kind, 'STAT_OK');
  const size = r.u64('size');
  const mtimeMs = r.u64('mtimeMs');
  const validator = r.bytes(VALIDATOR_SIZE);
  const info = readDigestInfo(r, 'STAT_OK');
  // The optional whole-file SHA-256: told apart by the payload length, like LIST's flags byte.
  // Any other number of extra bytes is left for the length check (FT_ERR_BAD_LENGTH).
  if (r.remaining !== DIGEST_SIZE) {
    return {
      type: FrameType.STAT_OK,
      requestId,
      kind: kind as EntryKind,
      size,
      mtimeMs,
      validator,
      ...info,
    };
  }
  const sha256 = r.bytes(DIGEST_SIZE);
  if (kind !== EntryKind.FILE || info.algorithm !== DigestAlgorithm.SHA256_CHUNKS) {
    throw new ProtocolError('FT_ERR_BAD_VALUE', 'STAT_OK: sha256 without a file digest');
  }
  return {
    type: FrameType.STAT_OK,
    requestId,
    kind: kind as EntryKind,
    size,
    mtimeMs,
    validator,
    ...info,
    sha256,
  };
}
