/**
 * Wire constants of ft protocol version 1. Everything that fixes a byte on the wire lives here
 * or in the message modules beside it; docs/PROTOCOL.md documents the same numbers.
 */

/** First four bytes of HELLO and WELCOME. The high bit catches 7-bit channels, the LF catches newline rewriting (the PNG trick). */
export const MAGIC = Buffer.from([0x89, 0x46, 0x54, 0x0a]);

/**
 * Protocol versions this implementation speaks. Version 2 adds link-aware listings (LIST flags,
 * LIST_OK LINKS entries) and whole-file SHA-256 in STAT_OK (STAT flag WANT_SHA256); everything
 * else is version 1 unchanged, so a v2 peer serves v1 peers.
 */
export const PROTOCOL_VERSION = 3;
export const MIN_PROTOCOL_VERSION = 1;
export const MAX_PROTOCOL_VERSION = 3;
/**
 * First version in which a GET may set STREAM_DIGESTS: the server may then answer a file
 * whose digests it has not computed yet at once, with each chunk's digest in a CHUNK_DIGEST
 * frame after the chunk's bytes (PROTOCOL.md §4.13), instead of hashing the file first.
 */
export const STREAM_DIGESTS_MIN_VERSION = 3;
/** First version in which LIST may carry flags (WANT_LINKS). */
export const LINKS_MIN_VERSION = 2;

/** Every frame starts with: type u8, flags u8 (must be 0 in v1), payload length u32 BE. */
export const FRAME_HEADER_SIZE = 6;

