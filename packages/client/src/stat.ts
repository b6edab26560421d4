/** stat(): size, modification time, validator and root digest of a remote path. */
import { EntryKind, SHA256_MIN_VERSION } from '@ft/protocol';
import { Connection } from './connection.js';
import { openConnection } from './udp/transport.js';
import type { TransportKind } from './udp/transport.js';
import type { Remote } from './remote.js';

export interface StatOptions {
  remote: Remote;
  signal?: AbortSignal;
  /** Connect timeout and longest silence, in ms (default 30 000). */
  timeoutMs?: number;
  /** Ask for the root digest (the server may have to hash the file once). Default true. */
  wantDigest?: boolean;
  /** 'tcp' (default) or 'udp'. */
  transport?: TransportKind;
}

export type RemoteKind = 'file' | 'directory' | 'other';

/** What `ftget stat` prints. */
export interface RemoteStat {
  path: string;
  kind: RemoteKind;
  size: number;
  mtimeMs: number;
  /** ISO 8601 modification time. */
  mtime: string;
  /** The version's validator, hex. */
  validator: string;
  /** Root digest (SHA-256 over the chunk digests), hex; undefined for directories or when not asked. */
  digest: string | undefined;
  /** Chunk size of the digest scheme; 0 when there is no digest. */
  chunkSize: number;
  /**
   * Plain SHA-256 of the whole file (hex), as sha256sum prints it; undefined for directories,
   * when not asked, over UDP, or from a server older than protocol version 2.
   */
  sha256: string | undefined;
}

export function kindName(kind: number): RemoteKind {
  return kind === EntryKind.FILE ? 'file' : kind === EntryKind.DIRECTORY ? 'directory' : 'other';
}

/** STATs `remote.path`. Rejects with RemoteError (e.g. FT_NOT_FOUND) or a ClientError. */
export async function stat(options: StatOptions): Promise<RemoteStat> {
  const connection = await openConnection(options.transport, options.remote, {
    signal: options.signal,
    timeoutMs: options.timeoutMs ?? 30_000,
  });
  try {
    const wantDigest = options.wantDigest ?? true;
    const wantSha256 =
      wantDigest &&
      connection instanceof Connection &&
      (await connection.serverVersion()) >= SHA256_MIN_VERSION;
    const st = await connection.stat(options.remote.path, wantDigest, { wantSha256 });
    const hasDigest = st.chunkSize > 0;
    return {
      path: options.remote.path,
      kind: kindName(st.kind),
      size: st.size,
      mtimeMs: st.mtimeMs,
      mtime: new Date(st.mtimeMs).toISOString(),
      validator: st.validator.toString('hex'),
      digest: hasDigest ? st.root.toString('hex') : undefined,
      chunkSize: hasDigest ? st.chunkSize : 0,
      sha256: st.sha256?.toString('hex'),
    };
  } finally {
    connection.close();
  }
}
