/**
 * Pure encode/decode pairs for every ft datagram. Each datagram starts with magic, version, type,
 * flags and a CRC-32 of the whole datagram, so a corrupted, foreign or future-version datagram is
 * recognised and dropped before any field is trusted. DATA payloads are never copied: the encoder
 * returns only the header (send it with the payload as two buffers) and the decoder returns a view.
 */
import { PayloadReader, typeNamer, utf8Length } from '../bytes.js';
import { bad, checkBytes, checkFlags, checkInt, measure } from '../checks.js';
import { chunksOverlapping } from '../digest.js';
import {
  DIGEST_SIZE,
  DigestAlgorithm,
  EndStatus,
  EntryKind,
  Limits,
  MAX_U64,
  VALIDATOR_SIZE,
} from '../constants.js';
import { FtError, ProtocolError, WireError } from '../errors.js';
import {
  ACK_FIXED_SIZE,
  ACK_RANGE_SIZE,
  CloseReason,
  DATA_HEADER_SIZE,
  DatagramType,
  UDP_HEADER_SIZE,
  UDP_MAGIC,
  UDP_REQUEST_FLAGS_MASK,
  UDP_STAT_FLAGS_MASK,
  UDP_VERSION,
  UdpLimits,
  UdpRequestFlags,
  UdpStatFlags,
} from './constants.js';
import type {
  ByteRange,
  UdpAccept,
  UdpAck,
  UdpClose,
  UdpData,
  UdpDigestRequest,
  UdpDigests,
  UdpError,
  UdpFin,
  UdpMessage,
  UdpRequest,
  UdpRetry,
  UdpStat,
  UdpStatOk,
} from './messages.js';
import { DatagramWriter } from './writer.js';
import { datagramChecksum, sealDatagram } from './checksum.js';

const TWO_32 = 0x1_0000_0000;
const ZERO_VALIDATOR = Buffer.alloc(VALIDATOR_SIZE);
/** Most digests one DIGEST_REQUEST may ask for (one MAX_PAYLOAD datagram holds 2031). */
export const MAX_DIGESTS_PER_DATAGRAM = 2031;

/** A datagram from a peer speaking another version of the datagram protocol. */
export class UdpVersionError extends FtError {
  constructor(readonly version: number) {
    super(
      'FT_ERR_UDP_VERSION',
      `datagram protocol version ${version} is not supported (this peer speaks ${UDP_VERSION})`,
      { wireCode: WireError.UNSUPPORTED_VERSION },
    );
    this.name = 'UdpVersionError';
  }
}

/** A datagram whose CRC-32 does not match: damaged in flight. */
export class UdpChecksumError extends FtError {
  constructor() {
    super('FT_ERR_UDP_CHECKSUM', 'datagram checksum mismatch', {
      wireCode: WireError.BAD_REQUEST,
    });
    this.name = 'UdpChecksumError';
  }
}

function fail(what: string, message: string): never {
  throw new ProtocolError('FT_ERR_BAD_VALUE', `${what}: ${message}`);
}

