/**
 * Pure encode/decode pairs for every TCP frame. Encoders return one small Buffer holding the
 * frame header and payload; file data is never copied into a frame. Decoders take a complete
 * payload and return the message or throw a ProtocolError.
 */
import {
  CHUNK_DIGEST_FLAGS_MASK,
  ChunkDigestFlags,
  DIGEST_SIZE,
  DigestAlgorithm,
  EndStatus,
  FrameType,
  GET_FLAGS_MASK,
  GetFlags,
  Limits,
  MAGIC,
  MAX_U64,
  VALIDATOR_SIZE,
} from './constants.js';
import { FrameWriter, PayloadReader, typeNamer, utf8Length } from './bytes.js';
import {
  bad,
  checkBytes,
  checkDigestInfo,
  checkFlags,
  checkRequestId,
  checkU,
  checkU64,
  measure,
  readDigestInfo,
  readRequestId,
} from './checks.js';
import { decodeList, decodeListResult } from './list-codec.js';
import { decodeStat, decodeStatResult } from './stat-codec.js';
import { decodeUdpSession, decodeUdpSessionOk } from './udp-session-codec.js';
import { ProtocolError } from './errors.js';
import type {
  ChunkDigest,
  End,
  ErrorFrame,
  FileHeader,
  GetRequest,
  Hello,
  Message,
  Welcome,
} from './messages.js';

const ZERO_VALIDATOR = Buffer.alloc(VALIDATOR_SIZE);
const ZERO_DIGEST = Buffer.alloc(DIGEST_SIZE);

function checkMagic(r: PayloadReader, what: string): void {
  const m = r.bytes(4);
  if (!m.equals(MAGIC))
    throw new ProtocolError('FT_ERR_BAD_MAGIC', `${what}: not an ft peer (bad magic)`);
}

// HELLO: magic[4] minVersion u16 maxVersion u16 name str16 [token str16]
// The token is optional and trailing: a HELLO without it is byte-identical to the old layout.
export function encodeHello(m: Omit<Hello, 'type'>): Buffer {
  checkU(m.minVersion, 0xffff, 'minVersion');
  checkU(m.maxVersion, 0xffff, 'maxVersion');
  if (m.minVersion > m.maxVersion) bad('minVersion > maxVersion');
  const n = measure(m.name, Limits.MAX_PEER_NAME_BYTES, 'name');
  const t = m.token === undefined ? -1 : measure(m.token, Limits.MAX_TOKEN_BYTES, 'token');
  if (t === 0) bad('token must not be empty');
  const w = new FrameWriter(FrameType.HELLO, 4 + 2 + 2 + 2 + n + (t < 0 ? 0 : 2 + t))
    .bytes(MAGIC)
    .u16(m.minVersion)
    .u16(m.maxVersion)
    .string(m.name, n);
  if (m.token !== undefined) w.string(m.token, t);
  return w.done();
}
function decodeHello(r: PayloadReader): Hello {
  checkMagic(r, 'HELLO');
  const minVersion = r.u16();
  const maxVersion = r.u16();
  if (minVersion > maxVersion)
    throw new ProtocolError('FT_ERR_BAD_VALUE', 'HELLO: minVersion > maxVersion');
  const name = r.string('name', Limits.MAX_PEER_NAME_BYTES, 'FT_ERR_BAD_LENGTH');
  if (r.remaining === 0) return { type: FrameType.HELLO, minVersion, maxVersion, name };
  const token = r.string('token', Limits.MAX_TOKEN_BYTES, 'FT_ERR_BAD_LENGTH');
  if (token === '') throw new ProtocolError('FT_ERR_BAD_VALUE', 'HELLO: empty token');
  return { type: FrameType.HELLO, minVersion, maxVersion, name, token };
}

// WELCOME: magic[4] version u16 maxRequestFrame u32 name str16
export function encodeWelcome(m: Omit<Welcome, 'type'>): Buffer {
  checkU(m.version, 0xffff, 'version');
  checkU(m.maxRequestFrame, 0xffff_ffff, 'maxRequestFrame');
  const n = measure(m.name, Limits.MAX_PEER_NAME_BYTES, 'name');
  return new FrameWriter(FrameType.WELCOME, 4 + 2 + 4 + 2 + n)
    .bytes(MAGIC)
    .u16(m.version)
    .u32(m.maxRequestFrame)
    .string(m.name, n)
    .done();
}
function decodeWelcome(r: PayloadReader): Welcome {
  checkMagic(r, 'WELCOME');
  const version = r.u16();
  const maxRequestFrame = r.u32();
  const name = r.string('name', Limits.MAX_PEER_NAME_BYTES, 'FT_ERR_BAD_LENGTH');
  return { type: FrameType.WELCOME, version, maxRequestFrame, name };
}

