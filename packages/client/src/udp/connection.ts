/**
 * A UDP "connection" to an ft server with the same face as the TCP Connection (stat, get,
 * pause, resume, close), so download() and stat() work unchanged over either transport.
 *
 * One connected datagram socket (the kernel drops datagrams from anyone but the server), one
 * operation at a time. The handshake (requests, RETRY tokens) is in handshake.ts, the GET
 * transfer (digests, DATA, ACKs, FIN) in transfer.ts; this file holds the socket, the timer and
 * the failure paths they share. Every wait is bounded: the request timer backs off from 250 ms
 * to 2 s and the operation fails when the server was silent for the liveness limit.
 */
import { createSocket } from 'node:dgram';
import type { Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { RttEstimator, UdpLimits, decodeDatagram, sealedSessionId } from '@ft/protocol';
import type { End, GetRequest, StatResult, UdpMessage, UdpServerMessage } from '@ft/protocol';
import type { ConnectOptions, GetSink } from '../connection.js';
import { tokenFor } from '../credentials.js';
import { ClientError, ClientErrorCode } from '../errors.js';
import { formatServer } from '../remote.js';
import type { ServerAddress } from '../remote.js';
import { abortError } from '../retry.js';
import { statOperation } from './handshake.js';
import { ClientSession } from './session.js';
import { usesTls } from '../tls-options.js';
import type { Operation, UdpLink } from './link.js';
import { ReceiveFlow } from './receive-flow.js';
import { getOperation, windowFor } from './transfer.js';

/** Environment overrides (tests and benchmarks): liveness limit and payload size. */
export const UDP_LIVENESS_ENV = 'FT_UDP_LIVENESS_MS';
export const UDP_PAYLOAD_ENV = 'FT_UDP_PAYLOAD';
const SOCKET_BUFFER = 4 * 1024 * 1024;
const FIRST_RETRY_MS = 250;
const MAX_RETRY_MS = 2000;

function isLoopback(ip: string): boolean {
  return ip === '::1' || ip.startsWith('127.') || ip.startsWith('::ffff:127.');
}

function envInt(name: string, min: number, max: number): number | undefined {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return undefined;
  const v = Number(raw);
  return Number.isSafeInteger(v) && v >= min && v <= max ? v : undefined;
}

/** The receive buffer the kernel granted the socket (0 where it cannot tell). */
function receiveBuffer(socket: Socket): number {
  try {
    return socket.getRecvBufferSize();
  } catch {
    return 0;
  }
}

export class UdpConnection {
  private op: Operation | undefined;
  private failure: Error | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly rtt = new RttEstimator({ initialRtoMs: FIRST_RETRY_MS, maxRtoMs: MAX_RETRY_MS });
  private readonly server: string;
  private readonly payloadSize: number;
  private readonly livenessMs: number;
  /** Datagrams dropped as malformed or not for us (forged and replayed ones included). */
  dropped = 0;
  /** The server has TLS: every datagram travels in an encrypted session. */
  private readonly secure: boolean;
  private session: ClientSession | undefined;
  private readonly onAbort = (): void => this.fail(abortError());
  /** GET state shared with pause/resume/close. */
  private readonly flow: ReceiveFlow;
  /** What the handshake and transfer operations use of this connection. */
  private readonly link: UdpLink;

  private constructor(
    private readonly socket: Socket,
    private readonly address: ServerAddress,
    ip: string,
    private readonly options: ConnectOptions,
  ) {
    this.server = formatServer(address);
    this.secure = usesTls(address);
    // A sealed session's payloads are decrypted copies: only plaintext ones are Node's buffers.
    this.flow = new ReceiveFlow(
      (datagram) => this.send(datagram),
      () => this.options.throttle,
      !this.secure,
    );
    this.payloadSize =
      envInt(UDP_PAYLOAD_ENV, UdpLimits.MIN_PAYLOAD, UdpLimits.MAX_PAYLOAD) ??
      (isLoopback(ip) ? UdpLimits.LOOPBACK_PAYLOAD : UdpLimits.DEFAULT_PAYLOAD);
    this.livenessMs = envInt(UDP_LIVENESS_ENV, 100, UdpLimits.MAX_LIVENESS_MS) ?? options.timeoutMs;
    this.link = {
      server: this.server,
      rtt: this.rtt,
      payloadSize: this.payloadSize,
      window: windowFor(receiveBuffer(socket), this.payloadSize),
      livenessMs: this.livenessMs,
      // The address-validation token of the last RETRY, sent with every later request.
      token: Buffer.alloc(0),
      legacy: false,
      loopback: isLoopback(ip),
      headerCrcPaths: new Set(),
      // In an encrypted session the TLS connection that opened it carried the token.
      credential: this.secure ? undefined : tokenFor(address),
      send: (datagram) => this.send(datagram),
      drop: () => void this.dropped++,
      retryDelay: (sends) => this.retryDelay(sends),
      bad: (message) => this.bad(message),
      silent: (ms) => this.silent(ms),
    };
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
    return this.secured(path, () =>
      this.run<StatResult>((resolve) => statOperation(this.link, path, wantDigest, resolve)),
    );
  }

  /** GET a range; the sink sees a FILE header (with every chunk digest) and then the body in order. */
  get(request: Omit<GetRequest, 'type' | 'requestId'>, sink: GetSink): Promise<End> {
    return this.secured(request.path, () =>
      this.run<End>((resolve) => getOperation(this.link, this.flow, request, sink, resolve)),
    );
  }

  /**
   * Runs `op` once the connection can carry a request for `path`: at once in plaintext; to a
   * TLS server, after an encrypted session covering the path is open (session.ts).
   */
  private async secured<T>(path: string, op: () => Promise<T>): Promise<T> {
    if (this.secure && this.session?.serves(path) !== true) {
      if (this.failure !== undefined) throw this.failure;
      this.session = await ClientSession.open(this.address, this.options, path);
    }
    return op();
  }

  /** Backpressure: stop opening the window until resume(). */
  pause(): void {
    this.flow.pause();
  }

  resume(): void {
    this.flow.resume();
  }

  /** Closes the socket; an operation in progress rejects with FT_CONNECTION_LOST. */
  close(): void {
    this.fail(new ClientError(ClientErrorCode.CONNECTION_LOST, 'connection closed by the client'));
  }

  // ——— plumbing ———

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
    const inner = this.secure ? this.unseal(msg) : msg;
    if (inner === undefined) {
      this.dropped++;
      return;
    }
    let m: UdpMessage;
    try {
      // A sealed datagram's inner CRC is not checked: its tag covered every byte.
      m = decodeDatagram(inner, !this.secure);
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

  /** The inner datagram of a sealed one of our session; undefined for anything else (forged, replayed, plaintext). */
  private unseal(msg: Buffer): Buffer | undefined {
    const channel = this.session?.channel;
    const id = sealedSessionId(msg, 'server');
    if (channel === undefined || id === undefined || !id.equals(channel.sessionId)) return;
    const inner = channel.open(msg);
    return typeof inner === 'string' ? undefined : inner;
  }

  /** Runs a handler; anything it throws fails the operation in progress. */
  private guard(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.op?.fail(error as Error);
    }
  }

  private send(datagram: Buffer): void {
    if (this.failure !== undefined) return;
    let out: Buffer | Buffer[] = datagram;
    if (this.secure) {
      const channel = this.session?.channel;
      if (channel === undefined || channel.exhausted) return;
      out = channel.seal(datagram);
    }
    this.socket.send(out, (error) => {
      if (error !== null && error !== undefined) this.dropped++;
    });
  }

  private fail(error: Error): void {
    if (this.failure !== undefined) return;
    this.op?.fail(error);
    this.failure = error;
    this.stopTimer();
    this.flow.dispose();
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
