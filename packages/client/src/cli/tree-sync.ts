/**
 * Re-runs of `ftget get -r TREE -o DIR`: what to do with a file that is already there.
 *
 * The quick check (rsync's, plus the server's validator): a local file is up to date when its
 * size and mtime are what ftget recorded when it wrote it, the remote size and mtime in the
 * listing are the ones recorded then, and the server's validator (one STAT, no file bytes) is
 * the recorded one. The record is the manifest `DIR/.ftget-manifest.json`, rewritten (atomically)
 * at the end of every -r run. When the quick check fails but the sizes agree, or with
 * --checksum, the contents decide: the server's root digest against the local file's, hashed
 * in the same chunk scheme. A file that differs is replaced only with --update (when the
 * manifest shows it was not modified locally since ftget wrote it) or --force; otherwise it is
 * left alone and reported (exit 9). --delete removes what vanished remotely (see tree-delete.ts).
 */
import { lstat, readFile, rename, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { EntryKind } from '@ft/protocol';
import { localRootDigest } from '../complete-check.js';
import { ClientError, ClientErrorCode } from '../errors.js';
import type { Remote } from '../remote.js';
import type { DownloadSession } from '../session.js';
import type { TransportKind } from '../udp/transport.js';

/** The manifest's name, at the top of each downloaded tree. */
export const MANIFEST_NAME = '.ftget-manifest.json';

/** What ftget recorded about one file it wrote. */
interface ManifestEntry {
  /** Remote size and mtime, as the listing showed them. */
  size: number;
  mtimeMs: number;
  /** The server's validator of the version written (hex). */
  validator: string;
  /** The local file's mtime (whole ms) right after ftget wrote or checked it. */
  localMtimeMs: number;
}

interface Manifest {
  version: 1;
  /** The remote tree's path, to notice a manifest of another tree. */
  remote: string;
  files: Record<string, ManifestEntry>;
}

/** A file of a tree, as the plan describes it. */
export interface TreeFile {
  remote: Remote;
  output: string;
  /** Which tree (its local root) and where in it. */
  root: string;
  relativePath: string;
  size: number;
  mtimeMs: number;
}

export interface SyncOptions {
  /** Compare contents (digests), never only sizes and times. */
  checksum: boolean;
  /** Replace a differing file the manifest shows unmodified locally. */
  update: boolean;
  /** Replace any differing file. */
  force: boolean;
  /** Give a file found identical the remote mtime. */
  preserveMtime: boolean;
  transport: TransportKind | undefined;
  session: DownloadSession;
  signal: AbortSignal;
  timeoutMs: number;
}

export type Decision =
  | { kind: 'download'; replace: boolean }
  | { kind: 'up-to-date'; bytes: number }
  | { kind: 'conflict'; error: ClientError };

function emptyManifest(remote: string): Manifest {
  return { version: 1, remote, files: {} };
}

/** A manifest read back, or an empty one when missing, unreadable or of another tree. */
async function readManifest(path: string, remote: string): Promise<Manifest> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(path, 'utf8'));
  } catch {
    return emptyManifest(remote);
  }
  const m = parsed as Partial<Manifest>;
  if (m.version !== 1 || m.remote !== remote || typeof m.files !== 'object' || m.files === null)
    return emptyManifest(remote);
  return { version: 1, remote, files: m.files };
}

function isValidEntry(e: unknown): e is ManifestEntry {
  const r = e as Partial<ManifestEntry> | undefined;
  return (
    typeof r === 'object' &&
    r !== null &&
    typeof r.size === 'number' &&
    typeof r.mtimeMs === 'number' &&
    typeof r.validator === 'string' &&
    typeof r.localMtimeMs === 'number'
  );
}

/** The re-run rules for the trees of one `get -r`; see the module comment. */
export class TreeSync {
  private readonly manifests = new Map<string, Manifest>();
  /** Files found up to date and files written, per tree, for the new manifest. */
  private readonly seen = new Map<string, Record<string, ManifestEntry>>();

  constructor(private readonly options: SyncOptions) {}

  /** Reads the manifest of a tree downloaded to `root`. */
  async addTree(root: string, remotePath: string): Promise<void> {
    this.manifests.set(root, await readManifest(join(root, MANIFEST_NAME), remotePath));
    this.seen.set(root, {});
  }

