/**
 * Connection limits enforced where connections are accepted: how many at once overall and
 * per client IP. With --fork-per-connection the primary is the only process that accepts, so
 * its counts hold across all children; in the pre-forked pool each worker counts its own
 * connections against its share of each limit.
 */

export type Admission = 'ok' | 'max-connections' | 'max-connections-per-ip';

export class ConnectionLimiter {
  private total = 0;
  private readonly perIp = new Map<string, number>();

  constructor(
    private readonly maxConnections: number,
    private readonly maxPerIp: number,
  ) {}

  /** Connections currently counted. */
  get active(): number {
    return this.total;
  }

  /** Whether `ip` has as many connections as it may have. */
  atIpLimit(ip: string): boolean {
    return (this.perIp.get(ip) ?? 0) >= this.maxPerIp;
  }

  /** Counts a new connection from `ip` if the limits allow it; the caller must release() it later. */
  tryAcquire(ip: string): Admission {
    if (this.total >= this.maxConnections) return 'max-connections';
    const n = this.perIp.get(ip) ?? 0;
    if (n >= this.maxPerIp) return 'max-connections-per-ip';
    this.perIp.set(ip, n + 1);
    this.total++;
    return 'ok';
  }

  release(ip: string): void {
    const n = this.perIp.get(ip);
    if (n === undefined) return;
    if (n <= 1) this.perIp.delete(ip);
    else this.perIp.set(ip, n - 1);
    this.total--;
  }
}
