/**
 * When the server says the version changed (PRECONDITION_FAILED), a STAT with the root digest
 * tells whether only the validator did: a copy of the file on another replica or mirror, a
 * touched or restored file (PROTOCOL.md §7). Same size, chunk size and root digest mean the same
 * bytes, so the partial is kept and the download continues under the new validator.
 */
import { EntryKind } from '@ft/protocol';
import type { StatResult } from '@ft/protocol';
import type { ChunkLedger } from '../verify.js';
import type { DownloadJob } from './job.js';

/** True if `st` describes the content the ledger holds (its validator may differ). */
export function sameContent(st: StatResult, ledger: ChunkLedger): boolean {
  return (
    st.kind === EntryKind.FILE &&
    st.size === ledger.size &&
    st.chunkSize === ledger.chunkSize &&
    st.root.equals(ledger.root)
  );
}

/** Continues the download under `st`'s validator (the content is the same: see sameContent). */
export async function adoptValidator(job: DownloadJob, st: StatResult): Promise<void> {
  job.warn(
    `${job.o.remote.path} was modified on the server but its content is identical; continuing`,
  );
  job.validator = st.validator;
  job.mtimeMs = st.mtimeMs;
  await job.saveStateNow();
}
