/**
 * The sending half of an ft UDP transfer as a pure state machine: no sockets, no timers, no
 * clock of its own. The caller passes the time to every method, sends what `nextSegment` hands
 * out, and arms one timer at `nextDeadline()`, calling `onTimer` when it fires.
 *
 * Reliability: the byte range is cut into fixed-size segments on a grid from `start`; ACKs carry
 * a cumulative offset plus SACK ranges, so only lost segments are resent. A segment is deemed
 * lost when three later segments were SACKed (fast retransmit) or when a segment sent more than
 * a reordering window after it was delivered (RACK-style, which also catches lost
 * retransmissions). When the tail of a flight is lost nothing after it can be SACKed, so after
 * 2·SRTT without progress one tail-loss probe goes out (RACK-TLP) and its ACK exposes the holes;
 * only if that fails too does the RTO (RFC 6298, exponential backoff) resend everything unSACKed.
 * The sender never sends a segment that does not fit wholly below the receiver's windowEnd.
 * An ACK that tells nothing new changes nothing, so duplicate ACKs never cause a duplicate burst.
 *
 * Congestion control: slow start, then additive increase; multiplicative decrease (×0.7) once
 * per window of data on loss, and back to one segment on timeout. Sends are paced at a multiple
 * of cwnd/SRTT so a window is not dumped into the path at once.
 */
import { RttEstimator, type RttOptions } from './rtt.js';
import type { ByteRange } from './messages.js';

const SACKED = 1;
const RETRANSMITTED = 2;
const LOST = 4;
const IN_FLIGHT = 8;
/** Sent as a tail-loss probe: its delivery says nothing about reordering. */
const PROBED = 16;

/** Segments SACKed above a hole before it is deemed lost (RFC 5681's duplicate-ACK threshold). */
export const DUP_THRESHOLD = 3;
/** cwnd multiplier on a loss event (CUBIC's beta; Reno's 0.5 gives up too much on random loss). */
export const LOSS_BETA = 0.7;
/** Initial congestion window, in segments (RFC 6928). */
export const INITIAL_CWND_SEGMENTS = 10;
/** Shortest probe timeout (ms): scheduling jitter on a busy host is a few milliseconds. */
export const MIN_PTO_MS = 10;
/** FIN is sent at most this many times; then the sender gives up waiting for CLOSE. */
export const MAX_FIN_SENDS = 6;
/** ACCEPT is resent at most until the liveness limit; this caps the count as well. */
export const MAX_ACCEPT_SENDS = 12;

export interface SenderOptions extends RttOptions {
  /** First and end (exclusive) absolute offsets to send. */
  start: number;
  end: number;
  payloadSize: number;
  /** Receiver's window in bytes: the most that may be unacknowledged. */
  window: number;
  /** End the transfer after this long without a valid datagram from the receiver. */
  livenessMs: number;
  /** Pace sends (default true). */
  pacing?: boolean;
}

export type SenderPhase = 'accept' | 'data' | 'fin' | 'done' | 'failed';

/** What the caller should transmit next. */
export type SenderAction =
  | { kind: 'accept' }
  | { kind: 'fin' }
  | { kind: 'data'; offset: number; length: number; tsval: number; retransmit: boolean };

export interface AckInput {
  cumulative: number;
  windowEnd: number;
  tsEcho: number;
  ranges: readonly ByteRange[];
}

/** Result of feeding one ACK. */
export type AckVerdict = 'new' | 'duplicate' | 'invalid';

export interface SenderStats {
  segmentsSent: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  acks: number;
  duplicateAcks: number;
  invalidAcks: number;
  spuriousRetransmits: number;
  /** Tail-loss probes sent. */
  probes: number;
  /** Retransmission timer expiries with nothing in flight and the receive window shut. */
  windowProbes: number;
}

/** Microsecond timestamp for DATA.tsval: never 0 (0 means "no echo"). */
export function tsvalAt(nowMs: number): number {
  return Math.floor(nowMs * 1000) % 0x1_0000_0000 || 1;
}

