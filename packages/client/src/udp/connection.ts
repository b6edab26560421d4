/**
 * A UDP "connection" to an ft server with the same face as the TCP Connection (stat, get,
 * pause, resume, close), so download() and stat() work unchanged over either transport.
 *
 * One connected datagram socket (the kernel drops datagrams from anyone but the server). A
 * request goes out with the address-validation token if we have one; a RETRY gives us one and
 * we send again. GET: REQUEST → ACCEPT → DIGEST_REQUESTs for the chunk digests → first ACK,
 * then DATA flows through a UdpReceiver and ACKs go back, until FIN; we answer CLOSE. Every
 * wait is bounded: the request timer backs off from 250 ms to 2 s and the operation fails when
 * the server was silent for the liveness limit.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import {
  CloseReason,
  DatagramType,
  DigestAlgorithm,
  FrameType,
  RemoteError,
  RttEstimator,
  UdpLimits,
  UdpReceiver,
  decodeDatagram,
  digestsPerDatagram,
  encodeUdpAck,
  encodeUdpClose,
  encodeUdpDigestRequest,
  encodeUdpRequest,
  encodeUdpStat,
} from '@ft/protocol';
import type {
  End,
  FileHeader,
  GetRequest,
  StatResult,
  UdpAccept,
  UdpMessage,
  UdpServerMessage,
} from '@ft/protocol';
import type { ConnectOptions, GetSink } from '../connection.js';
import { ClientError, ClientErrorCode } from '../errors.js';
import { formatServer } from '../remote.js';
import type { ServerAddress } from '../remote.js';
import { abortError } from '../retry.js';

/** Environment overrides (tests and benchmarks): liveness limit and payload size. */
export const UDP_LIVENESS_ENV = 'FT_UDP_LIVENESS_MS';
export const UDP_PAYLOAD_ENV = 'FT_UDP_PAYLOAD';
/** Receive window we offer, in bytes (memory bound per transfer). */
export const UDP_WINDOW = 4 * 1024 * 1024;
const SOCKET_BUFFER = 4 * 1024 * 1024;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 2000;
/** DIGEST_REQUESTs in flight at once. */
const DIGEST_PIPELINE = 8;
/**
 * How long an ACK that is not urgent may wait (delayed ACK). In bulk flow the receiver ACKs
 * every 8 segments anyway; this only bounds the wait when fewer arrive. ACKing each read burst
 * instead meant one ACK per datagram when they arrive spaced out, which cost both sides more
 * CPU than the data.
 */
const ACK_DELAY_MS = 2;

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');
}

function envInt(name: string, min: number, max: number): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  return Number.isSafeInteger(v) && v >= min && v <= max ? v : undefined;
}

/** The operation in progress: it sees every valid datagram from the server. */
interface Operation {
  onMessage(m: UdpServerMessage): void;
  onTimer(now: number): void;
  fail(error: Error): void;
}

