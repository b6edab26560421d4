/**
 * The transport abstraction download(), stat() and friends use: TCP (the Connection class) or
 * UDP (UdpConnection). Both speak the same request/response model, so the resume, verification,
 * retry and progress logic above them does not care which one carries the bytes.
 */
import { Connection } from '../connection.js';
import type { ConnectOptions } from '../connection.js';
import type { ServerAddress } from '../remote.js';
import { UdpConnection } from './connection.js';

export type TransportKind = 'tcp' | 'udp';

/** What a transport connection offers (the TCP Connection's face). */
export type TransferConnection = Pick<Connection, 'stat' | 'get' | 'pause' | 'resume' | 'close'>;

/** Opens a connection of the given kind (default TCP). */
export async function openConnection(
  kind: TransportKind | undefined,
  address: ServerAddress,
  options: ConnectOptions,
): Promise<TransferConnection> {
  if (kind !== 'udp') return Connection.open(address, options);
  // To a TLS server (fts://, --tls) every datagram travels in an encrypted session.
  return UdpConnection.open(address, options);
}
