/**
 * The ring hashing thread, main-thread side. One received TCP stream is hashed beside the
 * event loop without copying and without a message per chunk: the socket's receive ring is a
 * SharedArrayBuffer, sent to the thread once, and each run of bytes to hash is a job in a
 * shared queue (ring-hash-layout.ts) that names where the bytes lie. The thread hashes them
 * in place; the job's callback (the release of the ring space, and the chunk's digest) runs
 * here once the thread is past it, in job order. The main thread learns of progress through
 * Atomics.waitAsync on the DONE counter, armed only while jobs are outstanding.
 *
 * The thread costs ~25 ms of CPU and ~10 MiB of RSS to start (a second V8 isolate), so it is
 * started only for a large body (RING_THREAD_MIN_BYTES) and only used once it is ready:
 * until then (and for good if it fails to start) chunks are hashed on the main thread.
 */
import { Worker } from 'node:worker_threads';
import { verbose } from '../verbose-log.js';
import { RING_THREAD_URL, hashThread, localHashThread } from './hash-worker.js';
import {
  BROKEN,
  CONTROL_BYTES,
  DONE,
  F_DROP,
  F_FINAL,
  F_FORGET,
  F_RELEASE,
  HEAD,
  J_DIGEST,
  J_FLAGS,
  J_LENGTH,
  J_MEMORY,
  J_START,
  J_STREAM,
  LAYOUT,
  QUEUE_JOBS,
  READY,
  jobAt,
} from './ring-hash-layout.js';
import type { MemoryMessage } from './ring-hash-layout.js';

/** Atomics.waitAsync (V8; Node 16 and later): the TypeScript lib in use predates it. */
const waitAsync = (
  Atomics as unknown as {
    waitAsync(
      array: Int32Array,
      index: number,
      value: number,
    ): { async: true; value: Promise<string> } | { async: false; value: string };
  }
).waitAsync;

/** Bodies from this size on start the ring hashing thread (see docs/BENCHMARKS.md). */
export const RING_THREAD_MIN_BYTES = 256 * 1024 * 1024;

const MiB = 1024 * 1024;
/**
 * The thread is started only while the process's RSS is at most this when the body begins. A
 * 1 GiB download then grew by ~22 MiB to its peak (the ring and the writes in flight filling,
 * the thread's isolate ~10 MiB): 50.6 -> 72.8 MiB on the lean path. The full oclif path is at
 * ~63 MiB by then and would pass the 80 MiB bound (README, "Memory per download"), so there the
 * main thread hashes, as before.
 */
export const RING_THREAD_MAX_RSS = 58 * MiB;

/** Runs once the thread is past a job: with the digest when the job ended a chunk. */
export type JobDone = (digest: Buffer | undefined, error: Error | undefined) => void;

interface Job {
  memory: number;
  stream: number;
  start: number;
  length: number;
  flags: number;
  done: JobDone | undefined;
}

/** See the module comment. */
export class RingHasher {
  private worker: Worker | undefined;
  private control: Int32Array | undefined;
  private failure: Error | undefined;
  private readonly ids = new WeakMap<SharedArrayBuffer, number>();
  private nextMemory = 1;
  private nextStream = 1;
  /** Jobs published (the HEAD counter's value, kept here too). */
  private head = 0;
  /** Jobs whose callback ran. */
  private done = 0;
  /** Published jobs not settled here yet, oldest first. */
  private readonly published: Job[] = [];
  /** Jobs waiting for room in the queue (it holds QUEUE_JOBS), oldest first. */
  private readonly backlog: Job[] = [];
  /** A waitAsync (or a poll) is pending: do not arm another. */
  private armed = false;
  /** Jobs handled by the thread since start (for tests and the verbose log). */
  jobsRun = 0;

  constructor(private readonly url: URL = RING_THREAD_URL) {}

