/** How a file's stat becomes the fields of STAT_OK and LIST_OK entries. */
import type { BigIntStats } from 'node:fs';
import { EntryKind } from '@ft/protocol';

/** Modification time in whole milliseconds since the epoch (0 if earlier). */
export function msOf(st: BigIntStats): number {
  const ms = st.mtimeNs / 1_000_000n;
  return ms < 0n ? 0 : Number(ms);
}

export function kindOf(st: { isFile(): boolean; isDirectory(): boolean }): EntryKind {
  if (st.isFile()) return EntryKind.FILE;
  return st.isDirectory() ? EntryKind.DIRECTORY : EntryKind.OTHER;
}