// REQUEST: nonce u32 offset u64 length u64 validator[16] maxPayload u16 window u32
//          tokenLen u8 token[tokenLen] path str16
export function encodeUdpRequest(m: Omit<UdpRequest, 'type'>): Buffer {
  checkInt(m.nonce, 1, 0xffff_ffff, 'nonce');
  checkInt(m.offset, 0, MAX_U64, 'offset');
  if (m.length !== undefined) checkInt(m.length, 0, MAX_U64 - m.offset, 'length');
  if (m.validator !== undefined) checkBytes(m.validator, VALIDATOR_SIZE, 'validator');
  checkInt(m.maxPayload, UdpLimits.MIN_PAYLOAD, UdpLimits.MAX_PAYLOAD, 'maxPayload');
  checkInt(m.window, UdpLimits.MIN_WINDOW, UdpLimits.MAX_WINDOW, 'window');
  checkInt(m.token.length, 0, UdpLimits.MAX_TOKEN, 'token length');
  const n = measure(m.path, Limits.MAX_PATH_BYTES, 'path');
  let flags = 0;
  if (m.length !== undefined) flags |= UdpRequestFlags.HAS_LENGTH;
  if (m.validator !== undefined) flags |= UdpRequestFlags.HAS_VALIDATOR;
  if (m.wantDigests) flags |= UdpRequestFlags.WANT_DIGESTS;
  const size = 4 + 8 + 8 + VALIDATOR_SIZE + 2 + 4 + 1 + m.token.length + 2 + n;
  return new DatagramWriter(DatagramType.REQUEST, flags, size)
    .u32(m.nonce)
    .u64(m.offset)
    .u64(m.length ?? 0)
    .bytes(m.validator ?? ZERO_VALIDATOR)
    .u16(m.maxPayload)
    .u32(m.window)
    .u8(m.token.length)
    .bytes(m.token)
    .string(m.path, n)
    .done();
}
function decodeRequest(r: PayloadReader, flags: number): UdpRequest {
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
  return {
    type: DatagramType.REQUEST,
    nonce,
    path,
    offset,
    length: flags & UdpRequestFlags.HAS_LENGTH ? length : undefined,
    validator: flags & UdpRequestFlags.HAS_VALIDATOR ? validator : undefined,
    wantDigests: (flags & UdpRequestFlags.WANT_DIGESTS) !== 0,
    maxPayload,
    window,
    token,
  };
}
function readToken(r: PayloadReader, what: string): Buffer {
  const len = r.u8();
  if (len > UdpLimits.MAX_TOKEN) fail(what, `token of ${len} bytes`);
  return r.bytes(len);
}

// STAT: nonce u32 tokenLen u8 token path str16
export function encodeUdpStat(m: Omit<UdpStat, 'type'>): Buffer {
  checkInt(m.nonce, 1, 0xffff_ffff, 'nonce');
  checkInt(m.token.length, 0, UdpLimits.MAX_TOKEN, 'token length');
  const n = measure(m.path, Limits.MAX_PATH_BYTES, 'path');
  return new DatagramWriter(
    DatagramType.STAT,
    m.wantDigest ? UdpStatFlags.WANT_DIGEST : 0,
    4 + 1 + m.token.length + 2 + n,
  )
    .u32(m.nonce)
    .u8(m.token.length)
    .bytes(m.token)
    .string(m.path, n)
    .done();
}
function decodeStat(r: PayloadReader, flags: number): UdpStat {
  checkFlags(flags, UDP_STAT_FLAGS_MASK, 'STAT');
  const nonce = r.u32();
  if (nonce === 0) fail('STAT', 'nonce 0');
  const token = readToken(r, 'STAT');
  const path = r.string('path', Limits.MAX_PATH_BYTES, 'FT_ERR_PATH_TOO_LONG');
  return {
    type: DatagramType.STAT,
    nonce,
    path,
    wantDigest: (flags & UdpStatFlags.WANT_DIGEST) !== 0,
    token,
  };
}

function checkRanges(ranges: readonly ByteRange[], cumulative: number, what: string): void {
  let floor = cumulative;
  for (const { start, end } of ranges) {
    // Ranges must be sorted, disjoint, non-empty and separated by a gap (else they would merge).
    if (!(start > floor && end > start && end <= MAX_U64))
      fail(what, `SACK range [${start}, ${end}) is not above ${floor}`);
    floor = end;
  }
}