  /** What to do with one file of a tree. */
  async decide(file: TreeFile): Promise<Decision> {
    if (file.relativePath === MANIFEST_NAME) {
      return this.conflict(`${file.output}: the name is ftget's manifest; not downloaded`);
    }
    let st;
    try {
      st = await lstat(file.output);
    } catch {
      return { kind: 'download', replace: false };
    }
    const recorded = this.manifests.get(file.root)?.files[file.relativePath];
    const rec = isValidEntry(recorded) ? recorded : undefined;
    // Kept unless this run learns better: a file left alone or failed is still what was recorded.
    if (rec !== undefined) this.seen.get(file.root)![file.relativePath] = rec;
    const localUnchanged =
      rec !== undefined && st.size === rec.size && Math.floor(st.mtimeMs) === rec.localMtimeMs;
    if (!st.isFile()) {
      if (this.options.force && !st.isDirectory()) return { kind: 'download', replace: true };
      return this.conflict(`${file.output} exists and is not a regular file`, '--force');
    }
    if (
      !this.options.checksum &&
      localUnchanged &&
      rec.size === file.size &&
      rec.mtimeMs === file.mtimeMs
    ) {
      const remote = await this.stat(file, false);
      if (remote.validator.toString('hex') === rec.validator) {
        this.remember(file, rec.validator, rec.localMtimeMs);
        return { kind: 'up-to-date', bytes: file.size };
      }
    }
    if (st.size === file.size) {
      // Quick check inconclusive (or --checksum): the contents decide.
      const remote = await this.stat(file, true);
      if (remote.kind === EntryKind.FILE && remote.chunkSize > 0) {
        const local = await localRootDigest(
          file.output,
          remote.chunkSize,
          remote.size,
          this.options.signal,
        );
        if (local !== undefined && local.equals(remote.root)) {
          let mtime = Math.floor(st.mtimeMs);
          if (this.options.preserveMtime && mtime !== remote.mtimeMs) {
            const when = new Date(remote.mtimeMs);
            await utimes(file.output, when, when);
            mtime = remote.mtimeMs;
          }
          this.remember(file, remote.validator.toString('hex'), mtime);
          return { kind: 'up-to-date', bytes: file.size };
        }
      }
    }
    if (this.options.force || (this.options.update && (localUnchanged || rec === undefined)))
      return { kind: 'download', replace: true };
    return localUnchanged || rec === undefined
      ? this.conflict(`${file.output} differs from the remote file; not replaced`, '--update')
      : this.conflict(
          `${file.output} was modified locally and differs from the remote file; not replaced`,
          '--force',
        );
  }

  /** Records a file just written (`validator`: the version's, hex) for the next quick check. */
  async written(file: TreeFile, validator: string): Promise<void> {
    const st = await lstat(file.output);
    this.remember(file, validator, Math.floor(st.mtimeMs));
  }

  /**
   * Writes each tree's manifest (temp file and rename). Files no longer listed are dropped; a
   * file left alone (conflict, failed download) keeps its old record, which still describes it.
   */
  async save(): Promise<void> {
    for (const [root, files] of this.seen) {
      const m: Manifest = { ...this.manifests.get(root)!, files };
      const path = join(root, MANIFEST_NAME);
      await writeFile(`${path}.tmp`, `${JSON.stringify(m)}\n`);
      await rename(`${path}.tmp`, path);
    }
  }

  private remember(file: TreeFile, validator: string, localMtimeMs: number): void {
    this.seen.get(file.root)![file.relativePath] = {
      size: file.size,
      mtimeMs: file.mtimeMs,
      validator,
      localMtimeMs,
    };
  }

  private conflict(message: string, flag?: string): Decision {
    return {
      kind: 'conflict',
      error: new ClientError(
        ClientErrorCode.LOCAL_CONFLICT,
        message,
        flag === undefined ? {} : { hint: `use ${flag} to replace it` },
      ),
    };
  }

  /** One STAT over the batch's shared connection (no file bytes move). */
  private async stat(file: TreeFile, wantDigest: boolean) {
    const o = this.options;
    const options = { signal: o.signal, timeoutMs: o.timeoutMs };
    const connection = await o.session.acquire(o.transport, file.remote, options);
    let clean = false;
    try {
      const st = await connection.stat(file.remote.path, wantDigest);
      clean = true;
      return st;
    } finally {
      if (clean) o.session.release(o.transport, file.remote, options, connection);
      // Shared with pipelined downloads: closed only if the connection itself failed.
      else o.session.abandon(connection);
    }
  }
}
