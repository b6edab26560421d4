/**
 * Symlinks in a downloaded tree, as `rsync -l` keeps them: a link whose target lies inside the
 * tree being downloaded is recreated as a relative symlink to the same place in the local copy;
 * any other link is skipped with a one-line notice (it would dangle, or lead out of the copy).
 */
import { lstat, readlink, symlink, unlink } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import type { RemoteEntry } from '../list.js';

export interface LocalLink {
  /** Where the link goes, locally. */
  path: string;
  /** Its text: a path relative to the link's directory. */
  target: string;
}

/**
 * What to do with a link entry of a tree listed from `treePath` (the remote path, normalized)
 * and downloaded into `localRoot`: the LocalLink to create, or a notice saying why not.
 */
export function linkFor(
  entry: RemoteEntry,
  treePath: string,
  localRoot: string,
): LocalLink | { notice: string } {
  const shown = treePath === '' ? entry.relativePath : `${treePath}/${entry.relativePath}`;
  if (entry.link === 'unservable') {
    return { notice: `skipping symlink ${shown}: it leads outside the server's root or nowhere` };
  }
  const target = entry.target ?? '';
  const inside = treePath === '' || target === treePath || target.startsWith(`${treePath}/`);
  if (!inside) {
    return {
      notice: `skipping symlink ${shown}: it leads outside the downloaded tree (to /${target}; --follow-links copies what it points to)`,
    };
  }
  const path = join(localRoot, ...entry.relativePath.split('/'));
  const rest = treePath === '' ? target : target.slice(treePath.length + 1);
  const localTarget = rest === '' ? localRoot : join(localRoot, ...rest.split('/'));
  return { path, target: relative(dirname(path), localTarget) || '.' };
}

/**
 * Creates the links. An existing link with the same text is left alone, one with another text
 * is replaced; anything else at that name is never replaced (a notice says so).
 */
export async function makeLinks(
  links: readonly LocalLink[],
  onNotice: (message: string) => void,
): Promise<void> {
  for (const link of links) {
    let existing;
    try {
      existing = await lstat(link.path);
    } catch {
      existing = undefined;
    }
    if (existing !== undefined) {
      if (!existing.isSymbolicLink()) {
        onNotice(`not replacing ${link.path} with a symlink: something else is there`);
        continue;
      }
      if ((await readlink(link.path)) === link.target) continue;
      await unlink(link.path);
    }
    await symlink(link.target, link.path);
  }
}
