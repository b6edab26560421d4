/** The decoded form of every TCP frame: a union discriminated by `type`. */
import type { DigestAlgorithm, EndStatus, EntryKind, FrameType, LinkKind } from './constants.js';

export interface Hello {
  type: typeof FrameType.HELLO;
  minVersion: number;
  maxVersion: number;
  /** Informational, e.g. "ftget/1.0.0". */
  name: string;
  /**
   * Access token for a server started with --tokens (optional trailing field, PROTOCOL.md
   * §3.1). Absent: no token. Never logged.
   */
  token?: string | undefined;
}

export interface Welcome {
  type: typeof FrameType.WELCOME;
  version: number;
  /** Largest request payload this server accepts. */
  maxRequestFrame: number;
  name: string;
}

export interface GetRequest {
  type: typeof FrameType.GET;
  requestId: number;
  path: string;
  offset: number;
  /** Bytes wanted from offset; undefined means "to the end of the file". */
  length?: number | undefined;
  /** The validator the client saw before; the server answers PRECONDITION_FAILED if it differs. */
  validator?: Buffer | undefined;
  /** Ask for the chunk digests of the range (costs the server one hash pass per file version). */
  wantDigests: boolean;
  /**
   * The client found bytes of this version that did not match the digests it was sent: the
   * server re-hashes the range's chunks and, if its digests are stale, drops them and answers
   * PRECONDITION_FAILED (PROTOCOL.md §4.3).
   */
  recheck?: boolean | undefined;
  /**
   * Version 3: accept the digests streamed after each chunk (CHUNK_DIGEST frames) when the
   * server has none cached, so that it need not hash the file before the first byte.
   */
  streamDigests?: boolean | undefined;
}

export interface StatRequest {
  type: typeof FrameType.STAT;
  requestId: number;
  path: string;
  wantDigest: boolean;
  /** Version 2: ask for the whole file's SHA-256 too (implies the digest; regular files only). */
  wantSha256?: boolean | undefined;
}

export interface ListRequest {
  type: typeof FrameType.LIST;
  requestId: number;
  path: string;
  /**
   * Ask for LINKS entries (version 2 only: the request then carries a flags byte). Absent or
   * false: the version-1 layout, and symlinks listed as what they point to.
   */
  wantLinks?: boolean | undefined;
}

/** Digest information of one file version. */
export interface DigestInfo {
  algorithm: DigestAlgorithm;
  /** Bytes per chunk (the last chunk may be shorter); 0 when algorithm is NONE. */
  chunkSize: number;
  /** SHA-256 over the concatenated chunk digests; zeros when algorithm is NONE. */
  root: Buffer;
}

/** Response header of a GET: exactly `length` raw file bytes follow it, then an END frame. */
export interface FileHeader extends DigestInfo {
  type: typeof FrameType.FILE;
  requestId: number;
  size: number;
  offset: number;
  length: number;
  mtimeMs: number;
  validator: Buffer;
  /** Index of the first chunk in `chunkDigests`. */
  firstChunk: number;
  /** Digests of every chunk that overlaps [offset, offset + length). */
  chunkDigests: Buffer[];
}

/**
 * Version 3: the digest of chunk `index`, sent right after the last byte of that chunk (or of
 * the range) in a FILE body whose algorithm is SHA256_CHUNKS_STREAMED.
 */
export interface ChunkDigest {
  type: typeof FrameType.CHUNK_DIGEST;
  requestId: number;
  index: number;
  /** SHA-256 of the whole chunk, including bytes outside the range. */
  digest: Buffer;
  /** The version's root digest: only on the last CHUNK_DIGEST, when the body covered every chunk. */
  root?: Buffer | undefined;
}

export interface End {
  type: typeof FrameType.END;
  requestId: number;
  bytesSent: number;
  status: EndStatus;
}

export interface StatResult extends DigestInfo {
  type: typeof FrameType.STAT_OK;
  requestId: number;
  kind: EntryKind;
  size: number;
  mtimeMs: number;
  validator: Buffer;
  /** SHA-256 of the whole file (answer to WANT_SHA256, regular files only); sha256sum's value. */
  sha256?: Buffer | undefined;
}

export interface ListEntry {
  kind: EntryKind;
  name: string;
  size: number;
  mtimeMs: number;
  /** LINKS entries only: whether the entry is a symlink and whether it can be followed. */
  link?: LinkKind | undefined;
  /** LINKS entries with link INSIDE: the root-relative path the link resolves to ('' = the root). */
  target?: string | undefined;
}

export interface ListResult {
  type: typeof FrameType.LIST_OK;
  requestId: number;
  /** More LIST_OK frames for the same request follow. */
  more: boolean;
  /** Entries use the LINKS layout (link and target fields). */
  links?: boolean | undefined;
  entries: ListEntry[];
}

/** Client → server (over TLS): open an encrypted UDP session for `path` and what lies under it. */
export interface UdpSessionRequest {
  type: typeof FrameType.UDP_SESSION;
  requestId: number;
  path: string;
}

/** Server → client: the session exists; both sides derive its keys from the TLS exporter. */
export interface UdpSessionGranted {
  type: typeof FrameType.UDP_SESSION_OK;
  requestId: number;
  /** 8 random bytes naming the session in every sealed datagram, and the exporter context. */
  sessionId: Buffer;
  /** New REQUESTs and STATs are accepted in the session for this long. */
  lifetimeMs: number;
}

export interface ErrorFrame {
  type: typeof FrameType.ERROR;
  /** 0 for a connection-level error, after which the server closes. */
  requestId: number;
  code: number;
  retryAfterMs: number;
  message: string;
}

export type Request = Hello | GetRequest | StatRequest | ListRequest | UdpSessionRequest;
export type Response =
  | Welcome
  | FileHeader
  | ChunkDigest
  | End
  | StatResult
  | ListResult
  | UdpSessionGranted
  | ErrorFrame;
export type Message = Request | Response;
