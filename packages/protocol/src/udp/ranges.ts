/** A set of byte offsets kept as sorted, disjoint, non-touching half-open ranges. */
import type { ByteRange } from './messages.js';

export class RangeSet {
  private readonly list: ByteRange[] = [];

  get count(): number {
    return this.list.length;
  }

  /** The ranges, lowest first (do not modify). */
  get ranges(): readonly ByteRange[] {
    return this.list;
  }

  /** The lowest range, if any. */
  first(): ByteRange | undefined {
    return this.list[0];
  }

  /** Adds [start, end), merging with neighbours it touches or overlaps. */
  add(start: number, end: number): void {
    if (end <= start) return;
    const list = this.list;
    // First range whose end reaches start (it may merge with the new one).
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (list[mid]!.end < start) lo = mid + 1;
      else hi = mid;
    }
    let i = lo;
    let s = start;
    let e = end;
    while (i < list.length && list[i]!.start <= e) {
      s = Math.min(s, list[i]!.start);
      e = Math.max(e, list[i]!.end);
      i++;
    }
    list.splice(lo, i - lo, { start: s, end: e });
  }

  /** Removes everything below `offset`. */
  dropBelow(offset: number): void {
    let n = 0;
    while (n < this.list.length && this.list[n]!.end <= offset) n++;
    if (n > 0) this.list.splice(0, n);
    const head = this.list[0];
    if (head !== undefined && head.start < offset) this.list[0] = { start: offset, end: head.end };
  }

  /** The range containing `offset`, if any. */
  find(offset: number): ByteRange | undefined {
    let lo = 0;
    let hi = this.list.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const r = this.list[mid]!;
      if (r.end <= offset) lo = mid + 1;
      else if (r.start > offset) hi = mid;
      else return r;
    }
    return undefined;
  }
}
