/**
 * Pure encode/decode pairs for every ft datagram. Each datagram starts with magic, version, type,
 * flags and a CRC-32 of the whole datagram, so a corrupted, foreign or future-version datagram is
 * recognised and dropped before any field is trusted. DATA payloads are never copied: the encoder
 * returns only the header (send it with the payload as two buffers) and the decoder returns a view.
 *
 * This module checks the common header and dispatches to the codec of each message family.
 */
import { PayloadReader, typeNamer } from '../../bytes.js';
import { FtError, ProtocolError, WireError } from '../../errors.js';
import {
  DATA_HEADER_SIZE,
  DatagramType,
  UDP_HEADER_SIZE,
  UDP_MAGIC,
  UDP_VERSION,
  UdpDataFlags,
  UdpLimits,
} from '../constants.js';
import type { UdpMessage } from '../messages.js';
import { datagramChecksum } from '../checksum.js';
import { decodeDigestRequest, decodeDigests } from './digests.js';
import { decodeError } from './error.js';
import { decodeAccept, decodeRequest, decodeRetry } from './handshake.js';
import { decodeStat, decodeStatOk } from './stat.js';
import { decodeAck, decodeClose, decodeData, decodeFin } from './transfer.js';

/** A datagram from a peer speaking another version of the datagram protocol. */
export class UdpVersionError extends FtError {
  constructor(readonly version: number) {
    super(
      'FT_ERR_UDP_VERSION',
      `datagram protocol version ${version} is not supported (this peer speaks ${UDP_VERSION})`,
      { wireCode: WireError.UNSUPPORTED_VERSION },
    );
    this.name = 'UdpVersionError';
  }
}

/** A datagram whose CRC-32 does not match: damaged in flight. */
export class UdpChecksumError extends FtError {
  constructor() {
    super('FT_ERR_UDP_CHECKSUM', 'datagram checksum mismatch', {
      wireCode: WireError.BAD_REQUEST,
    });
    this.name = 'UdpChecksumError';
  }
}

type Decoder = (r: PayloadReader, flags: number) => UdpMessage;
const DECODERS: Readonly<Record<number, Decoder>> = {
  [DatagramType.REQUEST]: decodeRequest,
  [DatagramType.STAT]: decodeStat,
  [DatagramType.ACK]: decodeAck,
  [DatagramType.DIGEST_REQUEST]: decodeDigestRequest,
  [DatagramType.CLOSE]: decodeClose,
  [DatagramType.RETRY]: decodeRetry,
  [DatagramType.ACCEPT]: decodeAccept,
  [DatagramType.DIGESTS]: decodeDigests,
  [DatagramType.FIN]: decodeFin,
  [DatagramType.STAT_OK]: decodeStatOk,
  [DatagramType.ERROR]: decodeError,
};

const nameDatagramType = typeNamer(DatagramType);

/** Human name of a datagram type, e.g. 0x43 → 'DATA'. */
export function datagramTypeName(type: number): string {
  return nameDatagramType(type);
}

/**
 * Checks the common header (magic, version, checksum) without decoding the body. Returns the
 * datagram type. Throws ProtocolError (FT_ERR_BAD_MAGIC, FT_ERR_TRUNCATED), UdpVersionError or
 * UdpChecksumError.
 */
export function checkDatagramHeader(buf: Buffer, verifyChecksum = true): number {
  if (buf.length < UDP_HEADER_SIZE)
    throw new ProtocolError('FT_ERR_TRUNCATED', `datagram of ${buf.length} bytes is too short`);
  if (buf[0] !== UDP_MAGIC) throw new ProtocolError('FT_ERR_BAD_MAGIC', 'not an ft datagram');
  if (buf[1] !== UDP_VERSION) throw new UdpVersionError(buf[1]!);
  if (buf.length > UdpLimits.MAX_DATAGRAM)
    throw new ProtocolError('FT_ERR_FRAME_TOO_LARGE', `datagram of ${buf.length} bytes`);
  if (buf[2] === DatagramType.SEALED_TO_SERVER || buf[2] === DatagramType.SEALED_TO_CLIENT)
    throw new ProtocolError(
      'FT_ERR_UNEXPECTED_FRAME',
      'a sealed datagram is opened with its session keys (udp/sealed.ts), not decoded',
    );
  if (verifyChecksum && buf.readUInt32BE(4) !== datagramChecksum(checksummed(buf)))
    throw new UdpChecksumError();
  return buf[2]!;
}

/** The bytes a datagram's CRC covers: all of it, or a HEADER_CRC DATA's header only. */
function checksummed(buf: Buffer): Buffer {
  return buf[2] === DatagramType.DATA &&
    (buf[3]! & UdpDataFlags.HEADER_CRC) !== 0 &&
    buf.length >= DATA_HEADER_SIZE
    ? buf.subarray(0, DATA_HEADER_SIZE)
    : buf;
}

/**
 * Decodes one datagram. DATA payloads are views into `buf`; every other field is copied.
 * Throws a FtError (never anything else) for anything malformed. `verifyChecksum` false: the
 * inner datagram of a sealed one, whose CRC field is not checked (the AEAD tag was).
 */
export function decodeDatagram(buf: Buffer, verifyChecksum = true): UdpMessage {
  const type = checkDatagramHeader(buf, verifyChecksum);
  const flags = buf[3]!;
  if (type === DatagramType.DATA) return decodeData(buf, flags);
  const decode = DECODERS[type];
  if (decode === undefined)
    throw new ProtocolError(
      'FT_ERR_UNKNOWN_FRAME_TYPE',
      `unknown datagram type ${datagramTypeName(type)}`,
    );
  const r = new PayloadReader(buf.subarray(UDP_HEADER_SIZE), datagramTypeName(type));
  const message = decode(r, flags);
  r.end();
  return message;
}
