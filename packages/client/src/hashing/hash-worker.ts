/**
 * The one hashing thread of the process, shared by every download in it. SHA-256 costs about
 * as much CPU per byte as receiving the bytes, so it runs beside the event loop instead of on
 * it. Segments travel in transferred ArrayBuffers (moved, not copied, and moved back with the
 * answer) or as views of shared memory; answers come back in order, so each stream keeps a FIFO of callbacks. The thread is started lazily and holds the event
 * loop open only while answers are outstanding.
 */
import { Worker } from 'node:worker_threads';
import type { HashReply, HashRequest } from './hash-messages.js';

/**
 * Receives the digest (for a final segment, else undefined) and the segment's ArrayBuffer back,
 * or the thread's failure (then the buffer is lost).
 */
export type ReplyHandler = (
  digest: Buffer | undefined,
  buffer: ArrayBuffer | undefined,
  error: Error | undefined,
) => void;

const THREAD_URL = new URL('./hash-thread.js', import.meta.url);
/**
 * The ring hashing thread's file (ring-hasher.ts), found here because this is the one module
 * whose import.meta.url the bundles define (scripts/bundle-cli.mjs).
 */
export const RING_THREAD_URL = new URL('./ring-hash-thread.cjs', import.meta.url);

export class HashThread {
  private worker: Worker | undefined;
  private readonly waiting = new Map<number, ReplyHandler[]>();
  private outstanding = 0;
  private nextStream = 1;

  /** Whether the thread runs (was started and has not failed). */
  get started(): boolean {
    return this.worker !== undefined;
  }

  /** A fresh stream id: one SHA-256 state at a time in the thread. */
  newStream(): number {
    return this.nextStream++;
  }

  /**
   * Hashes `data` into `stream`; `onReply` runs once. An ArrayBuffer behind `data` is
   * transferred: it is unusable here until the reply hands it back. A SharedArrayBuffer is
   * read in place: its bytes must not change until the reply (which carries no buffer).
   */
  post(stream: number, data: Uint8Array, final: boolean, onReply: ReplyHandler): void {
    const worker = this.worker ?? this.start();
    let queue = this.waiting.get(stream);
    if (queue === undefined) {
      queue = [];
      this.waiting.set(stream, queue);
    }
    queue.push(onReply);
    if (this.outstanding++ === 0) worker.ref();
    const buffer = data.buffer;
    // Shared memory is shared, not moved: only an ArrayBuffer goes in the transfer list.
    const transfer = buffer instanceof ArrayBuffer ? [buffer] : [];
    worker.postMessage({ stream, data, final } satisfies HashRequest, transfer);
  }

  /** Forgets the unfinished chunk of `stream` (answers already due still arrive). */
  drop(stream: number): void {
    this.worker?.postMessage({ stream, final: false } satisfies HashRequest);
  }

  private start(): Worker {
    const worker = new Worker(THREAD_URL);
    worker.unref();
    worker.on('message', (reply: HashReply) => this.onReply(reply));
    const onFailure = (error: Error): void => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.failAll(error);
    };
    worker.on('error', onFailure);
    worker.on('exit', (code) => onFailure(new Error(`the hashing thread exited (code ${code})`)));
    this.worker = worker;
    return worker;
  }

  private onReply(reply: HashReply): void {
    const queue = this.waiting.get(reply.stream);
    const handler = queue?.shift();
    if (queue !== undefined && queue.length === 0) this.waiting.delete(reply.stream);
    if (--this.outstanding === 0) this.worker?.unref();
    const digest =
      reply.digest === undefined
        ? undefined
        : Buffer.from(reply.digest.buffer, reply.digest.byteOffset, reply.digest.byteLength);
    handler?.(digest, reply.buffer, undefined);
  }

  private failAll(error: Error): void {
    const handlers = [...this.waiting.values()].flat();
    this.waiting.clear();
    this.outstanding = 0;
    for (const handler of handlers) handler(undefined, undefined, error);
  }
}

/** The process-wide hashing thread. */
export const hashThread = new HashThread();

/**
 * A second one, started only to re-hash a partial from disk beside the transfer: the bytes
 * arriving meanwhile keep `hashThread` to themselves, so the two passes run on two cores
 * instead of one after the other.
 */
export const localHashThread = new HashThread();
