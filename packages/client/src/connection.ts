/**
 * One TCP connection to an ft server. HELLO is written as soon as the socket connects and the
 * first request is pipelined right behind it; responses are decoded by a FrameDecoder and
 * routed to the oldest request in flight (request-queue.ts: requests are pipelined, answers come
 * in order). A connection that fails stays failed: every outstanding and later call rejects.
 */
import net from 'node:net';
import {
  FrameDecoder,
  FrameType,
  MAX_PROTOCOL_VERSION,
  MIN_PROTOCOL_VERSION,
  ProtocolError,
  RemoteError,
  encodeGet,
  encodeHello,
  encodeList,
  encodeStat,
  encodeUdpSession,
} from '@ft/protocol';
import type { End, GetRequest, ListEntry, Message, StatResult } from '@ft/protocol';
import type { DecoderEvent } from '@ft/protocol';
import {
  answeredRequest,
  badResponse,
  checkWelcomeVersion,
  connectionLost,
  stalled,
} from './connection-errors.js';
import { ClientError, ClientErrorCode } from './errors.js';
import type { ServerAddress } from './remote.js';
import { abortError } from './retry.js';
import type { Pin, ReceiveRing } from './receive/receive-ring.js';
import { ringHasher } from './hashing/ring-hasher.js';
import { RequestQueue } from './request-queue.js';
import { getAnswer, listAnswer, statAnswer, udpSessionAnswer } from './request-answers.js';
import type { AnswerHandler } from './request-answers.js';
import { connectSocket } from './tcp-connect.js';
import { tokenFor } from './credentials.js';
import type { ConnectOptions, GetSink } from './connection-types.js';

export type { ConnectOptions, GetSink } from './connection-types.js';

/** Most entries one LIST may return before we refuse it (memory bound). */
export const MAX_LIST_ENTRIES = 1_000_000;
/** Bytes copied at a time between pieces of a streamed body: more than a CHUNK_DIGEST frame (79). */
const FRAME_SLICE = 128;

export class Connection {
  private readonly decoder = new FrameDecoder({ accept: 'responses' });
  /** Requests sent and not yet answered, oldest first (the head receives what arrives). */
  private readonly queue = new RequestQueue();
  private failure: Error | undefined;
  private nextRequestId = 1;
  private welcomed = false;
  /** The protocol version the server chose (valid once welcomed). */
  private version = 1;
  private welcomeWaiters: { resolve(version: number): void; reject(error: Error): void }[] = [];
  private paused = false;
  /** Writes are held until the end of this turn (see request()). */
  private corked = false;
  /** Reading is held back by the rate limit (independent of pause()). */
  private throttled: NodeJS.Timeout | undefined;
  private readonly stallTimer: NodeJS.Timeout;
  private readonly onAbort = (): void => this.fail(abortError());

