/**
 * Codecs of the handshake family: REQUEST (client asks for a byte range), RETRY (server asks
 * the client to prove its address with a token) and ACCEPT (server opens the transfer).
 */
import { PayloadReader } from '../../bytes.js';
import { checkBytes, checkFlags, checkInt, measure } from '../../checks.js';
import { chunksOverlapping } from '../../digest.js';
import { DIGEST_SIZE, DigestAlgorithm, Limits, MAX_U64, VALIDATOR_SIZE } from '../../constants.js';
import { DatagramType, UDP_REQUEST_FLAGS_MASK, UdpLimits, UdpRequestFlags } from '../constants.js';
import type { UdpAccept, UdpRequest, UdpRetry } from '../messages.js';
import { DatagramWriter } from '../writer.js';
import {
  checkDigestFields,
  fail,
  measureCredential,
  readCredential,
  readToken,
  readTransferId,
} from './fields.js';

const ZERO_VALIDATOR = Buffer.alloc(VALIDATOR_SIZE);

// REQUEST: nonce u32 offset u64 length u64 validator[16] maxPayload u16 window u32
//          tokenLen u8 token[tokenLen] path str16 [credential str16 if HAS_CREDENTIAL]
export function encodeUdpRequest(m: Omit<UdpRequest, 'type'>): Buffer {
  checkInt(m.nonce, 1, 0xffff_ffff, 'nonce');
  checkInt(m.offset, 0, MAX_U64, 'offset');
  if (m.length !== undefined) checkInt(m.length, 0, MAX_U64 - m.offset, 'length');
  if (m.validator !== undefined) checkBytes(m.validator, VALIDATOR_SIZE, 'validator');
  checkInt(m.maxPayload, UdpLimits.MIN_PAYLOAD, UdpLimits.MAX_PAYLOAD, 'maxPayload');
  checkInt(m.window, UdpLimits.MIN_WINDOW, UdpLimits.MAX_WINDOW, 'window');
  checkInt(m.token.length, 0, UdpLimits.MAX_TOKEN, 'token length');
  const n = measure(m.path, Limits.MAX_PATH_BYTES, 'path');
  const c = measureCredential(m.credential);
  let flags = 0;
  if (m.length !== undefined) flags |= UdpRequestFlags.HAS_LENGTH;
  if (m.validator !== undefined) flags |= UdpRequestFlags.HAS_VALIDATOR;
  if (m.wantDigests) flags |= UdpRequestFlags.WANT_DIGESTS;
  if (c >= 0) flags |= UdpRequestFlags.HAS_CREDENTIAL;
  if (m.headerCrc === true) flags |= UdpRequestFlags.HEADER_CRC;
  const size =
    4 + 8 + 8 + VALIDATOR_SIZE + 2 + 4 + 1 + m.token.length + 2 + n + (c < 0 ? 0 : 2 + c);
  const w = new DatagramWriter(DatagramType.REQUEST, flags, size)
    .u32(m.nonce)
    .u64(m.offset)
    .u64(m.length ?? 0)
    .bytes(m.validator ?? ZERO_VALIDATOR)
    .u16(m.maxPayload)
    .u32(m.window)
    .u8(m.token.length)
    .bytes(m.token)
    .string(m.path, n);
  if (c >= 0) w.string(m.credential!, c);
  return w.done();
}
export function decodeRequest(r: PayloadReader, flags: number): UdpRequest {
  checkFlags(flags, UDP_REQUEST_FLAGS_MASK, 'REQUEST');
  const nonce = r.u32();
  if (nonce === 0) fail('REQUEST', 'nonce 0');
  const offset = r.u64('offset');
  const length = r.u64('length');
  if (offset + length > MAX_U64) fail('REQUEST', 'offset + length exceeds 2^53-1');
  const validator = r.bytes(VALIDATOR_SIZE);
  const maxPayload = r.u16();
  if (maxPayload < UdpLimits.MIN_PAYLOAD || maxPayload > UdpLimits.MAX_PAYLOAD)
    fail('REQUEST', `maxPayload ${maxPayload} out of range`);
  const window = r.u32();
  if (window < UdpLimits.MIN_WINDOW || window > UdpLimits.MAX_WINDOW)
    fail('REQUEST', `window ${window} out of range`);
  const token = readToken(r, 'REQUEST');
  const path = r.string('path', Limits.MAX_PATH_BYTES, 'FT_ERR_PATH_TOO_LONG');
  const credential =
    flags & UdpRequestFlags.HAS_CREDENTIAL ? readCredential(r, 'REQUEST') : undefined;
  return {
    type: DatagramType.REQUEST,
    nonce,
    path,
    offset,
    length: flags & UdpRequestFlags.HAS_LENGTH ? length : undefined,
    validator: flags & UdpRequestFlags.HAS_VALIDATOR ? validator : undefined,
    wantDigests: (flags & UdpRequestFlags.WANT_DIGESTS) !== 0,
    ...(flags & UdpRequestFlags.HEADER_CRC ? { headerCrc: true } : {}),
    maxPayload,
    window,
    token,
    ...(credential === undefined ? {} : { credential }),
  };
}

