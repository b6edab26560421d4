/**
 * Chunk digests on disk, shared by every process of one server (and across restarts with
 * --digest-cache DIR), so a fork-per-connection child or a second prefork worker does not hash
 * a file version again. One file per version, named by the validator's hex; written to a temp
 * name and renamed, so a reader sees a whole entry or none. Entries are checked on read (sizes
 * and the root digest must agree with the file) and a bad one is ignored, then overwritten.
 */
import { randomBytes } from 'node:crypto';
import {
  constants as fsConstants,
  existsSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
} from 'node:fs';
import { open, rename, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { DIGEST_SIZE, chunkCountFor, chunkSizeFor, rootDigest } from '@ft/protocol';
import type { FileDigests } from './digest-cache.js';

// FTD2 added the whole-file SHA-256; an FTD1 entry (an older server's) reads as absent, so the
// file is hashed once more and the entry rewritten.
const MAGIC = Buffer.from('FTD2');
/** Magic, chunk size (u32), file size (u64), root digest, whole-file SHA-256. */
const HEADER_SIZE = 4 + 4 + 8 + DIGEST_SIZE + DIGEST_SIZE;
const SHA256_AT = 16 + DIGEST_SIZE;

function entryLength(size: number): number {
  return HEADER_SIZE + chunkCountFor(size, chunkSizeFor(size)) * DIGEST_SIZE;
}

/** The bytes of one entry. */
export function encodeEntry(size: number, digests: FileDigests): Buffer {
  const out = Buffer.allocUnsafe(HEADER_SIZE + digests.chunkDigests.length * DIGEST_SIZE);
  MAGIC.copy(out, 0);
  out.writeUInt32BE(digests.chunkSize, 4);
  out.writeBigUInt64BE(BigInt(size), 8);
  digests.root.copy(out, 16);
  digests.sha256.copy(out, SHA256_AT);
  digests.chunkDigests.forEach((d, i) => d.copy(out, HEADER_SIZE + i * DIGEST_SIZE));
  return out;
}

/** Parses an entry for a file of `size` bytes; undefined if it does not describe such a file. */
export function decodeEntry(data: Buffer, size: number): FileDigests | undefined {
  const chunkSize = chunkSizeFor(size);
  if (data.length !== entryLength(size) || !data.subarray(0, 4).equals(MAGIC)) return undefined;
  if (data.readUInt32BE(4) !== chunkSize || data.readBigUInt64BE(8) !== BigInt(size))
    return undefined;
  const chunkDigests: Buffer[] = [];
  for (let at = HEADER_SIZE; at < data.length; at += DIGEST_SIZE)
    chunkDigests.push(Buffer.from(data.subarray(at, at + DIGEST_SIZE)));
  const root = rootDigest(chunkDigests);
  if (!root.equals(data.subarray(16, 16 + DIGEST_SIZE))) return undefined;
  const sha256 = Buffer.from(data.subarray(SHA256_AT, SHA256_AT + DIGEST_SIZE));
  return { chunkSize, root, chunkDigests, sha256 };
}

/** The on-disk store in one directory (which must exist and be private to this server). */
export class DigestStore {
  constructor(readonly dir: string) {}

  private pathOf(validator: Buffer): string {
    return join(this.dir, validator.toString('hex'));
  }

  /** The stored digests of the version `validator` of a file of `size` bytes, if a sound entry exists. */
  async load(validator: Buffer, size: number): Promise<FileDigests | undefined> {
    const want = entryLength(size);
    let handle;
    try {
      handle = await open(this.pathOf(validator), fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
    } catch {
      return undefined;
    }
    try {
      // Read one byte more than expected: a longer file is as wrong as a shorter one.
      const data = Buffer.allocUnsafe(want + 1);
      let got = 0;
      while (got < data.length) {
        const { bytesRead } = await handle.read(data, got, data.length - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      return decodeEntry(data.subarray(0, got), size);
    } catch {
      return undefined;
    } finally {
      await handle.close();
    }
  }

  /**
   * Whether an entry for `validator` exists. Synchronous on purpose (one stat(2) of a local
   * directory, answered from the dentry cache): it runs on every memory hit of a shared entry.
   */
  has(validator: Buffer): boolean {
    return existsSync(this.pathOf(validator));
  }

  /** Deletes the entry of `validator` (stale digests: the bytes changed under the same validator). */
  async remove(validator: Buffer): Promise<void> {
    await unlink(this.pathOf(validator)).catch(() => {});
  }

  /** Stores an entry atomically; failures (disk full, directory gone) only cost a future re-hash. */
  async save(validator: Buffer, size: number, digests: FileDigests): Promise<boolean> {
    const final = this.pathOf(validator);
    const temp = join(this.dir, `.${process.pid}-${randomBytes(6).toString('hex')}.tmp`);
    try {
      await writeFile(temp, encodeEntry(size, digests), { mode: 0o600, flag: 'wx' });
      await rename(temp, final);
      return true;
    } catch {
      await unlink(temp).catch(() => {});
      return false;
    }
  }
}

/** True if `path` (absolute, possibly not existing yet) is `root` or lies under it, symlinks resolved. */
export function isInside(path: string, root: string): boolean {
  let existing = path;
  const rest: string[] = [];
  for (;;) {
    try {
      existing = realpathSync(existing);
      break;
    } catch {
      const parent = dirname(existing);
      if (parent === existing) break;
      rest.unshift(existing.slice(parent.length).replace(/^\/+/, ''));
      existing = parent;
    }
  }
  const rel = relative(realpathSync(root), resolve(existing, ...rest));
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel));
}

/**
 * Opens the digest store of a server run: `dir` (created 0700 if missing, kept at exit) or else a
 * fresh private directory under the system temp dir that `remove()` deletes.
 */
export function openStoreDir(dir: string | undefined): { dir: string; remove: () => void } {
  if (dir !== undefined) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return { dir, remove: () => {} };
  }
  const temp = mkdtempSync(join(tmpdir(), 'ftserve-digests-'));
  return { dir: temp, remove: () => rmSync(temp, { recursive: true, force: true }) };
}