// GET: requestId u32 flags u8 offset u64 length u64 validator[16] path str16
export function encodeGet(m: Omit<GetRequest, 'type'>): Buffer {
  checkRequestId(m.requestId);
  checkU64(m.offset, 'offset');
  if (m.length !== undefined) checkU(m.length, MAX_U64 - m.offset, 'length');
  if (m.validator !== undefined) checkBytes(m.validator, VALIDATOR_SIZE, 'validator');
  const n = measure(m.path, Limits.MAX_PATH_BYTES, 'path');
  let flags = 0;
  if (m.length !== undefined) flags |= GetFlags.HAS_LENGTH;
  if (m.validator !== undefined) flags |= GetFlags.HAS_VALIDATOR;
  if (m.wantDigests) flags |= GetFlags.WANT_DIGESTS;
  if (m.recheck === true) flags |= GetFlags.RECHECK;
  if (m.streamDigests === true) flags |= GetFlags.STREAM_DIGESTS;
  return new FrameWriter(FrameType.GET, 4 + 1 + 8 + 8 + VALIDATOR_SIZE + 2 + n)
    .u32(m.requestId)
    .u8(flags)
    .u64(m.offset)
    .u64(m.length ?? 0)
    .bytes(m.validator ?? ZERO_VALIDATOR)
    .string(m.path, n)
    .done();
}
function decodeGet(r: PayloadReader): GetRequest {
  const requestId = readRequestId(r, 'GET');
  const flags = r.u8();
  checkFlags(flags, GET_FLAGS_MASK, 'GET');
  const offset = r.u64('offset');
  const length = r.u64('length');
  // The range must be addressable: no clipping of a sum past 2^53-1 (the UDP REQUEST's rule too).
  if (flags & GetFlags.HAS_LENGTH && length > MAX_U64 - offset)
    throw new ProtocolError('FT_ERR_BAD_VALUE', 'GET: offset + length exceeds 2^53-1');
  const validator = r.bytes(VALIDATOR_SIZE);
  const path = r.string('path', Limits.MAX_PATH_BYTES, 'FT_ERR_PATH_TOO_LONG');
  return {
    type: FrameType.GET,
    requestId,
    path,
    offset,
    length: flags & GetFlags.HAS_LENGTH ? length : undefined,
    validator: flags & GetFlags.HAS_VALIDATOR ? validator : undefined,
    wantDigests: (flags & GetFlags.WANT_DIGESTS) !== 0,
    ...((flags & GetFlags.RECHECK) !== 0 ? { recheck: true } : {}),
    ...((flags & GetFlags.STREAM_DIGESTS) !== 0 ? { streamDigests: true } : {}),
  };
}

