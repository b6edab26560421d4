/**
 * Writing frames to a socket and waiting for it to take them, and the error of a file that
 * ends before the bytes its header announced: shared by every way a body is sent (pool buffers
 * in file-sender.ts, sendfile(2) in sendfile-sender.ts, streamed digests in streamed-sender.ts).
 */
import type { Socket } from 'node:net';

/** Thrown when the file ends before the announced bytes were read: the caller must cut the connection. */
export class TruncatedFileError extends Error {
  constructor(readonly position: number) {
    super(`file ended at byte ${position} before the announced range`);
    this.name = 'TruncatedFileError';
  }
}

/** Resolves when the socket has taken `data` (flushed to the kernel), rejects if it fails or closes. */
export function writeTo(socket: Socket, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.write(data, (error) => (error ? reject(error) : resolve()));
  });
}

/**
 * Writes frames in one system call (cork), and resolves once the socket has taken them all.
 * Only the last write is awaited: a stream completes writes in order, and a failed write
 * destroys it, which fails the callbacks of the writes still pending (one promise instead of
 * one per frame).
 */
export function writeAll(socket: Socket, frames: Buffer[]): Promise<void> {
  socket.cork();
  for (let i = 0; i < frames.length - 1; i++) socket.write(frames[i]!);
  const last = frames.length === 0 ? Promise.resolve() : writeTo(socket, frames.at(-1)!);
  socket.uncork();
  return last;
}
