/**
 * A batch of downloads run one after another (ftget get A B C…): what they can share instead
 * of paying for it once per file. Connections: a connection that finished an attempt cleanly
 * is kept and reused by the next download to the same server over the same transport (the
 * protocol allows any number of requests per connection), so 1,000 small files cost one TCP
 * handshake and one HELLO, not 1,000. Directory fsyncs: each file's rename is made durable by
 * one fsync per directory when the batch closes, not one per file.
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

/** Shared connections and deferred directory fsyncs for consecutive downloads; see the module comment. */
export class DownloadSession {
  private readonly idle: IdleConnection[] = [];
  private readonly dirsToSync = new Set<string>();
  private closed = false;

  /**
   * @param options.throttle a rate limit (--limit-rate) every connection of the batch shares,
   *   so it bounds each download and all of them together
   */
  constructor(private readonly options: { throttle?: Throttle | undefined } = {}) {}

  /**
   * An idle connection to `address` over `kind` opened with the same signal and timeout, or a
   * new one. Give it back with release() once it finished cleanly, or close() it.
   */
  async acquire(
    kind: TransportKind | undefined,
    address: ServerAddress,
    options: ConnectOptions,
  ): Promise<TransferConnection> {
    const key = keyOf(kind, address);
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

  /** Takes back a connection whose last request completed cleanly, for the next download. */
  release(
    kind: TransportKind | undefined,
    address: ServerAddress,
    options: ConnectOptions,
    connection: TransferConnection,
  ): void {
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
