import { crc32 } from 'node:zlib';
import { UDP_HEADER_SIZE } from './constants.js';

/** CRC-32 of a datagram with its checksum field (bytes 4..7) skipped. */
export function datagramChecksum(head: Buffer, payload?: Uint8Array): number {
  let c = crc32(head.subarray(0, 4));
  c = crc32(head.subarray(UDP_HEADER_SIZE), c);
  return payload === undefined ? c : crc32(payload, c);
}

/** Sets the CRC of a complete datagram (or of a header whose payload is sent separately). */
export function sealDatagram(head: Buffer, payload?: Uint8Array): Buffer {
  head.writeUInt32BE(datagramChecksum(head, payload), 4);
  return head;
}
