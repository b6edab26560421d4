/** Codec of ERROR, the refusal either side may send (request-level or transfer-level). */
import { PayloadReader, utf8Length } from '../../bytes.js';
import { checkFlags, checkInt } from '../../checks.js';
import { DatagramType, UdpLimits } from '../constants.js';
import type { UdpError } from '../messages.js';
import { DatagramWriter } from '../writer.js';

/** The longest prefix of `s` that fits in `max` UTF-8 bytes, cut between characters. */
function truncateUtf8(s: string, max: number): string {
  if (utf8Length(s) <= max) return s;
  const bytes = Buffer.from(s, 'utf8');
  let cut = max;
  while (cut > 0 && (bytes[cut]! & 0xc0) === 0x80) cut--;
  return bytes.toString('utf8', 0, cut);
}

// ERROR: nonce u32 transferId u32 code u16 retryAfterMs u32 message str16
export function encodeUdpError(m: Omit<UdpError, 'type'>): Buffer {
  checkInt(m.nonce, 0, 0xffff_ffff, 'nonce');
  checkInt(m.transferId, 0, 0xffff_ffff, 'transferId');
  checkInt(m.code, 0, 0xffff, 'code');
  checkInt(m.retryAfterMs, 0, 0xffff_ffff, 'retryAfterMs');
  const message = truncateUtf8(m.message, UdpLimits.MAX_ERROR_MESSAGE_BYTES);
  const n = utf8Length(message);
  return new DatagramWriter(DatagramType.ERROR, 0, 4 + 4 + 2 + 4 + 2 + n)
    .u32(m.nonce)
    .u32(m.transferId)
    .u16(m.code)
    .u32(m.retryAfterMs)
    .string(message, n)
    .done();
}
export function decodeError(r: PayloadReader, flags: number): UdpError {
  checkFlags(flags, 0, 'ERROR');
  const nonce = r.u32();
  const transferId = r.u32();
  const code = r.u16();
  const retryAfterMs = r.u32();
  const message = r.string('message', UdpLimits.MAX_ERROR_MESSAGE_BYTES, 'FT_ERR_BAD_LENGTH');
  return { type: DatagramType.ERROR, nonce, transferId, code, retryAfterMs, message };
}
