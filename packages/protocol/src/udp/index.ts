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
  UdpDataFlags,
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
  UdpChecksumError,
  UdpVersionError,
  checkDatagramHeader,
  datagramTypeName,
  decodeDatagram,
} from './codec/datagram.js';
export {
  MAX_DIGESTS_PER_DATAGRAM,
  encodeUdpDigestRequest,
  encodeUdpDigests,
} from './codec/digests.js';
export { encodeUdpError } from './codec/error.js';
export { encodeUdpAccept, encodeUdpRequest, encodeUdpRetry } from './codec/handshake.js';
export { encodeUdpStat, encodeUdpStatOk } from './codec/stat.js';
export {
  encodeUdpAck,
  encodeUdpClose,
  encodeUdpDataHeader,
  encodeUdpFin,
} from './codec/transfer.js';
export { datagramChecksum } from './checksum.js';
export { RttEstimator, RTT_DEFAULTS } from './rtt.js';
export type { RttOptions } from './rtt.js';
export { RangeSet } from './ranges.js';
export {
  DUP_THRESHOLD,
  INITIAL_CWND_SEGMENTS,
  LOSS_BETA,
  BIC_MAX_INCREMENT,
  MAX_ACCEPT_SENDS,
  MAX_FIN_SENDS,
  MIN_PTO_MS,
  tsvalAt,
} from './sender/types.js';
export { UdpSender } from './sender/sender.js';
export { CongestionControl } from './sender/congestion.js';
export type {
  AckInput,
  AckVerdict,
  SenderAction,
  SenderOptions,
  SenderPhase,
  SenderStats,
} from './sender/types.js';
export { UdpReceiver } from './receiver.js';
export type { AckFields, DataVerdict, ReceiverOptions } from './receiver.js';
export {
  AEAD_TAG_SIZE,
  MAX_FORGERIES,
  MAX_SEALED_PER_DIRECTION,
  MIN_SEALED_SIZE,
  SEALED_HEADER_SIZE,
  SealedChannel,
  UDP_EXPORTER_LABEL,
  UDP_KEY_MATERIAL_SIZE,
  sealedSessionId,
} from './sealed.js';
export type { OpenFailure, SealedStats, SessionRole } from './sealed.js';
export { REPLAY_WINDOW, ReplayWindow } from './replay-window.js';
export type { ReplayVerdict } from './replay-window.js';