export class UdpSender {
  readonly rtt: RttEstimator;
  readonly stats: SenderStats = {
    segmentsSent: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    acks: 0,
    duplicateAcks: 0,
    invalidAcks: 0,
    spuriousRetransmits: 0,
    probes: 0,
    windowProbes: 0,
  };
  phase: SenderPhase = 'accept';
  /** Why the transfer failed, when phase is 'failed'. */
  failure: string | undefined;
  /** Congestion window and slow-start threshold, in bytes. */
  cwnd: number;
  ssthresh = Infinity;

  private readonly start: number;
  private readonly end: number;
  private readonly payload: number;
  private readonly segments: number;
  private readonly cap: number;
  private readonly sentAt: Float64Array;
  private readonly flags: Uint8Array;
  private readonly maxCwnd: number;
  private readonly livenessMs: number;
  private readonly pacing: boolean;
  private una = 0;
  private nxt = 0;
  private pipe = 0;
  private highestSacked = -1;
  private lostQueue: number[] = [];
  private lostHead = 0;
  private recoverySeg = 0;
  private fastRecovery = false;
  private priorCwnd = 0;
  private priorSsthresh = Infinity;
  /** Reordering was observed: loss is inferred from time (reoWnd), no longer from counts. */
  private reordering = false;
  /** Extra reordering window (ms), grown each time a retransmission proves spurious. */
  private reoWnd = 0;
  private windowEnd: number;
  private lastHeard: number;
  private rtoAt = Infinity;
  /** Tail-loss probe timer; a probe is due (`tlpDue`) or outstanding (`tlpOut`). */
  private ptoAt = Infinity;
  private tlpDue = false;
  private tlpOut = false;
  private controlSends = 0;
  private controlSentAt = 0;
  private controlDue = 0;
  private paceTokens = 0;
  private paceAt = 0;
  private probe = false;
  /** Retransmissions allowed regardless of cwnd: the first one of a recovery (RFC 5681 3.2 step 3). */
  private forced = 0;

  constructor(options: SenderOptions, now: number) {
    this.rtt = new RttEstimator(options);
    this.start = options.start;
    this.end = options.end;
    this.payload = options.payloadSize;
    this.segments = Math.ceil((this.end - this.start) / this.payload);
    this.cap = Math.max(2, Math.ceil(options.window / this.payload)) + 1;
    this.sentAt = new Float64Array(this.cap);
    this.flags = new Uint8Array(this.cap);
    this.maxCwnd = Math.max(2 * this.payload, options.window);
    this.cwnd = Math.min(INITIAL_CWND_SEGMENTS * this.payload, this.maxCwnd);
    this.livenessMs = options.livenessMs;
    this.pacing = options.pacing ?? true;
    this.windowEnd = this.start;
    this.lastHeard = now;
    this.paceAt = now;
  }

  /** Bytes acknowledged so far (cumulatively). */
  get acknowledged(): number {
    return Math.min(this.start + this.una * this.payload, this.end) - this.start;
  }

  /** Engine state for a diagnostic log line (segment numbers are relative to `start`). */
  snapshot(now: number): Record<string, number | string> {
    return {
      phase: this.phase,
      una: this.una,
      nxt: this.nxt,
      segs: this.segments,
      pipe: this.pipe,
      cwnd: Math.round(this.cwnd),
      lost: this.lostQueue.length - this.lostHead,
      winSegs: Math.floor((this.windowEnd - this.start) / this.payload),
      rtoIn: Number.isFinite(this.rtoAt) ? Math.round(this.rtoAt - now) : -1,
      rto: Math.round(this.rtt.rto),
    };
  }

  /** Segments currently counted as in flight. */
  get inFlight(): number {
    return this.pipe;
  }

  /** The earliest time at which `onTimer` or `nextAction` has something to do. */
  nextDeadline(now: number): number {
    if (this.phase === 'done' || this.phase === 'failed') return Infinity;
    let at = this.lastHeard + this.livenessMs;
    if (this.phase === 'accept' || this.phase === 'fin') return Math.min(at, this.controlDue);
    at = Math.min(at, this.rtoAt, this.ptoAt);
    if (this.pacing && this.paceBlocked(now)) at = Math.min(at, this.paceReadyAt());
    return at;
  }

