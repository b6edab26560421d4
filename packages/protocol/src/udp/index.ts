/** The ft UDP datagram protocol: datagram codecs and the pure transport engine. */
export {
  ACK_FIXED_SIZE,
  ACK_RANGE_SIZE,
  CloseReason,
  DATA_HEADER_SIZE,
  DatagramType,
  UDP_HEADER_SIZE,
  UDP_MAGIC,
  UDP_VERSION,
  UdpLimits,
  UdpRequestFlags,
  UdpStatFlags,
  digestsPerDatagram,
} from './constants.js';
export type {
  CloseReason as CloseReasonValue,
  DatagramType as DatagramTypeValue,
} from './constants.js';
export type {
  ByteRange,
  UdpAccept,
  UdpAck,
  UdpClientMessage,
  UdpClose,
  UdpData,
  UdpDigestRequest,
  UdpDigests,
  UdpError,
  UdpFin,
  UdpMessage,
  UdpRequest,
  UdpRetry,
  UdpServerMessage,
  UdpStat,
  UdpStatOk,
} from './messages.js';
export {
  MAX_DIGESTS_PER_DATAGRAM,
  UdpChecksumError,
  UdpVersionError,
  checkDatagramHeader,
  datagramTypeName,
  decodeDatagram,
  encodeUdpAccept,
  encodeUdpAck,
  encodeUdpClose,
  encodeUdpDataHeader,
  encodeUdpDigestRequest,
  encodeUdpDigests,
  encodeUdpError,
  encodeUdpFin,
  encodeUdpRequest,
  encodeUdpRetry,
  encodeUdpStat,
  encodeUdpStatOk,
} from './codec.js';
export { datagramChecksum } from './checksum.js';
export { RttEstimator, RTT_DEFAULTS } from './rtt.js';
export type { RttOptions } from './rtt.js';
export { RangeSet } from './ranges.js';
export {
  DUP_THRESHOLD,
  INITIAL_CWND_SEGMENTS,
  LOSS_BETA,
  MAX_ACCEPT_SENDS,
  MAX_FIN_SENDS,
  MIN_PTO_MS,
  UdpSender,
  tsvalAt,
} from './sender.js';
export type {
  AckInput,
  AckVerdict,
  SenderAction,
  SenderOptions,
  SenderPhase,
  SenderStats,
} from './sender.js';
export { UdpReceiver } from './receiver.js';
export type { AckFields, DataVerdict, ReceiverOptions } from './receiver.js';
