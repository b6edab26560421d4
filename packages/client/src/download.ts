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
 * file-download/job.ts (the shared state, state saves, progress); stream.ts handles '-'. In a
 * batch, a file of at most 64 KiB is tried first in one GET, held and verified in memory
 * (small-file.ts).
 */
import { streamToWritable } from './stream.js';
import { downloadToFile } from './file-download/attempt-loop.js';
import { abortError } from './retry.js';
import { downloadSmall, smallFileEligible } from './small-file.js';
import type { DownloadOptions, DownloadResult } from './download-types.js';

export type { DownloadOptions, DownloadProgress, DownloadResult } from './download-types.js';
export { MAX_RESTARTS } from './file-download/attempt-loop.js';
export { PROGRESS_INTERVAL_MS, STATE_INTERVAL_MS } from './file-download/job.js';
export { MAX_REFETCHES } from './file-download/transfer.js';

/**
 * Downloads `remote` to `output`. Resumable, verified, retried; see the module comment.
 * Rejects with a ClientError/RemoteError whose `code` maps to an exit code (exitCodeFor).
 */
export async function download(options: DownloadOptions): Promise<DownloadResult> {
  try {
    if (options.output === '-') return await streamToWritable(options);
    if (smallFileEligible(options)) {
      const small = await downloadSmall(options);
      if (small !== undefined) return small;
    }
    return await downloadToFile(options);
  } catch (error) {
    // Whatever was interrupted (a read, a sleep, a write), an abort is reported as one.
    if (options.signal?.aborted) throw abortError();
    throw error;
  }
}