  /** Handles expired timers: liveness, RTO, tail-loss probe. */
  onTimer(now: number): void {
    if (this.phase === 'done' || this.phase === 'failed') return;
    if (now - this.lastHeard >= this.livenessMs) {
      this.fail(`receiver silent for ${this.livenessMs} ms`);
      return;
    }
    if (this.phase !== 'data') return;
    if (now >= this.rtoAt) this.onRto(now);
    else if (now >= this.ptoAt) this.onPto();
  }

  /** Fails the transfer (used by the caller for CLOSE(CANCEL), errors, shutdown). */
  fail(reason: string): void {
    if (this.phase === 'done' || this.phase === 'failed') return;
    this.phase = 'failed';
    this.failure = reason;
  }

  /**
   * Any other valid datagram from the receiver for this transfer (e.g. DIGEST_REQUEST): it is
   * alive, and it has the ACCEPT, so stop resending that.
   */
  touch(now: number): void {
    this.lastHeard = now;
    if (this.phase === 'accept') this.controlDue = Infinity;
  }

  /** The receiver closed the transfer after receiving everything. */
  onClose(now: number): void {
    this.lastHeard = now;
    if (this.phase === 'fin' || (this.phase === 'data' && this.una >= this.segments)) {
      this.phase = 'done';
    } else this.fail('receiver cancelled the transfer');
  }

  /**
   * The next datagram to send now, or undefined. Call repeatedly until undefined, then arm the
   * timer at `nextDeadline`. Each call that returns an action assumes it is sent at `now`.
   */
  nextAction(now: number): SenderAction | undefined {
    switch (this.phase) {
      case 'accept':
      case 'fin':
        return this.nextControl(now);
      case 'data':
        return this.nextData(now);
      default:
        return undefined;
    }
  }

  private nextControl(now: number): SenderAction | undefined {
    if (now < this.controlDue) return undefined;
    const limit = this.phase === 'accept' ? MAX_ACCEPT_SENDS : MAX_FIN_SENDS;
    if (this.controlSends >= limit) {
      if (this.phase === 'fin') this.phase = 'done';
      else this.fail('no ACK for ACCEPT');
      return undefined;
    }
    if (this.controlSends > 0) this.rtt.backoff();
    this.controlSends++;
    this.controlSentAt = now;
    this.controlDue = now + this.rtt.rto;
    return { kind: this.phase === 'accept' ? 'accept' : 'fin' };
  }

  private nextData(now: number): SenderAction | undefined {
    if (this.probe) {
      // Window probe: resend the last segment so the receiver answers with a fresh window.
      this.probe = false;
      const seg = Math.max(0, this.nxt - 1);
      return this.emit(seg, now, true);
    }
    if (this.tlpDue) {
      this.tlpDue = false;
      const probe = this.tailProbe(now);
      if (probe !== undefined) return probe;
    }
    const forced = this.forced > 0 && this.lostHead < this.lostQueue.length;
    if (!forced) {
      if (this.pipe * this.payload + this.payload > this.cwnd) return undefined;
      if (this.pacing && this.paceBlocked(now)) return undefined;
    }
    while (this.lostHead < this.lostQueue.length) {
      const seg = this.lostQueue[this.lostHead++]!;
      if (seg < this.una) continue;
      const slot = seg % this.cap;
      if ((this.flags[slot]! & (LOST | SACKED)) !== LOST) continue;
      this.flags[slot] = (this.flags[slot]! & ~LOST) | RETRANSMITTED;
      this.stats.retransmits++;
      if (this.forced > 0) this.forced--;
      return this.emit(seg, now, true);
    }
    this.forced = 0;
    this.compactLostQueue();
    if (forced) return this.nextData(now);
    if (this.nxt >= this.segments) return undefined;
    if (this.nxt - this.una >= this.cap - 1) return undefined;
    if (!this.fitsWindow(this.nxt)) return undefined;
    const seg = this.nxt++;
    this.flags[seg % this.cap] = 0;
    return this.emit(seg, now, false);
  }

  /** The receiver takes DATA only if all of it lies below windowEnd. */
  private fitsWindow(seg: number): boolean {
    return this.start + seg * this.payload + this.segLength(seg) <= this.windowEnd;
  }

  private pto(): number {
    const srtt = this.rtt.srtt;
    return srtt === undefined
      ? this.rtt.rto
      : Math.min(Math.max(2 * srtt, MIN_PTO_MS), this.rtt.rto);
  }

