/**
 * What a caller gives a transport connection (TCP or UDP): how to connect, and where a GET's
 * response goes as it streams.
 */
import type { ChunkDigest, FileHeader, Throttle } from '@ft/protocol';
import type { Pin } from './receive/receive-ring.js';

export interface ConnectOptions {
  /** Abort the connection (and whatever request is in flight). */
  signal?: AbortSignal | undefined;
  /** Connect timeout, and the longest silence while a response is awaited (stall timeout). */
  timeoutMs: number;
  /** Sent in HELLO, informational. */
  clientName?: string;
  /** --limit-rate: reading pauses whenever the bytes received exceed the rate (TCP flow control slows the server). */
  throttle?: Throttle | undefined;
}

/** Receives a GET response as it streams. Throwing from either callback fails the connection. */
export interface GetSink {
  onHeader(header: FileHeader): void;
  /**
   * Raw body bytes; do not mutate. With a `pin`, the chunk views receive memory that is
   * reused as soon as this returns: keep it longer only under a pin (see Pin). Without one
   * it is the sink's to keep.
   */
  onData(chunk: Buffer, pin?: Pin): void;
  /**
   * A streamed body's digest of one chunk (protocol version 3, GET with STREAM_DIGESTS),
   * after that chunk's bytes. A sink without it must not ask for streamed digests: a
   * CHUNK_DIGEST then fails the connection.
   */
  onChunkDigest?(message: ChunkDigest): void;
}
