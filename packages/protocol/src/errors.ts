/**
 * The error catalog. Every error ft reports has a stable string `code`; errors that cross the
 * wire also have a stable numeric wire code. Consumers match on `code`, never on messages.
 */

/** Numeric codes carried by ERROR frames (u16). Never renumber: append. */
export const WireError = {
  BAD_REQUEST: 1,
  UNSUPPORTED_VERSION: 2,
  NOT_FOUND: 3,
  IS_DIRECTORY: 4,
  ACCESS_DENIED: 5,
  OFFSET_BEYOND_EOF: 6,
  PRECONDITION_FAILED: 7,
  BUSY: 8,
  TOO_LARGE: 9,
  INTERNAL: 10,
  NOT_A_DIRECTORY: 11,
  TIMEOUT: 12,
  UNAUTHORIZED: 13,
  FORBIDDEN: 14,
  TLS_REQUIRED: 15,
  UDP_ENCRYPTION: 17,
} as const;
export type WireErrorName = keyof typeof WireError;
export type WireErrorCode = (typeof WireError)[WireErrorName];

/** Human meaning of each wire error; the same text is in docs/PROTOCOL.md. */
export const WIRE_ERROR_MEANINGS: Readonly<Record<WireErrorName, string>> = {
  BAD_REQUEST: 'the frame was malformed or not valid in this state',
  UNSUPPORTED_VERSION: 'no protocol version in common',
  NOT_FOUND: 'no such file or directory',
  IS_DIRECTORY: 'GET of a directory',
  ACCESS_DENIED: 'path outside the root, hidden, unreadable or otherwise refused',
  OFFSET_BEYOND_EOF: 'offset greater than the file size',
  PRECONDITION_FAILED: 'the validator sent does not match the current file version',
  BUSY: 'server at a limit; retry after retryAfterMs',
  TOO_LARGE: 'a frame or field exceeded a limit',
  INTERNAL: 'the server failed; the request may succeed later',
  NOT_A_DIRECTORY: 'LIST of something that is not a directory',
  TIMEOUT: 'the connection was idle for too long',
  UNAUTHORIZED: 'the server requires a token and none, or no valid one, was sent',
  FORBIDDEN: 'the token sent is valid but does not cover this path',
  TLS_REQUIRED: 'the port speaks ft over TLS only; the client sent plaintext',
  UDP_ENCRYPTION:
    'UDP and encryption do not match: the server serves UDP only in encrypted sessions, or cannot open one',
};

const WIRE_NAMES = new Map<number, WireErrorName>(
  (Object.entries(WireError) as [WireErrorName, number][]).map(([k, v]) => [v, k]),
);

/** The string code of a wire error, e.g. 7 → 'FT_PRECONDITION_FAILED'; unknown numbers map to 'FT_UNKNOWN_REMOTE_ERROR'. */
export function codeForWire(wire: number): string {
  const name = WIRE_NAMES.get(wire);
  return name === undefined ? 'FT_UNKNOWN_REMOTE_ERROR' : `FT_${name}`;
}

/** Local protocol violations found by a decoder, each with the wire error a server answers it with. */
export const DecodeError = {
  FT_ERR_BAD_MAGIC: WireError.BAD_REQUEST,
  FT_ERR_UNKNOWN_FRAME_TYPE: WireError.BAD_REQUEST,
  FT_ERR_UNEXPECTED_FRAME: WireError.BAD_REQUEST,
  FT_ERR_BAD_FLAGS: WireError.BAD_REQUEST,
  FT_ERR_FRAME_TOO_LARGE: WireError.TOO_LARGE,
  FT_ERR_BAD_LENGTH: WireError.BAD_REQUEST,
  FT_ERR_UNSAFE_INTEGER: WireError.BAD_REQUEST,
  FT_ERR_BAD_UTF8: WireError.BAD_REQUEST,
  FT_ERR_PATH_TOO_LONG: WireError.TOO_LARGE,
  FT_ERR_TOO_MANY_ENTRIES: WireError.TOO_LARGE,
  FT_ERR_BAD_VALUE: WireError.BAD_REQUEST,
  FT_ERR_TRUNCATED: WireError.BAD_REQUEST,
} as const;
export type DecodeErrorCode = keyof typeof DecodeError;

/** Base class of every error ft raises on purpose. */
export class FtError extends Error {
  readonly code: string;
  /** Wire code to answer with (servers) or that was received (clients). */
  readonly wireCode: number | undefined;
  /** Server's hint for BUSY, in milliseconds. */
  readonly retryAfterMs: number | undefined;

  constructor(
    code: string,
    message: string,
    options: { wireCode?: number; retryAfterMs?: number; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'FtError';
    this.code = code;
    this.wireCode = options.wireCode;
    this.retryAfterMs = options.retryAfterMs;
  }
}

/** A malformed or out-of-bounds frame. */
export class ProtocolError extends FtError {
  constructor(code: DecodeErrorCode, message: string) {
    super(code, message, { wireCode: DecodeError[code] });
    this.name = 'ProtocolError';
  }
}

/** An ERROR frame received from the peer. `code` is 'FT_' + the wire error's name. */
export class RemoteError extends FtError {
  readonly requestId: number;
  constructor(wireCode: number, message: string, requestId: number, retryAfterMs: number) {
    super(codeForWire(wireCode), message, {
      wireCode,
      ...(retryAfterMs > 0 ? { retryAfterMs } : {}),
    });
    this.name = 'RemoteError';
    this.requestId = requestId;
  }
}
