/**
 * Encrypted UDP sessions (docs/PROTOCOL.md, "Encrypted UDP sessions"). Over TLS the client asks
 * for a session (UDP_SESSION); both ends then take keying material from the TLS exporter
 * (RFC 5705 / RFC 8446 §7.5, label EXPORTER-ft-udp-v1, context the 8-byte session id) and every
 * datagram of the session travels sealed with AES-256-GCM, one key and nonce base per direction:
 *
 *   magic u8 | version u8 | type u8 (SEALED_TO_SERVER / SEALED_TO_CLIENT) | flags u8 (0)
 *   | session id [8] | packet number u64 | AES-256-GCM(inner datagram) | tag [16]
 *
 * The 20 header bytes are the associated data; the nonce is the direction's 12-byte nonce base
 * XOR the packet number (big-endian, right-aligned), as in TLS 1.3 and QUIC. The inner datagram
 * is a complete ordinary datagram (its own header and CRC included). Packet numbers start at 0
 * and grow by one per datagram; the receiver drops forged, replayed and too-old ones
 * (replay-window.ts) and counts them.
 */
import { createCipheriv, createDecipheriv } from 'node:crypto';
import { FtError } from '../errors.js';
import { DatagramType, UDP_HEADER_SIZE, UDP_MAGIC, UDP_VERSION } from './constants.js';
import { ReplayWindow } from './replay-window.js';

/** TLS exporter label of the session keys. */
export const UDP_EXPORTER_LABEL = 'EXPORTER-ft-udp-v1';
/** Bytes taken from the exporter: two 32-byte keys, then two 12-byte nonce bases. */
export const UDP_KEY_MATERIAL_SIZE = 2 * 32 + 2 * 12;
/** magic, version, type, flags, session id [8], packet number u64. */
export const SEALED_HEADER_SIZE = 4 + 8 + 8;
export const AEAD_TAG_SIZE = 16;
/** Smallest sealed datagram: header, the smallest inner datagram (its header), tag. */
export const MIN_SEALED_SIZE = SEALED_HEADER_SIZE + UDP_HEADER_SIZE + AEAD_TAG_SIZE;
/**
 * Datagrams one direction of a session may seal (AES-GCM's confidentiality limit for full-size
 * packets, RFC 9001 §6.6: 2^23). Past it the sender stops; the client opens a new session.
 */
export const MAX_SEALED_PER_DIRECTION = 2 ** 23;
/** Failed tag checks a receiver tolerates per session (RFC 9001's integrity limit is 2^52; far lower here). */
export const MAX_FORGERIES = 2 ** 20;

/** Which end of the session this is. */
export type SessionRole = 'client' | 'server';

/** Why a sealed datagram was dropped. */
export type OpenFailure = 'malformed' | 'forged' | 'replayed' | 'too-old';

/** Counters of what a session's receiver dropped. */
export interface SealedStats {
  opened: number;
  forged: number;
  replayed: number;
  tooOld: number;
}

/** The session id of a sealed datagram (8 bytes, a view), or undefined if `buf` is not one. */
export function sealedSessionId(buf: Buffer, from: SessionRole): Buffer | undefined {
  const type = from === 'client' ? DatagramType.SEALED_TO_SERVER : DatagramType.SEALED_TO_CLIENT;
  if (buf.length < MIN_SEALED_SIZE || buf[0] !== UDP_MAGIC || buf[1] !== UDP_VERSION) return;
  if (buf[2] !== type || buf[3] !== 0) return;
  return buf.subarray(4, 12);
}

/** One end of an encrypted session: seals what it sends, opens what it receives. */
export class SealedChannel {
  readonly stats: SealedStats = { opened: 0, forged: 0, replayed: 0, tooOld: 0 };
  private readonly sendKey: Buffer;
  private readonly sendIv: Buffer;
  private readonly recvKey: Buffer;
  private readonly recvIv: Buffer;
  private readonly sendType: number;
  private sendPn = 0;
  private readonly window = new ReplayWindow();

  /**
   * @param material UDP_KEY_MATERIAL_SIZE bytes of `exportKeyingMaterial(UDP_KEY_MATERIAL_SIZE,
   *   UDP_EXPORTER_LABEL, sessionId)` on the session's TLS connection
   */
  constructor(
    readonly sessionId: Buffer,
    material: Buffer,
    readonly role: SessionRole,
  ) {
    if (material.length !== UDP_KEY_MATERIAL_SIZE || sessionId.length !== 8)
      throw new RangeError('SealedChannel: bad key material or session id size');
    const c2s = { key: material.subarray(0, 32), iv: material.subarray(64, 76) };
    const s2c = { key: material.subarray(32, 64), iv: material.subarray(76, 88) };
    const [send, recv] = role === 'client' ? [c2s, s2c] : [s2c, c2s];
    this.sendKey = Buffer.from(send.key);
    this.sendIv = Buffer.from(send.iv);
    this.recvKey = Buffer.from(recv.key);
    this.recvIv = Buffer.from(recv.iv);
    this.sendType =
      role === 'client' ? DatagramType.SEALED_TO_SERVER : DatagramType.SEALED_TO_CLIENT;
  }

