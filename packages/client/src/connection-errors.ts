/**
 * The errors a TCP connection fails with, each naming the server: the connection was lost, or
 * the server broke the protocol. One place for their wording, so every message reads alike.
 */
import { frameTypeName } from '@ft/protocol';
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
