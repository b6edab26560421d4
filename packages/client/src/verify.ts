/**
 * Chunk verification. A ChunkLedger knows, for one version of a remote file, the expected
 * digest of every chunk (as far as the server has told us) and which chunks of the local
 * partial matched theirs. Chunks whose expected digest is not known yet (a partial found
 * without its state) keep the digest of their local bytes, to be checked through the root
 * digest at the end.
 */
import { DIGEST_SIZE, chunkCountFor, rootDigest } from '@ft/protocol';
import type { FileHandle } from 'node:fs/promises';
import { ClientError, ClientErrorCode } from './errors.js';
import { ChunkDigester } from './hashing/chunk-digester.js';
import type { DigesterOptions } from './hashing/chunk-digester.js';

/** Size of the buffers used to re-read a partial: bounded memory however large the file. */
export const READ_BUFFER_SIZE = 1024 * 1024;
/** Buffers one re-read keeps: one being read while the hashing thread digests the others. */
export const READ_BUFFERS = 3;

const ZERO_ROOT = Buffer.alloc(DIGEST_SIZE);

export type ChunkVerdict = 'verified' | 'bad' | 'unknown';

export class ChunkLedger {
  readonly count: number;
  private readonly expected: (Buffer | undefined)[];
  private readonly local: (Buffer | undefined)[];
  private readonly verified: Uint8Array;
  /** The version's root digest; all zeros while unknown (digests streamed, PROTOCOL.md §4.13). */
  private knownRoot: Buffer;

  constructor(
    readonly size: number,
    readonly chunkSize: number,
    root: Buffer,
  ) {
    this.knownRoot = root;
    this.count = chunkCountFor(size, chunkSize);
    this.expected = new Array<Buffer | undefined>(this.count).fill(undefined);
    this.local = new Array<Buffer | undefined>(this.count).fill(undefined);
    this.verified = new Uint8Array(Math.ceil(this.count / 8));
  }

  /**
   * The root digest: the server's, or once every chunk's expected digest is known, the hash of
   * them (the same value, PROTOCOL.md §8); all zeros while neither is known.
   */
  get root(): Buffer {
    if (!this.knownRoot.equals(ZERO_ROOT) || !this.expected.every((d) => d !== undefined))
      return this.knownRoot;
    this.knownRoot = rootDigest(this.expected as Buffer[]);
    return this.knownRoot;
  }

  /** False while the digests are streamed and not all known: the root is then all zeros. */
  get rootKnown(): boolean {
    return !this.root.equals(ZERO_ROOT);
  }

  /**
   * The root a streamed body sent with its last chunk digest. A root other than the one known
   * (or than the expected digests add up to) is a protocol error.
   */
  adoptRoot(root: Buffer): void {
    if (this.rootKnown) {
      if (!this.root.equals(root)) {
        throw new ClientError(
          ClientErrorCode.BAD_RESPONSE,
          'the server sent a root digest other than its chunk digests add up to',
        );
      }
      return;
    }
    this.knownRoot = root;
  }

  /** Rebuilds a ledger from the hex/base64 fields of a state file. */
  static restore(
    size: number,
    chunkSize: number,
    root: Buffer,
    digests: readonly string[],
    verified: Buffer,
  ): ChunkLedger {
    const ledger = new ChunkLedger(size, chunkSize, root);
    digests.forEach((hex, i) => {
      if (hex !== '') ledger.expected[i] = Buffer.from(hex, 'hex');
    });
    for (let i = 0; i < ledger.count; i++) {
      if ((verified[i >> 3]! & (1 << (i & 7))) !== 0 && ledger.expected[i] !== undefined)
        ledger.setVerified(i, true);
    }
    return ledger;
  }

  /** The expected digests as hex ('' where unknown) and the verified bitmap, for a state file. */
  snapshot(): { digests: string[]; verified: string } {
    return {
      digests: this.expected.map((d) => (d === undefined ? '' : d.toString('hex'))),
      verified: Buffer.from(this.verified).toString('base64'),
    };
  }

  /** Adds expected digests from a FILE header. A known digest that differs is a protocol error. */
  learn(firstChunk: number, digests: readonly Buffer[]): void {
    digests.forEach((digest, k) => {
      const i = firstChunk + k;
      if (i >= this.count || digest.length !== DIGEST_SIZE) {
        throw new ClientError(ClientErrorCode.BAD_RESPONSE, `chunk digest ${i} is out of range`);
      }
      const known = this.expected[i];
      if (known !== undefined && !known.equals(digest)) {
        throw new ClientError(
          ClientErrorCode.BAD_RESPONSE,
          `the server sent two different digests for chunk ${i} of the same file version`,
        );
      }
      if (known === undefined) {
        this.expected[i] = digest;
        const local = this.local[i];
        this.local[i] = undefined;
        if (local !== undefined) this.record(i, local);
      }
    });
  }

