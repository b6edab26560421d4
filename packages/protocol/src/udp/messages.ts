/** The decoded form of every ft datagram: a union discriminated by `type`. */
import type { DigestAlgorithm, EndStatus, EntryKind } from '../constants.js';
import type { CloseReason, DatagramType } from './constants.js';

/** Client → server: start (or resume) a download. */
export interface UdpRequest {
  type: typeof DatagramType.REQUEST;
  /** Client-chosen non-zero id; the server's RETRY/ACCEPT/ERROR echo it. */
  nonce: number;
  path: string;
  offset: number;
  length?: number | undefined;
  validator?: Buffer | undefined;
  wantDigests: boolean;
  /** Flag HEADER_CRC: DATA may carry a CRC of its header only (with wantDigests). */
  headerCrc?: boolean | undefined;
  /** Largest DATA payload the client wants. */
  maxPayload: number;
  /** Receive window the client offers, in bytes. */
  window: number;
  /** Address-validation token from a RETRY; empty on the first attempt. */
  token: Buffer;
  /**
   * Access token for a server with access control (flag HAS_CREDENTIAL, the same secret as
   * HELLO's token over TCP). Absent: none. Never logged.
   */
  credential?: string | undefined;
}

/** Client → server: metadata of one path. */
export interface UdpStat {
  type: typeof DatagramType.STAT;
  nonce: number;
  path: string;
  wantDigest: boolean;
  token: Buffer;
  /** As UdpRequest's. */
  credential?: string | undefined;
}

/** A half-open byte range [start, end) of absolute file offsets. */
export interface ByteRange {
  start: number;
  end: number;
}

/** Client → server: what has arrived. */
export interface UdpAck {
  type: typeof DatagramType.ACK;
  transferId: number;
  /** Every byte below this absolute offset has arrived. */
  cumulative: number;
  /** The server may send bytes below this absolute offset (flow control). */
  windowEnd: number;
  /** `tsval` of the DATA that triggered this ACK, 0 when none. */
  tsEcho: number;
  /** Ranges received beyond `cumulative`, sorted, disjoint, not touching. */
  ranges: ByteRange[];
}

/** Client → server: send me chunk digests [firstChunk, firstChunk + count). */
export interface UdpDigestRequest {
  type: typeof DatagramType.DIGEST_REQUEST;
  transferId: number;
  firstChunk: number;
  count: number;
}

/** Client → server: the transfer is over; free its state. */
export interface UdpClose {
  type: typeof DatagramType.CLOSE;
  transferId: number;
  reason: CloseReason;
}

/** Server → client: echo this token to prove you own your address. */
export interface UdpRetry {
  type: typeof DatagramType.RETRY;
  nonce: number;
  token: Buffer;
}

/** Server → client: the transfer exists; DATA follows once the client ACKs. */
export interface UdpAccept {
  type: typeof DatagramType.ACCEPT;
  nonce: number;
  transferId: number;
  size: number;
  offset: number;
  length: number;
  mtimeMs: number;
  validator: Buffer;
  algorithm: DigestAlgorithm;
  chunkSize: number;
  root: Buffer;
  /** The chunk digests of [offset, offset+length) are chunks firstChunk .. firstChunk+chunkCount-1. */
  firstChunk: number;
  chunkCount: number;
  /** Negotiated DATA payload size. */
  payloadSize: number;
  /** Negotiated receive window, in bytes. */
  window: number;
  /** The server ends the transfer after this long without a valid datagram from the client. */
  livenessMs: number;
}

/** Server → client: file bytes at an absolute offset. */
export interface UdpData {
  type: typeof DatagramType.DATA;
  transferId: number;
  offset: number;
  /** Sender's timestamp (µs, wrapping), echoed by ACK.tsEcho. Never 0. */
  tsval: number;
  /** A view into the received datagram (no copy). */
  payload: Buffer;
  /** Flag HEADER_CRC: the CRC covered the header only; the payload is verified by digests. */
  headerCrc: boolean;
}

export interface UdpDigests {
  type: typeof DatagramType.DIGESTS;
  transferId: number;
  firstChunk: number;
  digests: Buffer[];
}

/** Server → client: every byte was acknowledged; `status` says whether the file stayed the same. */
export interface UdpFin {
  type: typeof DatagramType.FIN;
  transferId: number;
  status: EndStatus;
  end: number;
}

export interface UdpStatOk {
  type: typeof DatagramType.STAT_OK;
  nonce: number;
  kind: EntryKind;
  size: number;
  mtimeMs: number;
  validator: Buffer;
  algorithm: DigestAlgorithm;
  chunkSize: number;
  root: Buffer;
}

/** Server → client: a request or transfer failed. Codes are the TCP WireError codes. */
export interface UdpError {
  type: typeof DatagramType.ERROR;
  /** Nonce of the request it answers, or 0. */
  nonce: number;
  /** Transfer it ends, or 0. */
  transferId: number;
  code: number;
  retryAfterMs: number;
  message: string;
}

export type UdpClientMessage = UdpRequest | UdpStat | UdpAck | UdpDigestRequest | UdpClose;
export type UdpServerMessage =
  UdpRetry | UdpAccept | UdpData | UdpDigests | UdpFin | UdpStatOk | UdpError;
export type UdpMessage = UdpClientMessage | UdpServerMessage;
