/**
 * Transport-independent file access for ftserve: open a file under the root through the jail,
 * describe it (size, mtime, validator), compute its chunk digests, stat and list. TCP
 * connections use it, and so can any other transport; it never writes anything.
 */
import { stat as fsStat } from 'node:fs/promises';
import { closeSync, fstatSync } from 'node:fs';
import type { BigIntStats } from 'node:fs';
import {
  EntryKind,
  FtError,
  WireError,
  answeredLength,
  chunksOverlapping,
  validatorOf,
} from '@ft/protocol';
import type { ListEntry } from '@ft/protocol';
import { DigestCache, SHA256_UNKNOWN, hashChunks, hashFile, hashWhole } from './digest-cache.js';
import type { DigestLookup, FileDigests } from './digest-cache.js';
import { DigestStore } from './digest-store.js';
import { DirectoryLister } from './directory-listing.js';
import { PathJail } from './path-jail.js';
import { kindOf, msOf } from './stat-fields.js';
import { ValidatorCache } from './validator-cache.js';

export type { DigestLookup, FileDigests } from './digest-cache.js';

/** An open descriptor; closed by OpenedFile.close(). */
export interface OpenDescriptor {
  readonly fd: number;
}

/** A regular file opened for reading, pinned to the version it had when opened. */
export interface OpenedFile {
  /** Read with positional reads only (the service's methods share it); never close it directly. */
  readonly handle: OpenDescriptor;
  readonly size: number;
  /** Modification time in whole milliseconds since the epoch (0 if earlier). */
  readonly mtimeMs: number;
  /** Identity of this version: see validatorOf in @ft/protocol. */
  readonly validator: Buffer;
  /** The file's real path (for logs). */
  readonly realPath: string;
  /** Size, mtime and ctime (ns) at open, to detect a change while sending. */
  readonly identity: { readonly size: bigint; readonly mtimeNs: bigint; readonly ctimeNs: bigint };
  close(): Promise<void>;
}

/** What STAT reports about a path. */
export interface StatInfo {
  kind: EntryKind;
  size: number;
  mtimeMs: number;
  validator: Buffer;
  /** Present when asked for and the path is a regular file. */
  digest?: { chunkSize: number; root: Buffer; sha256: Buffer };
  /** With `digest`: whether this call had to hash the file (for the request log). */
  digestSource?: DigestLookup['source'];
}

export interface FileServiceOptions {
  /** Real absolute path of the root directory. */
  root: string;
  /** Serve names starting with "." too. */
  dotfiles: boolean;
  /** Upper bound of the digest cache, in bytes (default 32 MiB). */
  digestCacheBytes?: number;
  /** Directory of the digest store shared by the server's processes (none: memory only). */
  digestStoreDir?: string | undefined;
  /** Longest directory listing served; longer ones are refused with TOO_LARGE (default 100 000). */
  maxListEntries?: number;
}

function refuse(wireCode: number, code: string, message: string): FtError {
  return new FtError(code, message, { wireCode });
}

/** Raised by digestsFor when the file changed between open and the end of hashing. */
export const FILE_CHANGED = 'FT_FILE_CHANGED';

/** Code (and transfer-log result) of a RECHECK that found stale digests; the wire says PRECONDITION_FAILED. */
export const STALE_DIGESTS = 'FT_STALE_DIGESTS';

/** Chunks a RECHECK re-hashes at most (the first ones of the range). */
export const RECHECK_CHUNKS = 4;

/** File access under one root; see the module comment. */
export class FileService {
  readonly jail: PathJail;
  private readonly cache: DigestCache;
  /** Directory listings (LIST), under the same jail. */
  readonly lister: DirectoryLister;
  private readonly validators = new ValidatorCache();

  constructor(private readonly options: FileServiceOptions) {
    this.jail = new PathJail(options.root, { dotfiles: options.dotfiles });
    this.cache = new DigestCache(
      options.digestCacheBytes,
      options.digestStoreDir === undefined ? undefined : new DigestStore(options.digestStoreDir),
    );
    this.lister = new DirectoryLister(this.jail, options, options.maxListEntries ?? 100_000);
  }

