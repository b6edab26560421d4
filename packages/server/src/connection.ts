/**
 * One client connection: decode requests, answer them strictly in order, one at a time, and
 * close on protocol errors, idleness or shutdown. Reading from the client pauses while enough
 * pipelined requests are waiting, so a client cannot make the server buffer without bound.
 */
import type { Socket } from 'node:net';
import {
  DecodeError,
  DigestAlgorithm,
  EndStatus,
  FrameDecoder,
  FrameType,
  FtError,
  Limits,
  ProtocolError,
  WireError,
  chunksOverlapping,
  encodeEnd,
  encodeError,
  encodeFile,
  encodeListResult,
  encodeStatResult,
  encodeWelcome,
  negotiateVersion,
  sameValidator,
} from '@ft/protocol';
import type { GetRequest, ListRequest, Request, StatRequest } from '@ft/protocol';
import { FILE_CHANGED } from './file-service.js';
import type { FileService, OpenedFile } from './file-service.js';
import { BufferPair, TruncatedFileError, sendRange, writeTo } from './file-sender.js';
import type { Logger } from './logger.js';
import { peerOf } from './peer.js';

export interface ConnectionOptions {
  files: FileService;
  logger: Logger;
  /** Close a client that sends nothing, or takes nothing we write, for this long. */
  idleTimeoutMs: number;
  /** Largest request frame payload accepted (announced in WELCOME). */
  maxRequestSize: number;
  /** Our name in WELCOME, e.g. "ftserve/0.1.0". */
  serverName: string;
}

/** Pipelined requests held before we stop reading from the client. */
const MAX_QUEUED = 32;
/** How long a closing connection may take to deliver its last frame before it is cut. */
const LINGER_MS = 2000;
const ZERO_DIGEST: Buffer = Buffer.alloc(32);

type Work =
  | { kind: 'request'; request: Request }
  | { kind: 'fatal'; wireCode: number; message: string; why: string };

/** What went wrong in a request, as the client and the log will see it. */
interface Failure {
  wireCode: number;
  message: string;
  retryAfterMs: number;
  logCode: string;
}

function failureOf(error: unknown): Failure {
  if (error instanceof FtError && error.wireCode !== undefined) {
    return {
      wireCode: error.wireCode,
      message: error.message,
      retryAfterMs: error.retryAfterMs ?? 0,
      logCode: error.code,
    };
  }
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM')
    return {
      wireCode: WireError.ACCESS_DENIED,
      message: 'access denied',
      retryAfterMs: 0,
      logCode: code,
    };
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return { wireCode: WireError.NOT_FOUND, message: 'not found', retryAfterMs: 0, logCode: code };
  return {
    wireCode: WireError.INTERNAL,
    message: 'internal server error',
    retryAfterMs: 1000,
    logCode: code ?? (error instanceof Error ? error.message : String(error)),
  };
}

/** Serves one accepted socket until it closes; `closed` resolves then. */
export class Connection {
  /** Resolves once the socket is closed and the connection is logged. */
  readonly closed: Promise<void>;
  private readonly decoder: FrameDecoder;
  private readonly queue: Work[] = [];
  private readonly buffers = new BufferPair();
  private readonly peer: string;
  private readonly startedAt = performance.now();
  private running = false;
  private inRequest = false;
  private closing = false;
  private draining = false;
  private peerEnded = false;
  private stopReading = false;
  private requests = 0;
  private bytesSent = 0;
  private result = 'closed';

