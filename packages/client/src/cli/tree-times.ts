/**
 * Directory modification times for `get -r` (as `rsync -t` keeps them): set once everything
 * inside a directory is written, deepest first, since creating an entry in a directory changes
 * its mtime again.
 */
import { utimes } from 'node:fs/promises';
import { sep } from 'node:path';
import type { Remote } from '../remote.js';

export interface DirectoryTime {
  path: string;
  mtimeMs: number;
}

/**
 * Sets each directory's mtime, children before parents; `trees` (the local roots of the REMOTE
 * trees) get the remote directory's mtime as `remoteMtime` finds it (undefined: left alone).
 */
export async function keepDirectoryTimes(
  directories: readonly DirectoryTime[],
  trees: readonly { remote: Remote; path: string }[],
  remoteMtime: (remote: Remote) => Promise<number | undefined>,
): Promise<void> {
  const all = [...directories];
  for (const tree of trees) {
    const mtimeMs = await remoteMtime(tree.remote);
    if (mtimeMs !== undefined) all.push({ path: tree.path, mtimeMs });
  }
  const depth = (p: string): number => p.split(sep).filter((c) => c !== '').length;
  all.sort((a, b) => depth(b.path) - depth(a.path));
  for (const d of all) {
    const when = new Date(d.mtimeMs);
    await utimes(d.path, when, when);
  }
}
