/**
 * ChunkDigester: the off-thread counterpart of @ft/protocol's ChunkHasher. It hashes a byte
 * stream that starts at a chunk boundary into per-chunk SHA-256 digests, but the hashing runs
 * on the hashing thread: `update()` only copies the bytes into a slab (one memcpy) and moves
 * each full slab, and each finished chunk, to the thread. Digests reach `onChunk` later, in
 * chunk order; `flushed()` waits for every chunk completed so far. Memory is bounded by a few
 * slabs: the caller pauses its source while `congested` and resumes on `onLow`.
 */
import { hashThread } from './hash-worker.js';

/** Bytes per slab (one message to the hashing thread at most). */
export const SLAB_SIZE = 1024 * 1024;
/** Slabs one digester may hold before it reports congestion. */
export const MAX_SLABS = 8;
/** Idle slabs kept for reuse across digesters. */
const SPARE_SLABS = 16;

const spare: ArrayBuffer[] = [];

/** Hooks that tie a digester to its data source. */
export interface DigesterOptions {
  /** Called when the digester stops being congested. */
  onLow?: () => void;
  /** Called once when hashing fails or `onChunk` throws; later digests are not reported. */
  onError?: (error: Error) => void;
}

/** Off-thread chunk hashing with bounded memory; see the module comment. */
export class ChunkDigester {
  private readonly stream = hashThread.newStream();
  /** Slabs are never larger than a chunk: a slab carries bytes of one chunk only. */
  private readonly slabSize: number;
  private index: number;
  /** Bytes of the current chunk taken so far. */
  private filled = 0;
  private slab: Uint8Array | undefined;
  private slabFill = 0;
  /** Slabs taken and not yet back from the thread (the one being filled included). */
  private slabsHeld = 0;
  private inFlight = 0;
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
  }

  /** Bytes of the current, incomplete chunk taken so far. */
  get pending(): number {
    return this.filled;
  }

  /** True when the source should pause until `onLow`. */
  get congested(): boolean {
    return this.slabsHeld > MAX_SLABS;
  }

  get failed(): Error | undefined {
    return this.failure;
  }

  /** Takes a copy of `data`; the caller may reuse its buffer at once. */
  update(data: Uint8Array): void {
    if (this.disposed) throw new Error('ChunkDigester: update after dispose');
    let at = 0;
    while (at < data.length) {
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

  /** Completes a final, short chunk, if bytes of one are pending. */
  finish(): void {
    if (this.filled > 0) this.endChunk();
  }

  /** Resolves once every chunk completed so far has been reported; rejects if hashing failed. */
  flushed(): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.idle.push(() => (this.failure === undefined ? resolve() : reject(this.failure)));
    });
  }

  /** Abandons the unfinished chunk; digests still in flight are not reported. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    hashThread.drop(this.stream);
    if (this.slab !== undefined) this.giveBack(this.slab.buffer as ArrayBuffer);
    this.slab = undefined;
    this.wakeIdle();
  }

  private endChunk(): void {
    this.post(true);
    this.index++;
    this.filled = 0;
  }

  /** Moves the slab's bytes to the hashing thread as a segment of the current chunk. */
  private post(final: boolean): void {
    const slab = this.slab ?? this.takeSlab();
    const view = new Uint8Array(slab.buffer, 0, this.slabFill);
    this.slab = undefined;
    const index = this.index;
    this.inFlight++;
    hashThread.post(this.stream, view, final, (digest, buffer, error) => {
      this.inFlight--;
      if (buffer !== undefined) this.giveBack(buffer);
      else this.slabsHeld--;
      if (error !== undefined) this.fail(error);
      else if (digest !== undefined && !this.disposed && this.failure === undefined) {
        try {
          this.onChunk(index, digest);
        } catch (thrown) {
          this.fail(thrown as Error);
        }
      }
      if (this.inFlight === 0) this.wakeIdle();
    });
  }

  private takeSlab(): Uint8Array {
    const buffer = this.slabSize === SLAB_SIZE ? spare.pop() : undefined;
    const slab = new Uint8Array(buffer ?? new ArrayBuffer(this.slabSize));
    this.slab = slab;
    this.slabFill = 0;
    this.slabsHeld++;
    return slab;
  }

  private giveBack(buffer: ArrayBuffer): void {
    const wasCongested = this.congested;
    this.slabsHeld--;
    if (buffer.byteLength === SLAB_SIZE && spare.length < SPARE_SLABS) spare.push(buffer);
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
