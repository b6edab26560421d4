/**
 * ChunkDigester: the off-thread counterpart of @ft/protocol's ChunkHasher. It hashes a byte
 * stream that starts at a chunk boundary into per-chunk SHA-256 digests, but the hashing runs
 * on the hashing thread: `update()` only copies the bytes into a slab (one memcpy) and moves
 * each full slab, and each finished chunk, to the thread. Digests reach `onChunk` later, in
 * chunk order; `flushed()` waits for every chunk completed so far. Memory is bounded by a few
 * slabs: the caller pauses its source while `congested` and resumes on `onLow`.
 *
 * Bytes that already live in shared memory (the socket's receive ring) take `updateShared()`
 * instead: no copy at all, the thread hashes them in place. Contiguous views are gathered
 * into one message of up to SLAB_SIZE bytes, and each view's release runs once the thread is
 * done with it; the memory they pin is the ring's to bound.
 *
 * With the `ring` option, once the ring hashing thread (ring-hasher.ts) is ready, every chunk
 * that starts from then on is hashed there (ring-feed.ts): shared bytes in place (a job per
 * received view, no message), other bytes through a one-off shared copy.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { hashThread } from './hash-worker.js';
import type { HashThread } from './hash-worker.js';
import type { RingHasher } from './ring-hasher.js';
import { RingFeed } from './ring-feed.js';
import { verbose } from '../verbose-log.js';
import {
  INLINE_CHUNK_BYTES,
  MAX_SLABS,
  SHARED_RUN_BYTES,
  SLAB_SIZE,
  keepSpareSlab,
  spareSlab,
  takeInlineBudget,
} from './digester-budget.js';

/** Shared bytes of the current chunk taken by updateShared and not yet sent to the thread. */
interface SharedRun {
  buffer: SharedArrayBuffer;
  start: number;
  end: number;
  /** Releases of the views that end in this run (a view spanning two runs ends in the later). */
  releases: (() => void)[];
}

/** Hooks that tie a digester to its data source. */
export interface DigesterOptions {
  /** Called when the digester stops being congested. */
  onLow?: () => void;
  /** Called once when hashing fails or `onChunk` throws; later digests are not reported. */
  onError?: (error: Error) => void;
  /**
   * Hash every chunk on this thread as the bytes arrive (no slab copy, no message, and the
   * hashing thread's isolate, ~13 MiB of RSS, is never started for it). For one received
   * stream this is cheaper than the thread: SHA-256 (~0.6 ms per MiB with SHA-NI) costs less
   * main-thread time than posting, answering and releasing the bytes did, and the event loop
   * was otherwise idle waiting on the socket or the disk. A chunk already begun on the thread
   * (a primed tail) still ends there, so digests stay in chunk order.
   */
  inline?: boolean;
  /** The thread that hashes (default: the process-wide one). */
  thread?: HashThread;
  /**
   * The ring hashing thread: from the first chunk that starts once it is ready, it takes
   * every chunk, ahead of `inline` (a chunk begun here ends here; digests stay in order).
   */
  ring?: RingHasher | undefined;
}

/** Off-thread chunk hashing with bounded memory; see the module comment. */
export class ChunkDigester {
  private readonly thread: HashThread;
  private readonly stream: number;
  /** Slabs are never larger than a chunk: a slab carries bytes of one chunk only. */
  private readonly slabSize: number;
  private index: number;
  /** Bytes of the current chunk taken so far. */
  private filled = 0;
  private slab: Uint8Array | undefined;
  private slabFill = 0;
  private run: SharedRun | undefined;
  /** Slabs taken and not yet back from the thread (the one being filled included). */
  private slabsHeld = 0;
  private inFlight = 0;
  /** Segments posted to the thread and not answered yet. */
  private onThread = 0;
  /** The current chunk is hashed here from its first byte (the inline budget; see above). */
  private here: Hash | undefined;
  /** Whether bytes of the current chunk already went to the thread. */
  private chunkPosted = false;
  /** Set once this digester moved to the ring thread (for good: digests stay in order). */
  private feed: RingFeed | undefined;
  private failure: Error | undefined;
  private disposed = false;
  private idle: (() => void)[] = [];

