/**
 * The validators of recently opened files, so that a GET of a file already served needs no
 * SHA-256 (and no decimal formatting of five 64-bit numbers) to name its version: an entry is
 * used only while the file's device, inode, size, mtime and ctime are exactly those it was
 * computed from, which is everything validatorOf hashes, so a hit returns the very bytes
 * validatorOf would. Bounded: at MAX_ENTRIES the oldest entry is dropped for each new one.
 */
import type { BigIntStats } from 'node:fs';
import { validatorOf } from '@ft/protocol';

const MAX_ENTRIES = 4096;

interface Entry {
  dev: bigint;
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
  validator: Buffer;
}

export class ValidatorCache {
  private readonly entries = new Map<string, Entry>();

  constructor(private readonly maxEntries = MAX_ENTRIES) {}

  /** The validator of the version `st` describes of the file at `path` (its real path). */
  of(path: string, st: BigIntStats): Buffer {
    const e = this.entries.get(path);
    if (
      e !== undefined &&
      e.ino === st.ino &&
      e.dev === st.dev &&
      e.size === st.size &&
      e.mtimeNs === st.mtimeNs &&
      e.ctimeNs === st.ctimeNs
    )
      return e.validator;
    const validator = validatorOf(st);
    if (e !== undefined) this.entries.delete(path);
    else if (this.entries.size >= this.maxEntries)
      this.entries.delete(this.entries.keys().next().value as string);
    this.entries.set(path, {
      dev: st.dev,
      ino: st.ino,
      size: st.size,
      mtimeNs: st.mtimeNs,
      ctimeNs: st.ctimeNs,
      validator,
    });
    return validator;
  }

  get size(): number {
    return this.entries.size;
  }
}
