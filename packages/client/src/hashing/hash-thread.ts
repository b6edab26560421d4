/**
 * The hashing thread (a worker_threads entry point). It receives segments of chunks in
 * transferred ArrayBuffers or as views of shared memory, feeds them to one SHA-256 state per stream, and answers every
 * message in arrival order, handing the buffer back: with the chunk's digest when the segment
 * was the chunk's last.
 */
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { HashReply, HashRequest } from './hash-messages.js';

const port = parentPort;
if (port === null) throw new Error('hash-thread.js must run as a worker thread');

const open = new Map<number, Hash>();

port.on('message', (m: HashRequest) => {
  if (m.data === undefined) {
    // A stream abandoned mid-chunk: forget its state, no answer.
    open.delete(m.stream);
    return;
  }
  let hash = open.get(m.stream);
  if (hash === undefined) {
    hash = createHash('sha256');
    open.set(m.stream, hash);
  }
  hash.update(m.data);
  const reply: HashReply = { stream: m.stream };
  const buffer = m.data.buffer;
  // Shared memory is read in place and stays where it is; a transferred buffer goes back.
  const transfer = buffer instanceof ArrayBuffer ? [buffer] : [];
  if (buffer instanceof ArrayBuffer) reply.buffer = buffer;
  if (m.final) {
    open.delete(m.stream);
    // A copy in its own 32-byte buffer: cloning a pooled view would copy the whole pool.
    reply.digest = new Uint8Array(hash.digest());
  }
  port.postMessage(reply, transfer);
});