  constructor(
    private readonly socket: Socket,
    private readonly options: ConnectionOptions,
  ) {
    this.peer = peerOf(socket);
    this.decoder = new FrameDecoder({ accept: 'requests', maxFrameSize: options.maxRequestSize });
    this.closed = new Promise((resolve) => {
      socket.once('close', () => {
        this.options.logger.info('connection', {
          peer: this.peer,
          requests: this.requests,
          bytes: this.bytesSent,
          ms: Math.round(performance.now() - this.startedAt),
          result: this.result,
        });
        resolve();
      });
    });
    // A client may send its last request and half-close while it still reads the answers; the
    // default (end our side on the peer's FIN) would make every later write fail with EPIPE.
    socket.allowHalfOpen = true;
    socket.setNoDelay(true);
    socket.setTimeout(options.idleTimeoutMs);
    socket.on('timeout', () => this.onTimeout());
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if (this.result === 'closed') this.result = error.code ?? 'socket-error';
    });
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    // Handed-over sockets arrive paused (pauseOnConnect in the accepting process).
    socket.resume();
  }

  /** Graceful shutdown: finish the response in progress, then close; idle connections close now. */
  drain(): void {
    this.draining = true;
    this.stopReading = true;
    if (!this.running) this.closeGracefully();
  }

  /** Cuts the connection at once. */
  destroy(reason = 'destroyed'): void {
    if (this.result === 'closed') this.result = reason;
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.stopReading || this.closing) return;
    let events;
    try {
      events = this.decoder.push(chunk);
    } catch (error) {
      this.stopReading = true;
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
    for (const event of events) {
      if (event.kind === 'message')
        this.enqueue({ kind: 'request', request: event.message as Request });
    }
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
    this.result = 'timeout';
    if (this.inRequest) {
      // Mid-response the client stopped reading: a frame now would land inside a body.
      this.socket.destroy();
      return;
    }
    this.sendFatal(
      WireError.TIMEOUT,
      `idle for ${Math.round(this.options.idleTimeoutMs / 1000)} s`,
    );
  }

  private enqueue(work: Work): void {
    this.queue.push(work);
    if (this.queue.length >= MAX_QUEUED) this.socket.pause();
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.closing && !this.socket.destroyed) {
        const work = this.queue.shift();
        if (work === undefined) break;
        if (this.queue.length < MAX_QUEUED / 2 && !this.stopReading) this.socket.resume();
        if (work.kind === 'fatal') {
          this.result = work.why;
          this.sendFatal(work.wireCode, work.message);
          break;
        }
        this.inRequest = true;
        try {
          await this.serve(work.request);
        } finally {
          this.inRequest = false;
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
    switch (request.type) {
      case FrameType.HELLO: {
        const version = negotiateVersion(request.minVersion, request.maxVersion);
        if (version === undefined) {
          this.result = 'unsupported-version';
          this.sendFatal(
            WireError.UNSUPPORTED_VERSION,
            `this server speaks protocol version 1 only`,
          );
          return;
        }
        await writeTo(
          this.socket,
          encodeWelcome({
            version,
            maxRequestFrame: this.options.maxRequestSize,
            name: this.options.serverName,
          }),
        );
        return;
      }
      case FrameType.GET:
        this.requests++;
        return await this.serveGet(request);
      case FrameType.STAT:
        this.requests++;
        return await this.serveStat(request);
      case FrameType.LIST:
        this.requests++;
        return await this.serveList(request);
    }
  }

  /** Opens the file and, when asked, its digests; retries if the file changes while hashing. */
  private async openWithDigests(
    request: GetRequest,
  ): Promise<{
    opened: OpenedFile;
    digests: Awaited<ReturnType<FileService['digestsFor']>> | undefined;
  }> {
    for (let attempt = 1; ; attempt++) {
      const opened = await this.options.files.openForRead(request.path);
      if (!request.wantDigests) return { opened, digests: undefined };
      try {
        return { opened, digests: await this.options.files.digestsFor(opened) };
      } catch (error) {
        await opened.close();
        if (!(error instanceof FtError && error.code === FILE_CHANGED) || attempt >= 3) throw error;
      }
    }
  }

  private async serveGet(request: GetRequest): Promise<void> {
    const started = performance.now();
    const log = (result: string, bytes: number, length?: number): void =>
      this.options.logger.info('transfer', {
        peer: this.peer,
        path: request.path,
        offset: request.offset,
        length,
        bytes,
        ms: Math.round(performance.now() - started),
        result,
      });
    // Server-side work (opening, hashing) is not the client's idleness.
    this.socket.setTimeout(0);
    let opened: OpenedFile | undefined;
    try {
      let digests;
      try {
        ({ opened, digests } = await this.openWithDigests(request));
      } catch (error) {
        return await this.refuse(request.requestId, error, log);
      }
      if (request.validator !== undefined && !sameValidator(request.validator, opened.validator)) {
        return await this.refuse(
          request.requestId,
          new FtError('FT_PRECONDITION_FAILED', 'the file has changed', {
            wireCode: WireError.PRECONDITION_FAILED,
          }),
          log,
        );
      }
      if (request.offset > opened.size) {
        return await this.refuse(
          request.requestId,
          new FtError(
            'FT_OFFSET_BEYOND_EOF',
            `offset ${request.offset} is beyond the size ${opened.size}`,
            {
              wireCode: WireError.OFFSET_BEYOND_EOF,
            },
          ),
          log,
        );
      }
      const available = opened.size - request.offset;
      const length = Math.min(request.length ?? available, available);
      let digestFields = {
        algorithm: DigestAlgorithm.NONE as DigestAlgorithm,
        chunkSize: 0,
        root: ZERO_DIGEST,
        firstChunk: 0,
        chunkDigests: [] as Buffer[],
      };
      if (digests !== undefined) {
        const { first, count } = chunksOverlapping(request.offset, length, digests.chunkSize);
        digestFields = {
          algorithm: DigestAlgorithm.SHA256_CHUNKS,
          chunkSize: digests.chunkSize,
          root: digests.root,
          firstChunk: first,
          chunkDigests: digests.chunkDigests.slice(first, first + count),
        };
      }
      const header = encodeFile({
        requestId: request.requestId,
        size: opened.size,
        offset: request.offset,
        length,
        mtimeMs: opened.mtimeMs,
        validator: opened.validator,
        ...digestFields,
      });
      this.socket.setTimeout(this.options.idleTimeoutMs);
      let sent = 0;
      try {
        sent = await sendRange(
          this.socket,
          opened.handle,
          header,
          request.offset,
          length,
          this.buffers,
        );
      } catch (error) {
        // The announced bytes cannot all be sent: the client must see a short body, not a lie.
        const why =
          error instanceof TruncatedFileError
            ? 'truncated'
            : this.socket.destroyed
              ? this.result
              : 'send-failed';
        this.destroy(why === 'closed' ? 'send-failed' : why);
        log(why, sent, length);
        return;
      }
      this.bytesSent += sent;
      const changed = await this.options.files.hasChanged(opened);
      await writeTo(
        this.socket,
        encodeEnd({
          requestId: request.requestId,
          bytesSent: sent,
          status: changed ? EndStatus.CHANGED : EndStatus.OK,
        }),
      );
      log(changed ? 'CHANGED' : 'OK', sent, length);
    } finally {
      this.socket.setTimeout(this.options.idleTimeoutMs);
      await opened?.close();
    }
  }

  private async serveStat(request: StatRequest): Promise<void> {
    this.socket.setTimeout(0);
    const log = (result: string): void =>
      this.options.logger.info('request', {
        peer: this.peer,
        op: 'STAT',
        path: request.path,
        result,
      });
    try {
      const info = await this.options.files.stat(request.path, { wantDigest: request.wantDigest });
      await writeTo(
        this.socket,
        encodeStatResult({
          requestId: request.requestId,
          kind: info.kind,
          size: info.size,
          mtimeMs: info.mtimeMs,
          validator: info.validator,
          algorithm:
            info.digest === undefined ? DigestAlgorithm.NONE : DigestAlgorithm.SHA256_CHUNKS,
          chunkSize: info.digest?.chunkSize ?? 0,
          root: info.digest?.root ?? ZERO_DIGEST,
        }),
      );
      log('OK');
    } catch (error) {
      await this.refuse(request.requestId, error, log);
    } finally {
      this.socket.setTimeout(this.options.idleTimeoutMs);
    }
  }

  private async serveList(request: ListRequest): Promise<void> {
    this.socket.setTimeout(0);
    const log = (result: string, entries?: number): void =>
      this.options.logger.info('request', {
        peer: this.peer,
        op: 'LIST',
        path: request.path,
        entries,
        result,
      });
    let entries;
    try {
      entries = await this.options.files.list(request.path);
    } catch (error) {
      this.socket.setTimeout(this.options.idleTimeoutMs);
      return await this.refuse(request.requestId, error, log);
    }
    this.socket.setTimeout(this.options.idleTimeoutMs);
    const per = Limits.MAX_LIST_ENTRIES_PER_FRAME;
    for (let i = 0; i === 0 || i < entries.length; i += per) {
      const more = i + per < entries.length;
      await writeTo(
        this.socket,
        encodeListResult({
          requestId: request.requestId,
          more,
          entries: entries.slice(i, i + per),
        }),
      );
    }
    log('OK', entries.length);
  }

  /** Answers a request with ERROR and logs it; the connection stays usable. */
  private async refuse(
    requestId: number,
    error: unknown,
    log: (result: string, bytes: number) => void,
  ): Promise<void> {
    const f = failureOf(error);
    if (f.wireCode === WireError.INTERNAL) {
      this.options.logger.error('request-failed', { peer: this.peer, error: f.logCode });
    }
    log(f.logCode, 0);
    await writeTo(
      this.socket,
      encodeError({
        requestId,
        code: f.wireCode,
        retryAfterMs: f.retryAfterMs,
        message: f.message,
      }),
    );
  }

  /** Sends a connection-level ERROR (requestId 0) and closes. */
  private sendFatal(wireCode: number, message: string): void {
    if (this.closing) return;
    this.socket.write(
      encodeError({ requestId: 0, code: wireCode, retryAfterMs: 0, message }),
      () => {},
    );
    this.closeGracefully();
  }

  /** Ends our side, discards whatever the client still sends, and cuts it if it lingers. */
  private closeGracefully(): void {
    if (this.closing) return;
    this.closing = true;
    this.stopReading = true;
    this.socket.end();
    this.socket.resume();
    this.socket.setTimeout(LINGER_MS);
    const timer = setTimeout(() => this.socket.destroy(), LINGER_MS);
    this.socket.once('close', () => clearTimeout(timer));
  }
}
