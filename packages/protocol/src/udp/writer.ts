import { sealDatagram } from './checksum.js';
import { UDP_HEADER_SIZE, UDP_MAGIC, UDP_VERSION } from './constants.js';

const TWO_32 = 0x1_0000_0000;

/** Writes one datagram (common header + body) into a buffer sized exactly once. */
export class DatagramWriter {
  private readonly buf: Buffer;
  private pos = UDP_HEADER_SIZE;

  constructor(type: number, flags: number, bodySize: number) {
    this.buf = Buffer.allocUnsafe(UDP_HEADER_SIZE + bodySize);
    this.buf[0] = UDP_MAGIC;
    this.buf[1] = UDP_VERSION;
    this.buf[2] = type;
    this.buf[3] = flags;
  }

  u8(v: number): this {
    this.buf[this.pos++] = v;
    return this;
  }
  u16(v: number): this {
    this.pos = this.buf.writeUInt16BE(v, this.pos);
    return this;
  }
  u32(v: number): this {
    this.pos = this.buf.writeUInt32BE(v, this.pos);
    return this;
  }
  u64(v: number): this {
    this.buf.writeUInt32BE(Math.floor(v / TWO_32), this.pos);
    this.buf.writeUInt32BE(v >>> 0, this.pos + 4);
    this.pos += 8;
    return this;
  }
  bytes(b: Uint8Array): this {
    this.buf.set(b, this.pos);
    this.pos += b.length;
    return this;
  }
  string(s: string, byteLength: number): this {
    this.u16(byteLength);
    this.pos += this.buf.write(s, this.pos, byteLength, 'utf8');
    return this;
  }
  /** Checks the size and seals the checksum. */
  done(): Buffer {
    if (this.pos !== this.buf.length)
      throw new Error(`datagram writer: wrote ${this.pos} of ${this.buf.length} bytes`);
    return sealDatagram(this.buf);
  }
}
