/**
 * What is already on disk before any byte is fetched: the rules for an existing output or
 * partial (--resume / --force), opening OUTPUT.part without clobbering it, and re-verifying
 * the bytes it holds: when the state file vouches for the rest, the incomplete tail chunk at
 * once and, with --verify-partial, the vouched-for chunks beside the transfer; every
 * chunk at once when the partial was touched since the state was written. A state that
 * contradicts the partial or the server is dropped (distrustState).
 */
import { constants as fsConstants } from 'node:fs';
import { rootDigest } from '@ft/protocol';
import { lstat, open, rm } from 'node:fs/promises';
import { ClientError, ClientErrorCode } from '../errors.js';
import { verifyCompleteFile } from '../complete-check.js';
import { identityOf, readState, removeState, sameIdentity } from '../partial-state.js';
import type { PartialState } from '../partial-state.js';
import { ChunkLedger, hashLocalRange } from '../verify.js';
import { hashThread, localHashThread } from '../hashing/hash-worker.js';
import type { HashThread } from '../hashing/hash-worker.js';
import type { DownloadResult } from '../download-types.js';
import type { DownloadJob } from './job.js';
import { runsOf } from './runs.js';
import { usesSources } from './sources/source-spec.js';

/** Existing output/partial rules; returns a result when the output is already complete. */
export async function checkLocal(job: DownloadJob): Promise<DownloadResult | undefined> {
  const { o } = job;
  const [outputExists, partExists, stateExists] = await Promise.all(
    [o.output, job.part, job.statePath].map(exists),
  );
  if (o.force) {
    await rm(job.part, { force: true });
    await removeState(job.statePath);
    return undefined;
  }
  if (!o.resume) {
    if (partExists || stateExists) {
      throw new ClientError(
        ClientErrorCode.LOCAL_CONFLICT,
        `a partial download of ${o.output} exists (${job.part})`,
        { hint: 'use --resume (-c) to continue it or --force to start over' },
      );
    }
    if (outputExists) {
      throw new ClientError(ClientErrorCode.LOCAL_CONFLICT, `${o.output} already exists`, {
        hint: 'use --force to replace it, or --resume (-c) to check that it is complete',
      });
    }
    return undefined;
  }
  if (outputExists && !partExists) {
    const result = await verifyCompleteFile(o, job.server);
    return { ...result, durationMs: performance.now() - job.started };
  }
  return undefined;
}

/** Opens (or creates) OUTPUT.part and restores what its state file says about it. */
export async function openPartial(job: DownloadJob): Promise<void> {
  const { o } = job;
  job.createdPart = !(await exists(job.part));
  // O_RDWR|O_CREAT without O_TRUNC: an existing partial is continued, never clobbered.
  const handle = await open(job.part, fsConstants.O_RDWR | fsConstants.O_CREAT, 0o644);
  job.useHandle(handle);
  const present = (await handle.stat()).size;
  job.resumedFrom = present;
  job.fillEnd = present;
  if (present === 0 && !o.resume) return;
  const state = await readState(job.statePath);
  if (typeof state === 'string') {
    // No usable state: the bytes are unverified. Hash them once the version is known.
    job.unprimedBytes = present;
    if (present > 0) {
      job.warn(
        `${job.part} has no usable state file; its ${present} bytes will be checked against the server's digests`,
      );
    }
    return;
  }
  if (state.remotePath !== o.remote.path) {
    throw new ClientError(
      ClientErrorCode.LOCAL_CONFLICT,
      `${job.part} is a partial download of ${state.remotePath}, not of ${o.remote.path}`,
      { hint: 'use --force to discard it, or choose another output with -o' },
    );
  }
  const contradiction = selfContradiction(state, present);
  if (contradiction !== undefined) {
    await distrustState(job, contradiction);
    return;
  }
  const ledger = ChunkLedger.restore(
    state.size,
    state.chunkSize,
    Buffer.from(state.root, 'hex'),
    state.digests,
    Buffer.from(state.verified, 'base64'),
  );
  job.ledger = ledger;
  job.validator = Buffer.from(state.validator, 'hex');
  job.mtimeMs = state.mtimeMs;
  job.stateAdopted = true;
  const untouched = sameIdentity(await identityOf(handle), state.partial);
  // Our own last write is on record: re-read the incomplete tail chunk now and (with
  // --verify-partial) the chunks it vouches for beside the transfer. Otherwise something
  // changed the partial (or we died after writing more than we recorded): re-verify every
  // chunk in one read pass and refetch only the bad ones.
  if (usesSources(o)) {
    // Several connections wrote chunks anywhere: no prefix, no tail. Untouched, the chunks
    // the state vouches for are re-hashed beside the transfer and the rest fetched; touched,
    // every chunk is checked now, in one read pass.
    if (untouched) {
      if (o.verifyPartial === true)
        job.checkPartialBeside(verifyAdopted(job, ledger, ledger.count));
      return;
    }
    for (let i = 0; i < ledger.count; i++) ledger.invalidate(i);
    await primeTail(job, 0, present);
    return;
  }
  let fromChunk = Math.floor(present / state.chunkSize);
  if (!untouched) {
    fromChunk = 0;
    for (let i = 0; i < ledger.count; i++) ledger.invalidate(i);
  } else {
    // Chunks whose digest was still being computed when the state was saved (or that were
    // bad) are re-read one by one: bad ones are then refetched, the others are kept.
    await rehashChunks(job, ledger.unverifiedBelow(fromChunk));
    // --verify-partial: the state vouches for what we wrote, not for what the disk holds now.
    if (o.verifyPartial === true) job.checkPartialBeside(verifyAdopted(job, ledger, fromChunk));
  }
  await primeTail(job, fromChunk, present);
}

