/**
 * The sending half of an ft UDP transfer as a pure state machine: no sockets, no timers, no
 * clock of its own. The caller passes the time to every method, sends what `nextSegment` hands
 * out, and arms one timer at `nextDeadline()`, calling `onTimer` when it fires.
 *
 * Reliability: the byte range is cut into fixed-size segments on a grid from `start`; ACKs carry a
 * cumulative offset plus SACK ranges, so only lost segments are resent. A segment is deemed lost
 * when three later segments were SACKed (fast retransmit) or when a segment sent more than a
 * reordering window after it was delivered (RACK-style, which also catches lost retransmissions).
 * When the tail of a flight is lost nothing after it can be SACKed, so after 2·SRTT without
 * progress one tail-loss probe goes out (RACK-TLP; `tailProbes` allows more, each a probe timeout
 * after the last) and its ACK exposes the holes; only if that fails too does the RTO (RFC 6298,
 * exponential backoff) resend everything unSACKed. The sender never sends a segment that does not
 * fit wholly below the receiver's windowEnd. An ACK that tells nothing new changes nothing, so
 * duplicate ACKs never cause a duplicate burst.
 *
 * Congestion control: slow start, a BIC-style climb back toward the window before the last loss,
 * additive increase above it; ×0.7 once per window of data on loss, one segment on timeout. Sends
 * are paced at a multiple of cwnd/SRTT. This module holds the phases, timers and ACK validation;
 * the scoreboard and loss decisions are in loss-recovery.ts, the window in congestion.ts, the token
 * bucket in pacer.ts.
 */
import { RttEstimator } from '../rtt.js';
import { CongestionControl } from './congestion.js';
import { Scoreboard } from './loss-recovery.js';
import { Pacer } from './pacer.js';
import { MAX_ACCEPT_SENDS, MAX_FIN_SENDS, MIN_PTO_MS, newSenderStats, tsvalAt } from './types.js';
import type {
  AckInput,
  AckVerdict,
  SenderAction,
  SenderOptions,
  SenderPhase,
  SenderStats,
} from './types.js';

export class UdpSender {
  readonly rtt: RttEstimator;
  readonly stats: SenderStats = newSenderStats();
  phase: SenderPhase = 'accept';
  /** Why the transfer failed, when phase is 'failed'. */
  failure: string | undefined;

  private readonly start: number;
  private readonly end: number;
  private readonly payload: number;
  private readonly livenessMs: number;
  private readonly pacing: boolean;
  private readonly board: Scoreboard;
  private readonly cc: CongestionControl;
  private readonly pacer: Pacer;
  private windowEnd: number;
  private lastHeard: number;
  private rtoAt = Infinity;
  /** Tail-loss probe timer; a probe is due (`tlpDue`); probes sent since data was last delivered (`tlpSent`). */
  private ptoAt = Infinity;
  private tlpDue = false;
  private tlpSent = 0;
  private readonly tailProbes: number;
  private controlSends = 0;
  private controlSentAt = 0;
  private controlDue = 0;
  private probe = false;
  /** Retransmissions allowed regardless of cwnd: the first one of a recovery (RFC 5681 3.2 step 3). */
  private forced = 0;

  constructor(options: SenderOptions, now: number) {
    this.rtt = new RttEstimator(options);
    this.start = options.start;
    this.end = options.end;
    this.payload = options.payloadSize;
    this.board = new Scoreboard(this.start, this.end, this.payload, options.window);
    this.cc = new CongestionControl(this.payload, options.window);
    this.pacer = new Pacer(this.payload, this.cc, this.rtt, now);
    this.livenessMs = options.livenessMs;
    this.pacing = options.pacing ?? true;
    this.tailProbes = Math.max(1, options.tailProbes ?? 1);
    this.windowEnd = this.start;
    this.lastHeard = now;
  }

  /** Congestion window in bytes. */
  get cwnd(): number {
    return this.cc.cwnd;
  }

  /** Slow-start threshold in bytes. */
  get ssthresh(): number {
    return this.cc.ssthresh;
  }

  /** Bytes acknowledged so far (cumulatively). */
  get acknowledged(): number {
    return Math.min(this.start + this.board.una * this.payload, this.end) - this.start;
  }

