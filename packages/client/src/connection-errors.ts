/**
 * The errors a TCP connection fails with, each naming the server: the connection was lost or
 * stalled, or the server broke the protocol (also: a WELCOME or an answer out of place). One place for their
 * wording, so every message reads alike.
 */
import { MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION, frameTypeName } from '@ft/protocol';
import type { Message } from '@ft/protocol';
import { ClientError, ClientErrorCode } from './errors.js';
import { formatServer } from './remote.js';
import type { ServerAddress } from './remote.js';

/** CONNECTION_LOST: "connection to HOST:PORT lost: DETAIL". */
export function connectionLost(
  address: ServerAddress,
  detail: string,
  cause?: unknown,
): ClientError {
  return new ClientError(
    ClientErrorCode.CONNECTION_LOST,
    `connection to ${formatServer(address)} lost: ${detail}`,
    cause === undefined ? {} : { cause },
  );
}

/** STALLED: "no data from HOST:PORT for N s". */
export function stalled(address: ServerAddress, timeoutMs: number): ClientError {
  return new ClientError(
    ClientErrorCode.STALLED,
    `no data from ${formatServer(address)} for ${timeoutMs / 1000} s`,
  );
}

/** BAD_RESPONSE: "protocol error from HOST:PORT: DETAIL". */
export function badResponse(address: ServerAddress, detail: string, cause?: unknown): ClientError {
  return new ClientError(
    ClientErrorCode.BAD_RESPONSE,
    `protocol error from ${formatServer(address)}: ${detail}`,
    cause === undefined ? {} : { cause },
  );
}

/** BAD_RESPONSE for a frame of the wrong type. */
export function unexpectedFrame(
  address: ServerAddress,
  message: Message,
  expected: string,
): ClientError {
  return badResponse(address, `expected ${expected}, got ${frameTypeName(message.type)}`);
}

/** A WELCOME must choose a version we offered. */
export function checkWelcomeVersion(address: ServerAddress, version: number): void {
  if (version < MIN_PROTOCOL_VERSION || version > MAX_PROTOCOL_VERSION)
    throw badResponse(address, `server chose protocol version ${version}, which we never offered`);
}

/**
 * The request an answer belongs to: the oldest in flight (`head`), once WELCOME has come, and
 * only if the answer names it (the server answers strictly in request order).
 */
export function answeredRequest<P extends { requestId: number }>(
  address: ServerAddress,
  message: Message,
  head: P | undefined,
  welcomed: boolean,
): P {
  if (head === undefined || !welcomed)
    throw badResponse(address, `unsolicited ${frameTypeName(message.type)} frame`);
  if (!('requestId' in message) || message.requestId !== head.requestId) {
    const got = 'requestId' in message ? message.requestId : '?';
    throw badResponse(address, `response for request ${got}, expected ${head.requestId}`);
  }
  return head;
}