  constructor(
    private readonly chunkSize: number,
    firstChunk: number,
    private readonly onChunk: (index: number, digest: Buffer) => void,
    private readonly options: DigesterOptions = {},
  ) {
    // A zero or fractional chunk size would never complete a chunk: update() would spin forever.
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
      throw new RangeError(`chunk size must be a positive integer, got ${chunkSize}`);
    }
    this.slabSize = Math.min(SLAB_SIZE, chunkSize);
    this.index = firstChunk;
    this.thread = options.thread ?? hashThread;
    this.stream = this.thread.newStream();
  }

  /** Bytes of the current, incomplete chunk taken so far. */
  get pending(): number {
    return this.feed?.filled ?? this.filled;
  }

  /** True when the source should pause until `onLow`. */
  get congested(): boolean {
    return this.slabsHeld > MAX_SLABS || this.feed?.congested === true;
  }

  /** Whether this digester's chunks go to the ring thread (from now on). */
  get onRing(): boolean {
    return this.feed !== undefined;
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /** Takes a copy of `data`; the caller may reuse its buffer at once. */
  update(data: Uint8Array): void {
    if (this.disposed) throw new Error('ChunkDigester: update after dispose');
    if (this.run !== undefined) this.postRun(false);
    let at = 0;
    while (at < data.length) {
      if (this.ringTakes()) {
        this.feed!.copy(data.subarray(at));
        return;
      }
      if (this.hereTakes()) {
        at += this.hashHereSome(data, at);
        continue;
      }
      const slab = this.slab ?? this.takeSlab();
      const take = Math.min(
        this.chunkSize - this.filled,
        this.slabSize - this.slabFill,
        data.length - at,
      );
      slab.set(take === data.length ? data : data.subarray(at, at + take), this.slabFill);
      this.slabFill += take;
      this.filled += take;
      at += take;
      if (this.filled === this.chunkSize) this.endChunk();
      else if (this.slabFill === this.slabSize) this.post(false);
    }
  }

  /**
   * Takes `data` without copying when it views a SharedArrayBuffer: its bytes must stay
   * unchanged until `release` is called (once the thread hashed them, or on dispose). Any other
   * view is copied as by `update` and released at once.
   */
  updateShared(data: Uint8Array, release: () => void): void {
    const buffer = data.buffer;
    if (!(buffer instanceof SharedArrayBuffer) || this.disposed || data.length === 0) {
      try {
        this.update(data);
      } finally {
        release();
      }
      return;
    }
    // Bytes copied into the slab before these go to the thread first: order is the hash.
    if (this.slab !== undefined && this.slabFill > 0) this.post(false);
    let at = 0;
    while (at < data.length) {
      if (this.ringTakes()) {
        this.feed!.shared(data.subarray(at), release);
        return;
      }
      if (this.hereTakes()) {
        at += this.hashHereSome(data, at);
        if (at === data.length) release();
        continue;
      }
      const take = Math.min(this.chunkSize - this.filled, data.length - at);
      const start = data.byteOffset + at;
      let run = this.run;
      if (run !== undefined && (run.buffer !== buffer || run.end !== start)) {
        this.postRun(false);
        run = undefined;
      }
      if (run === undefined) {
        run = { buffer, start, end: start, releases: [] };
        this.run = run;
      }
      run.end += take;
      this.filled += take;
      at += take;
      if (at === data.length) run.releases.push(release);
      if (this.filled === this.chunkSize) this.endChunk();
      else if (run.end - run.start >= SHARED_RUN_BYTES) this.postRun(false);
    }
  }

  /** Completes a final, short chunk, if bytes of one are pending. */
  finish(): void {
    if (this.feed !== undefined) this.feed.finish();
    else if (this.filled > 0) this.endChunk();
  }

  /** Resolves once every chunk completed so far has been reported; rejects if hashing failed. */
  flushed(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    // Shared bytes are pinned until hashed: send them now, or they would wait for more.
    if (this.run !== undefined) this.postRun(false);
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.idle.push(() => (this.failure === undefined ? resolve() : reject(this.failure)));
    });
  }

  /** Abandons the unfinished chunk; digests still in flight are not reported. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.here = undefined;
    this.thread.drop(this.stream);
    this.feed?.dispose();
    if (this.slab !== undefined) this.giveBack(this.slab.buffer as ArrayBuffer);
    this.slab = undefined;
    const releases = this.run?.releases ?? [];
    this.run = undefined;
    for (const release of releases) release();
    this.wakeIdle();
  }

  /**
   * Whether the next bytes are hashed here: the current chunk already is, or it starts now,
   * the thread is not running, nothing of this stream is on it (digests stay in chunk order)
   * and the whole chunk fits in what is left of the inline budget.
   */
  private hereTakes(): boolean {
    if (this.here !== undefined) return true;
    if (this.filled > 0 || this.onThread > 0) return false;
    if (this.options.inline === true) {
      this.here = createHash('sha256');
      return true;
    }
    if (this.thread.started || !takeInlineBudget(this.chunkSize)) return false;
    this.here = createHash('sha256');
    return true;
  }

  /**
   * Whether the next bytes go to the ring thread: they already do, or a chunk starts now,
   * nothing of this digester is pending elsewhere, and the thread is ready.
   */
  private ringTakes(): boolean {
    if (this.feed !== undefined) return true;
    const ring = this.options.ring;
    if (ring === undefined || this.filled > 0 || this.onThread > 0 || !ring.ready) return false;
    const track = (index: number) => {
      this.inFlight++;
      return (digest: Buffer | undefined, error: Error | undefined) =>
        this.settle(index, digest, error);
    };
    const onLow = () => {
      if (!this.congested && !this.disposed) this.options.onLow?.();
    };
    this.feed = new RingFeed(ring, this.chunkSize, this.index, track, onLow);
    verbose(() => `hashing from chunk ${this.index} on the ring hashing thread`);
    return true;
  }

  /** Hashes bytes of `data` from `at` into the current chunk here; returns how many. */
  private hashHereSome(data: Uint8Array, at: number): number {
    const take = Math.min(this.chunkSize - this.filled, data.length - at);
    this.here!.update(take === data.length ? data : data.subarray(at, at + take));
    this.filled += take;
    if (this.filled === this.chunkSize) this.endChunk();
    return take;
  }

  private endChunk(): void {
    if (this.here !== undefined) {
      const digest = this.here.digest();
      this.here = undefined;
      this.reportLater(digest, []);
    } else if (!this.chunkPosted && this.inFlight === 0 && this.filled <= INLINE_CHUNK_BYTES)
      this.hashHere();
    else if (this.run !== undefined) this.postRun(true);
    else this.post(true);
    this.index++;
    this.filled = 0;
    this.chunkPosted = false;
  }

  /** Hashes the whole current chunk (in the slab or the shared run) on this thread. */
  private hashHere(): void {
    const hash = createHash('sha256');
    const run = this.run;
    this.run = undefined;
    if (run !== undefined) hash.update(new Uint8Array(run.buffer, run.start, run.end - run.start));
    else if (this.slab !== undefined) {
      hash.update(this.slab.subarray(0, this.slabFill));
      this.giveBack(this.slab.buffer as ArrayBuffer);
      this.slab = undefined;
    }
    this.reportLater(hash.digest(), run?.releases ?? []);
  }

  /** Reports the current chunk's digest, hashed here, later, as the thread's answers are: callers never see onChunk inside update(). */
  private reportLater(digest: Buffer, releases: (() => void)[]): void {
    const index = this.index;
    this.inFlight++;
    queueMicrotask(() => {
      for (const release of releases) release();
      this.settle(index, digest, undefined);
    });
  }

  /** Moves the slab's bytes to the hashing thread as a segment of the current chunk. */
  private post(final: boolean): void {
    const slab = this.slab ?? this.takeSlab();
    const view = new Uint8Array(slab.buffer, 0, this.slabFill);
    this.slab = undefined;
    const index = this.index;
    this.inFlight++;
    this.onThread++;
    if (!final) this.chunkPosted = true;
    this.thread.post(this.stream, view, final, (digest, buffer, error) => {
      this.onThread--;
      if (buffer !== undefined) this.giveBack(buffer);
      else this.slabsHeld--;
      this.settle(index, digest, error);
    });
  }

  /** Moves the shared run to the thread as a segment of the current chunk (no copy). */
  private postRun(final: boolean): void {
    const run = this.run!;
    this.run = undefined;
    const index = this.index;
    this.inFlight++;
    this.onThread++;
    if (!final) this.chunkPosted = true;
    const view = new Uint8Array(run.buffer, run.start, run.end - run.start);
    this.thread.post(this.stream, view, final, (digest, _buffer, error) => {
      this.onThread--;
      for (const release of run.releases) release();
      this.settle(index, digest, error);
    });
  }

  /** One answer from the thread: report the digest (or the failure), wake flushed() waiters. */
  private settle(index: number, digest: Buffer | undefined, error: Error | undefined): void {
    this.inFlight--;
    if (error !== undefined) this.fail(error);
    else if (digest !== undefined && !this.disposed && this.failure === undefined) {
      try {
        this.onChunk(index, digest);
      } catch (thrown) {
        this.fail(thrown as Error);
      }
    }
    if (this.inFlight === 0) this.wakeIdle();
  }

  private takeSlab(): Uint8Array {
    const buffer = this.slabSize === SLAB_SIZE ? spareSlab() : undefined;
    const slab = new Uint8Array(buffer ?? new ArrayBuffer(this.slabSize));
    this.slab = slab;
    this.slabFill = 0;
    this.slabsHeld++;
    return slab;
  }

  private giveBack(buffer: ArrayBuffer): void {
    const wasCongested = this.congested;
    this.slabsHeld--;
    if (buffer.byteLength === SLAB_SIZE) keepSpareSlab(buffer);
    if (wasCongested && !this.congested && !this.disposed) this.options.onLow?.();
  }

  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure = error;
    this.options.onError?.(error);
  }

  private wakeIdle(): void {
    const waiters = this.idle;
    this.idle = [];
    for (const wake of waiters) wake();
  }
}
