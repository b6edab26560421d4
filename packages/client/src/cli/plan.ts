/**
 * Turns `ftget get REMOTE… [-o OUTPUT] [-r]` into a list of (remote file, local path) jobs.
 * One REMOTE: OUTPUT is the file to write (or, if it is an existing directory, where to put
 * it); several REMOTEs or -r: OUTPUT is a directory (created if missing).
 */
import { stat as fsStat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { ClientError, ClientErrorCode } from '../errors.js';
import type { RemoteEntry } from '../list.js';
import { normalizeRemotePath } from '../remote.js';
import type { Remote } from '../remote.js';
import { linkFor } from './tree-links.js';
import type { LocalLink } from './tree-links.js';

export interface Job {
  remote: Remote;
  output: string;
  /** -r: where the file sits in its tree, and its size and mtime as listed. */
  tree?: { root: string; relativePath: string; size: number; mtimeMs: number };
}

export interface Plan {
  jobs: Job[];
  /** Local directories to create first, parents before children. */
  directories: string[];
  /** Symlinks to recreate once the files are down (-r without --follow-links). */
  links: LocalLink[];
  /** -r: the remote modification time of each local directory below a tree's root. */
  directoryTimes: { path: string; mtimeMs: number }[];
  /** -r: each REMOTE tree, the local directory it goes to, and its listing. */
  trees: { remote: Remote; path: string; entries: RemoteEntry[] }[];
}

export interface TreeOptions {
  /** Links were followed by the listing: download what they lead to. */
  followLinks?: boolean;
  /** Told about every link skipped. */
  onNotice?: (message: string) => void;
}

function usage(message: string, hint?: string): ClientError {
  return new ClientError(ClientErrorCode.USAGE, message, hint === undefined ? {} : { hint });
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await fsStat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** The local name of a remote path: its last component; the server root is "ft-root". */
export function localName(remotePath: string): string {
  return remotePath === '' ? 'ft-root' : basename(remotePath);
}

export async function planDownloads(
  remotes: readonly Remote[],
  output: string | undefined,
  recursive: boolean,
  listTree: (remote: Remote) => Promise<RemoteEntry[]>,
  tree: TreeOptions = {},
): Promise<Plan> {
  if (output === '-' && (remotes.length > 1 || recursive)) {
    throw usage('-o - (stdout) takes exactly one file', 'drop -r or give a single REMOTE');
  }
  const jobs: Job[] = [];
  const directories: string[] = [];
  const links: LocalLink[] = [];
  const directoryTimes: Plan['directoryTimes'] = [];
  const trees: Plan['trees'] = [];
  const many = remotes.length > 1 || recursive;
  if (many && output !== undefined) directories.push(output);
  for (const remote of remotes) {
    if (!recursive) {
      if (remote.path === '')
        throw usage(
          'REMOTE names the server root, not a file',
          'use -r to download a directory tree',
        );
      let local: string;
      if (output === undefined) local = localName(remote.path);
      else if (output === '-') local = '-';
      else if (many || (await isDirectory(output))) local = join(output, localName(remote.path));
      else local = output;
      jobs.push({ remote, output: local });
      continue;
    }
    const root =
      output !== undefined && remotes.length === 1
        ? output
        : join(output ?? '.', localName(remote.path));
    if (!directories.includes(root)) directories.push(root);
    const entries = await listTree(remote);
    trees.push({ remote, path: root, entries });
    for (const entry of entries) {
      const local = join(root, ...entry.relativePath.split('/'));
      const path = remote.path === '' ? entry.relativePath : `${remote.path}/${entry.relativePath}`;
      if (entry.link === 'unservable' || (entry.link === 'inside' && tree.followLinks !== true)) {
        const link = linkFor(entry, normalizeRemotePath(remote.path), root);
        if ('notice' in link) tree.onNotice?.(link.notice);
        else links.push(link);
        continue;
      }
      if (entry.loop === true) continue;
      if (entry.kind === 'directory') {
        directories.push(local);
        directoryTimes.push({ path: local, mtimeMs: entry.mtimeMs });
      } else if (entry.kind === 'file') {
        jobs.push({
          remote: { ...remote, path },
          output: local,
          tree: {
            root,
            relativePath: entry.relativePath,
            size: entry.size,
            mtimeMs: entry.mtimeMs,
          },
        });
      }
    }
  }
  return { jobs, directories, links, directoryTimes, trees };
}
