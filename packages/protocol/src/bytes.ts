/**
 * Bounds-checked big-endian field access for frame payloads. Every read checks that the bytes
 * exist, so a short or lying payload becomes a ProtocolError, never an exception from Buffer.
 */
import { MAX_U64 } from './constants.js';
import { ProtocolError } from './errors.js';

const TWO_32 = 0x1_0000_0000;
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export class PayloadReader {
  private pos = 0;
  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  private need(n: number): number {
    const at = this.pos;
    if (at + n > this.buf.length) {
      throw new ProtocolError(
        'FT_ERR_TRUNCATED',
        `${this.what}: needs ${at + n} bytes, payload has ${this.buf.length}`,
      );
    }
    this.pos = at + n;
    return at;
  }

  u8(): number {
    return this.buf[this.need(1)]!;
  }
  u16(): number {
    return this.buf.readUInt16BE(this.need(2));
  }
  u32(): number {
    return this.buf.readUInt32BE(this.need(4));
  }
  /** A u64 that must fit in a JavaScript number; larger values are refused, never truncated. */
  u64(field: string): number {
    const at = this.need(8);
    const hi = this.buf.readUInt32BE(at);
    const lo = this.buf.readUInt32BE(at + 4);
    const value = hi * TWO_32 + lo;
    if (hi > 0x1f_ffff || value > MAX_U64) {
      throw new ProtocolError(
        'FT_ERR_UNSAFE_INTEGER',
        `${this.what}: ${field} exceeds 2^53-1 (${(BigInt(hi) << 32n) | BigInt(lo)})`,
      );
    }
    return value;
  }
  /** A copy of n raw bytes (payloads are reused by the decoder, so keep no views). */
  bytes(n: number): Buffer {
    const at = this.need(n);
    return Buffer.from(this.buf.subarray(at, at + n));
  }
  /** A u16-length-prefixed UTF-8 string of at most `max` bytes. */
  string(
    field: string,
    max: number,
    tooLong: 'FT_ERR_PATH_TOO_LONG' | 'FT_ERR_BAD_LENGTH',
  ): string {
    const len = this.u16();
    if (len > max) {
      throw new ProtocolError(tooLong, `${this.what}: ${field} is ${len} bytes, limit ${max}`);
    }
    const at = this.need(len);
    try {
      return utf8.decode(this.buf.subarray(at, at + len));
    } catch {
      throw new ProtocolError('FT_ERR_BAD_UTF8', `${this.what}: ${field} is not valid UTF-8`);
    }
  }
  /** Bytes not read yet (for layouts that end in an optional field). */
  get remaining(): number {
    return this.buf.length - this.pos;
  }
  /** Trailing bytes mean the peer and we disagree about the layout: refuse them. */
  end(): void {
    if (this.pos !== this.buf.length) {
      throw new ProtocolError(
        'FT_ERR_BAD_LENGTH',
        `${this.what}: ${this.buf.length - this.pos} unexpected trailing bytes`,
      );
    }
  }
}

/**
 * Big-endian field writer over a buffer allocated once at its final size. Subclasses write
 * their own header in the constructor and check the size in `done()`.
 */
export class ByteWriter {
  protected readonly buf: Buffer;
  protected pos: number;

  constructor(size: number, start: number) {
    this.buf = Buffer.allocUnsafe(size);
    this.pos = start;
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
  /** Writes a u16 length and a string previously measured with {@link utf8Length}. */
  string(s: string, byteLength: number): this {
    this.u16(byteLength);
    this.pos += this.buf.write(s, this.pos, byteLength, 'utf8');
    return this;
  }
  /** The written buffer; throws if the declared size and the fields written disagree (a bug). */
  protected filled(what: string): Buffer {
    if (this.pos !== this.buf.length) {
      throw new Error(`${what} writer: wrote ${this.pos} of ${this.buf.length} bytes`);
    }
    return this.buf;
  }
}

/** Writes one frame (header + payload) into a buffer sized exactly once. */
export class FrameWriter extends ByteWriter {
  constructor(type: number, payloadSize: number) {
    super(6 + payloadSize, 6);
    this.buf[0] = type;
    this.buf[1] = 0;
    this.buf.writeUInt32BE(payloadSize, 2);
  }

  done(): Buffer {
    return this.filled('frame');
  }
}

/** A namer for a table of type codes: its key for a known code, else the code in hex (0x2a). */
export function typeNamer(table: Readonly<Record<string, number>>): (type: number) => string {
  const names = new Map(Object.entries(table).map(([k, v]) => [v, k]));
  return (type) => names.get(type) ?? `0x${type.toString(16).padStart(2, '0')}`;
}

export function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8');
}
