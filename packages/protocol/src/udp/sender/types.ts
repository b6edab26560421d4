/** Constants, options and result types of the UDP sending engine, and its DATA timestamp. */
import type { RttOptions } from '../rtt.js';
import type { ByteRange } from '../messages.js';

/** Segments SACKed above a hole before it is deemed lost (RFC 5681's duplicate-ACK threshold). */
export const DUP_THRESHOLD = 3;
/** cwnd multiplier on a loss event (CUBIC's beta; Reno's 0.5 gives up too much on random loss). */
export const LOSS_BETA = 0.7;
/** Most segments cwnd may grow by in one round trip on its way back to wMax (Linux tcp_bic's max_increment). */
export const BIC_MAX_INCREMENT = 16;
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
  /**
   * Tail-loss probes per flight before the RTO may fire (default 1, as RFC 8985). Each after a
   * probe timeout of its own; a second one saves the RTO (100+ ms and a collapse to one
   * segment) whenever the first probe or its ACK is lost, which random loss makes common.
   */
  tailProbes?: number;
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
  /** Loss events (window reductions) and undone ones. */
  lossEvents: number;
  /** Times nextAction had data to send but held it back: cwnd full, pacing, receive window. */
  cwndLimited: number;
  paceLimited: number;
  windowLimited: number;
}

/** A sender's counters at the start of a transfer: all zero. */
export function newSenderStats(): SenderStats {
  return {
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
    lossEvents: 0,
    cwndLimited: 0,
    paceLimited: 0,
    windowLimited: 0,
  };
}

/** Microsecond timestamp for DATA.tsval: never 0 (0 means "no echo"). */
export function tsvalAt(nowMs: number): number {
  return Math.floor(nowMs * 1000) % 0x1_0000_0000 || 1;
}
