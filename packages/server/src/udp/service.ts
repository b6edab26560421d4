/**
 * The UDP face of ftserve: one datagram socket, address validation by stateless tokens, limits,
 * and the transfers in progress. Everything that arrives is checked (checksum, layout, type,
 * transfer id, source address); what fails is counted and dropped. Before a client has echoed a
 * valid token the only answers are RETRY (or a version ERROR), each no larger than three times
 * the datagram it answers, so the server cannot be used to amplify traffic at a spoofed address.
 */
import type { RemoteInfo, Socket } from 'node:dgram';
import { randomInt } from 'node:crypto';
import { DatagramType, UdpVersionError, decodeDatagram, sealedSessionId } from '@ft/protocol';
import type { UdpMessage, UdpRequest, UdpStat } from '@ft/protocol';
import type { FileService } from '../files/file-service.js';
import type { Logger } from '../logger.js';
import { answerStat, openTransfer, wireOf } from './answers.js';
import { bindUdp } from './bind.js';
import { UdpDefaults } from './config.js';
import { newUdpStats } from './config.js';
import type { UdpServerOptions, UdpServerStats } from './config.js';
import { TokenMinter } from './token.js';
import type { ServerTransfer, TransferHost } from './transfer.js';
import type { AddressGate } from '../access/address-list.js';
import { ipKey } from '../net/peer.js';
import { UdpAdmission } from './admission.js';
import {
  busy,
  errorAnswer,
  peerKey,
  requestKey,
  retryAnswer,
  versionAnswer,
} from './peer-answers.js';
import type { UdpErrorFields } from './peer-answers.js';
import { UdpSendSide } from './send-side.js';
import { UdpSessions } from './sessions.js';
import type { UdpSession } from './sessions.js';
import type { UdpSessionGrant } from './session-grant.js';

