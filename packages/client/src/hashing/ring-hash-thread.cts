/**
 * The ring hashing thread (a worker_threads entry point; see ring-hash-layout.ts). It never
 * returns to its event loop: it sleeps in Atomics.wait until the main thread queues a job,
 * hashes the job's bytes where they lie (a view of shared memory, no copy), and advances
 * DONE. Memories are registered by one message each, read synchronously when a job first
 * names one (the message is queued before the job is published).
 *
 * CommonJS on purpose, with the layout handed over in workerData instead of imported: an
 * ES module worker sets up the ESM loader in its isolate, ~1.8 MiB more RSS for nothing.
 */
/* eslint-disable @typescript-eslint/no-require-imports -- CommonJS on purpose (see above) */
import crypto = require('node:crypto');
import threads = require('node:worker_threads');
import type { Layout, MemoryMessage } from './ring-hash-layout.js';

const port = threads.parentPort;
if (port === null) throw new Error('ring-hash-thread.cjs must run as a worker thread');
const { control: shared, layout: L } = threads.workerData as {
  control: SharedArrayBuffer;
  layout: Layout;
};
const control = new Int32Array(shared);
const controlBytes = new Uint8Array(shared);
const memories = new Map<number, Uint8Array>();
const hashes = new Map<number, crypto.Hash>();

function memory(id: number): Uint8Array {
  for (;;) {
    const found = memories.get(id);
    if (found !== undefined) return found;
    const received = threads.receiveMessageOnPort(port!);
    if (received === undefined) throw new Error(`ring hash thread: memory ${id} was never sent`);
    const m = received.message as MemoryMessage;
    memories.set(m.id, new Uint8Array(m.memory));
  }
}

function run(n: number): void {
  const job = L.HEADER_INTS + (n & (L.QUEUE_JOBS - 1)) * L.JOB_INTS;
  const stream = control[job + L.J_STREAM]!;
  const flags = control[job + L.J_FLAGS]!;
  if ((flags & L.F_RELEASE) !== 0) {
    memories.delete(control[job + L.J_MEMORY]!);
    return;
  }
  if ((flags & L.F_DROP) !== 0) {
    hashes.delete(stream);
    return;
  }
  let hash = hashes.get(stream);
  if (hash === undefined) {
    hash = crypto.createHash('sha256');
    hashes.set(stream, hash);
  }
  const id = control[job + L.J_MEMORY]!;
  const start = control[job + L.J_START]!;
  const length = control[job + L.J_LENGTH]!;
  if (length > 0) hash.update(memory(id).subarray(start, start + length));
  if ((flags & L.F_FORGET) !== 0) memories.delete(id);
  if ((flags & L.F_FINAL) !== 0) {
    hashes.delete(stream);
    controlBytes.set(hash.digest(), (job + L.J_DIGEST) * 4);
  }
}

Atomics.store(control, L.READY, 1);
let done = Atomics.load(control, L.DONE);
try {
  for (;;) {
    const head = Atomics.load(control, L.HEAD);
    if (head === done) {
      Atomics.wait(control, L.HEAD, head);
      continue;
    }
    run(done);
    done = (done + 1) | 0;
    Atomics.store(control, L.DONE, done);
    Atomics.notify(control, L.DONE);
  }
} catch (error) {
  Atomics.store(control, L.BROKEN, 1);
  Atomics.notify(control, L.DONE);
  throw error;
}
