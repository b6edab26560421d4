/**
 * Chunk digests per file version, keyed by validator. Hashing a file costs one full read, so a
 * version is kept in an LRU bounded by the bytes the digests take, in front of the on-disk store
 * the server's processes share (digest-store.ts); concurrent requests for the same version share
 * one computation.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { read } from 'node:fs';
import { promisify } from 'node:util';
import { ChunkHasher, chunkCountFor, chunkSizeFor, rootDigest } from '@ft/protocol';
import type { DigestStore } from './digest-store.js';

/** Chunk digests of one whole file version. */
export interface FileDigests {
  chunkSize: number;
  root: Buffer;
  /** Digest of every chunk of the file, in order (empty for an empty file). */
  chunkDigests: readonly Buffer[];
  /**
   * Plain SHA-256 of the whole file (what sha256sum prints), from the same read pass; all
   * zeros (SHA256_UNKNOWN) when the digests came from a streamed send, which does not compute
   * it: FileService.stat fills it in the first time a STAT asks for it.
   */
  sha256: Buffer;
}

/** The sha256 of FileDigests not computed yet (no file's SHA-256 is 32 zero bytes). */
export const SHA256_UNKNOWN: Buffer = Buffer.alloc(32);

/** The plain SHA-256 of `size` bytes of an open file, in one read pass. */
export async function hashWhole(fd: number, size: number): Promise<Buffer> {
  const whole = createHash('sha256');
  await readRange(fd, size, 0, size, (bytes) => whole.update(bytes));
  return whole.digest();
}

/**
 * Reads bytes [from, end) of an open file of `size` bytes through one bounded buffer, handing
 * each read to `onBytes` (valid only during the call). Throws if the file is shorter.
 */
async function readRange(
  fd: number,
  size: number,
  from: number,
  end: number,
  onBytes: (bytes: Buffer) => void,
): Promise<void> {
  const buffer = Buffer.allocUnsafe(Math.min(READ_SIZE, Math.max(end - from, 1)));
  let position = from;
  while (position < end) {
    const { bytesRead } = await readAsync(
      fd,
      buffer,
      0,
      Math.min(buffer.length, end - position),
      position,
    );
    if (bytesRead === 0)
      throw new Error(`file shrank while hashing (${position} of ${size} bytes)`);
    onBytes(buffer.subarray(0, bytesRead));
    position += bytesRead;
  }
}

/** Bytes one cached entry is charged: its digests plus a fixed overhead for the bookkeeping. */
function costOf(d: FileDigests): number {
  return 288 + d.chunkDigests.length * 48;
}

const READ_SIZE = 1024 * 1024;
const readAsync = promisify(read);

/** Hashes `size` bytes of an open file from offset 0. Throws if the file is shorter than `size`. */
export async function hashFile(fd: number, size: number): Promise<FileDigests> {
  const chunkSize = chunkSizeFor(size);
  const whole = createHash('sha256');
  const count = chunkCountFor(size, chunkSize);
  const chunkDigests = await hashChunks(fd, size, chunkSize, 0, count, whole);
  return { chunkSize, root: rootDigest(chunkDigests), chunkDigests, sha256: whole.digest() };
}

/**
 * Digests of chunks [first, first + count) of an open file of `size` bytes, read from the file
 * with one bounded buffer, also fed to `whole` when given (the whole-file SHA-256, from the
 * same read pass). Throws if the file is shorter than `size`.
 */
export async function hashChunks(
  fd: number,
  size: number,
  chunkSize: number,
  first: number,
  count: number,
  whole?: Hash,
): Promise<Buffer[]> {
  const chunkDigests: Buffer[] = [];
  const hasher = new ChunkHasher(chunkSize, first, (_i, digest) => chunkDigests.push(digest));
  const end = Math.min(size, (first + count) * chunkSize);
  await readRange(fd, size, Math.min(size, first * chunkSize), end, (bytes) => {
    hasher.update(bytes);
    whole?.update(bytes);
  });
  hasher.finish();
  return chunkDigests;
}

/** Digests and where they came from: `computed` means this lookup hashed the file. */
export interface DigestLookup {
  digests: FileDigests;
  source: 'cached' | 'computed';
}