  /** Engine state for a diagnostic log line (segment numbers are relative to `start`). */
  snapshot(now: number): Record<string, number | string> {
    return {
      phase: this.phase,
      una: this.board.una,
      nxt: this.board.nxt,
      segs: this.board.segments,
      pipe: this.board.pipe,
      cwnd: Math.round(this.cc.cwnd),
      lost: this.board.lostCount,
      winSegs: Math.floor((this.windowEnd - this.start) / this.payload),
      rtoIn: Number.isFinite(this.rtoAt) ? Math.round(this.rtoAt - now) : -1,
      rto: Math.round(this.rtt.rto),
    };
  }

  /** Segments currently counted as in flight. */
  get inFlight(): number {
    return this.board.pipe;
  }

  /** The earliest time at which `onTimer` or `nextAction` has something to do. */
  nextDeadline(now: number): number {
    if (this.phase === 'done' || this.phase === 'failed') return Infinity;
    let at = this.lastHeard + this.livenessMs;
    if (this.phase === 'accept' || this.phase === 'fin') return Math.min(at, this.controlDue);
    at = Math.min(at, this.rtoAt, this.ptoAt);
    if (this.pacing && this.pacer.blocked(now)) at = Math.min(at, this.pacer.readyAt());
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
    if (this.phase === 'fin' || (this.phase === 'data' && this.board.una >= this.board.segments)) {
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
      const seg = Math.max(0, this.board.nxt - 1);
      return this.emit(seg, now, true);
    }
    if (this.tlpDue) {
      this.tlpDue = false;
      const probe = this.tailProbe(now);
      if (probe !== undefined) return probe;
    }
    const forced = this.forced > 0 && this.board.hasLost;
    if (!forced) {
      if (this.board.pipe * this.payload + this.payload > this.cc.cwnd) {
        this.stats.cwndLimited++;
        return undefined;
      }
      if (this.pacing && this.pacer.blocked(now)) {
        this.stats.paceLimited++;
        return undefined;
      }
    }
    const lost = this.board.nextLost();
    if (lost !== undefined) {
      this.stats.retransmits++;
      if (this.forced > 0) this.forced--;
      return this.emit(lost, now, true);
    }
    this.forced = 0;
    this.board.compactLostQueue();
    if (forced) return this.nextData(now);
    if (!this.board.canSendNew() || !this.fitsWindow(this.board.nxt)) {
      if (this.board.nxt < this.board.segments) this.stats.windowLimited++;
      return undefined;
    }
    return this.emit(this.board.takeNew(), now, false);
  }

