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
