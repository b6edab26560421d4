/**
 * Codecs of the transfer family: DATA (file bytes, never copied), ACK (cumulative + SACK
 * ranges), FIN (server: all data sent) and CLOSE (client: done or cancelled).
 */
import { PayloadReader } from '../../bytes.js';
import { bad, checkFlags, checkInt } from '../../checks.js';
import { EndStatus, MAX_U64 } from '../../constants.js';
import {
  ACK_FIXED_SIZE,
  ACK_RANGE_SIZE,
  CloseReason,
  DATA_HEADER_SIZE,
  DatagramType,
  UDP_HEADER_SIZE,
  UDP_MAGIC,
  UDP_DATA_FLAGS_MASK,
  UDP_VERSION,
  UdpDataFlags,
  UdpLimits,
} from '../constants.js';
import type { ByteRange, UdpAck, UdpClose, UdpData, UdpFin } from '../messages.js';
import { DatagramWriter } from '../writer.js';
import { sealDatagram } from '../checksum.js';
import { fail, readTransferId } from './fields.js';

const TWO_32 = 0x1_0000_0000;

function checkRanges(ranges: readonly ByteRange[], cumulative: number, what: string): void {
  let floor = cumulative;
  for (const { start, end } of ranges) {
    // Ranges must be sorted, disjoint, non-empty and separated by a gap (else they would merge).
    if (!(start > floor && end > start && end <= MAX_U64))
      fail(what, `SACK range [${start}, ${end}) is not above ${floor}`);
    floor = end;
  }
}

// ACK: transferId u32 cumulative u64 windowEnd u64 tsEcho u32 count u8 count × (start u64 end u64)
export function encodeUdpAck(m: Omit<UdpAck, 'type'>): Buffer {
  checkInt(m.transferId, 1, 0xffff_ffff, 'transferId');
  checkInt(m.cumulative, 0, MAX_U64, 'cumulative');
  checkInt(m.windowEnd, m.cumulative, MAX_U64, 'windowEnd');
  checkInt(m.tsEcho, 0, 0xffff_ffff, 'tsEcho');
  checkInt(m.ranges.length, 0, UdpLimits.MAX_ACK_RANGES, 'range count');
  checkRanges(m.ranges, m.cumulative, 'ACK');
  const w = new DatagramWriter(
    DatagramType.ACK,
    0,
    ACK_FIXED_SIZE - UDP_HEADER_SIZE + ACK_RANGE_SIZE * m.ranges.length,
  )
    .u32(m.transferId)
    .u64(m.cumulative)
    .u64(m.windowEnd)
    .u32(m.tsEcho)
    .u8(m.ranges.length);
  for (const { start, end } of m.ranges) w.u64(start).u64(end);
  return w.done();
}
export function decodeAck(r: PayloadReader, flags: number): UdpAck {
  checkFlags(flags, 0, 'ACK');
  const transferId = readTransferId(r, 'ACK');
  const cumulative = r.u64('cumulative');
  const windowEnd = r.u64('windowEnd');
  if (windowEnd < cumulative) fail('ACK', 'windowEnd below cumulative');
  const tsEcho = r.u32();
  const count = r.u8();
  if (count > UdpLimits.MAX_ACK_RANGES) fail('ACK', `${count} SACK ranges`);
  const ranges: ByteRange[] = [];
  for (let i = 0; i < count; i++) ranges.push({ start: r.u64('start'), end: r.u64('end') });
  checkRanges(ranges, cumulative, 'ACK');
  return { type: DatagramType.ACK, transferId, cumulative, windowEnd, tsEcho, ranges };
}

