/**
 * list(): the entries of a remote directory, optionally the whole tree below it. Symlinks are
 * never descended unless asked (followLinks), and then each directory is listed once: the
 * server names where a link leads (its root-relative target), so a directory's identity is its
 * canonical path below the root, and a loop (`self -> .`, `up -> ..`) ends at the first repeat.
 */
import { LINKS_MIN_VERSION, LinkKind, RemoteError, WireError } from '@ft/protocol';
import type { ListEntry } from '@ft/protocol';
import { Connection, MAX_LIST_ENTRIES } from './connection.js';
import { ClientError, ClientErrorCode } from './errors.js';
import { normalizeRemotePath } from './remote.js';
import type { Remote } from './remote.js';
import { sleep } from './retry.js';
import { kindName } from './stat.js';
import type { RemoteKind } from './stat.js';

/** Deepest nesting followed from a version-1 server, which cannot say which entries are links. */
export const V1_MAX_DEPTH = 64;
/** LIST answers of BUSY (the server's per-connection LIST rate) waited out before giving up. */
const MAX_BUSY_RETRIES = 20;
/** Longest wait for one BUSY answer, whatever the server suggests. */
const MAX_BUSY_WAIT_MS = 5000;

export interface ListOptions {
  remote: Remote;
  signal?: AbortSignal;
  /** Connect timeout and longest silence, in ms (default 30 000). */
  timeoutMs?: number;
  /** List the whole tree below the directory (depth-first, directories before their contents). */
  recursive?: boolean;
  /** Descend into symlinked directories too, each directory once. Default false. */
  followLinks?: boolean;
  /** Directory levels to descend below the listed one (0: its entries only). Default: no bound. */
  maxDepth?: number;
  /** Keep an entry (and, for a directory, descend into it)? Default: every entry. */
  filter?: (relativePath: string, isDirectory: boolean) => boolean;
  /** Told about each directory not descended into because it was already listed (a loop). */
  onNotice?: (message: string) => void;
}

/** Whether an entry is a symlink: 'inside' (to a servable path) or 'unservable'. */
export type LinkState = 'none' | 'inside' | 'unservable';

export interface RemoteEntry {
  /** Name within its directory. */
  name: string;
  /** Path relative to the listed directory, '/'-separated. */
  relativePath: string;
  /** What the entry is; for an 'inside' link, what it points to. */
  kind: RemoteKind;
  size: number;
  mtimeMs: number;
  link: LinkState;
  /** For an 'inside' link: the path below the server's root it resolves to ('' is the root). */
  target?: string;
  /** A directory not descended into because it was listed already under another name (followLinks). */
  loop?: true;
  /** A directory whose entries are in the listing (recursive listings). */
  listed?: true;
}

const LINK_STATES: Readonly<Record<number, LinkState>> = {
  [LinkKind.NONE]: 'none',
  [LinkKind.INSIDE]: 'inside',
  [LinkKind.UNSERVABLE]: 'unservable',
};

function badResponse(message: string): ClientError {
  return new ClientError(ClientErrorCode.BAD_RESPONSE, `protocol error: ${message}`);
}

/** Names a server may not send: they would escape the directory when used locally. */
function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw badResponse(`the server listed an invalid entry name ${JSON.stringify(name)}`);
  }
}

/** A link target must be a plain root-relative path: it is joined to local paths later. */
function checkTarget(target: string): void {
  if (target === '') return;
  for (const part of target.split('/')) {
    if (part === '' || part === '.' || part === '..' || part.includes('\0')) {
      throw badResponse(`the server sent an invalid link target ${JSON.stringify(target)}`);
    }
  }
}