/**
 * Re-hashes from disk every chunk below `limit` the state recorded as verified, in one read pass
 * per run, beside the transfer (the attempt waits for it before repairing bad chunks): a chunk
 * whose bytes differ becomes bad in the ledger and is fetched again.
 */
async function verifyAdopted(job: DownloadJob, ledger: ChunkLedger, limit: number): Promise<void> {
  const adopted: number[] = [];
  for (let i = 0; i < limit; i++) if (ledger.isVerified(i)) adopted.push(i);
  let differing = 0;
  await rehashBeside(job, adopted, ledger.count - limit, (index, digest) => {
    if (ledger.record(index, digest) === 'bad') differing++;
  });
  if (differing > 0) {
    job.warn(
      `${job.part}: ${differing} chunk(s) recorded as verified differ on disk; fetching them again`,
    );
  }
}

/**
 * Re-hashes `chunks` of the partial from disk beside a transfer of `arriving` chunks. When the
 * re-read is at least twice what arrives (a 99% resume re-hashes ~100 times what it fetches),
 * a second thread, localHashThread, takes part of it and each thread hashes about half of all
 * there is to hash: 1 GiB at 99% took 0.75 -> 0.54 s. Otherwise it stays on hashThread
 * beside the arriving bytes: on two cores shared with the server, a second thread measured no
 * faster at 50% and cost its start-up (~30 ms of CPU).
 */
export async function rehashBeside(
  job: DownloadJob,
  chunks: number[],
  arriving: number,
  onChunk: (index: number, digest: Buffer) => void,
): Promise<void> {
  const shared =
    chunks.length >= 2 * arriving ? Math.floor((chunks.length - arriving) / 2) : chunks.length;
  const split = chunks.length - shared;
  const pass = async (part: number[], thread: HashThread): Promise<void> => {
    for (const run of runsOf(part)) {
      const digester = await hashLocalRange(
        job.handle!,
        job.ledger!.chunkSize,
        run.first,
        (run.first + run.count) * job.ledger!.chunkSize,
        onChunk,
        job.o.signal,
        { thread },
      );
      digester.dispose();
    }
  };
  await Promise.all([
    pass(chunks.slice(0, split), localHashThread),
    pass(chunks.slice(split), hashThread),
  ]);
}

/**
 * Why a readable state cannot describe this partial, judged without the server: it claims fewer
 * bytes than the partial holds, or its chunk digests (all known) do not add up to its root.
 */
function selfContradiction(state: PartialState, present: number): string | undefined {
  if (present > state.size)
    return `says the file has ${state.size} bytes, but the partial holds ${present}`;
  const digests = state.digests;
  // A root of zeros is unknown (the digests were streamed, PROTOCOL.md §4.13): nothing to add up to.
  if (
    !/^0+$/.test(state.root) &&
    digests.every((d) => d !== '') &&
    !rootDigest(digests.map((d) => Buffer.from(d, 'hex'))).equals(Buffer.from(state.root, 'hex'))
  ) {
    return 'has chunk digests that do not add up to its root digest';
  }
  return undefined;
}

/**
 * A state file that contradicts the server (size, chunk size, root or a chunk digest under the
 * same validator) or the partial: local damage, not the server's fault. Raised from the FILE
 * header check; the attempt loop answers it with distrustState() and tries again.
 */
export class UntrustedState extends Error {
  constructor(readonly why: string) {
    super(why);
    this.name = 'UntrustedState';
  }
}

/**
 * Drops a state file that cannot be trusted, with a warning naming it: the partial's bytes are
 * then unverified, and are checked against the server's digests as for a partial without state.
 */
export async function distrustState(job: DownloadJob, why: string): Promise<void> {
  await job.writer?.drain().catch(() => {});
  await job.partialCheck;
  job.partialCheck = undefined;
  const present = (await job.handle!.stat()).size;
  job.warn(
    `${job.statePath} ${why}; ignoring it: the ${present} bytes of ${job.part} will be checked against the server's digests`,
  );
  await removeState(job.statePath);
  job.tail?.dispose();
  job.tail = undefined;
  job.ledger = undefined;
  job.validator = undefined;
  job.stateAdopted = false;
  job.fillEnd = present;
  job.unprimedBytes = present;
  job.fetchedSomething = false;
  job.refetches.clear();
}

async function rehashChunks(job: DownloadJob, chunks: number[]): Promise<void> {
  const ledger = job.ledger!;
  for (const run of runsOf(chunks)) {
    const digester = await hashLocalRange(
      job.handle!,
      ledger.chunkSize,
      run.first,
      (run.first + run.count) * ledger.chunkSize,
      (index, digest) => {
        ledger.record(index, digest);
      },
      job.o.signal,
    );
    digester.dispose();
  }
}

/** Hashes the partial from chunk `fromChunk` to `present`; the digester becomes the tail. */
export async function primeTail(
  job: DownloadJob,
  fromChunk: number,
  present: number,
): Promise<void> {
  const ledger = job.ledger!;
  job.tail?.dispose();
  job.tail = await hashLocalRange(
    job.handle!,
    ledger.chunkSize,
    fromChunk,
    present,
    (index, digest) => {
      ledger.record(index, digest);
    },
    job.o.signal,
    job.digesterOptions(),
  );
  job.unprimedBytes = 0;
}

/** Whether `path` exists (a dangling symlink counts). */
export async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}
