/**
 * Integrity of one file version: SHA-256 of every fixed-size chunk, and a root digest that is
 * SHA-256 over the concatenated chunk digests. Chunk digests let a client verify data as it
 * arrives and refetch only a damaged chunk; the root digest names the whole version.
 */
import { createHash } from 'node:crypto';
import { DIGEST_SIZE, Limits } from './constants.js';

export const MIN_CHUNK_SIZE = 1024 * 1024;

/** The chunk size a server uses for a file of `size` bytes: 1 MiB, doubled until at most MAX_CHUNKS chunks. */
export function chunkSizeFor(size: number): number {
  let chunk = MIN_CHUNK_SIZE;
  while (Math.ceil(size / chunk) > Limits.MAX_CHUNKS) chunk *= 2;
  return chunk;
}

/** Number of chunks of a file (0 for an empty file). */
export function chunkCountFor(size: number, chunkSize: number): number {
  return size === 0 ? 0 : Math.ceil(size / chunkSize);
}

/** Chunks that overlap the byte range [offset, offset + length). */
export function chunksOverlapping(
  offset: number,
  length: number,
  chunkSize: number,
): { first: number; count: number } {
  if (length === 0) return { first: Math.floor(offset / chunkSize), count: 0 };
  const first = Math.floor(offset / chunkSize);
  const last = Math.floor((offset + length - 1) / chunkSize);
  return { first, count: last - first + 1 };
}

export function sha256(data: Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}

/** The root digest of a version: SHA-256 over its chunk digests in order. */
export function rootDigest(chunkDigests: readonly Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const d of chunkDigests) {
    if (d.length !== DIGEST_SIZE) throw new RangeError('chunk digest must be 32 bytes');
    h.update(d);
  }
  return h.digest();
}

/**
 * Hashes a byte stream that starts at a chunk boundary into chunk digests. Feed it in any
 * chunking; it calls `onChunk` for every completed chunk and, at `finish()`, for a short last one.
 */
export class ChunkHasher {
  private hash = createHash('sha256');
  private filled = 0;
  private index: number;

  constructor(
    private readonly chunkSize: number,
    firstChunk: number,
    private readonly onChunk: (index: number, digest: Buffer) => void,
  ) {
    // A zero or fractional chunk size would never complete a chunk: update() would spin forever.
    if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
      throw new RangeError(`chunk size must be a positive integer, got ${chunkSize}`);
    }
    this.index = firstChunk;
  }

  /** Bytes of the current, incomplete chunk hashed so far. */
  get pending(): number {
    return this.filled;
  }

  update(data: Buffer): void {
    let rest = data;
    while (rest.length > 0) {
      const take = Math.min(this.chunkSize - this.filled, rest.length);
      this.hash.update(take === rest.length ? rest : rest.subarray(0, take));
      this.filled += take;
      rest = rest.subarray(take);
      if (this.filled === this.chunkSize) this.flush();
    }
  }

  /** Completes a final partial chunk, if any. */
  finish(): void {
    if (this.filled > 0) this.flush();
  }

  private flush(): void {
    const digest = this.hash.digest();
    this.onChunk(this.index++, digest);
    this.hash = createHash('sha256');
    this.filled = 0;
  }
}
