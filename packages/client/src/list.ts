/** list(): the entries of a remote directory, optionally the whole tree below it. */
import type { ListEntry } from '@ft/protocol';
import { Connection, MAX_LIST_ENTRIES } from './connection.js';
import { ClientError, ClientErrorCode } from './errors.js';
import type { Remote } from './remote.js';
import { kindName } from './stat.js';
import type { RemoteKind } from './stat.js';

/** Deepest directory nesting a recursive listing follows. */
export const MAX_DEPTH = 64;

export interface ListOptions {
  remote: Remote;
  signal?: AbortSignal;
  /** Connect timeout and longest silence, in ms (default 30 000). */
  timeoutMs?: number;
  /** List the whole tree below the directory (depth-first, directories before their contents). */
  recursive?: boolean;
}

export interface RemoteEntry {
  /** Name within its directory. */
  name: string;
  /** Path relative to the listed directory, '/'-separated. */
  relativePath: string;
  kind: RemoteKind;
  size: number;
  mtimeMs: number;
}

/** Names a server may not send: they would escape the directory when used locally. */
function checkName(name: string): void {
  if (name === '' || name === '.' || name === '..' || name.includes('/') || name.includes('\0')) {
    throw new ClientError(
      ClientErrorCode.BAD_RESPONSE,
      `protocol error: the server listed an invalid entry name ${JSON.stringify(name)}`,
    );
  }
}

/** LISTs `remote.path` ('' is the server's root). */
export async function list(options: ListOptions): Promise<RemoteEntry[]> {
  const connection = await Connection.open(options.remote, {
    signal: options.signal,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  try {
    const out: RemoteEntry[] = [];
    await walk(connection, options, '', 0, out);
    return out;
  } finally {
    connection.close();
  }
}

async function walk(
  connection: Connection,
  options: ListOptions,
  relative: string,
  depth: number,
  out: RemoteEntry[],
): Promise<void> {
  const base = options.remote.path;
  const path = [base, relative].filter((p) => p !== '').join('/');
  const entries: ListEntry[] = await connection.list(path);
  for (const entry of entries) {
    checkName(entry.name);
    const relativePath = relative === '' ? entry.name : `${relative}/${entry.name}`;
    if (out.length >= MAX_LIST_ENTRIES) {
      throw new ClientError(
        ClientErrorCode.BAD_RESPONSE,
        `listing has more than ${MAX_LIST_ENTRIES} entries`,
      );
    }
    const kind = kindName(entry.kind);
    out.push({ name: entry.name, relativePath, kind, size: entry.size, mtimeMs: entry.mtimeMs });
    if (options.recursive && kind === 'directory') {
      if (depth + 1 > MAX_DEPTH) {
        throw new ClientError(
          ClientErrorCode.BAD_RESPONSE,
          `directory tree deeper than ${MAX_DEPTH} levels`,
        );
      }
      await walk(connection, options, relativePath, depth + 1, out);
    }
  }
}