  /** True once this end sealed its datagram limit: it must not send in this session again. */
  get exhausted(): boolean {
    return this.sendPn >= MAX_SEALED_PER_DIRECTION;
  }

  /** True once so many forgeries arrived that the session must be given up. */
  get compromised(): boolean {
    return this.stats.forged >= MAX_FORGERIES;
  }

  /**
   * Seals one datagram (given whole or as parts, e.g. a DATA header and its payload): returns
   * the parts of the sealed datagram, to be sent as one (socket.send of an array).
   */
  seal(datagram: Buffer | readonly Buffer[]): Buffer[] {
    if (this.exhausted)
      throw new FtError(
        'FT_UDP_SESSION_EXHAUSTED',
        `the UDP session sealed its ${MAX_SEALED_PER_DIRECTION} datagrams: a new one is needed`,
      );
    const pn = this.sendPn++;
    const header = Buffer.allocUnsafe(SEALED_HEADER_SIZE);
    header[0] = UDP_MAGIC;
    header[1] = UDP_VERSION;
    header[2] = this.sendType;
    header[3] = 0;
    this.sessionId.copy(header, 4);
    writePn(header, 12, pn);
    const cipher = createCipheriv('aes-256-gcm', this.sendKey, nonceFor(this.sendIv, pn));
    cipher.setAAD(header);
    const out = [header];
    for (const part of Array.isArray(datagram) ? datagram : [datagram]) {
      const b = cipher.update(part as Buffer);
      if (b.length > 0) out.push(b);
    }
    const last = cipher.final();
    if (last.length > 0) out.push(last);
    out.push(cipher.getAuthTag());
    return out;
  }

  /**
   * Opens a sealed datagram of this session (its session id already matched): the inner
   * datagram, or why it was dropped (counted in `stats`).
   */
  open(buf: Buffer): Buffer | OpenFailure {
    if (buf.length < MIN_SEALED_SIZE) return 'malformed';
    const pn = readPn(buf, 12);
    if (pn === undefined) return 'malformed';
    const verdict = this.window.check(pn);
    if (verdict === 'replayed') {
      this.stats.replayed++;
      return verdict;
    }
    if (verdict === 'too-old') {
      this.stats.tooOld++;
      return verdict;
    }
    const decipher = createDecipheriv('aes-256-gcm', this.recvKey, nonceFor(this.recvIv, pn));
    decipher.setAAD(buf.subarray(0, SEALED_HEADER_SIZE));
    decipher.setAuthTag(buf.subarray(buf.length - AEAD_TAG_SIZE));
    let inner: Buffer;
    try {
      const body = decipher.update(buf.subarray(SEALED_HEADER_SIZE, buf.length - AEAD_TAG_SIZE));
      decipher.final();
      inner = body;
    } catch {
      this.stats.forged++;
      return 'forged';
    }
    this.window.mark(pn);
    this.stats.opened++;
    return inner;
  }
}

/** The direction's nonce base XOR the packet number, right-aligned big-endian (RFC 8446 §5.3). */
function nonceFor(base: Buffer, pn: number): Buffer {
  const nonce = Buffer.from(base);
  const hi = Math.floor(pn / 0x1_0000_0000);
  const lo = pn >>> 0;
  nonce.writeUInt32BE((nonce.readUInt32BE(4) ^ hi) >>> 0, 4);
  nonce.writeUInt32BE((nonce.readUInt32BE(8) ^ lo) >>> 0, 8);
  return nonce;
}

function writePn(buf: Buffer, at: number, pn: number): void {
  buf.writeUInt32BE(Math.floor(pn / 0x1_0000_0000), at);
  buf.writeUInt32BE(pn >>> 0, at + 4);
}

/** The packet number at `at`, or undefined above 2^53 − 1 (never sent: see MAX_SEALED_PER_DIRECTION). */
function readPn(buf: Buffer, at: number): number | undefined {
  const hi = buf.readUInt32BE(at);
  if (hi > 0x001f_ffff) return undefined;
  return hi * 0x1_0000_0000 + buf.readUInt32BE(at + 4);
}
