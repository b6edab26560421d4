/**
 * Wire constants of the ft UDP datagram protocol, version 1. docs/PROTOCOL.md ("UDP datagrams")
 * documents the same numbers.
 */

/** First byte of every ft datagram. Not 0x00-0x05 (TFTP opcodes) and high-bit set. */
export const UDP_MAGIC = 0xf7;
/** Second byte of every datagram: the datagram protocol version. */
export const UDP_VERSION = 1;
/** magic u8, version u8, type u8, flags u8, crc32 u32. */
export const UDP_HEADER_SIZE = 8;

/** Datagram types. Client → server types are below 0x40, server → client types above. */
export const DatagramType = {
  REQUEST: 0x01,
  STAT: 0x02,
  ACK: 0x03,
  DIGEST_REQUEST: 0x04,
  CLOSE: 0x05,
  /** An encrypted session's datagram, client → server (udp/sealed.ts): no CRC, an AEAD tag. */
  SEALED_TO_SERVER: 0x06,
  RETRY: 0x41,
  ACCEPT: 0x42,
  DATA: 0x43,
  DIGESTS: 0x44,
  FIN: 0x45,
  STAT_OK: 0x46,
  /** An encrypted session's datagram, server → client. */
  SEALED_TO_CLIENT: 0x47,
  ERROR: 0x7f,
} as const;
export type DatagramType = (typeof DatagramType)[keyof typeof DatagramType];

/** REQUEST flags. */
export const UdpRequestFlags = {
  HAS_LENGTH: 0x01,
  HAS_VALIDATOR: 0x02,
  WANT_DIGESTS: 0x04,
  /** An access token (str16, after the path) follows: for a server with access control. */
  HAS_CREDENTIAL: 0x08,
  /**
   * The client takes DATA whose CRC covers only its 24-byte header (DATA flag HEADER_CRC): the
   * payload is verified by the chunk digests, so the server sets it only with WANT_DIGESTS.
   * A server predating the flag drops the REQUEST; the client then asks again without it.
   */
  HEADER_CRC: 0x10,
} as const;
export const UDP_REQUEST_FLAGS_MASK = 0x1f;

/** DATA flags. */
export const UdpDataFlags = {
  /** The CRC covers bytes 0..3 and 8..23 (the header), not the payload. */
  HEADER_CRC: 0x01,
} as const;
export const UDP_DATA_FLAGS_MASK = 0x01;

/** STAT flags. */
export const UdpStatFlags = {
  WANT_DIGEST: 0x01,
  /** As REQUEST's HAS_CREDENTIAL. */
  HAS_CREDENTIAL: 0x02,
} as const;
export const UDP_STAT_FLAGS_MASK = 0x03;

/** Why a client closes a transfer. */
export const CloseReason = {
  /** Every byte and the FIN arrived. */
  DONE: 0,
  /** The client gave up (interrupted, local error, integrity failure). */
  CANCEL: 1,
} as const;
export type CloseReason = (typeof CloseReason)[keyof typeof CloseReason];

/** Fixed sizes of the hot-path datagrams. */
export const DATA_HEADER_SIZE = UDP_HEADER_SIZE + 4 + 8 + 4;
export const ACK_FIXED_SIZE = UDP_HEADER_SIZE + 4 + 8 + 8 + 4 + 1;
export const ACK_RANGE_SIZE = 16;

export const UdpLimits = {
  /** Largest datagram ft sends or accepts (the IPv4 UDP maximum is 65507). */
  MAX_DATAGRAM: 65_507,
  /** Smallest payload size a client may ask for. */
  MIN_PAYLOAD: 512,
  /** Largest payload size (65000 + DATA header stays below MAX_DATAGRAM). */
  MAX_PAYLOAD: 65_000,
  /** Payload size for real networks: fits a 1280-byte IPv6 minimum MTU with headers. */
  DEFAULT_PAYLOAD: 1200,
  /** Payload size a client asks for on loopback, where the MTU is 64 KiB. */
  LOOPBACK_PAYLOAD: 65_000,
  /** Smallest and largest receive window, in bytes. */
  MIN_WINDOW: 2 * 512,
  MAX_WINDOW: 64 * 1024 * 1024,
  /** Most SACK ranges in one ACK. */
  MAX_ACK_RANGES: 32,
  /** Address-validation tokens are exactly this long (issuedAt u64 + 16-byte MAC). */
  TOKEN_SIZE: 24,
  /** Longest token field a decoder accepts (room for future formats; the server checks TOKEN_SIZE). */
  MAX_TOKEN: 64,
  /** Longest ERROR message in a datagram, in UTF-8 bytes. */
  MAX_ERROR_MESSAGE_BYTES: 256,
  /** Largest liveness limit a server may announce (ms). */
  MAX_LIVENESS_MS: 600_000,
} as const;

/** How many chunk digests one DIGESTS datagram carries for a negotiated payload size. */
export function digestsPerDatagram(payloadSize: number): number {
  return Math.max(1, Math.floor(payloadSize / 32));
}
