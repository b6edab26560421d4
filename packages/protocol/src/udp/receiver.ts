/**
 * The receiving half of an ft UDP transfer as a pure state machine. It accepts DATA inside its
 * window, hands in-order payloads to the caller (`takeReady`) to write, holds out-of-order ones
 * (bounded by the window, which only moves when the caller reports bytes written with
 * `release`), and builds ACKs with a cumulative offset and SACK ranges.
 *
 * ACK policy: immediately on anything unusual (a hole opened or filled, the sender's
 * duplicate threshold reached above the newest hole, a duplicate, data outside the window,
 * completion, a window update the sender may be waiting for) and after `ackEvery` new
 * segments; otherwise the caller flushes a pending ACK after a short delay (delayed ACK).
 *
 * Segments that arrive above a hole are not each ACKed at once (RFC 5681 asks that of TCP):
 * the sender needs to hear of a new hole, and again when DUP_THRESHOLD segments above it make
 * it declare the loss; after that the usual count is its ACK clock, as QUIC's ACK frequency
 * extension allows (draft-ietf-quic-ack-frequency, "reordering threshold"). Measured on
 * loopback at 1% random loss: one ACK per held segment was ~1,450 ACKs per 256 MiB (5× the
 * lossless count), each a send, a receive and a wake-up on both ends of a CPU-bound path.
 */
import { UdpLimits } from './constants.js';
import { DUP_THRESHOLD } from './sender/types.js';
import type { ByteRange } from './messages.js';
import { RangeSet } from './ranges.js';

export interface ReceiverOptions {
  start: number;
  end: number;
  payloadSize: number;
  window: number;
  /**
   * Send an ACK at least every this many in-order segments (default 8). Above 8 it holds only
   * while the path has lost nothing: from the first hole on, 8 (a lossy path needs the ACK
   * clock; measured at 5% loss, 16 gave ~25% less throughput than 8, with more probes and RTOs).
   */
  ackEvery?: number;
}

export type DataVerdict = 'new' | 'duplicate' | 'outside-window' | 'invalid';

export interface AckFields {
  cumulative: number;
  windowEnd: number;
  tsEcho: number;
  ranges: ByteRange[];
}

export class UdpReceiver {
  /** Every byte below this absolute offset has arrived. */
  cumulative: number;
  readonly stats = { segments: 0, duplicates: 0, outsideWindow: 0, invalid: 0, acks: 0 };

  private readonly start: number;
  private readonly end: number;
  private readonly payload: number;
  private readonly window: number;
  /** Segments per ACK now, and the most it may climb back to (`ackEvery`, 8 after a hole). */
  private ackEvery: number;
  private ackEveryCap: number;
  private released: number;
  private ready: Buffer[] = [];
  private readonly held = new Map<number, Buffer>();
  private readonly heldRanges = new RangeSet();
  private lastTsval = 0;
  private lastArrival = -1;
  /** End of the highest segment received, and new segments received in a row at that edge above a hole. */
  private highestEnd: number;
  private aboveHole = 0;
  private unacked = 0;
  private pending = false;
  private urgent = false;
  private advertised: number;

  constructor(options: ReceiverOptions) {
    this.start = options.start;
    this.end = options.end;
    this.payload = options.payloadSize;
    this.window = options.window;
    this.ackEvery = options.ackEvery ?? 8;
    this.ackEveryCap = this.ackEvery;
    this.cumulative = this.start;
    this.released = this.start;
    this.highestEnd = this.start;
    this.advertised = this.windowEnd;
  }

  /** The sender may send bytes below this offset. */
  get windowEnd(): number {
    return Math.min(this.end, this.released + this.window);
  }

  /** Every byte has arrived. */
  get complete(): boolean {
    return this.cumulative >= this.end;
  }

  /** An ACK should be sent (now, if `ackUrgent`; else once the socket is drained). */
  get ackPending(): boolean {
    return this.pending;
  }
  get ackUrgent(): boolean {
    return this.urgent;
  }

  /** Bytes held out of order. */
  get heldBytes(): number {
    let n = 0;
    for (const b of this.held.values()) n += b.length;
    return n;
  }