export class UdpConnection {
  private op: Operation | undefined;
  private failure: Error | undefined;
  private token: Buffer = Buffer.alloc(0);
  private timer: NodeJS.Timeout | undefined;
  private readonly rtt = new RttEstimator({ initialRtoMs: FIRST_RETRY_MS, maxRtoMs: MAX_RETRY_MS });
  private readonly server: string;
  private readonly payloadSize: number;
  private readonly livenessMs: number;
  /** Datagrams dropped as malformed or not for us. */
  dropped = 0;
  private readonly onAbort = (): void => this.fail(abortError());
  // GET state shared with pause/resume/close.
  private receiver: UdpReceiver | undefined;
  private transferId = 0;
  private paused = false;
  private unreleased = 0;
  private ackScheduled = false;
  /** --limit-rate: delivered bytes whose window release waits for the rate limit. */
  private held = 0;
  private heldTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly socket: Socket,
    address: ServerAddress,
    ip: string,
    private readonly options: ConnectOptions,
  ) {
    this.server = formatServer(address);
    this.payloadSize =
      envInt(UDP_PAYLOAD_ENV, UdpLimits.MIN_PAYLOAD, UdpLimits.MAX_PAYLOAD) ??
      (isLoopback(ip) ? UdpLimits.LOOPBACK_PAYLOAD : UdpLimits.DEFAULT_PAYLOAD);
    this.livenessMs = envInt(UDP_LIVENESS_ENV, 100, UdpLimits.MAX_LIVENESS_MS) ?? options.timeoutMs;
    socket.on('message', (msg: Buffer) => this.onDatagram(msg));
    socket.on('error', (error: NodeJS.ErrnoException) => {
      // On a connected socket, ICMP "port unreachable" comes back as ECONNREFUSED.
      this.fail(
        new ClientError(
          ClientErrorCode.CONNECT_FAILED,
          `cannot reach ${this.server} over UDP: ${error.code ?? error.message}`,
          { cause: error },
        ),
      );
    });
    options.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Resolves the host and connects a datagram socket to it (no packet is sent yet). */
  static async open(address: ServerAddress, options: ConnectOptions): Promise<UdpConnection> {
    if (options.signal?.aborted) throw abortError();
    let ip = address.host;
    try {
      if (isIP(ip) === 0) ip = (await lookup(address.host)).address;
    } catch (error) {
      throw new ClientError(
        ClientErrorCode.CONNECT_FAILED,
        `cannot resolve ${address.host}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`,
        { cause: error },
      );
    }
    const socket = createSocket({
      type: isIP(ip) === 6 ? 'udp6' : 'udp4',
      recvBufferSize: SOCKET_BUFFER,
      sendBufferSize: SOCKET_BUFFER,
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.connect(address.port, ip, () => {
        socket.off('error', reject);
        resolve();
      });
    }).catch((error: NodeJS.ErrnoException) => {
      socket.close();
      throw new ClientError(
        ClientErrorCode.CONNECT_FAILED,
        `cannot connect to ${formatServer(address)} over UDP: ${error.code ?? error.message}`,
        { cause: error },
      );
    });
    return new UdpConnection(socket, address, ip, options);
  }

  /** STAT a path over UDP. */
  stat(path: string, wantDigest: boolean): Promise<StatResult> {
    return this.run<StatResult>((resolve) => {
      const nonce = randomInt(1, 0xffff_ffff);
      const request = this.requester(nonce, (token) =>
        encodeUdpStat({ nonce, path, wantDigest, token }),
      );
      return {
        onMessage: (m) => {
          if (!request.handles(m)) return;
          if (m.type !== DatagramType.STAT_OK)
            throw this.bad(`expected STAT_OK, got type ${m.type}`);
          resolve({
            type: FrameType.STAT_OK,
            requestId: 0,
            kind: m.kind,
            size: m.size,
            mtimeMs: m.mtimeMs,
            validator: m.validator,
            algorithm: m.algorithm,
            chunkSize: m.chunkSize,
            root: m.root,
          });
        },
        onTimer: (now) => request.onTimer(now),
        fail: () => {},
      };
    });
  }

  /** GET a range; the sink sees a FILE header (with every chunk digest) and then the body in order. */
  get(request: Omit<GetRequest, 'type' | 'requestId'>, sink: GetSink): Promise<End> {
    return this.run<End>((resolve) => {
      const nonce = randomInt(1, 0xffff_ffff);
      const ask = this.requester(nonce, (token) =>
        encodeUdpRequest({
          nonce,
          path: request.path,
          offset: request.offset,
          length: request.length,
          validator: request.validator,
          wantDigests: request.wantDigests,
          maxPayload: this.payloadSize,
          window: UDP_WINDOW,
          token,
        }),
      );
      let accept: UdpAccept | undefined;
      let digests: Buffer[] = [];
      /** Digest batches: first chunk → [count, sentAt, sends]. */
      const batches = new Map<number, { count: number; sentAt: number; sends: number }>();
      let nextBatch = 0;
      let startAckAt = 0;
      let lastHeard = performance.now();
      let dataSeen = false;

      const sendBatch = (first: number, count: number, now: number): void => {
        const b = batches.get(first) ?? { count, sentAt: now, sends: 0 };
        b.sentAt = now;
        b.sends++;
        batches.set(first, b);
        this.send(
          encodeUdpDigestRequest({ transferId: this.transferId, firstChunk: first, count }),
        );
      };
      const fillDigestPipeline = (now: number): void => {
        const a = accept!;
        const per = digestsPerDatagram(a.payloadSize);
        while (batches.size < DIGEST_PIPELINE && nextBatch < a.chunkCount) {
          const count = Math.min(per, a.chunkCount - nextBatch);
          sendBatch(a.firstChunk + nextBatch, count, now);
          nextBatch += count;
        }
      };
      const startData = (now: number): void => {
        const a = accept!;
        const header: FileHeader = {
          type: FrameType.FILE,
          requestId: 0,
          size: a.size,
          offset: a.offset,
          length: a.length,
          mtimeMs: a.mtimeMs,
          validator: a.validator,
          algorithm: a.algorithm,
          chunkSize: a.chunkSize,
          root: a.root,
          firstChunk: a.firstChunk,
          chunkDigests: digests,
        };
        sink.onHeader(header);
        this.receiver = new UdpReceiver({
          start: a.offset,
          end: a.offset + a.length,
          payloadSize: a.payloadSize,
          window: a.window,
        });
        startAckAt = now;
        this.sendAck();
      };
      const onAccept = (m: UdpAccept, now: number): void => {
        if (accept !== undefined) return; // a repeat: we are past it
        if (m.offset !== request.offset)
          throw this.bad(`ACCEPT for offset ${m.offset}, asked for ${request.offset}`);
        if (request.length !== undefined && m.length > request.length)
          throw this.bad(`ACCEPT of ${m.length} bytes, asked for ${request.length}`);
        if (m.payloadSize > this.payloadSize || m.window > UDP_WINDOW)
          throw this.bad('ACCEPT grants more than was asked for');
        if (request.wantDigests && m.length > 0 && m.algorithm !== DigestAlgorithm.SHA256_CHUNKS)
          throw this.bad('ACCEPT without the chunk digests that were asked for');
        accept = m;
        this.transferId = m.transferId;
        digests = new Array<Buffer>(m.chunkCount);
        if (m.chunkCount > 0) fillDigestPipeline(now);
        else startData(now);
      };
      return {
        onMessage: (m) => {
          const now = performance.now();
          if (accept === undefined) {
            if (!ask.handles(m)) return;
            if (m.type !== DatagramType.ACCEPT)
              throw this.bad(`expected ACCEPT, got type ${m.type}`);
            lastHeard = now;
            onAccept(m, now);
            return;
          }
          if (m.type === DatagramType.ERROR && m.transferId === this.transferId) {
            throw new RemoteError(m.code, m.message, 0, m.retryAfterMs);
          }
          if (!('transferId' in m) || m.transferId !== this.transferId) {
            this.dropped++;
            return;
          }
          lastHeard = now;
          switch (m.type) {
            case DatagramType.DIGESTS: {
              const b = batches.get(m.firstChunk);
              if (b === undefined || this.receiver !== undefined) return; // late duplicate
              if (m.digests.length !== b.count) throw this.bad('DIGESTS with the wrong count');
              if (b.sends === 1) this.rtt.sample(now - b.sentAt);
              batches.delete(m.firstChunk);
              m.digests.forEach((d, i) => (digests[m.firstChunk - accept!.firstChunk + i] = d));
              fillDigestPipeline(now);
              if (batches.size === 0 && nextBatch >= accept.chunkCount) startData(now);
              return;
            }
            case DatagramType.DATA: {
              const r = this.receiver;
              if (r === undefined) return;
              dataSeen = true;
              const verdict = r.onData(m.offset, m.payload, m.tsval);
              if (verdict === 'invalid')
                throw this.bad(`DATA at ${m.offset} is off the segment grid`);
              for (const chunk of r.takeReady()) {
                sink.onData(chunk);
                if (this.paused) this.unreleased += chunk.length;
                else this.releaseWithin(r, chunk.length);
              }
              if (r.ackUrgent) this.sendAck();
              else if (r.ackPending) this.scheduleAck();
              return;
            }
            case DatagramType.FIN: {
              const r = this.receiver;
              if (r === undefined || !r.complete) throw this.bad('FIN before all data arrived');
              const close = encodeUdpClose({
                transferId: this.transferId,
                reason: CloseReason.DONE,
              });
              // Twice: a lost CLOSE only costs the server a few FIN resends, but why pay.
              this.send(close);
              this.send(close);
              this.transferId = 0;
              this.receiver = undefined;
              resolve({
                type: FrameType.END,
                requestId: 0,
                bytesSent: accept.length,
                status: m.status,
              });
              return;
            }
            default:
              this.dropped++;
          }
        },
        onTimer: (now) => {
          if (accept === undefined) {
            ask.onTimer(now);
            return;
          }
          const liveness = Math.min(this.livenessMs, accept.livenessMs);
          if (now - lastHeard >= liveness) throw this.silent(liveness);
          for (const [first, b] of batches) {
            if (now - b.sentAt >= this.retryDelay(b.sends)) sendBatch(first, b.count, now);
          }
          // Our first ACK starts the data; until DATA shows up, it may have been lost.
          if (this.receiver !== undefined && !dataSeen && now - startAckAt >= this.rtt.rto) {
            startAckAt = now;
            this.sendAck();
          }
        },
        fail: () => {
          if (this.transferId !== 0) {
            this.send(encodeUdpClose({ transferId: this.transferId, reason: CloseReason.CANCEL }));
          }
          this.transferId = 0;
          this.receiver = undefined;
        },
      };
    });
  }

  /**
   * Opens the window by `bytes`, at once or, under --limit-rate, once the rate allows: the
   * server can then have at most one window of data beyond the rate in flight.
   */
  private releaseWithin(r: UdpReceiver, bytes: number): void {
    const throttle = this.options.throttle;
    const wait = throttle?.take(bytes) ?? 0;
    if (wait <= 0 && this.heldTimer === undefined) {
      r.release(bytes);
      return;
    }
    this.held += bytes;
    const arm = (ms: number): void => {
      this.heldTimer = setTimeout(() => {
        const more = throttle!.delay();
        if (more > 0) return arm(more);
        this.heldTimer = undefined;
        const n = this.held;
        this.held = 0;
        if (this.receiver !== r) return;
        if (this.paused) this.unreleased += n;
        else {
          r.release(n);
          if (r.ackUrgent) this.sendAck();
        }
      }, Math.ceil(ms));
    };
    if (this.heldTimer === undefined) arm(wait);
  }

  /** Backpressure: stop opening the window until resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const r = this.receiver;
    if (r === undefined) return;
    r.release(this.unreleased);
    this.unreleased = 0;
    if (r.ackUrgent) this.sendAck();
  }

  /** Closes the socket; an operation in progress rejects with FT_CONNECTION_LOST. */
  close(): void {
    this.fail(new ClientError(ClientErrorCode.CONNECTION_LOST, 'connection closed by the client'));
  }

  // ——— plumbing ———

  /** A request that is resent with backoff until answered, and retried with a token on RETRY. */
  private requester(nonce: number, build: (token: Buffer) => Buffer) {
    let sends = 0;
    let sentAt = 0;
    let retried = false;
    const started = performance.now();
    const transmit = (now: number): void => {
      sends++;
      sentAt = now;
      this.send(build(this.token));
    };
    transmit(started);
    return {
      /** True if `m` answers this request (RETRY is consumed here). */
      handles: (m: UdpMessage): boolean => {
        if (!('nonce' in m) || m.nonce !== nonce) {
          this.dropped++;
          return false;
        }
        const now = performance.now();
        if (sends === 1 && !retried) this.rtt.sample(now - sentAt);
        if (m.type === DatagramType.RETRY) {
          if (this.token.equals(m.token)) return false;
          this.token = m.token;
          retried = true;
          sends = 0;
          transmit(now);
          return false;
        }
        if (m.type === DatagramType.ERROR)
          throw new RemoteError(m.code, m.message, 0, m.retryAfterMs);
        return true;
      },
      onTimer: (now: number): void => {
        if (now - started >= this.livenessMs) {
          throw new ClientError(
            ClientErrorCode.CONNECT_FAILED,
            `no answer from ${this.server} over UDP in ${this.livenessMs} ms`,
            {
              hint: `is ftserve running with UDP on ${this.server}? (ftserve --no-udp turns it off)`,
            },
          );
        }
        if (now - sentAt >= this.retryDelay(sends)) transmit(now);
      },
    };
  }

  private retryDelay(sends: number): number {
    return Math.min(
      Math.max(this.rtt.rto, FIRST_RETRY_MS) * 2 ** Math.max(0, sends - 1),
      MAX_RETRY_MS,
    );
  }

  private run<T>(start: (resolve: (value: T) => void) => Operation): Promise<T> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    if (this.op !== undefined)
      return Promise.reject(new Error('UdpConnection: one operation at a time'));
    return new Promise<T>((resolve, reject) => {
      const done = (value: T): void => {
        this.op = undefined;
        this.stopTimer();
        resolve(value);
      };
      let op: Operation;
      const guarded: Operation = {
        onMessage: (m) => op.onMessage(m),
        onTimer: (now) => op.onTimer(now),
        fail: (error) => {
          this.op = undefined;
          this.stopTimer();
          op.fail(error);
          reject(error);
        },
      };
      this.op = guarded;
      try {
        op = start(done);
      } catch (error) {
        guarded.fail(error as Error);
        return;
      }
      this.startTimer();
    });
  }

  /** One coarse timer per connection drives resends and liveness (50 ms granularity is plenty). */
  private startTimer(): void {
    this.stopTimer();
    this.timer = setInterval(() => this.guard(() => this.op?.onTimer(performance.now())), 50);
  }
  private stopTimer(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private onDatagram(msg: Buffer): void {
    const op = this.op;
    if (op === undefined) return;
    let m: UdpMessage;
    try {
      m = decodeDatagram(msg);
    } catch {
      // Damaged or foreign: it never reaches the file. The sender will resend what it carried.
      this.dropped++;
      return;
    }
    if (m.type < 0x40) {
      this.dropped++;
      return;
    }
    this.guard(() => op.onMessage(m as UdpServerMessage));
  }

  /** Runs a handler; anything it throws fails the operation in progress. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.op?.fail(error as Error);
    }
  }

  private sendAck(): void {
    const r = this.receiver;
    if (r === undefined || this.transferId === 0) return;
    this.send(encodeUdpAck({ transferId: this.transferId, ...r.makeAck() }));
  }

  /** A pending, not urgent ACK goes out after ACK_DELAY_MS unless an urgent one overtakes it. */
  private scheduleAck(): void {
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    setTimeout(() => {
      this.ackScheduled = false;
      if (this.receiver?.ackPending) this.sendAck();
    }, ACK_DELAY_MS);
  }

  private send(datagram: Buffer): void {
    if (this.failure !== undefined) return;
    this.socket.send(datagram, (error) => {
      if (error !== null && error !== undefined) this.dropped++;
    });
  }

  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.op?.fail(error);
    this.failure = error;
    this.stopTimer();
    clearTimeout(this.heldTimer);
    this.options.signal?.removeEventListener('abort', this.onAbort);
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }

  private bad(message: string): ClientError {
    return new ClientError(
      ClientErrorCode.BAD_RESPONSE,
      `protocol error from ${this.server}: ${message}`,
    );
  }

  private silent(ms: number): ClientError {
    return new ClientError(
      ClientErrorCode.STALLED,
      `no datagram from ${this.server} for ${ms} ms: the UDP path is dead`,
    );
  }
}