  /** Starts the thread (once); failures only mean it is never ready. */
  start(): void {
    if (this.worker !== undefined || this.failure !== undefined) return;
    const control = new Int32Array(new SharedArrayBuffer(CONTROL_BYTES));
    let worker: Worker;
    try {
      worker = new Worker(this.url, {
        workerData: { control: control.buffer, layout: LAYOUT },
        // The thread allocates next to nothing: small heaps keep its RSS ~1 MiB lower.
        resourceLimits: { maxYoungGenerationSizeMb: 1, maxOldGenerationSizeMb: 16, stackSizeMb: 1 },
      });
    } catch (error) {
      this.failure = error as Error;
      return;
    }
    worker.unref();
    const onFailure = (error: Error): void => {
      if (this.failure !== undefined) return;
      this.failure = error;
      verbose(
        () => `ring hashing thread unavailable (${error.message}); hashing on the main thread`,
      );
      this.failAll(error);
    };
    worker.on('error', onFailure);
    worker.on('exit', (code) =>
      onFailure(new Error(`the ring hashing thread exited (code ${code})`)),
    );
    this.worker = worker;
    this.control = control;
  }

  /** Whether start() was called and did not fail at once. */
  get started(): boolean {
    return this.worker !== undefined;
  }

  /** Whether jobs may be queued: the thread runs and has not failed. */
  get ready(): boolean {
    return (
      this.failure === undefined &&
      this.control !== undefined &&
      Atomics.load(this.control, READY) === 1
    );
  }

  /** Why the thread is unusable, if it is. */
  get failed(): Error | undefined {
    return this.failure;
  }

  /** A fresh stream id: one SHA-256 state at a time in the thread. */
  newStream(): number {
    return this.nextStream++;
  }

  /**
   * Queues `length` bytes of `memory` from `start` into `stream` (`final`: they end a chunk).
   * The bytes must stay unchanged until `done` runs. Only when `ready`. `lastUse`: no later
   * job names `memory` (a one-off copy), so neither side keeps it.
   */
  hash(
    stream: number,
    memory: SharedArrayBuffer | undefined,
    start: number,
    length: number,
    final: boolean,
    done: JobDone,
    lastUse = false,
  ): void {
    const id = length === 0 || memory === undefined ? 0 : this.memoryId(memory);
    let flags = final ? F_FINAL : 0;
    if (lastUse && memory !== undefined && id !== 0) {
      // A copied run: the thread and this side forget it after this job.
      flags |= F_FORGET;
      this.ids.delete(memory);
    }
    this.queue({ memory: id, stream, start, length, flags, done });
  }

  /** Forgets the unfinished chunk of `stream` (callbacks already due still run). */
  drop(stream: number): void {
    if (this.control === undefined || this.failure !== undefined) return;
    this.queue({ memory: 0, stream, start: 0, length: 0, flags: F_DROP, done: undefined });
  }

  /**
   * Lets the thread drop its hold on `memory` (a closed connection's ring) once it is past
   * the jobs queued so far; without this every ring the process ever used would stay alive.
   */
  forget(memory: SharedArrayBuffer): void {
    const id = this.ids.get(memory);
    if (id === undefined) return;
    this.ids.delete(memory);
    this.queue({ memory: id, stream: 0, start: 0, length: 0, flags: F_RELEASE, done: undefined });
  }

  private memoryId(memory: SharedArrayBuffer): number {
    let id = this.ids.get(memory);
    if (id === undefined) {
      id = this.nextMemory++;
      this.ids.set(memory, id);
      // Queued on the thread's port before any job naming it is published (see the thread).
      this.worker!.postMessage({ id, memory } satisfies MemoryMessage);
    }
    return id;
  }

  private queue(job: Job): void {
    if (this.failure !== undefined) {
      job.done?.(undefined, this.failure);
      return;
    }
    if (this.published.length === 0 && this.backlog.length === 0) this.worker!.ref();
    if (this.backlog.length > 0 || this.published.length >= QUEUE_JOBS) this.backlog.push(job);
    else this.publish(job);
    this.arm();
  }