// ACK: transferId u32 cumulative u64 windowEnd u64 tsEcho u32 count u8 count × (start u64 end u64)
export function encodeUdpAck(m: Omit<UdpAck, 'type'>): Buffer {
  checkInt(m.transferId, 1, 0xffff_ffff, 'transferId');
  checkInt(m.cumulative, 0, MAX_U64, 'cumulative');
  checkInt(m.windowEnd, m.cumulative, MAX_U64, 'windowEnd');
  checkInt(m.tsEcho, 0, 0xffff_ffff, 'tsEcho');
  checkInt(m.ranges.length, 0, UdpLimits.MAX_ACK_RANGES, 'range count');
  checkRanges(m.ranges, m.cumulative, 'ACK');
  const w = new DatagramWriter(
    DatagramType.ACK,
    0,
    ACK_FIXED_SIZE - UDP_HEADER_SIZE + ACK_RANGE_SIZE * m.ranges.length,
  )
    .u32(m.transferId)
    .u64(m.cumulative)
    .u64(m.windowEnd)
    .u32(m.tsEcho)
    .u8(m.ranges.length);
  for (const { start, end } of m.ranges) w.u64(start).u64(end);
  return w.done();
}
function decodeAck(r: PayloadReader, flags: number): UdpAck {
  checkFlags(flags, 0, 'ACK');
  const transferId = readTransferId(r, 'ACK');
  const cumulative = r.u64('cumulative');
  const windowEnd = r.u64('windowEnd');
  if (windowEnd < cumulative) fail('ACK', 'windowEnd below cumulative');
  const tsEcho = r.u32();
  const count = r.u8();
  if (count > UdpLimits.MAX_ACK_RANGES) fail('ACK', `${count} SACK ranges`);
  const ranges: ByteRange[] = [];
  for (let i = 0; i < count; i++) ranges.push({ start: r.u64('start'), end: r.u64('end') });
  checkRanges(ranges, cumulative, 'ACK');
  return { type: DatagramType.ACK, transferId, cumulative, windowEnd, tsEcho, ranges };
}
function readTransferId(r: PayloadReader, what: string): number {
  const id = r.u32();
  if (id === 0) fail(what, 'transfer id 0');
  return id;
}

// DIGEST_REQUEST: transferId u32 firstChunk u32 count u16
export function encodeUdpDigestRequest(m: Omit<UdpDigestRequest, 'type'>): Buffer {
  checkInt(m.transferId, 1, 0xffff_ffff, 'transferId');
  checkInt(m.firstChunk, 0, 0xffff_ffff, 'firstChunk');
  checkInt(m.count, 1, MAX_DIGESTS_PER_DATAGRAM, 'count');
  return new DatagramWriter(DatagramType.DIGEST_REQUEST, 0, 4 + 4 + 2)
    .u32(m.transferId)
    .u32(m.firstChunk)
    .u16(m.count)
    .done();
}
function decodeDigestRequest(r: PayloadReader, flags: number): UdpDigestRequest {
  checkFlags(flags, 0, 'DIGEST_REQUEST');
  const transferId = readTransferId(r, 'DIGEST_REQUEST');
  const firstChunk = r.u32();
  const count = r.u16();
  if (count === 0 || count > MAX_DIGESTS_PER_DATAGRAM) fail('DIGEST_REQUEST', `count ${count}`);
  return { type: DatagramType.DIGEST_REQUEST, transferId, firstChunk, count };
}

