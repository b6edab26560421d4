/**
 * One UDP download on the server: the UdpSender engine plus the file, the socket and one timer
 * armed at the engine's earliest deadline. The transfer ends (and frees its file and state)
 * when the client closes it, when the FIN went unanswered, or at the liveness limit.
 */
import { throttleFor } from '../net/rates.js';
import {
  EndStatus,
  UdpSender,
  digestsPerDatagram,
  encodeUdpAccept,
  encodeUdpDataHeader,
  encodeUdpDigests,
  encodeUdpError,
  encodeUdpFin,
  WireError,
} from '@ft/protocol';
import type { UdpAccept, UdpAck, UdpDigestRequest } from '@ft/protocol';
import type { FileService, OpenedFile } from '../files/file-service.js';
import { BlockReader } from './block-reader.js';

/** Datagrams one pump may send before yielding to the event loop (ACKs, other transfers). */
const BURST = 64;
/** Diagnostics only (FT_UDP_TRACE=1): engine counters and a cwnd trace in udp-transfer-end. */
const TRACE = process.env.FT_UDP_TRACE === '1';

/** What a transfer needs from the service that owns the socket. */
export interface TransferHost {
  send(datagram: Buffer | Buffer[], port: number, address: string): void;
  /** True when the socket's send queue is long: stop and try again shortly. */
  congested(): boolean;
  /**
   * Counts the moments at which every send issued so far had completed (no payload view was
   * referenced by the socket any more): block memory retired before one may be reused.
   */
  readonly idleEpoch: number;
  files: FileService;
  ended(transfer: ServerTransfer, reason: string): void;
}

export interface TransferSetup {
  id: number;
  address: string;
  port: number;
  nonce: number;
  opened: OpenedFile;
  accept: Omit<UdpAccept, 'type'>;
  /** Chunk digests of the whole file (empty when not asked for). */
  chunkDigests: readonly Buffer[];
  /**
   * In an encrypted session the AEAD tag covers every byte: DATA goes without its CRC (the
   * field is 0), which saves a pass over each payload on both ends.
   */
  sealed?: boolean;
  /**
   * The client asked for HEADER_CRC DATA and takes the chunk digests: the CRC covers the
   * header only, the digests the payload (a pass over each payload fewer on both ends).
   */
  headerCrc?: boolean;
}

export class ServerTransfer {
  readonly id: number;
  readonly address: string;
  readonly port: number;
  readonly nonce: number;
  readonly startedAt = performance.now();
  private readonly sender: UdpSender;
  private readonly reader: BlockReader;
  private readonly acceptDatagram: Buffer;
  private finStatus: EndStatus | undefined;
  private finChecking = false;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Infinity;
  private immediate: NodeJS.Immediate | undefined;
  /** Pending while the rate limits (net/rates.ts) hold the next datagram back. */
  private rateTimer: NodeJS.Timeout | undefined;
  private ended = false;
  /** FT_UDP_TRACE: cwnd (segments) after each ACK that told something new; pumps; queue stalls. */
  private readonly trace = TRACE ? { cwnd: [] as number[], pumps: 0, queueFull: 0 } : undefined;

  constructor(
    private readonly host: TransferHost,
    private readonly setup: TransferSetup,
    livenessMs: number,
  ) {
    this.id = setup.id;
    this.address = setup.address;
    this.port = setup.port;
    this.nonce = setup.nonce;
    const a = setup.accept;
    this.acceptDatagram = encodeUdpAccept(a);
    this.reader = new BlockReader(
      setup.opened.handle.fd,
      setup.opened.size,
      a.offset,
      a.payloadSize,
      () => host.idleEpoch,
    );
    this.sender = new UdpSender(
      {
        start: a.offset,
        end: a.offset + a.length,
        payloadSize: a.payloadSize,
        window: a.window,
        livenessMs,
        // A second tail-loss probe before the RTO: see SenderOptions.tailProbes.
        tailProbes: 2,
      },
      performance.now(),
    );
    this.pump();
  }

  /** The client sent its REQUEST again: it has not seen ACCEPT yet. */
  onRepeatedRequest(): void {
    if (this.sender.phase === 'accept') this.send(this.acceptDatagram);
  }

  onAck(ack: UdpAck): void {
    const now = performance.now();
    const verdict = this.sender.onAck(ack, now);
    if (verdict === 'duplicate' || verdict === 'invalid') {
      this.arm(now);
      return;
    }
    if (this.sender.phase === 'fin' && this.finStatus === undefined) this.checkForChange();
    this.trace?.cwnd.push(this.sender.cwnd / this.setup.accept.payloadSize);
    this.pump();
  }

  onDigestRequest(m: UdpDigestRequest): void {
    const a = this.setup.accept;
    const first = Math.max(m.firstChunk, a.firstChunk);
    const end = Math.min(
      m.firstChunk + m.count,
      a.firstChunk + a.chunkCount,
      first + digestsPerDatagram(a.payloadSize),
    );
    if (end <= first) return;
    this.sender.touch(performance.now());
    this.send(
      encodeUdpDigests({
        transferId: this.id,
        firstChunk: first,
        digests: this.setup.chunkDigests.slice(first, end) as Buffer[],
      }),
    );
  }

  onClose(): void {
    this.sender.onClose(performance.now());
    this.finish();
  }