  private publish(job: Job): void {
    const control = this.control!;
    const at = jobAt(this.head);
    control[at + J_MEMORY] = job.memory;
    control[at + J_STREAM] = job.stream;
    control[at + J_START] = job.start;
    control[at + J_LENGTH] = job.length;
    control[at + J_FLAGS] = job.flags;
    this.published.push(job);
    this.head = (this.head + 1) | 0;
    // The store orders the job's fields before it; notify wakes a sleeping thread.
    Atomics.store(control, HEAD, this.head);
    Atomics.notify(control, HEAD);
  }

  /** Polls once the thread advances DONE (never synchronously: callers get callbacks later). */
  private arm(): void {
    if (this.armed) return;
    this.armed = true;
    const wait = waitAsync(this.control!, DONE, this.done);
    if (wait.async) void wait.value.then(() => this.poll());
    else queueMicrotask(() => this.poll());
  }

  private poll(): void {
    const control = this.control!;
    const done = Atomics.load(control, DONE);
    const bytes = new Uint8Array(control.buffer);
    while (this.done !== done && this.failure === undefined) {
      const job = this.published.shift()!;
      const at = jobAt(this.done);
      this.done = (this.done + 1) | 0;
      this.jobsRun++;
      const digest =
        (job.flags & F_FINAL) === 0
          ? undefined
          : Buffer.from(bytes.subarray((at + J_DIGEST) * 4, (at + J_DIGEST) * 4 + 32));
      job.done?.(digest, undefined);
    }
    while (this.backlog.length > 0 && this.published.length < QUEUE_JOBS)
      this.publish(this.backlog.shift()!);
    this.armed = false;
    if (Atomics.load(control, BROKEN) === 1 && this.failure === undefined) {
      this.failure = new Error('the ring hashing thread failed');
      this.failAll(this.failure);
    }
    if (this.failure !== undefined) return;
    if (this.published.length > 0) this.arm();
    else this.worker?.unref();
  }

  private failAll(error: Error): void {
    const jobs = [...this.published, ...this.backlog];
    this.published.length = 0;
    this.backlog.length = 0;
    this.worker?.unref();
    for (const job of jobs) job.done?.(undefined, error);
  }
}

/** The process-wide ring hashing thread. */
export const ringHasher = new RingHasher();

/** How a body arrives (download options' `transport`; undefined is TCP). */
type Transport = 'tcp' | 'udp' | undefined;

/**
 * The ring hasher for a body that arrives over `transport`, or undefined: it reads the TCP
 * receive ring in place, and UDP datagrams never land in that ring (a 256 MiB UDP body once
 * started the thread and stalled at the hand-over).
 */
export function ringHasherFor(transport: Transport): RingHasher | undefined {
  return transport === 'udp' ? undefined : ringHasher;
}

/**
 * Starts the ring hashing thread for a body of `bytes` about to be received, when it pays: a
 * body of RING_THREAD_MIN_BYTES or more, and no re-hash of a partial running on the message
 * hashing threads (a bare `.part`, --verify-partial): those already keep the second core busy,
 * and a third hashing thread measured no faster on two cores, for ~10 MiB more RSS; not over
 * TLS (the server's encryption bounds the stream there: 615 -> 645 MB/s for `-o -`, n = 4,
 * while the peak RSS of a 1 GiB TLS download rose to 77-79 MiB, too close to the 80 MiB bound);
 * and RSS within RING_THREAD_MAX_RSS. Never over UDP (see ringHasherFor).
 */
export function startRingThreadFor(bytes: number, overTls: boolean, transport: Transport): void {
  if (bytes < RING_THREAD_MIN_BYTES || hashThread.started || localHashThread.started) return;
  if (overTls || ringHasherFor(transport) === undefined) return;
  const rss = process.memoryUsage.rss();
  if (rss > RING_THREAD_MAX_RSS) {
    verbose(() => `no ring hashing thread: RSS ${(rss / MiB).toFixed(1)} MiB is past its budget`);
    return;
  }
  if (!ringHasher.started)
    verbose(() => `starting the ring hashing thread (RSS ${(rss / MiB).toFixed(1)} MiB)`);
  ringHasher.start();
}
