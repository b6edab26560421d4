/**
 * The bytes a client sent before its connection was accepted, read at once. A client may send
 * HELLO and its first request in the write after connecting (PROTOCOL.md §5.1), so they are
 * usually in the kernel by the time the server takes the connection; through the stream they
 * would come only at the event loop's next poll, a turn later (about 40 µs of a one-request
 * connection's ≈ 300 on the 2-core bench machine). One non-blocking read(2) on the descriptor
 * here takes them now.
 *
 * Only before the stream has read anything (nothing buffered, nothing counted), so no byte
 * can overtake another: whatever this read leaves, the stream reads after it, in order. Plain
 * TCP only (a TLS socket's bytes are records, not requests). An empty socket (EAGAIN) or an
 * early EOF leaves everything to the stream; the EOF is seen there again.
 */
import { readSync } from 'node:fs';
import type { Socket } from 'node:net';

/** Largest first read: a HELLO and a few pipelined requests (the rest comes through the stream). */
const FIRST_READ = 16 * 1024;
let scratch: Buffer | undefined;

/** The descriptor of a plain socket that has read nothing yet, else undefined. */
function freshDescriptor(socket: Socket): number | undefined {
  if ('encrypted' in socket || socket.bytesRead !== 0 || socket.readableLength !== 0)
    return undefined;
  // net.Socket keeps its libuv handle (TCP or pipe wrap) in _handle; fd is -1 where there is none.
  const fd = (socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** A copy of the bytes already waiting on `socket`, or undefined (none, or not a fresh plain socket). */
export function readWaiting(socket: Socket): Buffer | undefined {
  const fd = freshDescriptor(socket);
  if (fd === undefined) return undefined;
  scratch ??= Buffer.allocUnsafe(FIRST_READ);
  let n: number;
  try {
    n = readSync(fd, scratch, 0, FIRST_READ, null);
  } catch {
    return undefined; // EAGAIN: nothing yet (or an error the stream reports in its turn)
  }
  // The decoder may keep views of what it is given until the frame is complete: a copy.
  return n > 0 ? Buffer.from(scratch.subarray(0, n)) : undefined;
}