export class UdpFileServer implements TransferHost {
  readonly stats: UdpServerStats = newUdpStats();
  readonly files: FileService;
  private readonly tokens = new TokenMinter();
  private readonly byId = new Map<number, ServerTransfer>();
  /** address|port|nonce → transfer (or 'opening' while the file is being opened). */
  private readonly byRequest = new Map<string, ServerTransfer | 'opening'>();
  private readonly perAddress = new Map<string, number>();
  private readonly maxTransfers: number;
  private readonly maxPerAddress: number;
  private readonly livenessMs: number;
  private readonly maxWindow: number;
  private readonly gate: AddressGate | undefined;
  private readonly admission: UdpAdmission;
  private readonly out: UdpSendSide;
  /** Encrypted sessions (a server with TLS); undefined: plaintext UDP only. */
  private readonly sessions: UdpSessions | undefined;
  /** Transfers opened in an encrypted session → that session. */
  private readonly sealedBy = new Map<number, UdpSession>();
  private closed = false;
  private closing: Promise<void> | undefined;
  /** Set by drain(): new transfers are refused; called once the last running one ends. */
  private draining: (() => void) | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly logger: Logger,
    options: UdpServerOptions,
  ) {
    this.files = options.files;
    this.maxTransfers = options.maxTransfers ?? UdpDefaults.maxTransfers;
    this.maxPerAddress = options.maxTransfersPerAddress ?? UdpDefaults.maxTransfersPerAddress;
    this.livenessMs = options.livenessMs ?? UdpDefaults.livenessMs;
    this.maxWindow = options.maxWindow ?? UdpDefaults.maxWindow;
    this.gate = options.gate;
    this.sessions = options.sessions
      ? new UdpSessions(options.maxSessions ?? UdpDefaults.maxSessions)
      : undefined;
    this.out = new UdpSendSide(socket, this.stats, this.sessions);
    this.admission = new UdpAdmission(
      this.tokens,
      options.access,
      this.sessions,
      this.files.jail,
      this.stats,
    );
    socket.on('message', (msg, rinfo) => this.onMessage(msg, rinfo));
    // Send errors (e.g. ICMP unreachable reported on a later call) concern one peer, not us.
    socket.on('error', (error) => this.logger.warn('udp-socket-error', { error: String(error) }));
  }

  static async listen(options: UdpServerOptions): Promise<UdpFileServer> {
    const socket = await bindUdp(options.host, options.port);
    return new UdpFileServer(socket, options.logger, options);
  }

  /** Where the socket is bound. */
  address(): { address: string; port: number; family: string } {
    return this.socket.address();
  }

  /** Installs an encrypted session granted over TLS (ignored without TLS). */
  addSession(grant: UdpSessionGrant): void {
    this.sessions?.add(grant);
  }

  get activeTransfers(): number {
    return this.byId.size;
  }

  send(datagram: Buffer | Buffer[], port: number, address: string): void {
    if (!this.closed) this.out.send(datagram, port, address);
  }

  congested(): boolean {
    return this.out.congested();
  }

  /** See TransferHost.idleEpoch. */
  get idleEpoch(): number {
    return this.out.idleEpoch;
  }

  ended(transfer: ServerTransfer, reason: string): void {
    if (this.byId.get(transfer.id) !== transfer) return;
    this.byId.delete(transfer.id);
    this.byRequest.delete(requestKey(transfer.address, transfer.port, transfer.nonce));
    const session = this.sealedBy.get(transfer.id);
    if (session !== undefined) {
      this.sealedBy.delete(transfer.id);
      this.sessions!.transferEnded(session);
    }
    this.release(transfer.address);
    this.checkDrained();
    this.logger.info('udp-transfer-end', {
      id: transfer.id,
      peer: `${transfer.address}:${transfer.port}`,
      reason,
      ...transfer.summary(),
      ...(reason === 'done' ? {} : transfer.snapshot()),
    });
  }

  /**
   * Graceful shutdown: new transfers are refused with BUSY while the running ones (and those
   * being opened) go on for up to `graceMs`; then whatever is left is ended and the socket
   * closed. STAT is still answered meanwhile.
   */
  async drain(graceMs: number): Promise<void> {
    if (this.closing !== undefined) return this.closing;
    if (this.draining === undefined && this.byRequest.size > 0) {
      this.logger.info('udp-draining', { transfers: this.byRequest.size, graceMs });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.draining = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.draining ??= () => {};
    await this.close();
  }

  /**
   * Stops receiving, ends every transfer (telling each client: BUSY, so it retries later) and
   * closes the socket.
   */
  close(): Promise<void> {
    this.closing ??= this.shut();
    return this.closing;
  }

  private async shut(): Promise<void> {
    this.draining ??= () => {};
    for (const t of [...this.byId.values()])
      t.abort('server shutting down', UdpDefaults.busyRetryMs);
    await this.flushSends(200);
    this.closed = true;
    await new Promise<void>((resolve) => this.socket.close(() => resolve()));
  }

  /** Lets queued datagrams (the ERRORs of close) leave before the socket closes, for at most `maxMs`. */
  private async flushSends(maxMs: number): Promise<void> {
    const until = performance.now() + maxMs;
    do await new Promise((resolve) => setImmediate(resolve));
    while (this.socket.getSendQueueCount() > 0 && performance.now() < until);
  }

  private checkDrained(): void {
    if (this.draining !== undefined && this.byRequest.size === 0) this.draining();
  }

  private onMessage(msg: Buffer, rinfo: RemoteInfo): void {
    this.stats.datagrams++;
    this.stats.bytesIn += msg.length;
    if (this.gate !== undefined && !this.gate.admits(rinfo.address)) {
      this.gate.noteRefused(ipKey(rinfo.address), 'udp');
      return;
    }
    if (this.sessions !== undefined) {
      const sid = sealedSessionId(msg, 'client');
      if (sid !== undefined) {
        this.onSealed(sid, msg, rinfo);
        return;
      }
    }
    let m: UdpMessage;
    try {
      m = decodeDatagram(msg);
    } catch (error) {
      this.stats.malformed++;
      if (error instanceof UdpVersionError) {
        const answer = versionAnswer(msg, error);
        if (answer !== undefined) this.send(answer, rinfo.port, rinfo.address);
      }
      return;
    }
    this.dispatch(m, msg.length, rinfo, undefined);
  }

  /** A datagram of an encrypted session: opened (or dropped and counted), then dispatched. */
  private onSealed(sid: Buffer, msg: Buffer, rinfo: RemoteInfo): void {
    const opened = this.sessions!.open(sid, msg, peerKey(rinfo.address, rinfo.port));
    if (typeof opened === 'string') {
      if (opened === 'unknown') this.stats.unknownSession++;
      else if (opened === 'forged') this.stats.forged++;
      else if (opened === 'malformed') this.stats.malformed++;
      else this.stats.replayed++;
      return;
    }
    let m: UdpMessage;
    try {
      m = decodeDatagram(opened.inner, false);
    } catch {
      this.stats.malformed++;
      return;
    }
    this.dispatch(m, msg.length, rinfo, opened.session);
  }

  /** Handles one decoded datagram; `session`: the encrypted session it came in, if any. */
  private dispatch(
    m: UdpMessage,
    size: number,
    rinfo: RemoteInfo,
    session: UdpSession | undefined,
  ): void {
    switch (m.type) {
      case DatagramType.REQUEST:
      case DatagramType.STAT:
        if (!this.admits(m, size, rinfo, session)) return;
        if (m.type === DatagramType.REQUEST) this.onRequest(m, rinfo, session);
        else void this.onStat(m, rinfo);
        return;
      case DatagramType.ACK:
      case DatagramType.DIGEST_REQUEST:
      case DatagramType.CLOSE: {
        const t = this.byId.get(m.transferId);
        if (
          t === undefined ||
          t.address !== rinfo.address ||
          t.port !== rinfo.port ||
          this.sealedBy.get(t.id) !== session
        ) {
          // Not this peer's transfer (or already over, or a plaintext datagram for an
          // encrypted transfer): ignore without a word.
          this.stats.strangers++;
          return;
        }
        if (m.type === DatagramType.ACK) t.onAck(m);
        else if (m.type === DatagramType.DIGEST_REQUEST) t.onDigestRequest(m);
        else t.onClose();
        return;
      }
      default:
        // A server-to-client type sent to us.
        this.stats.malformed++;
    }
  }

  /** Whether a REQUEST or STAT may go on (admission.ts); refusals and RETRYs are sent here. */
  private admits(
    m: UdpRequest | UdpStat,
    size: number,
    rinfo: RemoteInfo,
    session: UdpSession | undefined,
  ): boolean {
    const verdict = this.admission.judge(m, rinfo, session);
    if (verdict === 'retry') this.retry(m.nonce, size, rinfo);
    else if (verdict !== undefined) this.error(rinfo, m.nonce, verdict);
    return verdict === undefined;
  }

  /** An unvalidated peer gets a token, never more than AMPLIFICATION_FACTOR × what it sent. */
  private retry(nonce: number, received: number, rinfo: RemoteInfo): void {
    const answer = retryAnswer(this.tokens, nonce, received, rinfo);
    if (answer === undefined) return;
    this.stats.retries++;
    this.send(answer, rinfo.port, rinfo.address);
  }

  private error(rinfo: RemoteInfo, nonce: number, e: UdpErrorFields): void {
    this.send(errorAnswer(nonce, e), rinfo.port, rinfo.address);
  }

  private onRequest(m: UdpRequest, rinfo: RemoteInfo, session: UdpSession | undefined): void {
    const key = requestKey(rinfo.address, rinfo.port, m.nonce);
    const existing = this.byRequest.get(key);
    if (existing !== undefined) {
      if (existing !== 'opening') existing.onRepeatedRequest();
      return;
    }
    if (this.draining !== undefined) {
      this.stats.busy++;
      this.error(rinfo, m.nonce, busy('server shutting down'));
      return;
    }
    const held = this.perAddress.get(rinfo.address) ?? 0;
    if (this.byRequest.size >= this.maxTransfers || held >= this.maxPerAddress) {
      this.stats.busy++;
      const limit =
        held >= this.maxPerAddress
          ? `too many UDP transfers from ${rinfo.address} (limit ${this.maxPerAddress})`
          : `too many UDP transfers (limit ${this.maxTransfers})`;
      this.error(rinfo, m.nonce, busy(limit));
      return;
    }
    this.byRequest.set(key, 'opening');
    this.perAddress.set(rinfo.address, held + 1);
    this.open(m, rinfo, session).then(
      (transfer) => {
        if (this.closing !== undefined) transfer.abort('server shutting down');
      },
      (error: unknown) => {
        this.byRequest.delete(key);
        this.release(rinfo.address);
        this.error(rinfo, m.nonce, wireOf(error));
        this.checkDrained();
      },
    );
  }

  private open(
    m: UdpRequest,
    rinfo: RemoteInfo,
    session: UdpSession | undefined,
  ): Promise<ServerTransfer> {
    return openTransfer(
      {
        host: this,
        files: this.files,
        livenessMs: this.livenessMs,
        maxWindow: this.maxWindow,
        newId: () => this.newId(),
        shuttingDown: () => this.closing !== undefined,
        sealed: session !== undefined,
        register: (transfer) => {
          this.byId.set(transfer.id, transfer);
          this.byRequest.set(requestKey(rinfo.address, rinfo.port, m.nonce), transfer);
          this.stats.transfers++;
          if (session !== undefined) {
            this.sealedBy.set(transfer.id, session);
            this.sessions!.transferStarted(session);
          }
        },
      },
      m,
      rinfo,
    );
  }

  private async onStat(m: UdpStat, rinfo: RemoteInfo): Promise<void> {
    try {
      this.send(await answerStat(this.files, m), rinfo.port, rinfo.address);
    } catch (error) {
      this.error(rinfo, m.nonce, wireOf(error));
    }
  }

  private newId(): number {
    for (;;) {
      const id = randomInt(1, 0xffff_ffff);
      if (!this.byId.has(id)) return id;
    }
  }

  private release(address: string): void {
    const n = this.perAddress.get(address) ?? 0;
    if (n <= 1) this.perAddress.delete(address);
    else this.perAddress.set(address, n - 1);
  }
}