  /** Feeds one DATA payload (kept by reference: pass a buffer nobody reuses). */
  onData(offset: number, payload: Buffer, tsval: number): DataVerdict {
    const len = payload.length;
    if (
      offset < this.start ||
      offset >= this.end ||
      (offset - this.start) % this.payload !== 0 ||
      len !== Math.min(this.payload, this.end - offset)
    ) {
      this.stats.invalid++;
      return 'invalid';
    }
    this.pending = true;
    if (offset + len > this.windowEnd) {
      this.stats.outsideWindow++;
      this.urgent = true;
      return 'outside-window';
    }
    if (offset < this.cumulative || this.held.has(offset)) {
      // A duplicate means the sender is retransmitting: tell it where we are at once.
      this.stats.duplicates++;
      this.urgent = true;
      return 'duplicate';
    }
    this.stats.segments++;
    this.lastTsval = tsval;
    this.lastArrival = offset;
    const edge = this.highestEnd;
    if (offset + len > edge) this.highestEnd = offset + len;
    if (offset === this.cumulative) {
      this.ready.push(payload);
      this.cumulative += len;
      if (this.heldRanges.count > 0) {
        let next = this.held.get(this.cumulative);
        if (next !== undefined) this.urgent = true;
        while (next !== undefined) {
          this.held.delete(this.cumulative);
          this.ready.push(next);
          this.cumulative += next.length;
          next = this.held.get(this.cumulative);
        }
        this.heldRanges.dropBelow(this.cumulative);
      }
      if (++this.unacked >= this.ackEvery || this.complete) this.urgent = true;
    } else {
      if (this.ackEveryCap > 8) this.ackEveryCap = 8;
      if (this.ackEvery > 8) this.ackEvery = 8;
      this.held.set(offset, payload);
      this.heldRanges.add(offset, offset + len);
      if (offset > edge) {
        // A new hole just below this segment.
        this.aboveHole = 1;
        this.urgent = true;
      } else if (offset === edge && ++this.aboveHole === DUP_THRESHOLD) {
        // Enough above the newest hole for the sender to declare it lost.
        this.urgent = true;
      }
      if (++this.unacked >= this.ackEvery) this.urgent = true;
    }
    return 'new';
  }

  /**
   * The delayed-ACK timer fired with an ACK pending: fewer than `ackEvery` segments came since
   * the last ACK and then the flow paused, so the sender is most likely waiting for this ACK
   * (its congestion window is smaller than what we wait for: slow start, or a window cut by a
   * loss). ACK after half as many from now on, so that its flight is ACKed while it is still
   * arriving instead of after the timer; each ACK due by count raises it by one again, up to
   * `ackEvery`. Measured at 1% loss (cwnd ~20 segments) one ACK in eight came from the timer,
   * each a ~2 ms stall of a path with a ~0.3 ms RTT; at 5% (cwnd ~10) one in five.
   */
  onAckDelay(): void {
    // A sender at the edge of our window waits for the window, not for an earlier ACK.
    if (this.highestEnd + this.payload > this.advertised) return;
    if (this.unacked > 0 && this.unacked < this.ackEvery) {
      this.ackEvery = Math.max(2, Math.ceil(this.unacked / 2));
      // The ACK that goes out now is the timer's, not one due by count: it raises nothing.
      this.unacked = 0;
    }
  }

  /** In-order payloads not yet taken, in order. The caller writes them, then calls `release`. */
  takeReady(): Buffer[] {
    const out = this.ready;
    this.ready = [];
    return out;
  }

  /** `bytes` more in-order bytes were written: the window slides. */
  release(bytes: number): void {
    this.released = Math.min(this.released + bytes, this.cumulative);
    const windowEnd = this.windowEnd;
    if (windowEnd <= this.advertised) return;
    // Tell the sender when the window grew a lot, or when it may be stalled at the old edge and
    // the window grew enough to be worth a burst. Not on every segment released: a sender that
    // keeps the window full would otherwise get one ACK per datagram (the every-8-segments ACK
    // carries window updates as well).
    const grown = windowEnd - this.advertised;
    if (
      grown >= this.window / 4 ||
      (this.cumulative + 2 * this.payload >= this.advertised &&
        grown >= Math.max(this.payload, this.window / 8))
    ) {
      this.pending = true;
      this.urgent = true;
    }
  }

  /** Builds the ACK to send now and clears the pending state. */
  makeAck(): AckFields {
    if (this.unacked >= this.ackEvery && this.ackEvery < this.ackEveryCap) this.ackEvery++;
    this.pending = false;
    this.urgent = false;
    this.unacked = 0;
    this.stats.acks++;
    this.advertised = this.windowEnd;
    return {
      cumulative: this.cumulative,
      windowEnd: this.advertised,
      tsEcho: this.lastTsval,
      ranges: this.sackRanges(),
    };
  }

  /** The range holding the latest arrival first (RFC 2018), then the lowest ones. */
  private sackRanges(): ByteRange[] {
    const all = this.heldRanges.ranges;
    if (all.length <= UdpLimits.MAX_ACK_RANGES) return all.map((r) => ({ ...r }));
    const latest = this.heldRanges.find(this.lastArrival);
    const out: ByteRange[] = latest === undefined ? [] : [{ ...latest }];
    for (const r of all) {
      if (out.length >= UdpLimits.MAX_ACK_RANGES) break;
      if (r !== latest) out.push({ ...r });
    }
    return out.sort((a, b) => a.start - b.start);
  }
}
