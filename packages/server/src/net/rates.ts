/**
 * --max-rate and --max-rate-per-connection in one serving process. The overall rate is split
 * among the processes that serve at once (the pre-forked workers, or the per-connection
 * children up to --max-children), like the connection limits, so the sum stays within it
 * without any coordination; each TCP connection and each UDP transfer also gets its own bucket
 * of the per-connection rate. Keyed by the owner object (the connection or the transfer), so
 * the TCP connection module needs no field for it.
 */
import { TokenBucket, throttleOf } from '@ft/protocol';
import type { Throttle } from '@ft/protocol';

let overall: TokenBucket | undefined;
let perConnection: number | undefined;
const throttles = new WeakMap<object, Throttle | undefined>();

/** Sets this process's limits: its `share` of `maxRate`, and the per-connection rate. */
export function configureRates(
  limits: { maxRate: number | undefined; maxRatePerConnection: number | undefined },
  share = 1,
): void {
  overall =
    limits.maxRate === undefined
      ? undefined
      : new TokenBucket(Math.max(1, Math.floor(limits.maxRate / Math.max(1, share))));
  perConnection = limits.maxRatePerConnection;
}

/** The throttle of one connection or transfer (created on first use); undefined when unlimited. */
export function throttleFor(owner: object): Throttle | undefined {
  if (throttles.has(owner)) return throttles.get(owner);
  const throttle = throttleOf(
    perConnection === undefined ? undefined : new TokenBucket(perConnection),
    overall,
  );
  throttles.set(owner, throttle);
  return throttle;
}