  /**
   * The probe timer fired: nothing was heard for 2·SRTT while data is outstanding, so the tail
   * of the flight (or its ACKs) may be lost, and with nothing sent after it no SACK would ever
   * reveal it; only the RTO would, after 100+ ms and a collapse to one segment. One probe per
   * flight (RACK-TLP, RFC 8985 section 7): its ACK lets the time-based loss detection find the
   * holes.
   */
  private onPto(): void {
    this.ptoAt = Infinity;
    if (this.una < this.nxt && !this.tlpOut) this.tlpDue = true;
  }

  /** The probe, sent regardless of cwnd and pacing: new data if the window allows, else the last unSACKed segment. */
  private tailProbe(now: number): SenderAction | undefined {
    let seg = -1;
    let retransmit = false;
    if (
      this.nxt < this.segments &&
      this.nxt - this.una < this.cap - 1 &&
      this.fitsWindow(this.nxt)
    ) {
      seg = this.nxt++;
      this.flags[seg % this.cap] = 0;
    } else {
      retransmit = true;
      for (let s = this.nxt - 1; s >= this.una; s--) {
        if ((this.flags[s % this.cap]! & SACKED) === 0) {
          seg = s;
          break;
        }
      }
      if (seg < 0) return undefined;
      const slot = seg % this.cap;
      this.flags[slot] = (this.flags[slot]! & ~LOST) | RETRANSMITTED | PROBED;
      this.stats.retransmits++;
    }
    this.tlpOut = true;
    this.stats.probes++;
    this.rtoAt = now + this.rtt.rto;
    return this.emit(seg, now, retransmit);
  }

  private emit(seg: number, now: number, retransmit: boolean): SenderAction {
    const slot = seg % this.cap;
    const offset = this.start + seg * this.payload;
    const length = Math.min(this.payload, this.end - offset);
    if (seg >= this.una && (this.flags[slot]! & (IN_FLIGHT | SACKED)) === 0) {
      this.flags[slot]! |= IN_FLIGHT;
      this.pipe++;
    }
    this.sentAt[slot] = now;
    this.stats.segmentsSent++;
    if (this.rtoAt === Infinity) this.rtoAt = now + this.rtt.rto;
    if (!retransmit && !this.tlpOut) this.ptoAt = now + this.pto();
    if (this.pacing) this.paceTokens -= length;
    return { kind: 'data', offset, length, tsval: tsvalAt(now), retransmit };
  }

  private compactLostQueue(): void {
    if (this.lostHead > 0 && this.lostHead >= this.lostQueue.length) {
      this.lostQueue = [];
      this.lostHead = 0;
    }
  }

