/**
 * A batch of downloads run one after another (ftget get A B C…): what they can share instead
 * of paying for it once per file. Connections: a connection that finished an attempt cleanly
 * is kept and reused by the next download to the same server over the same transport (the
 * protocol allows any number of requests per connection), so 1,000 small files cost one TCP
 * handshake and one HELLO, not 1,000. Directory fsyncs: each file's rename is made durable by
 * one fsync per directory when the batch closes, not one per file.
 *
 * Pipelining (`pipeline` > 1, TCP only): up to that many downloads share one connection at
 * once, each sending its requests as soon as it is ready; the server answers in request order
 * (PROTOCOL.md §5.2), so the connection routes each response to the oldest request, and the
 * next file's bytes are already on the wire while this one is being fsynced. A download whose
 * own request failed (an ERROR, a bad digest) gives the connection back: it is shared, and only
 * a failure of the connection itself (which rejects every request on it) retires it.
 *
 * A failed connection is never handed out again: the attempt that saw the failure closes it
 * and the retry logic opens a new one, exactly as without a session.
 */
import { openConnection } from './udp/transport.js';
import type { TransferConnection, TransportKind } from './udp/transport.js';
import type { ConnectOptions } from './connection.js';
import type { Throttle } from '@ft/protocol';
import { syncDirectory } from './partial-state.js';
import type { ServerAddress } from './remote.js';

interface IdleConnection {
  key: string;
  signal: AbortSignal | undefined;
  timeoutMs: number;
  connection: TransferConnection;
}

/** A connection downloads are pipelining on; `opening` until it is connected. */
interface SharedConnection {
  key: string;
  signal: AbortSignal | undefined;
  timeoutMs: number;
  opening: Promise<TransferConnection>;
  connection: TransferConnection | undefined;
  users: number;
}

/** Downloads that share one connection at once in a batch (see the module comment). */
export const PIPELINE_DEPTH = 16;

/** Shared connections and deferred directory fsyncs for consecutive downloads; see the module comment. */
export class DownloadSession {
  private readonly idle: IdleConnection[] = [];
  private readonly shared: SharedConnection[] = [];
  private readonly dirsToSync = new Set<string>();
  private closed = false;

  /**
   * @param options.throttle a rate limit (--limit-rate) every connection of the batch shares,
   *   so it bounds each download and all of them together
   * @param options.pipeline downloads that may share one TCP connection at once (default 1:
   *   each has its connection to itself)
   * @param options.connections with pipelining: connections to one server opened before
   *   downloads share them (--parallel; default 1)
   */
  constructor(
    private readonly options: {
      throttle?: Throttle | undefined;
      pipeline?: number;
      connections?: number;
    } = {},
  ) {}

  /** How many downloads may share one connection of `kind` at once. */
  depthFor(kind: TransportKind | undefined): number {
    return kind === 'udp' ? 1 : Math.max(1, this.options.pipeline ?? 1);
  }