  private constructor(
    private readonly socket: net.Socket,
    private readonly address: ServerAddress,
    private readonly options: ConnectOptions,
    private readonly ring: ReceiveRing,
  ) {
    this.stallTimer = setTimeout(() => this.onStall(), options.timeoutMs);
    this.stallTimer.unref();
    ring.attach(
      (bytes, pin) => this.onSocketData(bytes, pin),
      () => this.resumeSocket(),
    );
    socket.on('end', () => this.onSocketEnd());
    socket.on('close', () => {
      // Jobs already queued on the ring hashing thread still run; then it lets go of the ring.
      ringHasher.forget(ring.shared);
      this.onSocketEnd();
    });
    socket.on('error', (error) => this.fail(connectionLost(this.address, error.message, error)));
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Connects (tcp-connect.ts), sends HELLO, and resolves once TCP is up (WELCOME is checked when it arrives). */
  static async open(address: ServerAddress, options: ConnectOptions): Promise<Connection> {
    // Over TLS too the (decrypted) reads land in the ring: see tcp-connect.ts.
    const { socket, ring } = await connectSocket(address, options);
    const connection = new Connection(socket, address, options, ring);
    socket.write(
      encodeHello({
        minVersion: MIN_PROTOCOL_VERSION,
        maxVersion: MAX_PROTOCOL_VERSION,
        name: options.clientName ?? 'ftget',
        token: tokenFor(address),
      }),
    );
    return connection;
  }

  /**
   * STAT a path. `wantSha256` (protocol version 2; see serverVersion) asks for the whole
   * file's SHA-256 too.
   */
  stat(
    path: string,
    wantDigest: boolean,
    options: { wantSha256?: boolean } = {},
  ): Promise<StatResult> {
    const wantSha256 = options.wantSha256 === true;
    return this.request(
      encodeStat({ requestId: this.nextRequestId, path, wantDigest, wantSha256 }),
      statAnswer(this.address, wantSha256),
    );
  }

  /**
   * The protocol version the server chose; waits for WELCOME (at most the stall timeout), so
   * a request that only some versions have is sent only to servers that speak it.
   */
  serverVersion(): Promise<number> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.welcomed) return Promise.resolve(this.version);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.onStall(true), this.options.timeoutMs);
      this.welcomeWaiters.push({
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
    });
  }

  /**
   * LIST a directory: every entry, in the server's order (sorted by name). With `wantLinks`
   * (protocol version 2; see serverVersion) the entries say which are symlinks.
   */
  list(path: string, options: { wantLinks?: boolean } = {}): Promise<ListEntry[]> {
    return this.request(
      encodeList({ requestId: this.nextRequestId, path, wantLinks: options.wantLinks }),
      listAnswer(this.address, options.wantLinks === true, MAX_LIST_ENTRIES),
    );
  }

  /**
   * GET a range; the sink sees the FILE header and then the body as it arrives. Resolves with
   * END once the whole body arrived; checks only framing (the caller checks the header).
   */
  get(request: Omit<GetRequest, 'type' | 'requestId'>, sink: GetSink): Promise<End> {
    return this.request(
      encodeGet({ ...request, requestId: this.nextRequestId }),
      getAnswer(this.address, request.streamDigests === true, sink),
      (chunk, pin) => sink.onData(chunk, pin),
    );
  }

  /**
   * Asks for an encrypted UDP session covering `path` (PROTOCOL.md §4.11; TLS connections only)
   * and derives its keying material from this connection's TLS exporter.
   */
  udpSession(path: string): Promise<{ sessionId: Buffer; lifetimeMs: number; material: Buffer }> {
    return this.request(
      encodeUdpSession({ requestId: this.nextRequestId, path }),
      udpSessionAnswer(this.address, this.socket),
    );
  }

  /** False once the connection failed or was closed (by either side): it cannot be reused. */
  get usable(): boolean {
    return this.failure === undefined;
  }

  /** Stop reading from the socket (backpressure); the stall timer is suspended meanwhile. */
  pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.resumeSocket();
  }

  /** Reads again unless the caller paused or the receive ring is full. */
  private resumeSocket(): void {
    if (this.paused || this.ring.starved || this.failure !== undefined) return;
    this.stallTimer.refresh();
    if (this.throttled === undefined) this.socket.resume();
  }

  /** Closes the connection; a request in flight rejects with FT_CONNECTION_LOST. */
  close(): void {
    this.fail(new ClientError(ClientErrorCode.CONNECTION_LOST, 'connection closed by the client'));
  }

  private request<T>(
    frame: Buffer,
    handler: AnswerHandler<T>,
    onData?: (chunk: Buffer, pin: Pin | undefined) => void,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.failure !== undefined) return reject(this.failure);
      const requestId = this.nextRequestId++;
      // An idle connection's stall clock starts now, not at its last byte.
      if (this.queue.length === 0) this.stallTimer.refresh();
      this.queue.add(requestId, handler, resolve, reject, onData);
      // Requests made in one turn (a read that finished several small files refills the
      // pipeline with their successors' GETs) leave in one write, not one system call each.
      if (!this.corked) {
        this.corked = true;
        this.socket.cork();
        process.nextTick(() => {
          this.corked = false;
          this.socket.uncork();
        });
      }
      this.socket.write(frame);
    });
  }

  /**
   * One read, a view of the receive ring. Body bytes go to the sink as views with the pin;
   * everything else is copied first, because the decoder keeps partial frames, and decoded
   * messages keep views of their payload, beyond this call.
   */
  private onSocketData(bytes: Buffer, pin: Pin | undefined): void {
    if (this.failure !== undefined) return;
    this.stallTimer.refresh();
    const wait = this.options.throttle?.take(bytes.length) ?? 0;
    if (wait > 0 && this.throttled === undefined) {
      this.socket.pause();
      this.throttled = setTimeout(() => {
        this.throttled = undefined;
        this.resumeSocket();
      }, Math.ceil(wait));
    }
    let rest = bytes;
    while (rest.length > 0) {
      const body = Math.min(this.decoder.bodyLeft, rest.length);
      if (body > 0) {
        if (!this.feed(body === rest.length ? rest : rest.subarray(0, body), pin)) return;
        rest = rest.subarray(body);
        continue;
      }
      // Inside a streamed body a small frame (CHUNK_DIGEST) sits between pieces of raw bytes:
      // copy only a little past it, so the body after it is again handed over in place.
      const n = this.decoder.streamingBody ? Math.min(rest.length, FRAME_SLICE) : rest.length;
      const part = n === rest.length ? rest : rest.subarray(0, n);
      if (!this.feed(pin === undefined ? part : Buffer.from(part), undefined)) return;
      rest = rest.subarray(n);
    }
  }

  /**
   * Decodes `chunk` and dispatches what it completes; false once the connection failed. A bad
   * frame is reported only after the frames before it in the chunk were dispatched (the
   * decoder leaves them in `events` when it throws): an answer that arrived in the same read as
   * a bad frame is still used (PROTOCOL.md §5.4).
   */
  private feed(chunk: Buffer, pin: Pin | undefined): boolean {
    const events: DecoderEvent[] = [];
    let decodeError: Error | undefined;
    try {
      this.decoder.push(chunk, events);
    } catch (error) {
      decodeError = error as Error;
    }
    for (const event of events) {
      if (this.failure !== undefined) return false;
      try {
        if (event.kind === 'data') this.queue.head?.onData?.(event.chunk, pin);
        else this.dispatch(event.message);
      } catch (error) {
        this.fail(error as Error);
        return false;
      }
    }
    if (decodeError !== undefined) this.fail(decodeError);
    return this.failure === undefined;
  }

  private dispatch(message: Message): void {
    if (message.type === FrameType.WELCOME) {
      checkWelcomeVersion(this.address, message.version);
      this.welcomed = true;
      this.version = message.version;
      for (const w of this.welcomeWaiters.splice(0)) w.resolve(message.version);
      return;
    }
    if (message.type === FrameType.ERROR && message.requestId === 0) {
      // Connection-level (BUSY, TIMEOUT, version mismatch): the server closes after it.
      throw new RemoteError(message.code, message.message, 0, message.retryAfterMs);
    }
    const pending = answeredRequest(this.address, message, this.queue.head, this.welcomed);
    if (message.type === FrameType.ERROR) {
      pending.reject(
        new RemoteError(message.code, message.message, message.requestId, message.retryAfterMs),
      );
      return;
    }
    pending.onMessage(message);
  }

  private onStall(awaitingWelcome = false): void {
    if (
      this.failure !== undefined ||
      this.paused ||
      this.ring.starved ||
      this.throttled !== undefined
    )
      return;
    if (this.queue.length === 0 && !awaitingWelcome) return;
    this.fail(stalled(this.address, this.options.timeoutMs));
  }

  private onSocketEnd(): void {
    if (this.failure !== undefined) return;
    let detail = 'the server closed the connection';
    try {
      this.decoder.end();
    } catch (error) {
      detail = `the server closed the connection: ${(error as Error).message}`;
    }
    this.fail(connectionLost(this.address, detail));
  }

  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.failure =
      error instanceof ProtocolError ? badResponse(this.address, error.message, error) : error;
    clearTimeout(this.stallTimer);
    clearTimeout(this.throttled);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    this.socket.destroy();
    const failure = this.failure;
    this.queue.failAll(failure, () =>
      (failure as { code?: string }).code === ClientErrorCode.ABORTED
        ? failure
        : connectionLost(this.address, `closed after a failed request: ${failure.message}`),
    );
    for (const w of this.welcomeWaiters.splice(0)) w.reject(this.failure);
  }
}
