/**
 * The shared control block between the main thread (ring-hasher.ts) and the ring hashing
 * thread (ring-hash-thread.ts): a fixed queue of hash jobs in a SharedArrayBuffer. The main
 * thread writes a job and advances HEAD; the thread hashes the bytes the job names, in place
 * in the memory it names (a receive ring), writes the digest into the job when the job ends a
 * chunk, and advances DONE. No message per job: Atomics.wait/notify on the two counters.
 */

/** Int32 slots of the control block's header. */
export const READY = 0;
export const HEAD = 1;
export const DONE = 2;
/** Set by the thread when it failed (it then stops taking jobs). */
export const BROKEN = 3;
export const HEADER_INTS = 8;

/** Jobs the queue holds at once (a power of two: counters are taken modulo it). */
export const QUEUE_JOBS = 1024;
/** Int32 slots per job: memory id, stream, start, length, flags, 3 spare, then the digest. */
export const JOB_INTS = 16;
export const J_MEMORY = 0;
export const J_STREAM = 1;
export const J_START = 2;
export const J_LENGTH = 3;
export const J_FLAGS = 4;
/** Int32 index of the 32-byte digest within a job. */
export const J_DIGEST = 8;

/** The job ends its chunk: finish the stream's hash and write the digest into the job. */
export const F_FINAL = 1;
/** Forget the stream's unfinished hash (no bytes). */
export const F_DROP = 2;
/** The memory was registered for this job only: forget it afterwards. */
export const F_FORGET = 4;
/** Only forget the memory (a closed connection's ring), after the jobs before this one. */
export const F_RELEASE = 8;

export const CONTROL_BYTES = (HEADER_INTS + QUEUE_JOBS * JOB_INTS) * 4;

/** Int32 index of job number `n` (a counter value). */
export function jobAt(n: number): number {
  return HEADER_INTS + (n & (QUEUE_JOBS - 1)) * JOB_INTS;
}

/** Every constant above, handed to the thread in workerData (it is CommonJS: see there). */
export const LAYOUT = {
  READY,
  HEAD,
  DONE,
  BROKEN,
  HEADER_INTS,
  QUEUE_JOBS,
  JOB_INTS,
  J_MEMORY,
  J_STREAM,
  J_START,
  J_LENGTH,
  J_FLAGS,
  J_DIGEST,
  F_FINAL,
  F_DROP,
  F_FORGET,
  F_RELEASE,
} as const;
export type Layout = { readonly [K in keyof typeof LAYOUT]: number };

/** The one message per registered memory (a receive ring, or a rare copied run). */
export interface MemoryMessage {
  id: number;
  memory: SharedArrayBuffer;
}
