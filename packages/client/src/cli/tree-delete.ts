/**
 * `get -r --delete`: remove what vanished remotely from a downloaded tree, like `rsync --delete`.
 * Only below the tree's local root, never through a symlink (a link is removed, not followed),
 * and only in directories whose remote listing is complete (not beyond --max-depth, not a
 * directory left out as a loop). ftget's own files are kept: the manifest, and the partial,
 * state and lock files of files that still exist remotely.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { RemoteEntry } from '../list.js';
import { MANIFEST_NAME } from './tree-sync.js';

const PARTIAL = /^(.*)\.part(\.json|\.lock)?$/;

/**
 * Deletes every local entry below `root` that the listing does not name; `keep` may protect more
 * (excluded paths). Calls `onDeleted` with each path removed and returns how many there were.
 */
export async function deleteVanished(
  root: string,
  entries: readonly RemoteEntry[],
  onDeleted: (path: string) => void,
  keep: (relativePath: string, isDirectory: boolean) => boolean = () => false,
): Promise<number> {
  const known = new Set(entries.map((e) => e.relativePath));
  const listed = new Set(entries.filter((e) => e.listed === true).map((e) => e.relativePath));
  let deleted = 0;
  const visit = async (relative: string): Promise<void> => {
    const dir = relative === '' ? root : join(root, ...relative.split('/'));
    for (const dirent of await readdir(dir, { withFileTypes: true })) {
      const name = dirent.name;
      const rel = relative === '' ? name : `${relative}/${name}`;
      if (relative === '' && (name === MANIFEST_NAME || name === `${MANIFEST_NAME}.tmp`)) continue;
      if (known.has(rel)) {
        if (dirent.isDirectory() && listed.has(rel)) await visit(rel);
        continue;
      }
      const partial = PARTIAL.exec(rel);
      if (partial !== null && known.has(partial[1]!)) continue;
      if (keep(rel, dirent.isDirectory())) continue;
      const path = join(dir, name);
      await rm(path, { recursive: true, force: true });
      onDeleted(path);
      deleted++;
    }
  };
  await visit('');
  return deleted;
}