/** An LRU of FileDigests bounded by total cost in bytes, in front of an optional shared store. */
export class DigestCache {
  private readonly entries = new Map<string, FileDigests>();
  /**
   * Keys whose entry is also in the store (loaded from it or saved to it). Another process
   * that found the digests stale removes the store's entry (forget), so a memory hit of such a
   * key is trusted only while the store still has it.
   */
  private readonly shared = new Set<string>();
  private readonly pending = new Map<string, Promise<DigestLookup>>();
  private bytes = 0;

  constructor(
    private readonly maxBytes = 32 * 1024 * 1024,
    private readonly store?: DigestStore,
  ) {}

  /** Bytes currently charged to cached entries. */
  get size(): number {
    return this.bytes;
  }

  /**
   * The digests for `validator` (a file of `size` bytes): from memory, else from the store, else
   * computed with `compute` and saved to both. `compute` may reject (e.g. the file changed
   * meanwhile); nothing is cached then.
   */
  async get(
    validator: Buffer,
    size: number,
    compute: () => Promise<FileDigests>,
  ): Promise<DigestLookup> {
    const key = validator.toString('hex');
    const hit = this.entries.get(key);
    if (hit !== undefined) {
      if (this.shared.has(key) && this.store?.has(validator) === false) {
        this.drop(key);
      } else {
        // Re-insert to mark as most recently used.
        this.entries.delete(key);
        this.entries.set(key, hit);
        return { digests: hit, source: 'cached' };
      }
    }
    const running = this.pending.get(key);
    if (running !== undefined) return running;
    const promise = this.loadOrCompute(validator, size, compute).then(
      ({ lookup, stored }) => {
        this.pending.delete(key);
        this.remember(key, lookup.digests, stored);
        return lookup;
      },
      (error: unknown) => {
        this.pending.delete(key);
        throw error;
      },
    );
    this.pending.set(key, promise);
    return promise;
  }

  /**
   * The digests for `validator` if they are known without hashing (memory or the store), else
   * undefined, never waiting for a computation: what a GET with STREAM_DIGESTS needs to choose
   * between the digests in the header and streaming them (PROTOCOL.md §4.13).
   */
  async peek(validator: Buffer, size: number): Promise<FileDigests | undefined> {
    const key = validator.toString('hex');
    const hit = this.entries.get(key);
    if (hit !== undefined && !(this.shared.has(key) && this.store?.has(validator) === false)) {
      this.entries.delete(key);
      this.entries.set(key, hit);
      return hit;
    }
    if (hit !== undefined) this.drop(key);
    const loaded = await this.store?.load(validator, size);
    if (loaded !== undefined) this.remember(key, loaded, true);
    return loaded;
  }

  /**
   * Caches digests computed elsewhere (a streamed GET that read the whole file in order), in
   * memory and in the store, unless the version is cached already.
   */
  async put(validator: Buffer, size: number, digests: FileDigests): Promise<void> {
    const key = validator.toString('hex');
    if (this.entries.has(key) || this.pending.has(key)) return;
    const stored = (await this.store?.save(validator, size, digests)) ?? false;
    if (!this.entries.has(key)) this.remember(key, digests, stored);
  }

  private async loadOrCompute(
    validator: Buffer,
    size: number,
    compute: () => Promise<FileDigests>,
  ): Promise<{ lookup: DigestLookup; stored: boolean }> {
    const loaded = await this.store?.load(validator, size);
    if (loaded !== undefined)
      return { lookup: { digests: loaded, source: 'cached' }, stored: true };
    const digests = await compute();
    const stored = (await this.store?.save(validator, size, digests)) ?? false;
    return { lookup: { digests, source: 'computed' }, stored };
  }

  /**
   * Drops the digests of `validator` from memory and from the store: they were found not to
   * describe the file's bytes any more (see FileService.recheck), so the next lookup re-hashes.
   */
  async forget(validator: Buffer): Promise<void> {
    this.drop(validator.toString('hex'));
    await this.store?.remove(validator);
  }

  private drop(key: string): void {
    const hit = this.entries.get(key);
    if (hit === undefined) return;
    this.entries.delete(key);
    this.shared.delete(key);
    this.bytes -= costOf(hit);
  }

  private remember(key: string, digests: FileDigests, stored: boolean): void {
    const cost = costOf(digests);
    if (cost > this.maxBytes) return;
    this.entries.set(key, digests);
    if (stored) this.shared.add(key);
    this.bytes += cost;
    for (const oldKey of this.entries.keys()) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(oldKey);
    }
  }
}
