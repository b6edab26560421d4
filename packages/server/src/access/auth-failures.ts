/**
 * Rate limit of failed token checks per client address, in each serving process: past
 * MAX_FAILURES UNAUTHORIZED refusals (missing or wrong tokens) within a window, further requests from that
 * address are answered BUSY (retryAfterMs = until the window ends) without checking the token.
 * Memory is bounded: at most MAX_ADDRESSES windows are kept; when full, expired ones are dropped,
 * and if none has expired a new address is not tracked (so it is not limited, but nothing grows).
 */

/** Failures allowed per address per window. */
export const MAX_FAILURES = 20;
export const WINDOW_MS = 60_000;
const MAX_ADDRESSES = 4096;

interface Window {
  start: number;
  failures: number;
}

export class AuthFailures {
  private readonly windows = new Map<string, Window>();

  /** Milliseconds `address` must wait before its next attempt, or 0 if it may try now. */
  blockedFor(address: string, now = performance.now()): number {
    const w = this.windows.get(address);
    if (w === undefined || now - w.start >= WINDOW_MS) return 0;
    return w.failures >= MAX_FAILURES ? Math.ceil(w.start + WINDOW_MS - now) : 0;
  }

  /** Counts a failed attempt from `address`. */
  fail(address: string, now = performance.now()): void {
    let w = this.windows.get(address);
    if (w === undefined || now - w.start >= WINDOW_MS) {
      if (w === undefined && this.windows.size >= MAX_ADDRESSES) {
        for (const [k, v] of this.windows) if (now - v.start >= WINDOW_MS) this.windows.delete(k);
        if (this.windows.size >= MAX_ADDRESSES) return;
      }
      w = { start: now, failures: 0 };
      this.windows.set(address, w);
    }
    w.failures++;
  }
}

/** The limiter every connection of this process shares. */
export const sharedAuthFailures = new AuthFailures();
