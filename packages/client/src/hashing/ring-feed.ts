/**
 * The part of a ChunkDigester that moved to the ring hashing thread (ring-hasher.ts): it cuts
 * what it is given into one job per chunk a view touches and queues them, in order. Bytes in
 * shared memory (the receive ring) are hashed in place; other bytes are copied once into
 * one-off shared memory, bounded by COPY_LIMIT (`congested` until the thread caught up).
 */
import type { RingHasher } from './ring-hasher.js';

/** Copied bytes not yet hashed above which the source should pause. */
export const COPY_LIMIT = 8 * 1024 * 1024;

/** Called as a job is queued for chunk `index`; returns what runs once the thread is past it. */
export type Track = (
  index: number,
) => (digest: Buffer | undefined, error: Error | undefined) => void;

export class RingFeed {
  private readonly stream: number;
  /** Bytes of the current chunk queued so far. */
  filled = 0;
  private copied = 0;

  constructor(
    private readonly ring: RingHasher,
    private readonly chunkSize: number,
    /** The chunk the next byte belongs to. */
    public index: number,
    private readonly track: Track,
    private readonly onLow: () => void,
  ) {
    this.stream = ring.newStream();
  }

  get congested(): boolean {
    return this.copied > COPY_LIMIT;
  }

  /** Queues a view of shared memory; `release` runs once the thread hashed all of it. */
  shared(view: Uint8Array, release: () => void): void {
    this.all(view, release, false);
  }

  /** Queues a copy of `data` (not shared memory); the caller may reuse `data` at once. */
  copy(data: Uint8Array): void {
    const copy = new Uint8Array(new SharedArrayBuffer(data.length));
    copy.set(data);
    this.copied += data.length;
    this.all(
      copy,
      () => {
        const was = this.congested;
        this.copied -= data.length;
        if (was && !this.congested) this.onLow();
      },
      true,
    );
  }

  /** Ends a final, short chunk, if bytes of one are queued. */
  finish(): void {
    if (this.filled === 0) return;
    this.job(undefined, 0, 0, true, undefined, false);
    this.index++;
    this.filled = 0;
  }

  /** Forgets the unfinished chunk in the thread (callbacks already due still run). */
  dispose(): void {
    this.ring.drop(this.stream);
  }

  private all(view: Uint8Array, release: () => void, copied: boolean): void {
    const memory = view.buffer as SharedArrayBuffer;
    let at = 0;
    while (at < view.length) {
      const take = Math.min(this.chunkSize - this.filled, view.length - at);
      const start = view.byteOffset + at;
      this.filled += take;
      at += take;
      const final = this.filled === this.chunkSize;
      const last = at === view.length;
      this.job(memory, start, take, final, last ? release : undefined, copied && last);
      if (final) {
        this.index++;
        this.filled = 0;
      }
    }
  }

  private job(
    memory: SharedArrayBuffer | undefined,
    start: number,
    length: number,
    final: boolean,
    release: (() => void) | undefined,
    lastUse: boolean,
  ): void {
    const settle = this.track(this.index);
    this.ring.hash(
      this.stream,
      memory,
      start,
      length,
      final,
      (digest, error) => {
        release?.();
        settle(digest, error);
      },
      lastUse,
    );
  }
}