// RETRY: nonce u32 tokenLen u8 token
export function encodeUdpRetry(m: Omit<UdpRetry, 'type'>): Buffer {
  checkInt(m.nonce, 1, 0xffff_ffff, 'nonce');
  checkInt(m.token.length, 1, UdpLimits.MAX_TOKEN, 'token length');
  return new DatagramWriter(DatagramType.RETRY, 0, 4 + 1 + m.token.length)
    .u32(m.nonce)
    .u8(m.token.length)
    .bytes(m.token)
    .done();
}
export function decodeRetry(r: PayloadReader, flags: number): UdpRetry {
  checkFlags(flags, 0, 'RETRY');
  const nonce = r.u32();
  const token = readToken(r, 'RETRY');
  if (token.length === 0) fail('RETRY', 'empty token');
  return { type: DatagramType.RETRY, nonce, token };
}

// ACCEPT: nonce u32 transferId u32 size u64 offset u64 length u64 mtimeMs u64 validator[16]
//         algorithm u8 chunkSize u32 root[32] firstChunk u32 chunkCount u32
//         payloadSize u16 window u32 livenessMs u32
export function encodeUdpAccept(m: Omit<UdpAccept, 'type'>): Buffer {
  checkInt(m.nonce, 1, 0xffff_ffff, 'nonce');
  checkInt(m.transferId, 1, 0xffff_ffff, 'transferId');
  checkInt(m.size, 0, MAX_U64, 'size');
  checkInt(m.offset, 0, m.size, 'offset');
  checkInt(m.length, 0, m.size - m.offset, 'length');
  checkInt(m.mtimeMs, 0, MAX_U64, 'mtimeMs');
  checkBytes(m.validator, VALIDATOR_SIZE, 'validator');
  checkBytes(m.root, DIGEST_SIZE, 'root');
  checkInt(m.chunkSize, 0, 0xffff_ffff, 'chunkSize');
  checkDigestFields(m, 'ACCEPT');
  checkChunks(m, 'ACCEPT');
  checkInt(m.payloadSize, UdpLimits.MIN_PAYLOAD, UdpLimits.MAX_PAYLOAD, 'payloadSize');
  checkInt(m.window, UdpLimits.MIN_WINDOW, UdpLimits.MAX_WINDOW, 'window');
  checkInt(m.livenessMs, 1, UdpLimits.MAX_LIVENESS_MS, 'livenessMs');
  return new DatagramWriter(DatagramType.ACCEPT, 0, ACCEPT_PAYLOAD)
    .u32(m.nonce)
    .u32(m.transferId)
    .u64(m.size)
    .u64(m.offset)
    .u64(m.length)
    .u64(m.mtimeMs)
    .bytes(m.validator)
    .u8(m.algorithm)
    .u32(m.chunkSize)
    .bytes(m.root)
    .u32(m.firstChunk)
    .u32(m.chunkCount)
    .u16(m.payloadSize)
    .u32(m.window)
    .u32(m.livenessMs)
    .done();
}
const ACCEPT_PAYLOAD = 4 + 4 + 8 * 4 + VALIDATOR_SIZE + 1 + 4 + DIGEST_SIZE + 4 + 4 + 2 + 4 + 4;
/** The announced chunk list must be exactly the chunks overlapping the range. */
function checkChunks(
  m: {
    algorithm: number;
    chunkSize: number;
    offset: number;
    length: number;
    firstChunk: number;
    chunkCount: number;
  },
  what: string,
): void {
  if (m.algorithm === DigestAlgorithm.NONE) {
    if (m.chunkCount !== 0 || m.firstChunk !== 0) fail(what, 'chunks without a digest algorithm');
    return;
  }
  const { first, count } = chunksOverlapping(m.offset, m.length, m.chunkSize);
  if (m.chunkCount !== count || (count > 0 && m.firstChunk !== first))
    fail(what, `chunk list ${m.firstChunk}+${m.chunkCount} does not cover the range`);
  if (count > Limits.MAX_CHUNKS) fail(what, `${count} chunks`);
}
export function decodeAccept(r: PayloadReader, flags: number): UdpAccept {
  checkFlags(flags, 0, 'ACCEPT');
  const nonce = r.u32();
  const transferId = readTransferId(r, 'ACCEPT');
  const size = r.u64('size');
  const offset = r.u64('offset');
  const length = r.u64('length');
  if (offset + length > size) fail('ACCEPT', 'offset + length exceeds size');
  const mtimeMs = r.u64('mtimeMs');
  const validator = r.bytes(VALIDATOR_SIZE);
  const algorithm = r.u8() as DigestAlgorithm;
  const chunkSize = r.u32();
  const root = r.bytes(DIGEST_SIZE);
  checkDigestFields({ algorithm, chunkSize, root }, 'ACCEPT');
  const firstChunk = r.u32();
  const chunkCount = r.u32();
  checkChunks({ algorithm, chunkSize, offset, length, firstChunk, chunkCount }, 'ACCEPT');
  const payloadSize = r.u16();
  if (payloadSize < UdpLimits.MIN_PAYLOAD || payloadSize > UdpLimits.MAX_PAYLOAD)
    fail('ACCEPT', `payload size ${payloadSize}`);
  const window = r.u32();
  if (window < UdpLimits.MIN_WINDOW || window > UdpLimits.MAX_WINDOW)
    fail('ACCEPT', `window ${window}`);
  const livenessMs = r.u32();
  if (livenessMs === 0 || livenessMs > UdpLimits.MAX_LIVENESS_MS)
    fail('ACCEPT', `liveness ${livenessMs}`);
  return {
    type: DatagramType.ACCEPT,
    nonce,
    transferId,
    size,
    offset,
    length,
    mtimeMs,
    validator,
    algorithm,
    chunkSize,
    root,
    firstChunk,
    chunkCount,
    payloadSize,
    window,
    livenessMs,
  };
}