  /** Feeds one ACK from the receiver. */
  onAck(ack: AckInput, now: number): AckVerdict {
    if (this.phase === 'done' || this.phase === 'failed') return 'duplicate';
    const sentEnd = Math.min(this.start + this.nxt * this.payload, this.end);
    const acceptedOnly = this.phase === 'accept';
    // An ACK must stay inside what was sent; anything else is a confused or forged peer.
    if (ack.cumulative < this.start || ack.cumulative > sentEnd || ack.windowEnd < ack.cumulative) {
      this.stats.invalidAcks++;
      return 'invalid';
    }
    for (const r of ack.ranges) {
      if (r.end > sentEnd) {
        this.stats.invalidAcks++;
        return 'invalid';
      }
    }
    this.stats.acks++;
    this.lastHeard = now;
    if (acceptedOnly) {
      // The first ACK starts the data phase; ACCEPT has no timestamp, so Karn's rule applies.
      if (this.controlSends === 1) this.rtt.sample(now - this.controlSentAt);
      this.phase = 'data';
      this.controlSends = 0;
      this.paceAt = now;
    }
    let news = acceptedOnly;
    if (ack.windowEnd > this.windowEnd) {
      this.windowEnd = ack.windowEnd;
      news = true;
    }
    let delivered = 0;
    let karnSample: number | undefined;
    let rackXmit = -Infinity;
    let spurious = false;
    // When the echoed DATA was sent (its tsval is our own clock in µs).
    let echoAt = -Infinity;
    if (ack.tsEcho !== 0) {
      const age = (tsvalAt(now) - ack.tsEcho + 0x1_0000_0000) % 0x1_0000_0000;
      if (age < 60_000_000) echoAt = now - age / 1000;
    }
    // Cumulative part. `cumulative` must be on the segment grid or the end.
    const cumSeg =
      ack.cumulative >= this.end
        ? this.segments
        : Math.floor((ack.cumulative - this.start) / this.payload);
    while (this.una < cumSeg) {
      const slot = this.una % this.cap;
      const f = this.flags[slot]!;
      if ((f & SACKED) === 0) {
        delivered += this.segLength(this.una);
        if ((f & RETRANSMITTED) === 0) karnSample = now - this.sentAt[slot]!;
        else if ((f & PROBED) === 0 && echoAt < this.sentAt[slot]! - 0.0005) spurious = true;
        rackXmit = Math.max(rackXmit, this.sentAt[slot]!);
      }
      if ((f & IN_FLIGHT) !== 0) this.pipe--;
      this.flags[slot] = 0;
      this.una++;
    }
    // Selective part: whole segments inside each range.
    for (const r of ack.ranges) {
      let seg = Math.max(this.una, Math.ceil((r.start - this.start) / this.payload));
      for (; seg < this.nxt; seg++) {
        const off = this.start + seg * this.payload;
        if (off + this.segLength(seg) > r.end) break;
        const slot = seg % this.cap;
        const f = this.flags[slot]!;
        if ((f & SACKED) !== 0) continue;
        if ((f & IN_FLIGHT) !== 0) this.pipe--;
        this.flags[slot] = (f & ~(IN_FLIGHT | LOST)) | SACKED;
        delivered += this.segLength(seg);
        if (
          (f & (RETRANSMITTED | PROBED)) === RETRANSMITTED &&
          echoAt < this.sentAt[slot]! - 0.0005
        )
          spurious = true;
        rackXmit = Math.max(rackXmit, this.sentAt[slot]!);
        if (seg > this.highestSacked) this.highestSacked = seg;
      }
    }
    if (delivered === 0 && !news) {
      this.stats.duplicateAcks++;
      return 'duplicate';
    }
    if (delivered > 0) {
      // RTT: the echoed timestamp names the exact transmission, so it is safe even for
      // retransmitted data; without it, only never-retransmitted data may be timed (Karn).
      if (ack.tsEcho !== 0) {
        const sample = (tsvalAt(now) - ack.tsEcho + 0x1_0000_0000) % 0x1_0000_0000;
        if (sample < 60_000_000) this.rtt.sample(sample / 1000);
      } else if (karnSample !== undefined) this.rtt.sample(karnSample);
      this.rtoAt = this.una < this.nxt ? now + this.rtt.rto : Infinity;
      this.tlpOut = false;
      this.ptoAt = this.una < this.nxt ? now + this.pto() : Infinity;
      if (spurious) this.onSpurious();
      this.detectLosses(rackXmit);
      this.grow(delivered);
    }
    if (this.una >= this.segments) {
      this.phase = 'fin';
      this.controlDue = now;
      this.controlSends = 0;
      this.rtoAt = Infinity;
      this.ptoAt = Infinity;
    } else if (this.una === this.nxt && !this.fitsWindow(this.nxt)) {
      // Nothing in flight and no window: keep a timer so a lost window update is probed for.
      this.rtoAt = now + this.rtt.rto;
    }
    return 'new';
  }

  private segLength(seg: number): number {
    return Math.min(this.payload, this.end - (this.start + seg * this.payload));
  }

  /**
   * The original of a retransmitted segment arrived after all (the echo names it): the path
   * reorders. Undo the window reduction, stop inferring loss from counts and widen the
   * reordering window, as RACK does on DSACK (RFC 8985 section 6.2).
   */
  private onSpurious(): void {
    this.stats.spuriousRetransmits++;
    this.reordering = true;
    const quarter = Number.isFinite(this.rtt.minRtt) ? this.rtt.minRtt / 4 : 1;
    this.reoWnd = Math.min(this.reoWnd + Math.max(quarter, 1), this.rtt.srtt ?? 100);
    if (this.fastRecovery) {
      this.cwnd = Math.max(this.cwnd, this.priorCwnd);
      this.ssthresh = this.priorSsthresh;
      this.fastRecovery = false;
    }
  }