  /**
   * Opens a regular file for reading. Throws an FtError whose wireCode is NOT_FOUND,
   * ACCESS_DENIED (refused by the jail, unreadable, not a regular file) or IS_DIRECTORY.
   */
  async openForRead(path: string): Promise<OpenedFile> {
    // Opening and fstat are synchronous on purpose (see PathJail.resolveSync): per request, a
    // thread-pool round trip for each would cost more than the system calls themselves.
    const { fd, real } = this.jail.openSync(path);
    let st: BigIntStats;
    try {
      st = fstatSync(fd, { bigint: true });
      if (st.isDirectory())
        throw refuse(WireError.IS_DIRECTORY, 'FT_IS_DIRECTORY', `${path}: is a directory`);
      if (!st.isFile())
        throw refuse(WireError.ACCESS_DENIED, 'FT_ACCESS_DENIED', `${path}: not a regular file`);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    let closed = false;
    return {
      handle: { fd },
      size: Number(st.size),
      mtimeMs: msOf(st),
      validator: this.validators.of(real, st),
      realPath: real,
      identity: { size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs },
      close: async () => {
        if (closed) return;
        closed = true;
        closeSync(fd);
      },
    };
  }

  /**
   * True if the opened file's size, mtime or ctime differ from what they were at open (ctime:
   * a rewrite that sets the mtime back still moves it).
   */
  async hasChanged(opened: OpenedFile): Promise<boolean> {
    // fstat of an open descriptor never waits for the disk.
    const st = fstatSync(opened.handle.fd, { bigint: true });
    const was = opened.identity;
    return st.size !== was.size || st.mtimeNs !== was.mtimeNs || st.ctimeNs !== was.ctimeNs;
  }

  /**
   * Chunk digests of the opened version (cached per validator). Rejects with code FILE_CHANGED
   * (wireCode INTERNAL, retryAfterMs set) if the file changed while it was being hashed.
   */
  async digestsFor(opened: OpenedFile): Promise<FileDigests> {
    return (await this.lookupDigests(opened)).digests;
  }

  /**
   * As digestsFor, and whether this call had to hash the file (for the transfer log). With
   * `recheck` (a GET with RECHECK: the client found bytes that did not match), cached digests of
   * the range's first chunks are compared with the file first; stale ones are dropped and the
   * lookup rejects with PRECONDITION_FAILED (PROTOCOL.md §4.3).
   */
  async lookupDigests(
    opened: OpenedFile,
    recheck?: { offset: number; length?: number | undefined },
  ): Promise<DigestLookup> {
    const lookup = await this.cachedOrComputed(opened);
    if (recheck !== undefined && lookup.source === 'cached')
      await this.recheck(opened, lookup.digests, recheck.offset, recheck.length);
    return lookup;
  }

  /** Digests of the opened version if known without hashing (cache or store), else undefined. */
  async knownDigests(opened: OpenedFile): Promise<FileDigests | undefined> {
    return this.cache.peek(opened.validator, opened.size);
  }

  /** Caches digests a streamed GET computed in one in-order pass over the whole opened version. */
  async rememberDigests(opened: OpenedFile, digests: FileDigests): Promise<void> {
    await this.cache.put(opened.validator, opened.size, digests);
  }

  /**
   * Re-hashes at most RECHECK_CHUNKS chunks of [offset, offset + length) from the file: the work
   * is bounded by what the GET is about to send, whatever a client asks. A digest that differs
   * means the content changed without the validator showing it (see validatorOf).
   */
  private async recheck(
    opened: OpenedFile,
    digests: FileDigests,
    offset: number,
    length: number | undefined,
  ): Promise<void> {
    if (offset >= opened.size) return;
    const wanted = answeredLength(opened.size, offset, length);
    const span = chunksOverlapping(offset, wanted, digests.chunkSize);
    const count = Math.min(span.count, RECHECK_CHUNKS);
    let fresh: Buffer[];
    try {
      fresh = await hashChunks(opened.handle.fd, opened.size, digests.chunkSize, span.first, count);
    } catch (error) {
      throw refuse(
        WireError.INTERNAL,
        FILE_CHANGED,
        `cannot re-hash ${opened.realPath}: ${String(error)}`,
      );
    }
    if (fresh.every((d, k) => d.equals(digests.chunkDigests[span.first + k]!))) return;
    await this.cache.forget(opened.validator);
    throw new FtError(
      STALE_DIGESTS,
      'the content no longer matches its digests (changed without a new validator): digests dropped',
      { wireCode: WireError.PRECONDITION_FAILED },
    );
  }

  private async cachedOrComputed(opened: OpenedFile): Promise<DigestLookup> {
    return this.cache.get(opened.validator, opened.size, () => this.hashChecked(opened, hashFile));
  }

  /**
   * One hashing pass over an open file, refused (INTERNAL, retry in a second) if it fails or the
   * file changed meanwhile: what was hashed then is not the version the validator names.
   */
  private async hashChecked<T>(
    opened: OpenedFile,
    hash: (fd: number, size: number) => Promise<T>,
  ): Promise<T> {
    let result: T;
    try {
      result = await hash(opened.handle.fd, opened.size);
    } catch (error) {
      throw refuse(
        WireError.INTERNAL,
        FILE_CHANGED,
        `cannot hash ${opened.realPath}: ${String(error)}`,
      );
    }
    if (await this.hasChanged(opened)) {
      throw new FtError(FILE_CHANGED, 'the file changed while it was being hashed', {
        wireCode: WireError.INTERNAL,
        retryAfterMs: 1000,
      });
    }
    return result;
  }

  /** Kind, size, mtime and validator of a path; the root digest too if asked and it is a file. */
  async stat(
    path: string,
    options: { wantDigest: boolean; wantSha256?: boolean } = { wantDigest: false },
  ): Promise<StatInfo> {
    const real = await this.jail.resolve(path);
    const st = await fsStat(real, { bigint: true });
    const info: StatInfo = {
      kind: kindOf(st),
      size: Number(st.size),
      mtimeMs: msOf(st),
      validator: validatorOf(st),
    };
    if (!options.wantDigest || info.kind !== EntryKind.FILE) return info;
    const opened = await this.openForRead(path);
    try {
      const { digests: d, source } = await this.lookupDigests(opened);
      if (options.wantSha256 === true && d.sha256.equals(SHA256_UNKNOWN)) {
        // Digests from a streamed send (PROTOCOL.md §4.13) come without it: one pass now, kept
        // in the cached entry (the store's copy keeps zeros; another process hashes it again).
        d.sha256 = await this.hashChecked(opened, hashWhole);
      }
      return {
        kind: EntryKind.FILE,
        size: opened.size,
        mtimeMs: opened.mtimeMs,
        validator: opened.validator,
        digest: { chunkSize: d.chunkSize, root: d.root, sha256: d.sha256 },
        digestSource: source,
      };
    } finally {
      await opened.close();
    }
  }

  /** Entries of a directory sorted by name, all at once (see DirectoryLister for the rules). */
  async list(path: string, options: { links?: boolean } = {}): Promise<ListEntry[]> {
    const listing = await this.lister.open(path);
    return this.lister.describe(listing, listing.names, options.links === true);
  }
}