  /**
   * Ends the transfer now (server shutdown). With `retryAfterMs` the client is told so with an
   * ERROR(BUSY), and retries instead of waiting out its liveness limit.
   */
  abort(reason: string, retryAfterMs?: number): void {
    if (this.ended) return;
    if (retryAfterMs !== undefined) {
      this.send(
        encodeUdpError({
          nonce: this.nonce,
          transferId: this.id,
          code: WireError.BUSY,
          retryAfterMs,
          message: reason,
        }),
      );
    }
    this.sender.fail(reason);
    this.finish();
  }

  /** Bytes the client acknowledged. */
  get acknowledged(): number {
    return this.sender.acknowledged;
  }

  private checkForChange(): void {
    if (this.finChecking) return;
    this.finChecking = true;
    this.host.files.hasChanged(this.setup.opened).then(
      (changed) => {
        this.finStatus = changed ? EndStatus.CHANGED : EndStatus.OK;
        this.pump();
      },
      () => {
        this.finStatus = EndStatus.CHANGED;
        this.pump();
      },
    );
  }

  private pump(): void {
    if (this.ended) return;
    this.immediate = undefined;
    const now = performance.now();
    this.sender.onTimer(now);
    const throttle = throttleFor(this);
    let sent = 0;
    if (this.trace !== undefined) this.trace.pumps++;
    for (;;) {
      if (this.sender.phase === 'done' || this.sender.phase === 'failed') {
        this.finish();
        return;
      }
      if (this.sender.phase === 'fin' && this.finStatus === undefined) break;
      if (sent >= BURST || this.host.congested()) {
        if (this.trace !== undefined && sent < BURST) this.trace.queueFull++;
        this.immediate = setImmediate(() => this.pump());
        break;
      }
      // Under --max-rate(-per-connection) the limit caps what congestion control would send.
      const wait = throttle?.delay(now) ?? 0;
      if (wait > 0) {
        this.rateTimer ??= setTimeout(() => {
          this.rateTimer = undefined;
          this.pump();
        }, Math.ceil(wait));
        break;
      }
      const action = this.sender.nextAction(now);
      if (action === undefined) break;
      sent++;
      if (action.kind === 'accept') this.send(this.acceptDatagram);
      else if (action.kind === 'fin') {
        this.send(
          encodeUdpFin({
            transferId: this.id,
            status: this.finStatus ?? EndStatus.CHANGED,
            end: this.setup.accept.offset + this.setup.accept.length,
          }),
        );
      } else {
        let payload: Buffer;
        try {
          payload = this.reader.slice(action.offset, action.length);
        } catch {
          // The file shrank under us: we cannot produce the announced bytes.
          this.sender.fail('file shrank');
          continue;
        }
        const header = encodeUdpDataHeader(
          this.id,
          action.offset,
          action.tsval,
          payload,
          this.setup.sealed === true ? false : this.setup.headerCrc === true ? 'header' : true,
        );
        this.host.send([header, payload], this.port, this.address);
        throttle?.take(payload.length, now);
      }
    }
    this.arm(now);
  }

  /** One timer per transfer, at the engine's earliest deadline. */
  private arm(now: number): void {
    if (this.ended || this.immediate !== undefined) return;
    const at = this.sender.nextDeadline(now);
    if (at === this.timerAt && this.timer !== undefined) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = at;
    if (at === Infinity) return;
    this.timer = setTimeout(
      () => {
        this.timer = undefined;
        this.timerAt = Infinity;
        this.pump();
      },
      Math.max(0, Math.ceil(at - now)),
    );
  }

  private send(datagram: Buffer): void {
    this.host.send(datagram, this.port, this.address);
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    if (this.immediate !== undefined) clearImmediate(this.immediate);
    if (this.rateTimer !== undefined) clearTimeout(this.rateTimer);
    const reason = this.sender.phase === 'done' ? 'done' : (this.sender.failure ?? 'failed');
    void this.setup.opened.close().catch(() => {});
    this.host.ended(this, reason);
  }

  /** Counters for the end-of-transfer log line. */
  summary(): Record<string, number> {
    const s = this.sender.stats;
    return {
      bytes: this.sender.acknowledged,
      ms: Math.round(performance.now() - this.startedAt),
      sent: s.segmentsSent,
      retransmits: s.retransmits,
      timeouts: s.timeouts,
      probes: s.probes,
      windowProbes: s.windowProbes,
      srttMs: Math.round((this.sender.rtt.srtt ?? 0) * 100) / 100,
      ...(this.trace === undefined ? {} : this.traceSummary()),
    };
  }

  private traceSummary(): Record<string, number> {
    const s = this.sender.stats;
    const c = [...this.trace!.cwnd].sort((a, b) => a - b);
    const at = (q: number): number =>
      Math.round(10 * (c[Math.floor(q * (c.length - 1))] ?? 0)) / 10;
    return {
      acks: s.acks,
      dupAcks: s.duplicateAcks,
      fastRetransmits: s.fastRetransmits,
      spurious: s.spuriousRetransmits,
      lossEvents: s.lossEvents,
      cwndLimited: s.cwndLimited,
      paceLimited: s.paceLimited,
      windowLimited: s.windowLimited,
      pumps: this.trace!.pumps,
      queueFull: this.trace!.queueFull,
      cwndP10: at(0.1),
      cwndP50: at(0.5),
      cwndP90: at(0.9),
      minRttMs: Math.round(this.sender.rtt.minRtt * 1000) / 1000,
    };
  }

  /** Engine state, logged when a transfer fails. */
  snapshot(): Record<string, number | string> {
    return this.sender.snapshot(performance.now());
  }
}