  private detectLosses(rackXmit: number): void {
    if (this.highestSacked < this.una) return;
    const minRtt = this.rtt.minRtt;
    const reoWnd = Math.max(Number.isFinite(minRtt) ? minRtt / 4 : 0, this.reoWnd);
    let lossAt = -1;
    for (let seg = this.una; seg < this.highestSacked; seg++) {
      const slot = seg % this.cap;
      const f = this.flags[slot]!;
      if ((f & IN_FLIGHT) === 0) continue;
      const byCount =
        !this.reordering && (f & RETRANSMITTED) === 0 && seg + DUP_THRESHOLD <= this.highestSacked;
      const byTime = this.sentAt[slot]! + reoWnd < rackXmit;
      if (!byCount && !byTime) continue;
      this.flags[slot] = (f & ~IN_FLIGHT) | LOST;
      this.pipe--;
      this.lostQueue.push(seg);
      this.stats.fastRetransmits++;
      if (lossAt < 0) lossAt = seg;
    }
    if (lossAt >= 0 && lossAt >= this.recoverySeg) {
      // One multiplicative decrease per window of data (NewReno's recovery point).
      this.priorCwnd = this.cwnd;
      this.priorSsthresh = this.ssthresh;
      this.ssthresh = Math.max(this.cwnd * LOSS_BETA, 2 * this.payload);
      this.cwnd = this.ssthresh;
      this.recoverySeg = this.nxt;
      this.fastRecovery = true;
      this.forced = 1;
    }
  }

  private grow(delivered: number): void {
    // During fast recovery cwnd stays at ssthresh (RFC 6675); after a timeout slow start runs.
    if (this.fastRecovery) {
      if (this.una < this.recoverySeg) return;
      this.fastRecovery = false;
    }
    if (this.cwnd < this.ssthresh) this.cwnd += delivered;
    else this.cwnd += (this.payload * delivered) / this.cwnd;
    if (this.cwnd > this.maxCwnd) this.cwnd = this.maxCwnd;
  }

  private onRto(now: number): void {
    this.rtt.backoff();
    this.rtoAt = now + this.rtt.rto;
    this.ptoAt = Infinity;
    this.tlpDue = false;
    this.tlpOut = false;
    if (this.una === this.nxt) {
      // Window-limited with nothing outstanding: probe instead of collapsing cwnd.
      if (this.nxt > 0) this.probe = true;
      this.stats.windowProbes++;
      return;
    }
    this.stats.timeouts++;
    this.ssthresh = Math.max((this.pipe * this.payload) / 2, 2 * this.payload);
    this.cwnd = this.payload;
    this.recoverySeg = this.nxt;
    this.fastRecovery = false;
    this.lostQueue.splice(0, this.lostHead);
    this.lostHead = 0;
    for (let seg = this.una; seg < this.nxt; seg++) {
      const slot = seg % this.cap;
      const f = this.flags[slot]!;
      if ((f & IN_FLIGHT) === 0) continue;
      this.flags[slot] = (f & ~IN_FLIGHT) | LOST;
      this.pipe--;
      this.lostQueue.push(seg);
    }
    this.lostQueue.sort((a, b) => a - b);
  }

  // Pacing: a token bucket refilled at gain × cwnd / SRTT, holding at most a few segments or
  // two milliseconds' worth (Node timers do not fire more often than once a millisecond).
  private paceRate(): number {
    const srtt = this.rtt.srtt;
    if (srtt === undefined) return Infinity;
    const gain = this.cwnd < this.ssthresh ? 2 : 1.25;
    return (gain * this.cwnd) / Math.max(srtt, 0.05);
  }
  private paceBlocked(now: number): boolean {
    const rate = this.paceRate();
    if (rate === Infinity) return false;
    const burst = Math.max(4 * this.payload, rate * 2);
    this.paceTokens = Math.min(burst, this.paceTokens + rate * (now - this.paceAt));
    this.paceAt = now;
    return this.paceTokens < this.payload;
  }
  private paceReadyAt(): number {
    const rate = this.paceRate();
    // A microsecond of slack so float rounding cannot leave the bucket a hair short at the deadline.
    return this.paceAt + Math.max(0, this.payload - this.paceTokens) / rate + 0.001;
  }
}