// CLOSE: transferId u32 reason u8
export function encodeUdpClose(m: Omit<UdpClose, 'type'>): Buffer {
  checkInt(m.transferId, 1, 0xffff_ffff, 'transferId');
  if (m.reason !== CloseReason.DONE && m.reason !== CloseReason.CANCEL) bad('unknown reason');
  return new DatagramWriter(DatagramType.CLOSE, 0, 5).u32(m.transferId).u8(m.reason).done();
}
export function decodeClose(r: PayloadReader, flags: number): UdpClose {
  checkFlags(flags, 0, 'CLOSE');
  const transferId = readTransferId(r, 'CLOSE');
  const reason = r.u8();
  if (reason !== CloseReason.DONE && reason !== CloseReason.CANCEL)
    fail('CLOSE', `unknown reason ${reason}`);
  return { type: DatagramType.CLOSE, transferId, reason };
}

/**
 * DATA: transferId u32 offset u64 tsval u32, then the payload (the rest of the datagram).
 * Returns only the sealed header: send `[header, payload]` so file bytes are never copied.
 */
export function encodeUdpDataHeader(
  transferId: number,
  offset: number,
  tsval: number,
  payload: Uint8Array,
  checksum: boolean | 'header' = true,
): Buffer {
  const head = Buffer.allocUnsafe(DATA_HEADER_SIZE);
  head[0] = UDP_MAGIC;
  head[1] = UDP_VERSION;
  head[2] = DatagramType.DATA;
  head[3] = checksum === 'header' ? UdpDataFlags.HEADER_CRC : 0;
  head.writeUInt32BE(transferId, 8);
  head.writeUInt32BE(Math.floor(offset / TWO_32), 12);
  head.writeUInt32BE(offset >>> 0, 16);
  head.writeUInt32BE(tsval, 20);
  if (!checksum) {
    // Sealed datagrams only (udp/sealed.ts): the AEAD tag covers every byte instead.
    head.writeUInt32BE(0, 4);
    return head;
  }
  // HEADER_CRC: the payload is left to the chunk digests (one pass over it fewer on each end).
  return checksum === 'header' ? sealDatagram(head) : sealDatagram(head, payload);
}
export function decodeData(buf: Buffer, flags: number): UdpData {
  checkFlags(flags, UDP_DATA_FLAGS_MASK, 'DATA');
  const r = new PayloadReader(buf.subarray(UDP_HEADER_SIZE, DATA_HEADER_SIZE), 'DATA');
  const transferId = readTransferId(r, 'DATA');
  const offset = r.u64('offset');
  const tsval = r.u32();
  const payload = buf.subarray(DATA_HEADER_SIZE);
  if (payload.length === 0 || payload.length > UdpLimits.MAX_PAYLOAD)
    fail('DATA', `payload of ${payload.length} bytes`);
  if (offset + payload.length > MAX_U64) fail('DATA', 'offset + length exceeds 2^53-1');
  if (tsval === 0) fail('DATA', 'tsval 0');
  const headerCrc = (flags & UdpDataFlags.HEADER_CRC) !== 0;
  return { type: DatagramType.DATA, transferId, offset, tsval, payload, headerCrc };
}

// FIN: transferId u32 status u8 end u64
export function encodeUdpFin(m: Omit<UdpFin, 'type'>): Buffer {
  checkInt(m.transferId, 1, 0xffff_ffff, 'transferId');
  if (m.status !== EndStatus.OK && m.status !== EndStatus.CHANGED) bad('unknown FIN status');
  checkInt(m.end, 0, MAX_U64, 'end');
  return new DatagramWriter(DatagramType.FIN, 0, 13)
    .u32(m.transferId)
    .u8(m.status)
    .u64(m.end)
    .done();
}
export function decodeFin(r: PayloadReader, flags: number): UdpFin {
  checkFlags(flags, 0, 'FIN');
  const transferId = readTransferId(r, 'FIN');
  const status = r.u8();
  if (status !== EndStatus.OK && status !== EndStatus.CHANGED)
    fail('FIN', `unknown status ${status}`);
  const end = r.u64('end');
  return { type: DatagramType.FIN, transferId, status, end };
}
