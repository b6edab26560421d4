/**
 * A process-wide watch over responses that their clients have stopped taking. Such a
 * connection holds memory nobody else can use until it is cut: a read buffer of the pool and
 * its kernel send buffer (up to net.ipv4.tcp_wmem's maximum, 4 MiB by default, which Node cannot
 * lower: it has no SO_SNDBUF for TCP). --idle-timeout cuts each one eventually; this keeps their
 * number small meanwhile, whatever the number of clients and addresses: beyond MAX_STALLED at
 * once, the longest-stalled are reset, which frees both at once.
 */

/** A response counts as stalled once its client has taken none of it for this long. */
export const STALLED_MS = 5000;
/** Stalled responses a process keeps at once; beyond it the longest-stalled are cut. */
export const MAX_STALLED = 8;
const CHECK_EVERY_MS = 1000;

/** A connection as the watch sees it. */
export interface Stallable {
  /** Since when (performance.now()) the client has taken nothing of a pending response, or undefined. */
  stalledSince(): number | undefined;
  /** Cuts the connection (with a reset, so that the kernel drops its send queue). */
  cutStalled(): void;
}

export class StallWatch {
  private readonly watched = new Set<Stallable>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxStalled = MAX_STALLED,
    private readonly stalledMs = STALLED_MS,
  ) {}

  add(connection: Stallable): void {
    this.watched.add(connection);
    this.timer ??= setInterval(() => this.check(), CHECK_EVERY_MS).unref();
  }

  /**
   * The interval stops at the first check that finds nobody watched, not here: with one client
   * at a time the set empties after every connection, and an interval per connection cost more
   * than the check.
   */
  delete(connection: Stallable): void {
    this.watched.delete(connection);
  }

  /** Cuts the longest-stalled connections beyond the allowance; returns how many. */
  check(now = performance.now()): number {
    if (this.watched.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
    const stalled: { c: Stallable; since: number }[] = [];
    for (const c of this.watched) {
      const since = c.stalledSince();
      if (since !== undefined && now - since >= this.stalledMs) stalled.push({ c, since });
    }
    if (stalled.length <= this.maxStalled) return 0;
    stalled.sort((a, b) => a.since - b.since);
    const cut = stalled.slice(0, stalled.length - this.maxStalled);
    for (const { c } of cut) c.cutStalled();
    return cut.length;
  }
}

/** The watch of this process (every connection of a worker is on it). */
export const sharedStallWatch = new StallWatch();
