/**
 * One client connection: decode requests, answer them strictly in order, one at a time, and
 * close on protocol errors, idleness, a request that takes too long to arrive, or shutdown.
 * Reading from the client pauses while enough pipelined requests are waiting, so a client
 * cannot make the server buffer without bound.
 */
import type { Socket } from 'node:net';
import {
  DecodeError,
  FrameDecoder,
  FrameType,
  ProtocolError,
  WireError,
  encodeError,
} from '@ft/protocol';
import type { DecoderEvent, Request } from '@ft/protocol';
import type { FileService } from '../files/file-service.js';
import { sharedBufferPool } from '../files/file-sender.js';
import type { Logger } from '../logger.js';
import { clientOf } from '../net/peer.js';
import type { RequestContext } from './request-context.js';
import { Deadlines } from './deadlines.js';
import { answerHello } from './handshake.js';
import { readWaiting } from './first-read.js';
import { routeRequest } from './route-request.js';
import { sharedStallWatch } from './stall-watch.js';
import type { Stallable } from './stall-watch.js';
import type { ConnectionOptions } from './connection-options.js';

export type { ConnectionOptions } from './connection-options.js';

/** Pipelined requests held before we stop reading from the client. */
const MAX_QUEUED = 32;
/** How long a closing connection may take to deliver its last frame before it is cut. */
const LINGER_MS = 2000;
/** Retry-after hint sent to an idle connection shed to make room for a new client. */
const SHED_RETRY_MS = 1000;

type Work =
  | { kind: 'request'; request: Request }
  | { kind: 'fatal'; wireCode: number; message: string; why: string };

/** Serves one accepted socket until it closes; `closed` resolves then. */
export class Connection implements RequestContext, Stallable {
  /** Resolves once the socket is closed and the connection is logged. */
  readonly closed: Promise<void>;
  private readonly decoder: FrameDecoder;
  private readonly queue: Work[] = [];
  readonly buffers = sharedBufferPool;
  readonly peer: string;
  readonly address: string;
  /** The load balancer the client came through (--proxy-protocol), for the logs. */
  private readonly via: string | undefined;
  readonly files: FileService;
  readonly logger: Logger;
  private readonly startedAt = performance.now();
  /** When the connection last started or finished a request (or connected): see idleSince. */
  private lastActiveAt = performance.now();
  private readonly deadlines: Deadlines;
  private running = false;
  private inRequest = false;
  private closing = false;
  private draining = false;
  private peerEnded = false;
  private stopReading = false;
  /** Reading paused because MAX_QUEUED requests wait. */
  private readPaused = false;
  private requests = 0;
  private bytesSent = 0;
  private outcome = 'closed';
  /** The token HELLO carried (a secret: never logged). */
  private token: string | undefined;

