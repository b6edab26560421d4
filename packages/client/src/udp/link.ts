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
  /** Receive window we offer (sized to the socket's receive buffer: transfer.ts windowFor). */
  readonly window: number;
  /** Fail after this long without a datagram from the server. */
  readonly livenessMs: number;
  /** The address-validation token of the last RETRY (empty before one). */
  token: Buffer;
  /** The server dropped REQUESTs with optional flags (it predates them): send none. */
  legacy: boolean;
  /** The server is on a loopback address: no wire between us that could corrupt a datagram. */
  readonly loopback: boolean;
  /**
   * Paths fetched with HEADER_CRC DATA on this connection. Fetching one again means its chunk
   * digests failed (a corrupting relay on loopback, such as the impairment tests' proxy): the
   * refetch asks for whole-datagram CRCs, so corrupted datagrams are dropped and resent.
   */
  readonly headerCrcPaths: Set<string>;
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
