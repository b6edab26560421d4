/**
 * The work one connection may cause with LIST: a token bucket of LIST requests per second and a
 * cap on how deep a listed path may be. A client walking a symlink loop (or hostile on purpose)
 * otherwise makes the server list the same directories without end. Kept per connection in a
 * WeakMap beside the LIST handler, so the connection itself knows nothing of it.
 */
import { FtError, WireError } from '@ft/protocol';
import type { RequestContext } from './request-context.js';

/** LIST requests a connection may make per second, sustained. */
export const LIST_RATE_PER_SECOND = 500;
/** LIST requests a connection may make at once before the rate applies. */
export const LIST_BURST = 1000;
/** Most path components a LISTed path may have. */
export const MAX_LIST_DEPTH = 256;

interface Bucket {
  tokens: number;
  at: number;
  /** Refusals so far (the first one is logged as a warning). */
  refused: number;
}

const buckets = new WeakMap<RequestContext, Bucket>();

/** Components of a request path, as the jail counts them ("" and "." do not count). */
function depthOf(path: string): number {
  return path.split('/').filter((p) => p !== '' && p !== '.').length;
}

/**
 * Takes one LIST from the connection's budget, or throws an FtError: BUSY (retryAfterMs = when
 * the next one is allowed) over the rate, TOO_LARGE for a path deeper than MAX_LIST_DEPTH.
 */
export function chargeList(ctx: RequestContext, path: string, now = performance.now()): void {
  if (depthOf(path) > MAX_LIST_DEPTH) {
    throw new FtError('FT_TOO_LARGE', `path deeper than ${MAX_LIST_DEPTH} components`, {
      wireCode: WireError.TOO_LARGE,
    });
  }
  let b = buckets.get(ctx);
  if (b === undefined) {
    b = { tokens: LIST_BURST, at: now, refused: 0 };
    buckets.set(ctx, b);
  }
  b.tokens = Math.min(LIST_BURST, b.tokens + ((now - b.at) * LIST_RATE_PER_SECOND) / 1000);
  b.at = now;
  if (b.tokens >= 1) {
    b.tokens -= 1;
    return;
  }
  if (b.refused++ === 0) {
    ctx.logger.warn('list-rate-limited', { peer: ctx.peer, ratePerSecond: LIST_RATE_PER_SECOND });
  }
  const retryAfterMs = Math.ceil(((1 - b.tokens) * 1000) / LIST_RATE_PER_SECOND);
  throw new FtError('FT_BUSY', `more than ${LIST_RATE_PER_SECOND} LIST requests per second`, {
    wireCode: WireError.BUSY,
    retryAfterMs,
  });
}

/** Listings one process builds and sends at once (the others wait their turn, FIFO). */
export const LIST_SLOTS = 16;
/** Of those, listings one client address may hold at once. */
export const LIST_SLOTS_PER_ADDRESS = 4;

/**
 * The listings in progress in one process, bounded across its connections: a listing holds its
 * directory's names (up to --max-list-entries of them) from the directory read until its last
 * frame is taken, so a hundred clients listing a large directory at once would otherwise hold a
 * hundred copies (1.3 GB in one worker for 100 × 20,000 entries, before this bound). Beyond
 * LIST_SLOTS, or an address's share of them, LIST requests wait in turn; a client that stops
 * reading holds its slot only until the stall watch or --idle-timeout cuts it; with more slots
 * than the stall watch lets stalled responses live (MAX_STALLED), stalled readers never hold
 * them all.
 */
export class ListSlots {
  private inUse = 0;
  private readonly held = new Map<string, number>();
  private readonly waiters: { address: string; resolve: () => void }[] = [];

  constructor(
    readonly slots = LIST_SLOTS,
    readonly perAddress = LIST_SLOTS_PER_ADDRESS,
  ) {}

  /** Listings in progress now. */
  get active(): number {
    return this.inUse;
  }

  /** Resolves when `address` may start a listing; pair it with one release(address). */
  acquire(address: string): Promise<void> {
    if (this.allowed(address)) {
      this.take(address);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push({ address, resolve }));
  }

  release(address: string): void {
    const n = this.held.get(address) ?? 0;
    if (n <= 1) this.held.delete(address);
    else this.held.set(address, n - 1);
    this.inUse--;
    for (let i = 0; i < this.waiters.length && this.inUse < this.slots;) {
      const w = this.waiters[i]!;
      if (!this.allowed(w.address)) {
        i++;
        continue;
      }
      this.waiters.splice(i, 1);
      this.take(w.address);
      w.resolve();
    }
  }

  private allowed(address: string): boolean {
    return this.inUse < this.slots && (this.held.get(address) ?? 0) < this.perAddress;
  }

  private take(address: string): void {
    this.inUse++;
    this.held.set(address, (this.held.get(address) ?? 0) + 1);
  }
}

/** The listings of this process (every connection of a worker shares them). */
export const sharedListSlots = new ListSlots();