  constructor(
    readonly socket: Socket,
    private readonly options: ConnectionOptions,
  ) {
    ({ peer: this.peer, ip: this.address, via: this.via } = options.client ?? clientOf(socket));
    ({ files: this.files, logger: this.logger } = options);
    this.decoder = new FrameDecoder({ accept: 'requests', maxFrameSize: options.maxRequestSize });
    this.deadlines = new Deadlines(
      options.idleTimeoutMs,
      options.requestTimeoutMs,
      () => this.onTimeout(),
      () => this.onRequestTimeout(),
    );
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.deadlines.stop();
        sharedStallWatch.delete(this);
        this.options.logger.info('connection', {
          peer: this.peer,
          via: this.via,
          requests: this.requests,
          bytes: this.bytesSent,
          ms: Math.round(performance.now() - this.startedAt),
          result: this.outcome,
        });
        resolve();
      });
    });
    sharedStallWatch.add(this);
    // A client may send its last request and half-close while it still reads the answers; the
    // default (end our side on the peer's FIN) would make every later write fail with EPIPE.
    socket.allowHalfOpen = true;
    socket.setNoDelay(true);
    this.deadlines.resumeIdle();
    // The handshake: HELLO must have arrived within the request deadline of connecting.
    this.deadlines.startFrame();
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (this.outcome === 'closed') this.outcome = error.code ?? 'socket-error';
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    // HELLO and a pipelined request are usually waiting already: answer them without a turn.
    const waiting = readWaiting(socket);
    if (waiting !== undefined) this.onData(waiting);
    // Handed-over sockets arrive paused (pauseOnConnect in the accepting process).
    socket.resume();
  }

  /** Cuts the connection with a reset (a socket that is not TCP, e.g. an inetd pipe, just closes). */
  private reset(): void {
    try {
      this.socket.resetAndDestroy();
    } catch {
      this.socket.destroy();
    }
  }

  /** Graceful shutdown: finish the response in progress, then close; idle connections close now. */
  drain(): void {
    this.draining = true;
    this.stopReading = true;
    if (!this.running) this.closeGracefully();
  }

  /** Cuts the connection at once. */
  destroy(reason = 'destroyed'): void {
    if (this.outcome === 'closed') this.outcome = reason;
    this.socket.destroy();
  }

  get result(): string {
    return this.outcome;
  }

  countSent(bytes: number): void {
    this.bytesSent += bytes;
  }

  pauseIdleTimer(): void {
    this.deadlines.pauseIdle();
  }

  resumeIdleTimer(): void {
    this.deadlines.resumeIdle();
  }

  noteProgress(): void {
    this.deadlines.progress();
  }

  stalledSince(): number | undefined {
    // Paused idle clock: the server itself is busy (opening, hashing), not waiting for the client.
    if (!this.inRequest || this.deadlines.idlePaused || this.socket.writableLength === 0)
      return undefined;
    return this.deadlines.lastProgressAt;
  }

  cutStalled(): void {
    if (this.outcome === 'closed') this.outcome = 'stalled';
    this.reset();
  }

  /**
   * Since when the connection has been idle (no request in progress or queued, not closing),
   * or undefined if it is busy: the oldest idle connection is the first shed when the server
   * is full. A client trickling a request that never completes counts as idle.
   */
  idleSince(): number | undefined {
    if (this.closing || this.running || this.queue.length > 0) return undefined;
    return this.lastActiveAt;
  }

  /** Closes an idle connection to make room for a new client: BUSY with a retry-after hint. */
  shed(): void {
    if (this.closing) return;
    this.outcome = 'shed';
    this.sendFatal(WireError.BUSY, 'server full: idle connection closed', SHED_RETRY_MS);
  }

  /** A frame (or the handshake) did not complete in time: close once earlier answers are out. */
  private onRequestTimeout(): void {
    if (this.stopReading || this.closing) return;
    this.stopReading = true;
    this.socket.pause();
    this.enqueue({
      kind: 'fatal',
      wireCode: WireError.TIMEOUT,
      message: `request not complete within ${this.options.requestTimeoutMs / 1000} s`,
      why: 'request-timeout',
    });
  }

  private onData(chunk: Buffer): void {
    if (this.stopReading || this.closing) return;
    // Bytes from the client while we answer do not show that it takes what we send.
    if (!this.running) this.deadlines.touch();
    // Filled as frames complete, so the requests before a bad frame in this chunk survive the
    // throw and are answered before the ERROR (PROTOCOL.md §5.4).
    const events: DecoderEvent[] = [];
    try {
      this.decoder.push(chunk, events);
    } catch (error) {
      this.stopReading = true;
      this.enqueueRequests(events);
      if (error instanceof ProtocolError) {
        this.enqueue({
          kind: 'fatal',
          wireCode: DecodeError[error.code as keyof typeof DecodeError],
          message: error.message,
          why: error.code,
        });
      } else {
        this.enqueue({
          kind: 'fatal',
          wireCode: WireError.INTERNAL,
          message: 'internal server error',
          why: String(error),
        });
      }
      return;
    }
    const complete = this.enqueueRequests(events);
    // Each frame's clock starts at its first byte: a frame completed, or none was pending. Not
    // while the queue has paused reading: the rest of the frame waits on us, not on the client
    // (reading resumes with a fresh clock).
    if (this.decoder.idle) this.deadlines.endFrame();
    else if (this.readPaused) return;
    else if (complete || !this.deadlines.framePending) this.deadlines.startFrame();
  }

  /** Queues the requests among `events`; true if there was at least one. */
  private enqueueRequests(events: readonly DecoderEvent[]): boolean {
    let complete = false;
    for (const event of events) {
      if (event.kind === 'message') {
        complete = true;
        this.enqueue({ kind: 'request', request: event.message as Request });
      }
    }
    return complete;
  }

  private onEnd(): void {
    this.peerEnded = true;
    if (this.stopReading || this.closing) return;
    try {
      this.decoder.end();
    } catch (error) {
      const code = error instanceof ProtocolError ? error.code : 'FT_ERR_TRUNCATED';
      this.enqueue({
        kind: 'fatal',
        wireCode: WireError.BAD_REQUEST,
        message: String((error as Error).message),
        why: code,
      });
      return;
    }
    if (!this.running && this.queue.length === 0) this.closeGracefully();
  }

  private onTimeout(): void {
    if (this.closing) {
      this.socket.destroy();
      return;
    }
    this.outcome = 'timeout';
    if (this.inRequest) {
      // Mid-response the client stopped reading: a frame now would land inside a body. A reset,
      // not a FIN: the kernel then drops the send queue at once (up to its send buffer, 4 MiB by
      // default) instead of keeping it, orphaned, while it probes the client's closed window.
      this.reset();
      return;
    }
    this.sendFatal(
      WireError.TIMEOUT,
      `idle for ${Math.round(this.options.idleTimeoutMs / 1000)} s`,
    );
  }

  private enqueue(work: Work): void {
    this.queue.push(work);
    if (this.queue.length >= MAX_QUEUED && !this.readPaused) {
      // We stop reading: a frame partly received is then late by our doing, not the client's.
      this.readPaused = true;
      this.socket.pause();
      this.deadlines.endFrame();
    }
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.closing && !this.socket.destroyed) {
        const work = this.queue.shift();
        if (work === undefined) break;
        if (this.readPaused && this.queue.length < MAX_QUEUED / 2 && !this.stopReading) {
          this.readPaused = false;
          this.socket.resume();
          if (!this.decoder.idle) this.deadlines.startFrame();
        }
        if (work.kind === 'fatal') {
          this.outcome = work.why;
          this.sendFatal(work.wireCode, work.message);
          break;
        }
        this.inRequest = true;
        this.lastActiveAt = performance.now();
        try {
          await this.serve(work.request);
        } finally {
          this.inRequest = false;
          this.lastActiveAt = performance.now();
        }
        if (this.draining) this.closeGracefully();
      }
    } catch (error) {
      this.options.logger.error('connection-failed', { peer: this.peer, error: String(error) });
      this.destroy('internal-error');
    } finally {
      this.running = false;
    }
    if ((this.peerEnded || this.draining) && this.queue.length === 0) this.closeGracefully();
  }

  private async serve(request: Request): Promise<void> {
    if (request.type !== FrameType.HELLO) this.requests++;
    switch (request.type) {
      case FrameType.HELLO: {
        const answer = answerHello(request, this.options.maxRequestSize, this.options.serverName);
        if ('refusal' in answer) {
          this.outcome = 'unsupported-version';
          this.sendFatal(WireError.UNSUPPORTED_VERSION, answer.refusal);
          return;
        }
        this.token = request.token;
        // Not awaited, and corked until the event loop's check phase: a request pipelined after
        // HELLO is answered in the promise jobs before that, so WELCOME and the answer leave in
        // one write. A failed write surfaces as the socket's 'error'.
        this.socket.cork();
        this.socket.write(answer.welcome, () => {});
        setImmediate(() => this.socket.uncork());
        return;
      }
    }
    await routeRequest(this, request, this.options, this.token);
  }

  /** Sends a connection-level ERROR (requestId 0) and closes. */
  private sendFatal(wireCode: number, message: string, retryAfterMs = 0): void {
    if (this.closing) return;
    this.socket.write(
      encodeError({ requestId: 0, code: wireCode, retryAfterMs, message }),
      () => {},
    );
    this.closeGracefully();
  }

  /** Ends our side, discards whatever the client still sends, and cuts it if it lingers. */
  private closeGracefully(): void {
    if (this.closing) return;
    this.closing = true;
    this.stopReading = true;
    this.deadlines.stop();
    // Client ended, and the kernel holds all we wrote: close(2) sends our FIN after it (and
    // resets nothing: we read to the EOF), so shutdown, finish and linger would add nothing.
    // Not over TLS, whose end() also sends close_notify.
    if (this.peerEnded && this.socket.writableLength === 0 && !('encrypted' in this.socket)) {
      this.socket.destroy();
      return;
    }
    this.socket.end();
    this.socket.resume();
    const timer = setTimeout(() => this.socket.destroy(), LINGER_MS);
    this.socket.once('close', () => clearTimeout(timer));
  }
}
