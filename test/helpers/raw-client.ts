/**
 * A minimal ft client built directly on @ft/protocol, for server tests: it sends frames and
 * reads back exactly what the server sent (frames, raw body bytes, and the close), with a
 * bounded wait on every read. It does no retrying or checking of its own.
 */
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import {
  FrameDecoder,
  EndStatus,
  FrameType,
  PROTOCOL_VERSION,
  WireError,
  encodeGet,
  encodeHello,
  encodeList,
  encodeStat,
} from '@ft/protocol';
import type {
  End,
  ErrorFrame,
  FileHeader,
  GetRequest,
  ListEntry,
  Response,
  StatResult,
} from '@ft/protocol';

export type ClientEvent =
  | { kind: 'message'; message: Response }
  | { kind: 'data'; chunk: Buffer }
  | { kind: 'close'; error?: Error };

export type GetResult =
  { ok: true; header: FileHeader; body: Buffer; end: End } | { ok: false; error: ErrorFrame };

const DEFAULT_WAIT_MS = 20_000;

export class RawClient {
  private readonly decoder = new FrameDecoder({ accept: 'responses' });
  private readonly events: ClientEvent[] = [];
  private waiter: (() => void) | undefined;
  private ended = false;
  private nextId = 1;

  private constructor(readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      try {
        for (const e of this.decoder.push(chunk)) {
          // Data events are views of the pushed chunk: copy before it is reused.
          this.push(
            e.kind === 'data'
              ? { kind: 'data', chunk: Buffer.from(e.chunk) }
              : { kind: 'message', message: e.message as Response },
          );
        }
      } catch (error) {
        this.finish(error as Error);
        socket.destroy();
      }
    });
    socket.on('error', (error) => this.finish(error));
    socket.on('close', () => this.finish());
  }

  /** Wraps a connected socket (e.g. one end of an inetd hand-over); call hello() next. */
  static fromSocket(socket: Socket): RawClient {
    return new RawClient(socket);
  }

  /**
   * Sends HELLO (offering `version`, this implementation's by default) and waits for WELCOME;
   * throws (with `frame`) on anything else. Resolves with the version the server chose.
   */
  async hello(version = PROTOCOL_VERSION): Promise<number> {
    this.send(encodeHello({ minVersion: version, maxVersion: version, name: 'test-client' }));
    const m = await this.nextMessage();
    if (m.type !== FrameType.WELCOME) {
      this.destroy();
      throw Object.assign(new Error(`expected WELCOME, got ${JSON.stringify(m)}`), { frame: m });
    }
    return m.version;
  }

  /**
   * Connects; with `hello` (default) also sends HELLO and waits for WELCOME. `localAddress`
   * binds the client's end (127.0.0.2, 127.0.0.3, … are extra loopback source addresses).
   */
  static async connect(
    port: number,
    options: { host?: string; hello?: boolean; localAddress?: string } = {},
  ): Promise<RawClient> {
    const socket = connect({
      port,
      host: options.host ?? '127.0.0.1',
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    const client = new RawClient(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    if (options.hello !== false) await client.hello();
    return client;
  }

  private push(e: ClientEvent): void {
    this.events.push(e);
    this.waiter?.();
  }

  private finish(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.push(error === undefined ? { kind: 'close' } : { kind: 'close', error });
  }

  send(data: Buffer): void {
    this.socket.write(data);
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** The next event; waits at most `ms` (then rejects). A close is reported once, then repeated. */
  async next(ms = DEFAULT_WAIT_MS): Promise<ClientEvent> {
    const deadline = Date.now() + ms;
    while (this.events.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no event from the server within ${ms} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    const e = this.events[0]!;
    if (e.kind !== 'close') this.events.shift();
    return e;
  }

  /** The next frame; rejects on close, on body bytes, or on timeout. */
  async nextMessage(ms = DEFAULT_WAIT_MS): Promise<Response> {
    const e = await this.next(ms);
    if (e.kind === 'message') return e.message;
    throw new Error(
      e.kind === 'close'
        ? `connection closed${e.error ? `: ${e.error.message}` : ''}`
        : 'unexpected body bytes',
    );
  }

  /** Waits until the server closes the connection; resolves with what arrived before it. */
  async untilClosed(ms = DEFAULT_WAIT_MS): Promise<ClientEvent[]> {
    const seen: ClientEvent[] = [];
    for (;;) {
      const e = await this.next(ms);
      if (e.kind === 'close') return seen;
      seen.push(e);
    }
  }

  sendGet(
    request: Omit<GetRequest, 'type' | 'requestId' | 'wantDigests'> & {
      requestId?: number;
      wantDigests?: boolean;
    },
  ): number {
    const requestId = request.requestId ?? this.nextId++;
    this.send(encodeGet({ ...request, requestId, wantDigests: request.wantDigests ?? false }));
    return requestId;
  }

  /** Reads one GET response: FILE + body + END, or ERROR. */
  async readGet(ms = DEFAULT_WAIT_MS): Promise<GetResult> {
    const first = await this.nextMessage(ms);
    if (first.type === FrameType.ERROR) return { ok: false, error: first };
    if (first.type !== FrameType.FILE) throw new Error(`expected FILE, got ${first.type}`);
    const parts: Buffer[] = [];
    let got = 0;
    while (got < first.length) {
      const e = await this.next(ms);
      if (e.kind !== 'data') throw new Error(`body cut after ${got} of ${first.length} bytes`);
      parts.push(e.chunk);
      got += e.chunk.length;
    }
    const end = await this.nextMessage(ms);
    if (end.type !== FrameType.END) throw new Error(`expected END, got ${end.type}`);
    return { ok: true, header: first, body: Buffer.concat(parts), end };
  }

  async get(
    request: Parameters<RawClient['sendGet']>[0],
    ms = DEFAULT_WAIT_MS,
  ): Promise<GetResult> {
    this.sendGet(request);
    return this.readGet(ms);
  }

  async stat(path: string, wantDigest = false): Promise<StatResult | ErrorFrame> {
    this.send(encodeStat({ requestId: this.nextId++, path, wantDigest }));
    const m = await this.nextMessage();
    if (m.type !== FrameType.STAT_OK && m.type !== FrameType.ERROR)
      throw new Error(`unexpected frame ${m.type}`);
    return m;
  }

  /**
   * LIST; `wantLinks` sends the version-2 form (entries say which are symlinks); `ms` bounds
   * the wait for each frame.
   */
  async list(
    path: string,
    wantLinks = false,
    ms = DEFAULT_WAIT_MS,
  ): Promise<ListEntry[] | ErrorFrame> {
    this.send(encodeList({ requestId: this.nextId++, path, wantLinks }));
    const entries: ListEntry[] = [];
    for (;;) {
      const m = await this.nextMessage(ms);
      if (m.type === FrameType.ERROR) return m;
      if (m.type !== FrameType.LIST_OK) throw new Error(`unexpected frame ${m.type}`);
      entries.push(...m.entries);
      if (!m.more) return entries;
    }
  }
}

/** Connects, fetches a whole file, closes. Retries on BUSY up to `attempts` times. */
export async function fetchFile(
  port: number,
  path: string,
  options: { attempts?: number; host?: string; onBusy?: () => void } = {},
): Promise<GetResult> {
  const attempts = options.attempts ?? 1;
  for (let i = 1; ; i++) {
    let client: RawClient;
    try {
      client = await RawClient.connect(
        port,
        options.host === undefined ? {} : { host: options.host },
      );
    } catch (error) {
      const frame = (error as { frame?: Response }).frame;
      if (frame?.type === FrameType.ERROR && frame.code === WireError.BUSY && i < attempts) {
        options.onBusy?.();
        await new Promise((r) => setTimeout(r, Math.max(frame.retryAfterMs, 10)));
        continue;
      }
      throw error;
    }
    try {
      return await client.get({ path, offset: 0 });
    } finally {
      client.destroy();
    }
  }
}

/** GETs `path` and stops reading once the body has begun: a client that stalls mid-transfer. */
export async function stalledDownload(
  port: number,
  path = 'big.bin',
): Promise<{ c: RawClient; first: number }> {
  const c = await RawClient.connect(port);
  c.sendGet({ path, offset: 0 });
  const header = await c.next();
  if (header.kind !== 'message' || header.message.type !== FrameType.FILE)
    throw new Error('expected FILE');
  const first = await c.next();
  if (first.kind !== 'data') throw new Error('expected body');
  c.socket.pause();
  return { c, first: first.chunk.length };
}

/**
 * Resumes reading a download paused by {@link stalledDownload} until the server closes: the body
 * bytes in all (`first` included) and whether the next message was END with status OK.
 */
export async function finishStalled(
  c: RawClient,
  first: number,
): Promise<{ bytes: number; endOk: boolean }> {
  c.socket.resume();
  let bytes = first;
  const events = await c.untilClosed(60_000);
  for (const e of events) if (e.kind === 'data') bytes += e.chunk.length;
  const end = events.find((e) => e.kind === 'message');
  const endOk =
    end?.kind === 'message' &&
    end.message.type === FrameType.END &&
    end.message.status === EndStatus.OK;
  return { bytes, endOk };
}

/** Opens a connection, writes `bytes` (or nothing), and resolves once it is closed. */
export function rawConnection(port: number, bytes: Buffer | undefined): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const timer = setTimeout(() => socket.destroy(), 30_000);
    socket.once('connect', () => {
      if (bytes === undefined) socket.destroy();
      else socket.write(bytes);
    });
    socket.on('data', () => {});
    socket.once('error', () => {});
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
