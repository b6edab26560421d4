/**
 * The receiving state of a UDP GET between datagrams: hands in-order payloads to the sink,
 * reopens the window as they are written (under --limit-rate once the rate allows), and sends
 * ACKs, urgent ones at once and the others after a short delay (delayed ACK).
 */
import { encodeUdpAck } from '@ft/protocol';
import type { Throttle, UdpReceiver } from '@ft/protocol';
import type { GetSink } from '../connection.js';
import type { Pin } from '../receive/receive-ring.js';
import { canFreeEarly, deliverThenFree, ownsItsMemory } from './datagram-memory.js';

/**
 * Delayed ACK. In bulk flow the receiver ACKs every few segments anyway (ackEveryFor); a
 * pending ACK goes out once DATA has paused for ACK_QUIET_MS (the sender is waiting for it),
 * checked every ACK_DELAY_MS, and at the latest ACK_MAX_DELAY_MS after it became due.
 * ACKing each read burst instead meant one ACK per datagram when they arrive spaced out,
 * which cost both sides more CPU than the data; a fixed 2 ms delay stalled a sender whose
 * congestion window was smaller than the ACK count for ~2 ms at a time (at 1% loss ~100 times
 * per 256 MiB, at 5% ~200: most of the idle time of both ends).
 */
const ACK_DELAY_MS = 1;
const ACK_QUIET_MS = 0.5;
const ACK_MAX_DELAY_MS = 2;

/** The receiving state of the GET in progress, shared with pause, resume and close. */
export class ReceiveFlow {
  receiver: UdpReceiver | undefined;
  transferId = 0;
  private paused = false;
  private unreleased = 0;
  private ackScheduled = false;
  /** ACKs the delayed-ACK timer sent (FT_UDP_TRACE). */
  timerAcks = 0;
  /** When DATA last left an ACK pending, and since when one has been pending (-1: none). */
  private lastDataAt = 0;
  private dueSince = -1;
  /** --limit-rate: delivered bytes whose window release waits for the rate limit. */
  private held = 0;
  private heldTimer: NodeJS.Timeout | undefined;
  /** Payloads in datagrams of their own are freed once the sink is done with them (datagram-memory.ts). */
  private readonly freeEarly: boolean;

  constructor(
    private readonly send: (datagram: Buffer) => void,
    private readonly throttle: () => Throttle | undefined = () => undefined,
    /** Payloads arrive in Node's own datagram buffers (not decrypted copies of a sealed session). */
    ownBuffers = false,
  ) {
    this.freeEarly = ownBuffers && canFreeEarly();
  }

  /** Backpressure: stop opening the window until resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const r = this.receiver;
    if (r === undefined) return;
    r.release(this.unreleased);
    this.unreleased = 0;
    if (r.ackUrgent) this.sendAck();
  }

  /** Hands the bytes ready in order to the sink; the window reopens for them unless paused. */
  deliver(sink: GetSink): void {
    const r = this.receiver!;
    const onData = (chunk: Buffer, pin?: Pin): void => sink.onData(chunk, pin);
    for (const chunk of r.takeReady()) {
      // Taken first: the chunk may be empty (freed) once the sink returns.
      const bytes = chunk.length;
      if (this.freeEarly && ownsItsMemory(chunk)) deliverThenFree(chunk, onData);
      else sink.onData(chunk);
      if (this.paused) this.unreleased += bytes;
      else this.releaseWithin(r, bytes);
    }
  }

  /**
   * Opens the window by `bytes`, at once or, under --limit-rate, once the rate allows: the
   * server can then have at most one window of data beyond the rate in flight.
   */
  private releaseWithin(r: UdpReceiver, bytes: number): void {
    const throttle = this.throttle();
    const wait = throttle?.take(bytes) ?? 0;
    if (wait <= 0 && this.heldTimer === undefined) {
      r.release(bytes);
      return;
    }
    this.held += bytes;
    const arm = (ms: number): void => {
      this.heldTimer = setTimeout(() => {
        const more = throttle!.delay();
        if (more > 0) return arm(more);
        this.heldTimer = undefined;
        const n = this.held;
        this.held = 0;
        if (this.receiver !== r) return;
        if (this.paused) this.unreleased += n;
        else {
          r.release(n);
          if (r.ackUrgent) this.sendAck();
        }
      }, Math.ceil(ms));
    };
    if (this.heldTimer === undefined) arm(wait);
  }

  /** Stops a pending rate-limit release (the connection failed or closed). */
  dispose(): void {
    clearTimeout(this.heldTimer);
    this.heldTimer = undefined;
  }

  /** Sends an ACK of what has arrived (nothing when no transfer is open). */
  sendAck(): void {
    const r = this.receiver;
    if (r === undefined || this.transferId === 0) return;
    this.dueSince = -1;
    this.send(encodeUdpAck({ transferId: this.transferId, ...r.makeAck() }));
  }

  /**
   * A pending, not urgent ACK goes out once DATA paused for ACK_QUIET_MS (checked every
   * ACK_DELAY_MS), or ACK_MAX_DELAY_MS after it became due while DATA keeps coming, unless an
   * urgent one overtakes it. A pause with an ACK pending means the sender waits for it: the
   * receiver then ACKs sooner from now on (UdpReceiver.onAckDelay).
   */
  scheduleAck(now: number): void {
    this.lastDataAt = now;
    if (this.dueSince < 0) this.dueSince = now;
    if (this.ackScheduled) return;
    this.ackScheduled = true;
    this.armAckTimer();
  }

  private armAckTimer(): void {
    setTimeout(() => {
      const r = this.receiver;
      if (r === undefined || !r.ackPending) {
        this.ackScheduled = false;
        return;
      }
      const now = performance.now();
      const quiet = now - this.lastDataAt >= ACK_QUIET_MS;
      if (!quiet && now - this.dueSince < ACK_MAX_DELAY_MS) {
        this.armAckTimer();
        return;
      }
      this.ackScheduled = false;
      this.timerAcks++;
      if (quiet) r.onAckDelay();
      this.sendAck();
    }, ACK_DELAY_MS);
  }
}

/** FT_UDP_TRACE=1 (diagnostics only): the receiver's counters and the event loop's use, on stderr. */
export function traceEnd(r: UdpReceiver, marks: Record<string, number>): void {
  const elu = performance.eventLoopUtilization();
  const at: Record<string, number> = {};
  for (const [k, v] of Object.entries(marks)) at[k] = Math.round(v);
  process.stderr.write(
    `udp-trace ${JSON.stringify({ ...r.stats, idleMs: Math.round(elu.idle), activeMs: Math.round(elu.active), ...at, finAt: Math.round(performance.now()) })}\n`,
  );
}
