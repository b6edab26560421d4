/**
 * @ft/protocol: the ft wire format. Frame constants, pure encoders, a streaming decoder, the
 * error catalog, validators and the chunk-digest scheme. Depends only on node: built-ins.
 */
export {
  CHUNK_DIGEST_FLAGS_MASK,
  ChunkDigestFlags,
  DIGEST_SIZE,
  DigestAlgorithm,
  EndStatus,
  EntryKind,
  FRAME_HEADER_SIZE,
  FrameType,
  GetFlags,
  LINKS_MIN_VERSION,
  SHA256_MIN_VERSION,
  STREAM_DIGESTS_MIN_VERSION,
  Limits,
  LinkKind,
  ListFlags,
  ListRequestFlags,
  MAGIC,
  MAX_PROTOCOL_VERSION,
  MAX_U64,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  REQUEST_TYPES,
  RESPONSE_TYPES,
  StatFlags,
  VALIDATOR_SIZE,
} from './constants.js';
export type { FrameType as FrameTypeValue } from './constants.js';
export {
  DecodeError,
  FtError,
  ProtocolError,
  RemoteError,
  WIRE_ERROR_MEANINGS,
  WireError,
  codeForWire,
} from './errors.js';
export type { DecodeErrorCode, WireErrorCode, WireErrorName } from './errors.js';
export type {
  ChunkDigest,
  DigestInfo,
  End,
  ErrorFrame,
  FileHeader,
  GetRequest,
  Hello,
  ListEntry,
  ListRequest,
  ListResult,
  Message,
  Request,
  Response,
  StatRequest,
  UdpSessionGranted,
  UdpSessionRequest,
  StatResult,
  Welcome,
} from './messages.js';
export {
  CHUNK_DIGEST_PAYLOAD,
  FILE_FIXED_PAYLOAD,
  LIST_OK_FIXED_PAYLOAD,
  decodePayload,
  encodeChunkDigest,
  encodeEnd,
  encodeError,
  encodeFile,
  encodeGet,
  encodeHello,
  encodeList,
  encodeListResult,
  encodeStat,
  encodeStatResult,
  encodeWelcome,
  frameTypeName,
  listEntrySize,
} from './codec.js';
export { UDP_SESSION_ID_SIZE, encodeUdpSession, encodeUdpSessionOk } from './udp-session-codec.js';
export { FrameDecoder } from './frame-decoder.js';
export type { DecoderEvent, FrameDecoderOptions } from './frame-decoder.js';
export { negotiateVersion } from './version.js';
export { ALPN_PREFIX, TLS_HANDSHAKE_RECORD, alpnProtocols, alpnVersion } from './tls.js';
export {
  ChunkHasher,
  MIN_CHUNK_SIZE,
  chunkCountFor,
  chunkSizeFor,
  chunksOverlapping,
  rootDigest,
  sha256,
} from './digest.js';
export { answeredLength } from './range.js';
export { Throttle, TokenBucket, parseRate, throttleOf } from './rate.js';
export {
  LINK_CREDENTIAL_PREFIX,
  LINK_MAC_TAG,
  LINK_QUERY,
  MAX_LINK_EXPIRES,
  decodeLinkCredential,
  encodeLinkCredential,
  isLinkCredential,
  isLinkExpires,
  isWellFormedLink,
  linkMacInput,
  linkPathDigest,
} from './signed-link.js';
export type { LinkCredential, LinkParams } from './signed-link.js';
export { sameValidator, validatorOf } from './validator.js';
export type { VersionIdentity } from './validator.js';
export * from './udp/index.js';
