/**
 * What a request handler needs from its connection, and how a failed request is answered: an
 * ERROR frame with the wire code the failure maps to, leaving the connection usable.
 */
import type { Socket } from 'node:net';
import { WireError, encodeError } from '@ft/protocol';
import type { FileService } from '../files/file-service.js';
import { writeTo } from '../files/file-sender.js';
import type { BufferPool } from '../files/file-sender.js';
import type { Logger } from '../logger.js';
import { wireFailure } from '../wire-failure.js';

/** The connection as its request handlers see it. */
export interface RequestContext {
  readonly socket: Socket;
  readonly files: FileService;
  readonly logger: Logger;
  /** The client, as logs show it. */
  readonly peer: string;
  /** The client's IP (see ipKey): what its share of the read buffers is counted by. */
  readonly address: string;
  /** The process's read buffers, which large transfers borrow from. */
  readonly buffers: BufferPool;
  /** How the connection ends so far ('closed' until something else happened). */
  readonly result: string;
  /** Adds body bytes to the connection's total (for its log line). */
  countSent(bytes: number): void;
  /** Cuts the connection at once; `reason` becomes its result unless one is already set. */
  destroy(reason: string): void;
  /** Server-side work (opening, hashing, listing) is not the client's idleness: stop the idle timer. */
  pauseIdleTimer(): void;
  /** Restarts the idle timer. */
  resumeIdleTimer(): void;
  /** The client took some of what we wrote: it is not idle (restarts the idle timer). */
  noteProgress(): void;
}

/** Answers a request with ERROR and logs it; the connection stays usable. */
export async function refuse(
  ctx: RequestContext,
  requestId: number,
  error: unknown,
  log: (result: string, bytes: number) => void,
): Promise<void> {
  const f = wireFailure(error);
  if (f.wireCode === WireError.INTERNAL) {
    ctx.logger.error('request-failed', { peer: ctx.peer, error: f.logCode });
  }
  log(f.logCode, 0);
  await writeTo(
    ctx.socket,
    encodeError({
      requestId,
      code: f.wireCode,
      retryAfterMs: f.retryAfterMs,
      message: f.message,
    }),
  );
}
