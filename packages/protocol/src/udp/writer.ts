import { ByteWriter } from '../bytes.js';
import { sealDatagram } from './checksum.js';
import { UDP_HEADER_SIZE, UDP_MAGIC, UDP_VERSION } from './constants.js';

/** Writes one datagram (common header + body) into a buffer sized exactly once. */
export class DatagramWriter extends ByteWriter {
  constructor(type: number, flags: number, bodySize: number) {
    super(UDP_HEADER_SIZE + bodySize, UDP_HEADER_SIZE);
    this.buf[0] = UDP_MAGIC;
    this.buf[1] = UDP_VERSION;
    this.buf[2] = type;
    this.buf[3] = flags;
  }

  /** Checks the size and seals the checksum. */
  done(): Buffer {
    return sealDatagram(this.filled('datagram'));
  }
}