  /**
   * An idle connection to `address` over `kind` opened with the same signal and timeout, or a
   * new one. Give it back with release() once it finished cleanly, or close() it.
   * `exclusive`: never one shared by pipelining, even in a pipelined batch (the connections of
   * one file's --connections N must be N different TCP connections).
   */
  async acquire(
    kind: TransportKind | undefined,
    address: ServerAddress,
    options: ConnectOptions,
    exclusive = false,
  ): Promise<TransferConnection> {
    const key = keyOf(kind, address);
    if (!exclusive && this.depthFor(kind) > 1)
      return this.acquireShared(kind, address, options, key);
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const entry = this.idle[i]!;
      if (
        entry.key !== key ||
        entry.signal !== options.signal ||
        entry.timeoutMs !== options.timeoutMs
      ) {
        continue;
      }
      this.idle.splice(i, 1);
      // The server may have closed it while it sat idle (idle timeout, shutdown).
      if (isUsable(entry.connection)) return entry.connection;
      entry.connection.close();
    }
    return openConnection(kind, address, { ...options, throttle: this.options.throttle });
  }

  /** A pipelined connection with room for one more download, or a new one (see acquire). */
  private async acquireShared(
    kind: TransportKind | undefined,
    address: ServerAddress,
    options: ConnectOptions,
    key: string,
  ): Promise<TransferConnection> {
    const depth = this.depthFor(kind);
    // Connections that failed while nobody used them (the server's idle timeout) go.
    for (let i = this.shared.length - 1; i >= 0; i--) {
      const c = this.shared[i]!.connection;
      if (c !== undefined && !isUsable(c) && this.shared[i]!.users === 0) this.shared.splice(i, 1);
    }
    const open = this.shared.filter(
      (e) =>
        e.key === key &&
        e.signal === options.signal &&
        e.timeoutMs === options.timeoutMs &&
        (e.connection === undefined || isUsable(e.connection)),
    );
    // The least busy connection; a busy one gets company only once there are `connections`.
    let entry: SharedConnection | undefined = open.reduce<SharedConnection | undefined>(
      (best, e) => (best === undefined || e.users < best.users ? e : best),
      undefined,
    );
    const maxConnections = Math.max(1, this.options.connections ?? 1);
    if (
      entry !== undefined &&
      (entry.users >= depth || (entry.users > 0 && open.length < maxConnections))
    )
      entry = undefined;
    if (entry === undefined) {
      const opening = openConnection(kind, address, {
        ...options,
        throttle: this.options.throttle,
      });
      const created: SharedConnection = {
        key,
        signal: options.signal,
        timeoutMs: options.timeoutMs,
        opening,
        connection: undefined,
        users: 0,
      };
      entry = created;
      this.shared.push(created);
      opening.then(
        (c) => (created.connection = c),
        () => this.forget(created),
      );
    }
    entry.users++;
    try {
      return await entry.opening;
    } catch (error) {
      entry.users--;
      throw error;
    }
  }

  private forget(entry: SharedConnection): void {
    const i = this.shared.indexOf(entry);
    if (i >= 0) this.shared.splice(i, 1);
  }

  /**
   * Gives back a connection after an attempt that failed. A pipelined one stays in use while
   * it is usable (the failure was the download's own: its requests were all answered, others
   * may still be waiting on theirs); any other is closed.
   */
  abandon(connection: TransferConnection): void {
    const entry = this.shared.find((e) => e.connection === connection);
    if (entry === undefined) {
      connection.close();
      return;
    }
    this.leave(entry);
  }

  private leave(entry: SharedConnection): void {
    entry.users--;
    const connection = entry.connection!;
    if (!isUsable(connection) || this.closed) {
      this.forget(entry);
      if (entry.users === 0 || this.closed) connection.close();
      return;
    }
    // Backpressure may have paused it on the last buffer; the next response needs it read.
    connection.resume();
  }

  /** Takes back a connection whose last request completed cleanly, for the next download. */
  release(
    kind: TransportKind | undefined,
    address: ServerAddress,
    options: ConnectOptions,
    connection: TransferConnection,
  ): void {
    const entry = this.shared.find((e) => e.connection === connection);
    if (entry !== undefined) {
      this.leave(entry);
      return;
    }
    if (this.closed || !isUsable(connection)) {
      connection.close();
      return;
    }
    // Backpressure may have paused it on the last buffer; nothing else will resume it.
    connection.resume();
    this.idle.push({
      key: keyOf(kind, address),
      signal: options.signal,
      timeoutMs: options.timeoutMs,
      connection,
    });
  }

  /** Records that a rename in `dir` must be made durable before the batch is reported done. */
  syncDirectoryLater(dir: string): void {
    this.dirsToSync.add(dir);
  }

  /**
   * Makes every recorded rename durable (one fsync per directory) and closes idle
   * connections. Call it once, after the last download (also after a failure or an abort).
   */
  async close(): Promise<void> {
    this.closed = true;
    for (const entry of this.idle.splice(0)) entry.connection.close();
    for (const entry of this.shared.splice(0)) entry.connection?.close();
    const dirs = [...this.dirsToSync];
    this.dirsToSync.clear();
    let firstError: unknown;
    for (const dir of dirs) {
      try {
        await syncDirectory(dir);
      } catch (error) {
        firstError ??= error;
      }
    }
    if (firstError !== undefined) throw firstError;
  }
}

function keyOf(kind: TransportKind | undefined, address: ServerAddress): string {
  return `${kind ?? 'tcp'} ${address.host} ${address.port}`;
}

/** A TCP connection knows when it failed; a UDP one is only released after a clean attempt. */
function isUsable(connection: TransferConnection): boolean {
  const usable = (connection as { usable?: unknown }).usable;
  return typeof usable === 'boolean' ? usable : true;
}
