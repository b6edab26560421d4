/** What the UDP client operations (handshake and transfer) use of the connection they run on. */
import type { RttEstimator, UdpServerMessage } from '@ft/protocol';
import type { ClientError } from '../errors.js';

/** The operation in progress: it sees every valid datagram from the server. */
export interface Operation {
  onMessage(m: UdpServerMessage): void;
  onTimer(now: number): void;
  fail(error: Error): void;
}

/** The connection's plumbing, as the operations see it. */
export interface UdpLink {
  /** The server, as shown in messages. */
  readonly server: string;
  /** Round-trip estimate of the path: request resends and the first ACK's resend use it. */
  readonly rtt: RttEstimator;
  /** Largest DATA payload we ask for. */
  readonly payloadSize: number;
  /** Fail after this long without a datagram from the server. */
  readonly livenessMs: number;
  /** The address-validation token of the last RETRY (empty before one). */
  token: Buffer;
  /** The access token for this server (--token, FTGET_TOKEN, tokens file), if any. Secret. */
  readonly credential: string | undefined;
  send(datagram: Buffer): void;
  /** Counts a datagram dropped as malformed or not for us. */
  drop(): void;
  /** How long to wait before resending something sent `sends` times. */
  retryDelay(sends: number): number;
  bad(message: string): ClientError;
  silent(ms: number): ClientError;
}