// CLOSE: transferId u32 reason u8
export function encodeUdpClose(m: Omit<UdpClose, 'type'>): Buffer {
  checkInt(m.transferId, 1, 0xffff_ffff, 'transferId');
  if (m.reason !== CloseReason.DONE && m.reason !== CloseReason.CANCEL) bad('unknown reason');
  return new DatagramWriter(DatagramType.CLOSE, 0, 5).u32(m.transferId).u8(m.reason).done();
}
function decodeClose(r: PayloadReader, flags: number): UdpClose {
  checkFlags(flags, 0, 'CLOSE');
  const transferId = readTransferId(r, 'CLOSE');
  const reason = r.u8();
  if (reason !== CloseReason.DONE && reason !== CloseReason.CANCEL)
    fail('CLOSE', `unknown reason ${reason}`);
  return { type: DatagramType.CLOSE, transferId, reason };
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
function decodeRetry(r: PayloadReader, flags: number): UdpRetry {
  checkFlags(flags, 0, 'RETRY');
  const nonce = r.u32();
  const token = readToken(r, 'RETRY');
  if (token.length === 0) fail('RETRY', 'empty token');
  return { type: DatagramType.RETRY, nonce, token };
}

function checkDigestFields(
  m: { algorithm: number; chunkSize: number; root: Uint8Array },
  what: string,
): void {
  if (m.algorithm === DigestAlgorithm.NONE) return;
  if (m.algorithm !== DigestAlgorithm.SHA256_CHUNKS)
    fail(what, `unknown digest algorithm ${m.algorithm}`);
  if (m.chunkSize === 0) fail(what, 'chunk size 0');
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
function decodeAccept(r: PayloadReader, flags: number): UdpAccept {
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

/**
 * DATA: transferId u32 offset u64 tsval u32, then the payload (the rest of the datagram).
 * Returns only the sealed header: send `[header, payload]` so file bytes are never copied.
 */
export function encodeUdpDataHeader(
  transferId: number,
  offset: number,
  tsval: number,
  payload: Uint8Array,
): Buffer {
  const head = Buffer.allocUnsafe(DATA_HEADER_SIZE);
  head[0] = UDP_MAGIC;
  head[1] = UDP_VERSION;
  head[2] = DatagramType.DATA;
  head[3] = 0;
  head.writeUInt32BE(transferId, 8);
  head.writeUInt32BE(Math.floor(offset / TWO_32), 12);
  head.writeUInt32BE(offset >>> 0, 16);
  head.writeUInt32BE(tsval, 20);
  return sealDatagram(head, payload);
}
function decodeData(buf: Buffer, flags: number): UdpData {
  checkFlags(flags, 0, 'DATA');
  const r = new PayloadReader(buf.subarray(UDP_HEADER_SIZE, DATA_HEADER_SIZE), 'DATA');
  const transferId = readTransferId(r, 'DATA');
  const offset = r.u64('offset');
  const tsval = r.u32();
  const payload = buf.subarray(DATA_HEADER_SIZE);
  if (payload.length === 0 || payload.length > UdpLimits.MAX_PAYLOAD)
    fail('DATA', `payload of ${payload.length} bytes`);
  if (offset + payload.length > MAX_U64) fail('DATA', 'offset + length exceeds 2^53-1');
  if (tsval === 0) fail('DATA', 'tsval 0');
  return { type: DatagramType.DATA, transferId, offset, tsval, payload };
}

// DIGESTS: transferId u32 firstChunk u32 count u16 digests[32 × count]
export function encodeUdpDigests(m: Omit<UdpDigests, 'type'>): Buffer {
  checkInt(m.transferId, 1, 0xffff_ffff, 'transferId');
  checkInt(m.firstChunk, 0, 0xffff_ffff, 'firstChunk');
  checkInt(m.digests.length, 1, MAX_DIGESTS_PER_DATAGRAM, 'digest count');
  const w = new DatagramWriter(DatagramType.DIGESTS, 0, 10 + DIGEST_SIZE * m.digests.length)
    .u32(m.transferId)
    .u32(m.firstChunk)
    .u16(m.digests.length);
  for (const d of m.digests) {
    checkBytes(d, DIGEST_SIZE, 'digest');
    w.bytes(d);
  }
  return w.done();
}
function decodeDigests(r: PayloadReader, flags: number): UdpDigests {
  checkFlags(flags, 0, 'DIGESTS');
  const transferId = readTransferId(r, 'DIGESTS');
  const firstChunk = r.u32();
  const count = r.u16();
  if (count === 0 || count > MAX_DIGESTS_PER_DATAGRAM) fail('DIGESTS', `count ${count}`);
  const digests: Buffer[] = [];
  for (let i = 0; i < count; i++) digests.push(r.bytes(DIGEST_SIZE));
  return { type: DatagramType.DIGESTS, transferId, firstChunk, digests };
}

// FIN: transferId u32 status u8 end u64
export function encodeUdpFin(m: Omit<UdpFin, 'type'>): Buffer {
  checkInt(m.transferId, 1, 0xffff_ffff, 'transferId');
  if (m.status !== EndStatus.OK && m.status !== EndStatus.CHANGED) bad('unknown FIN status');
  checkInt(m.end, 0, MAX_U64, 'end');
  return new DatagramWriter(DatagramType.FIN, 0, 13)
    .u32(m.transferId)
    .u8(m.status)
    .u64(m.end)
    .done();
}
function decodeFin(r: PayloadReader, flags: number): UdpFin {
  checkFlags(flags, 0, 'FIN');
  const transferId = readTransferId(r, 'FIN');
  const status = r.u8();
  if (status !== EndStatus.OK && status !== EndStatus.CHANGED)
    fail('FIN', `unknown status ${status}`);
  const end = r.u64('end');
  return { type: DatagramType.FIN, transferId, status, end };
}

function isKind(kind: number): boolean {
  return kind === EntryKind.FILE || kind === EntryKind.DIRECTORY || kind === EntryKind.OTHER;
}

// STAT_OK: nonce u32 kind u8 size u64 mtimeMs u64 validator[16] algorithm u8 chunkSize u32 root[32]
export function encodeUdpStatOk(m: Omit<UdpStatOk, 'type'>): Buffer {
  checkInt(m.nonce, 1, 0xffff_ffff, 'nonce');
  if (!isKind(m.kind)) bad(`unknown entry kind ${m.kind}`);
  checkInt(m.size, 0, MAX_U64, 'size');
  checkInt(m.mtimeMs, 0, MAX_U64, 'mtimeMs');
  checkBytes(m.validator, VALIDATOR_SIZE, 'validator');
  checkInt(m.chunkSize, 0, 0xffff_ffff, 'chunkSize');
  checkBytes(m.root, DIGEST_SIZE, 'root');
  checkDigestFields(m, 'STAT_OK');
  return new DatagramWriter(
    DatagramType.STAT_OK,
    0,
    4 + 1 + 8 + 8 + VALIDATOR_SIZE + 1 + 4 + DIGEST_SIZE,
  )
    .u32(m.nonce)
    .u8(m.kind)
    .u64(m.size)
    .u64(m.mtimeMs)
    .bytes(m.validator)
    .u8(m.algorithm)
    .u32(m.chunkSize)
    .bytes(m.root)
    .done();
}
function decodeStatOk(r: PayloadReader, flags: number): UdpStatOk {
  checkFlags(flags, 0, 'STAT_OK');
  const nonce = r.u32();
  const kind = r.u8();
  if (!isKind(kind)) fail('STAT_OK', `unknown entry kind ${kind}`);
  const size = r.u64('size');
  const mtimeMs = r.u64('mtimeMs');
  const validator = r.bytes(VALIDATOR_SIZE);
  const algorithm = r.u8() as DigestAlgorithm;
  const chunkSize = r.u32();
  const root = r.bytes(DIGEST_SIZE);
  checkDigestFields({ algorithm, chunkSize, root }, 'STAT_OK');
  return {
    type: DatagramType.STAT_OK,
    nonce,
    kind: kind as EntryKind,
    size,
    mtimeMs,
    validator,
    algorithm,
    chunkSize,
    root,
  };
}

/** The longest prefix of `s` that fits in `max` UTF-8 bytes, cut between characters. */
function truncateUtf8(s: string, max: number): string {
  if (utf8Length(s) <= max) return s;
  const bytes = Buffer.from(s, 'utf8');
  let cut = max;
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return bytes.toString('utf8', 0, cut);
}

// ERROR: nonce u32 transferId u32 code u16 retryAfterMs u32 message str16
export function encodeUdpError(m: Omit<UdpError, 'type'>): Buffer {
  checkInt(m.nonce, 0, 0xffff_ffff, 'nonce');
  checkInt(m.transferId, 0, 0xffff_ffff, 'transferId');
  checkInt(m.code, 0, 0xffff, 'code');
  checkInt(m.retryAfterMs, 0, 0xffff_ffff, 'retryAfterMs');
  const message = truncateUtf8(m.message, UdpLimits.MAX_ERROR_MESSAGE_BYTES);
  const n = utf8Length(message);
  return new DatagramWriter(DatagramType.ERROR, 0, 4 + 4 + 2 + 4 + 2 + n)
    .u32(m.nonce)
    .u32(m.transferId)
    .u16(m.code)
    .u32(m.retryAfterMs)
    .string(message, n)
    .done();
}
function decodeError(r: PayloadReader, flags: number): UdpError {
  checkFlags(flags, 0, 'ERROR');
  const nonce = r.u32();
  const transferId = r.u32();
  const code = r.u16();
  const retryAfterMs = r.u32();
  const message = r.string('message', UdpLimits.MAX_ERROR_MESSAGE_BYTES, 'FT_ERR_BAD_LENGTH');
  return { type: DatagramType.ERROR, nonce, transferId, code, retryAfterMs, message };
}

type Decoder = (r: PayloadReader, flags: number) => UdpMessage;
const DECODERS: Readonly<Record<number, Decoder>> = {
  [DatagramType.REQUEST]: decodeRequest,
  [DatagramType.STAT]: decodeStat,
  [DatagramType.ACK]: decodeAck,
  [DatagramType.DIGEST_REQUEST]: decodeDigestRequest,
  [DatagramType.CLOSE]: decodeClose,
  [DatagramType.RETRY]: decodeRetry,
  [DatagramType.ACCEPT]: decodeAccept,
  [DatagramType.DIGESTS]: decodeDigests,
  [DatagramType.FIN]: decodeFin,
  [DatagramType.STAT_OK]: decodeStatOk,
  [DatagramType.ERROR]: decodeError,
};

const nameDatagramType = typeNamer(DatagramType);

/** Human name of a datagram type, e.g. 0x43 → 'DATA'. */
export function datagramTypeName(type: number): string {
  return nameDatagramType(type);
}

/**
 * Checks the common header (magic, version, checksum) without decoding the body. Returns the
 * datagram type. Throws ProtocolError (FT_ERR_BAD_MAGIC, FT_ERR_TRUNCATED), UdpVersionError or
 * UdpChecksumError.
 */
export function checkDatagramHeader(buf: Buffer): number {
  if (buf.length < UDP_HEADER_SIZE)
    throw new ProtocolError('FT_ERR_TRUNCATED', `datagram of ${buf.length} bytes is too short`);
  if (buf[0] !== UDP_MAGIC) throw new ProtocolError('FT_ERR_BAD_MAGIC', 'not an ft datagram');
  if (buf[1] !== UDP_VERSION) throw new UdpVersionError(buf[1]!);
  if (buf.length > UdpLimits.MAX_DATAGRAM)
    throw new ProtocolError('FT_ERR_FRAME_TOO_LARGE', `datagram of ${buf.length} bytes`);
  if (buf.readUInt32BE(4) !== datagramChecksum(buf)) throw new UdpChecksumError();
  return buf[2]!;
}

/**
 * Decodes one datagram. DATA payloads are views into `buf`; every other field is copied.
 * Throws a FtError (never anything else) for anything malformed.
 */
export function decodeDatagram(buf: Buffer): UdpMessage {
  const type = checkDatagramHeader(buf);
  const flags = buf[3]!;
  if (type === DatagramType.DATA) return decodeData(buf, flags);
  const decode = DECODERS[type];
  if (decode === undefined)
    throw new ProtocolError(
      'FT_ERR_UNKNOWN_FRAME_TYPE',
      `unknown datagram type ${datagramTypeName(type)}`,
    );
  const r = new PayloadReader(buf.subarray(UDP_HEADER_SIZE), datagramTypeName(type));
  const message = decode(r, flags);
  r.end();
  return message;
}