  /** True if a known expected digest differs from one of `digests` (chunks from `firstChunk`). */
  conflicts(firstChunk: number, digests: readonly Buffer[]): boolean {
    return digests.some((d, k) => {
      const known = this.expected[firstChunk + k];
      return known !== undefined && !known.equals(d);
    });
  }

  /** Records the digest of the local bytes of chunk `index`. */
  record(index: number, digest: Buffer): ChunkVerdict {
    const expected = this.expected[index];
    if (expected === undefined) {
      this.local[index] = digest;
      this.setVerified(index, false);
      return 'unknown';
    }
    const ok = expected.equals(digest);
    this.setVerified(index, ok);
    return ok ? 'verified' : 'bad';
  }

  /** Marks a chunk as needing a refetch. */
  invalidate(index: number): void {
    this.local[index] = undefined;
    this.setVerified(index, false);
  }

  isVerified(index: number): boolean {
    return (this.verified[index >> 3]! & (1 << (index & 7))) !== 0;
  }

  hasExpected(index: number): boolean {
    return this.expected[index] !== undefined;
  }

  get verifiedCount(): number {
    let n = 0;
    for (let i = 0; i < this.count; i++) if (this.isVerified(i)) n++;
    return n;
  }

  /** Byte range of chunk `index`. */
  rangeOf(index: number): { offset: number; length: number } {
    const offset = index * this.chunkSize;
    return { offset, length: Math.min(this.chunkSize, this.size - offset) };
  }

  /** Chunks below `limit` that are not verified, in order. */
  unverifiedBelow(limit: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < Math.min(limit, this.count); i++) if (!this.isVerified(i)) out.push(i);
    return out;
  }

  /** Chunks whose local digest is known but whose expected digest is not. */
  unknownChunks(): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.count; i++) if (this.local[i] !== undefined) out.push(i);
    return out;
  }

  /**
   * True when the root digest over every chunk's digest (expected where known, else local)
   * equals the version's root. Every chunk must be verified or have a local digest.
   */
  rootMatches(): boolean {
    const digests: Buffer[] = [];
    for (let i = 0; i < this.count; i++) {
      const d = this.isVerified(i) ? this.expected[i] : this.local[i];
      if (d === undefined) return false;
      digests.push(d);
    }
    return this.rootKnown && rootDigest(digests).equals(this.root);
  }

  /** Unknown chunks whose local bytes the root digest vouched for become verified. */
  acceptUnknownByRoot(): void {
    for (let i = 0; i < this.count; i++) {
      const local = this.local[i];
      if (local !== undefined) {
        this.expected[i] = local;
        this.local[i] = undefined;
        this.setVerified(i, true);
      }
    }
  }

  private setVerified(index: number, on: boolean): void {
    const byte = index >> 3;
    const bit = 1 << (index & 7);
    this.verified[byte] = on ? this.verified[byte]! | bit : this.verified[byte]! & ~bit;
  }
}

/**
 * Reads [fromChunk·chunkSize, end) of `handle` into a ChunkDigester: every complete chunk is
 * reported to `onChunk` before this resolves, and the returned digester holds the incomplete
 * tail, ready for the bytes that follow `end`. One sequential pass through READ_BUFFERS
 * buffers of shared memory that the hashing thread reads in place: the next block is read
 * while the thread digests the previous ones, so the pass runs at the speed of SHA-256.
 */
export async function hashLocalRange(
  handle: FileHandle,
  chunkSize: number,
  fromChunk: number,
  end: number,
  onChunk: (index: number, digest: Buffer) => void,
  signal?: AbortSignal,
  options: DigesterOptions = {},
): Promise<ChunkDigester> {
  const digester = new ChunkDigester(chunkSize, fromChunk, onChunk, options);
  try {
    const size = Math.min(READ_BUFFER_SIZE, Math.max(end, 1));
    const free: Buffer[] = [];
    for (let i = 0; i < READ_BUFFERS; i++) free.push(Buffer.from(new SharedArrayBuffer(size)));
    let wake: (() => void) | undefined;
    let position = fromChunk * chunkSize;
    while (position < end) {
      signal?.throwIfAborted();
      // A buffer comes back once the thread hashed it (or failed: flushed() reports that).
      let buffer = free.pop();
      while (buffer === undefined) {
        await new Promise<void>((resolve) => (wake = resolve));
        buffer = free.pop();
      }
      const want = Math.min(buffer.length, end - position);
      const { bytesRead } = await handle.read(buffer, 0, want, position);
      if (bytesRead === 0) {
        throw new ClientError(
          ClientErrorCode.LOCAL_IO,
          'the partial file shrank while it was read',
        );
      }
      const filled = buffer;
      digester.updateShared(filled.subarray(0, bytesRead), () => {
        free.push(filled);
        wake?.();
        wake = undefined;
      });
      position += bytesRead;
    }
    await digester.flushed();
  } catch (error) {
    digester.dispose();
    throw error;
  }
  return digester;
}