  /** The receiver takes DATA only if all of it lies below windowEnd. */
  private fitsWindow(seg: number): boolean {
    return this.board.offsetOf(seg) + this.board.segLength(seg) <= this.windowEnd;
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
   * holes. With `tailProbes` above 1, that many per flight, each a probe timeout apart.
   */
  private onPto(): void {
    this.ptoAt = Infinity;
    if (this.board.una < this.board.nxt && this.tlpSent < this.tailProbes) this.tlpDue = true;
  }

  /** The probe, sent regardless of cwnd and pacing: new data if the window allows, else the last unSACKed segment. */
  private tailProbe(now: number): SenderAction | undefined {
    let seg: number;
    let retransmit = false;
    if (this.board.canSendNew() && this.fitsWindow(this.board.nxt)) {
      seg = this.board.takeNew();
    } else {
      retransmit = true;
      seg = this.board.probeLastUnsacked();
      if (seg < 0) return undefined;
      this.stats.retransmits++;
    }
    this.tlpSent++;
    this.stats.probes++;
    this.rtoAt = now + this.rtt.rto;
    const action = this.emit(seg, now, retransmit);
    // Another probe, a probe timeout later, if this one (or its ACK) is lost too.
    if (this.tlpSent < this.tailProbes) this.ptoAt = now + this.pto();
    return action;
  }

  private emit(seg: number, now: number, retransmit: boolean): SenderAction {
    const offset = this.board.offsetOf(seg);
    const length = Math.min(this.payload, this.end - offset);
    this.board.markSent(seg, now);
    this.stats.segmentsSent++;
    if (this.rtoAt === Infinity) this.rtoAt = now + this.rtt.rto;
    if (!retransmit && this.tlpSent === 0) this.ptoAt = now + this.pto();
    if (this.pacing) this.pacer.spend(length);
    return { kind: 'data', offset, length, tsval: tsvalAt(now), retransmit };
  }

  /** Feeds one ACK from the receiver. */
  onAck(ack: AckInput, now: number): AckVerdict {
    if (this.phase === 'done' || this.phase === 'failed') return 'duplicate';
    const sentEnd = Math.min(this.start + this.board.nxt * this.payload, this.end);
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
      this.pacer.restart(now);
    }
    let news = acceptedOnly;
    if (ack.windowEnd > this.windowEnd) {
      this.windowEnd = ack.windowEnd;
      news = true;
    }
    // When the echoed DATA was sent (its tsval is our own clock in µs).
    let echoAt = -Infinity;
    if (ack.tsEcho !== 0) {
      const age = (tsvalAt(now) - ack.tsEcho + 0x1_0000_0000) % 0x1_0000_0000;
      if (age < 60_000_000) echoAt = now - age / 1000;
    }
    const { delivered, karnSample, rackXmit, spurious } = this.board.acknowledge(
      ack.cumulative,
      ack.ranges,
      echoAt,
      now,
    );
    if (delivered === 0 && !news) {
      this.stats.duplicateAcks++;
      return 'duplicate';
    }
    const { una, nxt } = this.board;
    if (delivered > 0) {
      // RTT: the echoed timestamp names the exact transmission, so it is safe even for
      // retransmitted data; without it, only never-retransmitted data may be timed (Karn).
      if (ack.tsEcho !== 0) {
        const sample = (tsvalAt(now) - ack.tsEcho + 0x1_0000_0000) % 0x1_0000_0000;
        if (sample < 60_000_000) this.rtt.sample(sample / 1000);
      } else if (karnSample !== undefined) this.rtt.sample(karnSample);
      this.rtoAt = una < nxt ? now + this.rtt.rto : Infinity;
      this.tlpSent = 0;
      this.ptoAt = una < nxt ? now + this.pto() : Infinity;
      if (spurious) this.onSpurious();
      this.detectLosses(rackXmit);
      this.cc.grow(delivered, this.board.una);
    }
    if (this.board.una >= this.board.segments) {
      this.phase = 'fin';
      this.controlDue = now;
      this.controlSends = 0;
      this.rtoAt = Infinity;
      this.ptoAt = Infinity;
    } else if (this.board.una === this.board.nxt && !this.fitsWindow(this.board.nxt)) {
      // Nothing in flight and no window: keep a timer so a lost window update is probed for.
      this.rtoAt = now + this.rtt.rto;
    }
    return 'new';
  }

  /**
   * The original of a retransmitted segment arrived after all (the echo names it): the path
   * reorders. Undo the window reduction, stop inferring loss from counts and widen the
   * reordering window, as RACK does on DSACK (RFC 8985 section 6.2).
   */
  private onSpurious(): void {
    this.stats.spuriousRetransmits++;
    this.board.noteReordering(this.rtt.minRtt, this.rtt.srtt);
    this.cc.undo();
  }

  private detectLosses(rackXmit: number): void {
    const { first, count } = this.board.detectLosses(rackXmit, this.rtt.minRtt);
    this.stats.fastRetransmits += count;
    if (first >= 0 && this.cc.onLoss(first, this.board.nxt)) {
      this.forced = 1;
      this.stats.lossEvents++;
    }
  }

  private onRto(now: number): void {
    this.rtt.backoff();
    this.rtoAt = now + this.rtt.rto;
    this.ptoAt = Infinity;
    this.tlpDue = false;
    this.tlpSent = 0;
    if (this.board.una === this.board.nxt) {
      // Window-limited with nothing outstanding: probe instead of collapsing cwnd.
      if (this.board.nxt > 0) this.probe = true;
      this.stats.windowProbes++;
      return;
    }
    this.stats.timeouts++;
    this.cc.onTimeout(this.board.pipe, this.board.nxt);
    this.board.markAllLost();
  }
}