export const FrameType = {
  HELLO: 0x01,
  WELCOME: 0x02,
  GET: 0x10,
  STAT: 0x11,
  LIST: 0x12,
  /** Ask for an encrypted UDP session (ft over TLS only; docs/PROTOCOL.md §4.11). */
  UDP_SESSION: 0x13,
  FILE: 0x20,
  END: 0x21,
  STAT_OK: 0x22,
  LIST_OK: 0x23,
  /** The UDP session granted: its id and lifetime; the keys come from the TLS exporter. */
  UDP_SESSION_OK: 0x24,
  /** Version 3: the digest of one chunk, sent right after the chunk's bytes of a streamed FILE body. */
  CHUNK_DIGEST: 0x25,
  ERROR: 0x7f,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

/** Frame types a client may send (the server's decoder accepts only these). */
export const REQUEST_TYPES: ReadonlySet<number> = new Set([
  FrameType.HELLO,
  FrameType.GET,
  FrameType.STAT,
  FrameType.LIST,
  FrameType.UDP_SESSION,
]);
/** Frame types a server may send (the client's decoder accepts only these). */
export const RESPONSE_TYPES: ReadonlySet<number> = new Set([
  FrameType.WELCOME,
  FrameType.FILE,
  FrameType.END,
  FrameType.STAT_OK,
  FrameType.LIST_OK,
  FrameType.UDP_SESSION_OK,
  FrameType.CHUNK_DIGEST,
  FrameType.ERROR,
]);

export const Limits = {
  /** Largest request frame payload a server accepts by default. */
  MAX_REQUEST_FRAME: 8 * 1024,
  /** Largest response frame payload a client accepts by default (a FILE header with 8192 chunk digests fits). */
  MAX_RESPONSE_FRAME: 1024 * 1024,
  /** Longest path in a request, in UTF-8 bytes. */
  MAX_PATH_BYTES: 4096,
  /** Longest single path component (a file name), in UTF-8 bytes. */
  MAX_NAME_BYTES: 255,
  /** Longest peer name in HELLO/WELCOME. */
  MAX_PEER_NAME_BYTES: 64,
  /** Longest access token in HELLO, in UTF-8 bytes. */
  MAX_TOKEN_BYTES: 256,
  /** Longest ERROR message, in UTF-8 bytes. */
  MAX_ERROR_MESSAGE_BYTES: 1024,
  /** Most entries in one LIST_OK frame; longer listings use several frames. */
  MAX_LIST_ENTRIES_PER_FRAME: 1024,
  /** Most chunk digests a file can have (the chunk size grows so that this holds). */
  MAX_CHUNKS: 8192,
} as const;

/** Length of a validator: an opaque identity of one version of a file. */
export const VALIDATOR_SIZE = 16;
/** Length of a SHA-256 digest. */
export const DIGEST_SIZE = 32;

export const DigestAlgorithm = {
  NONE: 0,
  /** SHA-256 of every chunk; the root digest is SHA-256 over the concatenated chunk digests. */
  SHA256_CHUNKS: 1,
  /**
   * Version 3, FILE only: the same digests, not in the header but each in a CHUNK_DIGEST frame
   * after its chunk's bytes (the answer to STREAM_DIGESTS when the server has none cached).
   */
  SHA256_CHUNKS_STREAMED: 2,
} as const;
export type DigestAlgorithm = (typeof DigestAlgorithm)[keyof typeof DigestAlgorithm];

export const EntryKind = {
  FILE: 1,
  DIRECTORY: 2,
  OTHER: 3,
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/** GET flags. */
export const GetFlags = {
  HAS_LENGTH: 0x01,
  HAS_VALIDATOR: 0x02,
  WANT_DIGESTS: 0x04,
  /** The client found bytes that did not match this version's digests: re-hash before answering. */
  RECHECK: 0x08,
  /**
   * Version 3, with WANT_DIGESTS: the client accepts the digests streamed after each chunk
   * (FILE algorithm SHA256_CHUNKS_STREAMED), so the server need not hash the file first.
   */
  STREAM_DIGESTS: 0x10,
} as const;
export const GET_FLAGS_MASK = 0x1f;

/** CHUNK_DIGEST flags. */
export const ChunkDigestFlags = {
  /** The root digest follows the chunk digest (last CHUNK_DIGEST of a body that covered every chunk). */
  HAS_ROOT: 0x01,
} as const;
export const CHUNK_DIGEST_FLAGS_MASK = 0x01;

/** STAT flags. */
export const StatFlags = {
  WANT_DIGEST: 0x01,
  /** Version 2: also the plain SHA-256 of the whole file (STAT_OK grows by 32 bytes). */
  WANT_SHA256: 0x02,
} as const;
export const STAT_FLAGS_MASK = 0x03;
/** First version in which STAT may set WANT_SHA256. */
export const SHA256_MIN_VERSION = 2;

/** LIST flags (version 2; a v1 LIST has no flags byte). */
export const ListRequestFlags = {
  /** Answer with LINKS entries: say which entries are symlinks, and where they lead. */
  WANT_LINKS: 0x01,
} as const;
export const LIST_REQUEST_FLAGS_MASK = 0x01;

/** LIST_OK flags. */
export const ListFlags = {
  MORE: 0x01,
  /** Entries use the version-2 layout with link and target fields (only in answer to WANT_LINKS). */
  LINKS: 0x02,
} as const;
export const LIST_FLAGS_MASK = 0x03;

/** What a LINKS entry is, as a symlink. */
export const LinkKind = {
  /** Not a symlink. */
  NONE: 0,
  /** A symlink to a servable path inside the root; kind, size and mtime are its target's. */
  INSIDE: 1,
  /** A symlink leading outside the root, to a hidden name, or nowhere: nothing can be fetched through it. */
  UNSERVABLE: 2,
} as const;
export type LinkKind = (typeof LinkKind)[keyof typeof LinkKind];

/** END status: did the server send the announced bytes of the announced version? */
export const EndStatus = {
  OK: 0,
  /** The file changed while it was being sent: the body must be discarded. */
  CHANGED: 1,
} as const;
export type EndStatus = (typeof EndStatus)[keyof typeof EndStatus];

/** Largest value a u64 field may carry: JavaScript numbers are exact only up to 2^53 − 1. */
export const MAX_U64 = Number.MAX_SAFE_INTEGER;
