/**
 * download(): one remote file into a local file, resumably and verifiably.
 *
 * Bytes go to OUTPUT.part, described by OUTPUT.part.json (see partial-state.ts). Every chunk
 * is hashed as it is written and checked against the server's chunk digests; a chunk that
 * fails is fetched again (by itself). Only when every chunk is verified and the chunk digests
 * add up to the version's root digest is the partial fsynced and renamed to OUTPUT. Hashing
 * runs on a worker thread (hashing/), off the receiving thread.
 *
 * The work is split by phase: file-download/attempt-loop.ts (lock, attempts, retries, the
 * remote-changed policy, the final rename), file-download/local-partial.ts (what is already
 * on disk), file-download/transfer.ts (one attempt over one connection) and
 * file-download/job.ts (the shared state, state saves, progress); stream.ts handles '-'.
 */
import { streamToWritable } from './stream.js';
import { downloadToFile } from './file-download/attempt-loop.js';
import { abortError } from './retry.js';
import type { Remote } from './remote.js';
import type { TransportKind } from './udp/transport.js';
import type { DownloadSession } from './session.js';

export { MAX_RESTARTS } from './file-download/attempt-loop.js';
export { PROGRESS_INTERVAL_MS, STATE_INTERVAL_MS } from './file-download/job.js';
export { MAX_REFETCHES } from './file-download/transfer.js';

/** A snapshot of a transfer's progress. */
export interface DownloadProgress {
  /** The output path. */
  path: string;
  /** Bytes of the file present locally (verified or about to be). */
  bytes: number;
  /** Size of the remote file, once known (0 before the first response). */
  total: number;
  /** Bytes that were already present when this run started. */
  resumedFrom: number;
}

/** What to download, where to, and how hard to try. */
export interface DownloadOptions {
  remote: Remote;
  /** Local output path; '-' streams to `stdout` (verified chunk by chunk, no resume). */
  output: string;
  /** Continue an existing partial (and accept an existing complete output). */
  resume?: boolean;
  /** Discard any partial and replace the output. */
  force?: boolean;
  /** When the remote file changed, fail with FT_REMOTE_CHANGED instead of starting over. */
  noRestart?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  /** Human warnings (e.g. "the remote file changed; starting over"). */
  onWarning?: (message: string) => void;
  /** Consecutive failed attempts without progress before giving up (default 5). */
  retries?: number;
  /** Cap on one backoff delay in ms (default 30 000). */
  retryMaxWaitMs?: number;
  /** First backoff ceiling in ms (default 250). */
  retryBaseDelayMs?: number;
  /** Give up on a connection that sends nothing for this long, in ms (default 30 000). */
  stallTimeoutMs?: number;
  /** 'tcp' (default) or 'udp' (ftget --udp); the partial state is the same for both. */
  transport?: TransportKind;
  /**
   * Share connections with the other downloads of a batch, and defer the directory fsync after
   * the final rename to `session.close()` (which the caller must await before reporting the
   * batch durable). Without a session each download uses its own connections and fsyncs its
   * directory itself.
   */
  session?: DownloadSession;
  /** Where '-' writes (default process.stdout). */
  stdout?: NodeJS.WritableStream;
}

/** What a finished download did. */
export interface DownloadResult {
  /** The output path ('-' for stdout). */
  path: string;
  /** Size of the file. */
  bytes: number;
  /** Bytes that were already present locally when this run started. */
  resumedFrom: number;
  durationMs: number;
  /** Root digest of the file version (hex): SHA-256 over its SHA-256 chunk digests. */
  digest: string;
  /** Connection attempts made. */
  attempts: number;
  /** True when nothing had to be fetched: the file was already complete. */
  alreadyComplete: boolean;
}

/**
 * Downloads `remote` to `output`. Resumable, verified, retried; see the module comment.
 * Rejects with a ClientError/RemoteError whose `code` maps to an exit code (exitCodeFor).
 */
export async function download(options: DownloadOptions): Promise<DownloadResult> {
  try {
    if (options.output === '-') return await streamToWritable(options);
    return await downloadToFile(options);
  } catch (error) {
    // Whatever was interrupted (a read, a sleep, a write), an abort is reported as one.
    if (options.signal?.aborted) throw abortError();
    throw error;
  }
}