// FILE: requestId u32 size u64 offset u64 length u64 mtimeMs u64 validator[16]
//       algorithm u8 chunkSize u32 root[32] firstChunk u32 chunkCount u32 digests[32*chunkCount]
export const FILE_FIXED_PAYLOAD = 4 + 8 + 8 + 8 + 8 + VALIDATOR_SIZE + 1 + 4 + DIGEST_SIZE + 4 + 4;
export function encodeFile(m: Omit<FileHeader, 'type'>): Buffer {
  checkU(m.requestId, 0xffff_ffff, 'requestId');
  checkU64(m.size, 'size');
  checkU64(m.offset, 'offset');
  checkU64(m.length, 'length');
  checkU64(m.mtimeMs, 'mtimeMs');
  if (m.offset + m.length > m.size) bad('offset + length exceeds size');
  checkBytes(m.validator, VALIDATOR_SIZE, 'validator');
  checkDigestInfo(m, true);
  checkU(m.firstChunk, 0xffff_ffff, 'firstChunk');
  if (m.chunkDigests.length > Limits.MAX_CHUNKS)
    bad(`more than ${Limits.MAX_CHUNKS} chunk digests`);
  if (m.algorithm === DigestAlgorithm.SHA256_CHUNKS_STREAMED) {
    if (m.chunkDigests.length > 0) bad('a streamed FILE carries no digests in its header');
    if (!ZERO_DIGEST.equals(m.root)) bad('a streamed FILE has a zero root');
  }
  const w = new FrameWriter(
    FrameType.FILE,
    FILE_FIXED_PAYLOAD + DIGEST_SIZE * m.chunkDigests.length,
  )
    .u32(m.requestId)
    .u64(m.size)
    .u64(m.offset)
    .u64(m.length)
    .u64(m.mtimeMs)
    .bytes(m.validator)
    .u8(m.algorithm)
    .u32(m.chunkSize)
    .bytes(m.root)
    .u32(m.firstChunk)
    .u32(m.chunkDigests.length);
  for (const d of m.chunkDigests) {
    checkBytes(d, DIGEST_SIZE, 'chunk digest');
    w.bytes(d);
  }
  return w.done();
}
function decodeFile(r: PayloadReader): FileHeader {
  const requestId = r.u32();
  const size = r.u64('size');
  const offset = r.u64('offset');
  const length = r.u64('length');
  const mtimeMs = r.u64('mtimeMs');
  if (offset + length > size)
    throw new ProtocolError('FT_ERR_BAD_VALUE', 'FILE: offset + length exceeds size');
  const validator = r.bytes(VALIDATOR_SIZE);
  const info = readDigestInfo(r, 'FILE', true);
  const firstChunk = r.u32();
  const count = r.u32();
  if (count > Limits.MAX_CHUNKS) {
    throw new ProtocolError(
      'FT_ERR_TOO_MANY_ENTRIES',
      `FILE: ${count} chunk digests, limit ${Limits.MAX_CHUNKS}`,
    );
  }
  if (info.algorithm === DigestAlgorithm.SHA256_CHUNKS_STREAMED) {
    // The digests come after each chunk (CHUNK_DIGEST); the header names none of them.
    if (count !== 0 || !ZERO_DIGEST.equals(info.root))
      throw new ProtocolError(
        'FT_ERR_BAD_VALUE',
        'FILE: a streamed answer has chunkCount 0 and a zero root',
      );
    if (length > 0 && firstChunk !== Math.floor(offset / info.chunkSize))
      throw new ProtocolError(
        'FT_ERR_BAD_VALUE',
        'FILE: a streamed answer names the first chunk of its range',
      );
  }
  const chunkDigests: Buffer[] = [];
  for (let i = 0; i < count; i++) chunkDigests.push(r.bytes(DIGEST_SIZE));
  return {
    type: FrameType.FILE,
    requestId,
    size,
    offset,
    length,
    mtimeMs,
    validator,
    ...info,
    firstChunk,
    chunkDigests,
  };
}

// END: requestId u32 bytesSent u64 status u8
export function encodeEnd(m: Omit<End, 'type'>): Buffer {
  checkU(m.requestId, 0xffff_ffff, 'requestId');
  checkU64(m.bytesSent, 'bytesSent');
  if (m.status !== EndStatus.OK && m.status !== EndStatus.CHANGED)
    bad(`unknown END status ${m.status}`);
  return new FrameWriter(FrameType.END, 4 + 8 + 1)
    .u32(m.requestId)
    .u64(m.bytesSent)
    .u8(m.status)
    .done();
}
function decodeEnd(r: PayloadReader): End {
  const requestId = r.u32();
  const bytesSent = r.u64('bytesSent');
  const status = r.u8();
  if (status !== EndStatus.OK && status !== EndStatus.CHANGED) {
    throw new ProtocolError('FT_ERR_BAD_VALUE', `END: unknown status ${status}`);
  }
  return { type: FrameType.END, requestId, bytesSent, status };
}

