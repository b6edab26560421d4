/**
 * The types of one download: what to fetch and how (DownloadOptions), what it reports while it
 * runs (DownloadProgress) and when done (DownloadResult). They sit below download.ts and
 * file-download/ so that both import them and nothing imports download.ts back.
 */
import type { Remote } from './remote.js';
import type { RetryNotice } from './retry.js';
import type { TransportKind } from './udp/transport.js';
import type { DownloadSession } from './session.js';

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
  /**
   * Re-hash from disk the chunks an untouched partial's state vouches for, beside fetching the
   * rest; chunks that differ are fetched again (ftget --verify-partial). Default false: the
   * state is trusted for them while the partial's size, mtime, ctime and inode are as recorded.
   */
  verifyPartial?: boolean;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  /** Human warnings (e.g. "the remote file changed; starting over"). */
  onWarning?: (message: string) => void;
  /** Consecutive failed attempts without progress before giving up (default: no count limit). */
  retries?: number;
  /** Longest outage retried through, in ms (default DEFAULT_RETRY_MAX_TIME_MS, 2 min). */
  retryMaxTimeMs?: number;
  /** Called before each retry's backoff wait. */
  onRetry?: (notice: RetryNotice) => void;
  /** Cap on one backoff delay in ms (default 30 000). */
  retryMaxWaitMs?: number;
  /** First backoff ceiling in ms (default 250). */
  retryBaseDelayMs?: number;
  /** Give up on a connection that sends nothing for this long, in ms (default 30 000). */
  stallTimeoutMs?: number;
  /**
   * Connections to each source, each fetching other chunks (ftget --connections; default 1).
   * Above 1, or with mirrors, the download takes the multi-source path (file-download/sources/).
   */
  connections?: number;
  /**
   * Other copies of the same file (ftget --mirror, or several URLs of one file): chunks come
   * from `remote` and every mirror at once, all verified against the same digests. A mirror
   * whose copy differs (size, chunk size or root digest) is dropped with a warning.
   */
  mirrors?: Remote[];
  /** 'tcp' (default) or 'udp' (ftget --udp); the partial state is the same for both. */
  transport?: TransportKind;
  /**
   * Share connections with the other downloads of a batch, and defer the directory fsync after
   * the final rename to `session.close()` (which the caller must await before reporting the
   * batch durable). Without a session each download uses its own connections and fsyncs its
   * directory itself.
   */
  session?: DownloadSession;
  /**
   * Called with the complete, verified and fsynced partial just before it is renamed to the
   * output; a rejection keeps it as the partial and fails the download with that error.
   */
  beforeCommit?: (partPath: string) => Promise<void>;
  /**
   * With a session: try the small-file path first (small-file.ts: a file of at most 64 KiB in
   * one GET, verified in memory, no lock or partial state). ftget sets it for batches.
   */
  smallFile?: boolean;
  /**
   * Small-file path, batched: called once the file's bytes are verified and written to its
   * temp file, before the batch's flush and rename (the download is still running). The
   * caller may start the next download then: this one no longer uses the connection.
   */
  onWritten?: () => void;
  /** Give the output the remote version's modification time (ftget's default; not for '-'). */
  preserveMtime?: boolean;
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
  /** The server's validator of the version downloaded (hex): what a later quick check compares. */
  validator: string;
  /** Connection attempts made. */
  attempts: number;
  /** True when nothing had to be fetched: the file was already complete. */
  alreadyComplete: boolean;
}
