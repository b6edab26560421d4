/** Codecs of the digest family: DIGEST_REQUEST (client asks for chunk digests) and DIGESTS. */
import { PayloadReader } from '../../bytes.js';
import { checkBytes, checkFlags, checkInt } from '../../checks.js';
import { DIGEST_SIZE } from '../../constants.js';
import { DatagramType } from '../constants.js';
import type { UdpDigestRequest, UdpDigests } from '../messages.js';
import { DatagramWriter } from '../writer.js';
import { fail, readTransferId } from './fields.js';

/** Most digests one DIGEST_REQUEST may ask for (one MAX_PAYLOAD datagram holds 2031). */
export const MAX_DIGESTS_PER_DATAGRAM = 2031;

// DIGEST_REQUEST: transferId u32 firstChunk u32 count u16
export function encodeUdpDigestRequest(m: Omit<UdpDigestRequest, 'type'>): Buffer {
  checkInt(m.transferId, 1, 0xffff_ffff, 'transferId');
  checkInt(m.firstChunk, 0, 0xffff_ffff, 'firstChunk');
  checkInt(m.count, 1, MAX_DIGESTS_PER_DATAGRAM, 'count');
  return new DatagramWriter(DatagramType.DIGEST_REQUEST, 0, 4 + 4 + 2)
    .u32(m.transferId)
    .u32(m.firstChunk)
    .u16(m.count)
    .done();
}
export function decodeDigestRequest(r: PayloadReader, flags: number): UdpDigestRequest {
  checkFlags(flags, 0, 'DIGEST_REQUEST');
  const transferId = readTransferId(r, 'DIGEST_REQUEST');
  const firstChunk = r.u32();
  const count = r.u16();
  if (count === 0 || count > MAX_DIGESTS_PER_DATAGRAM) fail('DIGEST_REQUEST', `count ${count}`);
  return { type: DatagramType.DIGEST_REQUEST, transferId, firstChunk, count };
}

// DIGESTS: transferId u32 firstChunk u32 count u16 digests[32 × count]
export function encodeUdpDigests(m: Omit<UdpDigests, 'type'>): Buffer {
  checkInt(m.transferId, 1, 0xffff_ffff, 'transferId');
  checkInt(m.firstChunk, 0, 0xffff_ffff, 'firstChunk');
  checkInt(m.digests.length, 1, MAX_DIGESTS_PER_DATAGRAM, 'digest count');
  const w = new DatagramWriter(DatagramType.DIGESTS, 0, 10 + DIGEST_SIZE * m.digests.length)
    .u32(m.transferId)
    .u32(m.firstChunk)
    .u16(m.digests.length);
  for (const d of m.digests) {
    checkBytes(d, DIGEST_SIZE, 'digest');
    w.bytes(d);
  }
  return w.done();
}
export function decodeDigests(r: PayloadReader, flags: number): UdpDigests {
  checkFlags(flags, 0, 'DIGESTS');
  const transferId = readTransferId(r, 'DIGESTS');
  const firstChunk = r.u32();
  const count = r.u16();
  if (count === 0 || count > MAX_DIGESTS_PER_DATAGRAM) fail('DIGESTS', `count ${count}`);
  const digests: Buffer[] = [];
  for (let i = 0; i < count; i++) digests.push(r.bytes(DIGEST_SIZE));
  return { type: DatagramType.DIGESTS, transferId, firstChunk, digests };
}