// CHUNK_DIGEST: requestId u32 flags u8 index u32 digest[32] [root[32] with HAS_ROOT]
export const CHUNK_DIGEST_PAYLOAD = 4 + 1 + 4 + DIGEST_SIZE;
export function encodeChunkDigest(m: Omit<ChunkDigest, 'type'>): Buffer {
  checkU(m.requestId, 0xffff_ffff, 'requestId');
  checkU(m.index, 0xffff_ffff, 'index');
  checkBytes(m.digest, DIGEST_SIZE, 'digest');
  if (m.root !== undefined) checkBytes(m.root, DIGEST_SIZE, 'root');
  const w = new FrameWriter(
    FrameType.CHUNK_DIGEST,
    CHUNK_DIGEST_PAYLOAD + (m.root === undefined ? 0 : DIGEST_SIZE),
  )
    .u32(m.requestId)
    .u8(m.root === undefined ? 0 : ChunkDigestFlags.HAS_ROOT)
    .u32(m.index)
    .bytes(m.digest);
  if (m.root !== undefined) w.bytes(m.root);
  return w.done();
}
function decodeChunkDigest(r: PayloadReader): ChunkDigest {
  const requestId = r.u32();
  const flags = r.u8();
  checkFlags(flags, CHUNK_DIGEST_FLAGS_MASK, 'CHUNK_DIGEST');
  const index = r.u32();
  const digest = r.bytes(DIGEST_SIZE);
  if ((flags & ChunkDigestFlags.HAS_ROOT) === 0)
    return { type: FrameType.CHUNK_DIGEST, requestId, index, digest };
  const root = r.bytes(DIGEST_SIZE);
  return { type: FrameType.CHUNK_DIGEST, requestId, index, digest, root };
}

/** The longest prefix of `s` that fits in `max` UTF-8 bytes, cut between characters. */
function truncateUtf8(s: string, max: number): string {
  if (utf8Length(s) <= max) return s;
  const bytes = Buffer.from(s, 'utf8');
  let cut = max;
  // Back up over continuation bytes (10xxxxxx) to the start of the character that straddles the limit.
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return bytes.toString('utf8', 0, cut);
}

// ERROR: requestId u32 code u16 retryAfterMs u32 message str16
export function encodeError(m: Omit<ErrorFrame, 'type'>): Buffer {
  checkU(m.requestId, 0xffff_ffff, 'requestId');
  checkU(m.code, 0xffff, 'code');
  checkU(m.retryAfterMs, 0xffff_ffff, 'retryAfterMs');
  // Messages are advisory: cut an over-long one at a character boundary rather than refuse to report the error.
  const message = truncateUtf8(m.message, Limits.MAX_ERROR_MESSAGE_BYTES);
  const n = utf8Length(message);
  return new FrameWriter(FrameType.ERROR, 4 + 2 + 4 + 2 + n)
    .u32(m.requestId)
    .u16(m.code)
    .u32(m.retryAfterMs)
    .string(message, n)
    .done();
}
function decodeError(r: PayloadReader): ErrorFrame {
  const requestId = r.u32();
  const code = r.u16();
  const retryAfterMs = r.u32();
  const message = r.string('message', Limits.MAX_ERROR_MESSAGE_BYTES, 'FT_ERR_BAD_LENGTH');
  return { type: FrameType.ERROR, requestId, code, retryAfterMs, message };
}

export { encodeStat, encodeStatResult } from './stat-codec.js';
export {
  LIST_OK_FIXED_PAYLOAD,
  encodeList,
  encodeListResult,
  listEntrySize,
} from './list-codec.js';

const DECODERS: Readonly<Record<number, (r: PayloadReader) => Message>> = {
  [FrameType.HELLO]: decodeHello,
  [FrameType.WELCOME]: decodeWelcome,
  [FrameType.GET]: decodeGet,
  [FrameType.STAT]: decodeStat,
  [FrameType.LIST]: decodeList,
  [FrameType.FILE]: decodeFile,
  [FrameType.END]: decodeEnd,
  [FrameType.CHUNK_DIGEST]: decodeChunkDigest,
  [FrameType.STAT_OK]: decodeStatResult,
  [FrameType.LIST_OK]: decodeListResult,
  [FrameType.UDP_SESSION]: decodeUdpSession,
  [FrameType.UDP_SESSION_OK]: decodeUdpSessionOk,
  [FrameType.ERROR]: decodeError,
};

const nameFrameType = typeNamer(FrameType);

/** Name of a frame type for messages, e.g. 0x10 → "GET". */
export function frameTypeName(type: number): string {
  return nameFrameType(type);
}

/** Decodes one complete payload of a frame of the given type. */
export function decodePayload(type: number, payload: Buffer): Message {
  const decode = DECODERS[type];
  if (decode === undefined) {
    throw new ProtocolError(
      'FT_ERR_UNKNOWN_FRAME_TYPE',
      `unknown frame type ${frameTypeName(type)}`,
    );
  }
  const r = new PayloadReader(payload, frameTypeName(type));
  const message = decode(r);
  r.end();
  return message;
}

export { ZERO_DIGEST };
