/** Messages between the main thread (hash-worker.ts) and the hashing thread (hash-thread.ts). */

/** A segment of one chunk; `data` absent means "drop this stream's unfinished chunk". */
export interface HashRequest {
  stream: number;
  /**
   * The bytes: in an ArrayBuffer transferred (moved, not copied) to the thread, or a view of
   * a SharedArrayBuffer that the thread reads in place.
   */
  data?: Uint8Array;
  /** The segment ends its chunk: answer with the digest. */
  final: boolean;
}

/** One answer per request that carried data, in request order. */
export interface HashReply {
  stream: number;
  /** The request's ArrayBuffer, transferred back for reuse (absent for shared memory). */
  buffer?: ArrayBuffer;
  digest?: Uint8Array;
}