/** Orders paths as a depth-first walk of name-sorted directories does (UTF-16 code units). */
function comparePaths(a: string, b: string): number {
  const pa = a.split('/');
  const pb = b.split('/');
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] !== pb[i]) return pa[i]! < pb[i]! ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** LISTs `remote.path` ('' is the server's root). */
export async function list(options: ListOptions): Promise<RemoteEntry[]> {
  const connection = await Connection.open(options.remote, {
    signal: options.signal,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  try {
    const links = (await connection.serverVersion()) >= LINKS_MIN_VERSION;
    const start = normalizeRemotePath(options.remote.path);
    const walker = new Walker(connection, options, links);
    await walker.walkAll(start);
    return walker.out;
  } finally {
    connection.close();
  }
}

class Walker {
  readonly out: RemoteEntry[] = [];
  /** Canonical paths of the directories listed so far. */
  private readonly visited = new Set<string>();
  private readonly maxDepth: number;
  /** Symlinked directories to descend once the real tree is listed (followLinks). */
  private readonly deferred: { item: RemoteEntry; depth: number }[] = [];

  constructor(
    private readonly connection: Connection,
    private readonly options: ListOptions,
    private readonly links: boolean,
  ) {
    const bound = options.maxDepth ?? Number.POSITIVE_INFINITY;
    // Without link information a loop cannot be told from a deep tree: bound it as before.
    this.maxDepth = links ? bound : Math.min(bound, V1_MAX_DEPTH);
  }

  /**
   * Lists the tree: the real directories first, then (followLinks) each symlinked directory
   * whose target was not listed yet, so a directory is listed under its own name rather than
   * under a link's when both lead to it. The result is in tree order either way.
   */
  async walkAll(start: string): Promise<void> {
    await this.walk('', start, 0);
    if (this.deferred.length === 0) return;
    for (let next = this.deferred.shift(); next !== undefined; next = this.deferred.shift()) {
      const { item, depth } = next;
      if (this.visited.has(item.target!)) {
        item.loop = true;
        this.options.onNotice?.(
          `${item.relativePath}: symlink not followed, directory /${item.target} already listed (a loop or a second name)`,
        );
        continue;
      }
      item.listed = true;
      await this.walk(item.relativePath, item.target!, depth);
    }
    this.out.sort((a, b) => comparePaths(a.relativePath, b.relativePath));
  }

  /** Lists the directory at `relative` (below the listed one), whose canonical path is `canonical`. */
  async walk(relative: string, canonical: string, depth: number): Promise<void> {
    this.visited.add(canonical);
    const base = this.options.remote.path;
    const path = [base, relative].filter((p) => p !== '').join('/');
    for (const entry of await this.listOnce(path)) {
      checkName(entry.name);
      const relativePath = relative === '' ? entry.name : `${relative}/${entry.name}`;
      if (this.out.length >= MAX_LIST_ENTRIES) {
        throw new ClientError(
          ClientErrorCode.BAD_RESPONSE,
          `listing has more than ${MAX_LIST_ENTRIES} entries`,
        );
      }
      const link = LINK_STATES[entry.link ?? LinkKind.NONE] ?? 'none';
      const item: RemoteEntry = {
        name: entry.name,
        relativePath,
        kind: kindName(entry.kind),
        size: entry.size,
        mtimeMs: entry.mtimeMs,
        link,
      };
      if (link === 'inside') {
        checkTarget(entry.target ?? '');
        item.target = entry.target ?? '';
      }
      if (this.options.filter?.(relativePath, item.kind === 'directory') === false) continue;
      this.out.push(item);
      if (!this.options.recursive || item.kind !== 'directory' || depth + 1 > this.maxDepth)
        continue;
      if (link === 'unservable') continue;
      if (link === 'inside') {
        if (this.options.followLinks === true) this.deferred.push({ item, depth: depth + 1 });
        continue;
      }
      const childCanonical = canonical === '' ? entry.name : `${canonical}/${entry.name}`;
      // Only a bind mount, or a directory reached through a link first, is seen twice here.
      if (this.visited.has(childCanonical)) {
        item.loop = true;
        this.options.onNotice?.(
          `${relativePath}: not descended, directory /${childCanonical} already listed`,
        );
        continue;
      }
      item.listed = true;
      await this.walk(relativePath, childCanonical, depth + 1);
    }
  }

  /** One LIST, waiting out the server's BUSY answers (its per-connection LIST rate). */
  private async listOnce(path: string): Promise<ListEntry[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.connection.list(path, { wantLinks: this.links });
      } catch (error) {
        if (
          !(error instanceof RemoteError) ||
          error.wireCode !== WireError.BUSY ||
          attempt >= MAX_BUSY_RETRIES
        )
          throw error;
        await sleep(Math.min(error.retryAfterMs ?? 100, MAX_BUSY_WAIT_MS), this.options.signal);
      }
    }
  }
}
