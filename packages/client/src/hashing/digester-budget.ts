/**
 * The sizes and process-wide budgets of ChunkDigester (chunk-digester.ts): slab and message
 * sizes, the congestion bound, the inline-hashing budget shared by every digester of the
 * process, and the idle slabs they hand on to each other.
 */
/** Bytes per slab (one message to the hashing thread at most). */
export const SLAB_SIZE = 1024 * 1024;
/** Most shared bytes gathered into one message to the hashing thread. */
export const SHARED_RUN_BYTES = 1024 * 1024;
/** Slabs one digester may hold before it reports congestion. */
export const MAX_SLABS = 8;
/**
 * A chunk no larger than this, complete before any of it went to the thread and with nothing
 * in flight, is hashed here: starting the thread costs ~30 ms of CPU (a second V8 isolate),
 * hashing 64 KiB ~40 µs. So a small file never starts it; digests stay in chunk order.
 */
export const INLINE_CHUNK_BYTES = 64 * 1024;
/**
 * Until the thread is started, whole chunks are also hashed here as long as they fit in this
 * many bytes for the whole process: ~10 ms of CPU against the ~30 ms (and a second isolate)
 * that starting the thread costs. A resume with little left to do (the tail chunk of a 99%
 * partial and the last 1%) then never starts it; a large download uses the budget up in its
 * first chunks and goes on on the thread. A chunk starts here or there and ends where it began.
 */
export const INLINE_BUDGET_BYTES = 16 * 1024 * 1024;
let inlineLeft = INLINE_BUDGET_BYTES;

/** Takes `bytes` of the process's inline budget if that much is left; false (nothing taken) if not. */
export function takeInlineBudget(bytes: number): boolean {
  if (bytes > inlineLeft) return false;
  inlineLeft -= bytes;
  return true;
}
/** Idle slabs kept for reuse across digesters. */
const SPARE_SLABS = 16;

const spare: ArrayBuffer[] = [];

/** An idle SLAB_SIZE slab left by an earlier digester, if any. */
export function spareSlab(): ArrayBuffer | undefined {
  return spare.pop();
}

/** Keeps a SLAB_SIZE slab for reuse, up to SPARE_SLABS of them (the rest go to the GC). */
export function keepSpareSlab(buffer: ArrayBuffer): void {
  if (spare.length < SPARE_SLABS) spare.push(buffer);
}
