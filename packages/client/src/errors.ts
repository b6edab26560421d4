/**
 * Client-side error codes and the single mapping from any error to an exit code and a short
 * human message. Consumers match on `code` (a stable string), never on messages.
 */
import { FtError, ProtocolError, RemoteError } from '@ft/protocol';
import { ExitCode } from './exit-codes.js';

/** Stable codes of errors raised by the client itself (remote ones are 'FT_' + wire name). */
export const ClientErrorCode = {
  USAGE: 'FT_USAGE',
  CONNECT_FAILED: 'FT_CONNECT_FAILED',
  CONNECTION_LOST: 'FT_CONNECTION_LOST',
  STALLED: 'FT_STALLED',
  REMOTE_CHANGED: 'FT_REMOTE_CHANGED',
  INTEGRITY: 'FT_INTEGRITY',
  LOCAL_IO: 'FT_LOCAL_IO',
  BAD_RESPONSE: 'FT_BAD_RESPONSE',
  LOCAL_CONFLICT: 'FT_LOCAL_CONFLICT',
  PARTIAL_TOO_LARGE: 'FT_PARTIAL_TOO_LARGE',
  ABORTED: 'FT_ABORTED',
  /** The server's certificate failed verification: untrusted, wrong host, expired, pin mismatch. */
  TLS_VERIFY: 'FT_TLS_VERIFY',
  /** TLS expected but the server speaks plaintext (or the TLS handshake failed). */
  TLS_MISMATCH: 'FT_TLS_MISMATCH',
  /** Every source of a multi-source download is gone, copies that differ among them. */
  NO_SOURCE: 'FT_NO_SOURCE',
} as const;
export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

/** An error raised by the client, optionally with a one-line hint for people. */
export class ClientError extends FtError {
  readonly hint: string | undefined;
  constructor(
    code: ClientErrorCode,
    message: string,
    options: { hint?: string; cause?: unknown; retryAfterMs?: number } = {},
  ) {
    super(code, message, options);
    this.name = 'ClientError';
    this.hint = options.hint;
  }
}

const EXIT_BY_CODE: Readonly<Record<string, ExitCode>> = {
  FT_USAGE: ExitCode.USAGE,
  FT_CONNECT_FAILED: ExitCode.NETWORK,
  FT_CONNECTION_LOST: ExitCode.NETWORK,
  FT_STALLED: ExitCode.NETWORK,
  FT_BUSY: ExitCode.NETWORK,
  FT_TIMEOUT: ExitCode.NETWORK,
  FT_INTERNAL: ExitCode.NETWORK,
  FT_NOT_FOUND: ExitCode.REMOTE_REFUSED,
  FT_ACCESS_DENIED: ExitCode.REMOTE_REFUSED,
  FT_IS_DIRECTORY: ExitCode.REMOTE_REFUSED,
  FT_NOT_A_DIRECTORY: ExitCode.REMOTE_REFUSED,
  FT_REMOTE_CHANGED: ExitCode.REMOTE_CHANGED,
  FT_PRECONDITION_FAILED: ExitCode.REMOTE_CHANGED,
  FT_INTEGRITY: ExitCode.INTEGRITY,
  FT_LOCAL_IO: ExitCode.LOCAL_IO,
  FT_BAD_RESPONSE: ExitCode.PROTOCOL,
  FT_BAD_REQUEST: ExitCode.PROTOCOL,
  FT_UNSUPPORTED_VERSION: ExitCode.PROTOCOL,
  FT_TOO_LARGE: ExitCode.PROTOCOL,
  FT_OFFSET_BEYOND_EOF: ExitCode.PROTOCOL,
  FT_UNKNOWN_REMOTE_ERROR: ExitCode.PROTOCOL,
  FT_UNAUTHORIZED: ExitCode.AUTH,
  FT_FORBIDDEN: ExitCode.AUTH,
  FT_LOCAL_CONFLICT: ExitCode.LOCAL_CONFLICT,
  FT_PARTIAL_TOO_LARGE: ExitCode.LOCAL_CONFLICT,
  FT_ABORTED: ExitCode.INTERRUPTED,
  FT_TLS_VERIFY: ExitCode.TLS_VERIFY,
  FT_TLS_MISMATCH: ExitCode.TLS_MISMATCH,
  FT_TLS_REQUIRED: ExitCode.TLS_MISMATCH,
  FT_UDP_ENCRYPTION: ExitCode.TLS_MISMATCH,
  FT_NO_SOURCE: ExitCode.NO_SOURCE,
};

/** errno codes of local file-system failures (anything the user's machine, not the network, caused). */
const LOCAL_ERRNO = new Set([
  'ENOSPC',
  'EDQUOT',
  'EACCES',
  'EPERM',
  'EROFS',
  'EIO',
  'EISDIR',
  'ENOTDIR',
  'EEXIST',
  'ENOENT',
  'EMFILE',
  'ENFILE',
  'EFBIG',
  'ENAMETOOLONG',
  'ELOOP',
  'EBUSY',
  'EXDEV',
  'EPIPE',
]);

/** The exit code for any error a download, stat or list can throw. */
export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof ProtocolError) return ExitCode.PROTOCOL;
  if (error instanceof FtError) return EXIT_BY_CODE[error.code] ?? ExitCode.INTERNAL;
  const errno = (error as { code?: unknown } | null)?.code;
  if (typeof errno === 'string' && LOCAL_ERRNO.has(errno)) return ExitCode.LOCAL_IO;
  return ExitCode.INTERNAL;
}

/** Errors worth another attempt: the network or the server's load, never the request itself. */
export function isRetryable(error: unknown): boolean {
  if (!(error instanceof FtError)) return false;
  switch (error.code) {
    case ClientErrorCode.CONNECT_FAILED:
    case ClientErrorCode.CONNECTION_LOST:
    case ClientErrorCode.STALLED:
    case 'FT_BUSY':
    case 'FT_TIMEOUT':
    case 'FT_INTERNAL':
      return true;
    default:
      return false;
  }
}

/** Where the error happened, for hints. */
export interface ErrorContext {
  /** "host:port" of the server, IPv6 in brackets. */
  server?: string;
  /** The command that continues this download (`ftget get -c …`), for network failures. */
  continueWith?: string;
}

/** A one- or two-line human description: the message and an optional hint. */
export function describeError(
  error: unknown,
  context: ErrorContext = {},
): { message: string; hint: string | undefined; exitCode: ExitCode } {
  const exitCode = exitCodeFor(error);
  const message = error instanceof Error ? error.message : String(error);
  if (error instanceof ClientError && error.hint !== undefined)
    return { message, hint: error.hint, exitCode };
  const server = context.server ?? 'the server';
  let hint: string | undefined;
  if (error instanceof RemoteError) {
    if (error.code === 'FT_NOT_FOUND' || error.code === 'FT_NOT_A_DIRECTORY')
      hint = `check the path with "ftget ls" on ${server}`;
    else if (error.code === 'FT_IS_DIRECTORY') hint = 'use -r to download a directory';
    else if (error.code === 'FT_BUSY') hint = `${server} is at its limit; try again later`;
    else if (error.code === 'FT_UNAUTHORIZED')
      hint = /signed link/.test(message)
        ? 'ask whoever gave you the link for a new one (ftserve sign)'
        : `give a token for ${server} with --token, $FTGET_TOKEN or ~/.config/ftget/tokens`;
    else if (error.code === 'FT_FORBIDDEN')
      hint = /signed link/.test(message)
        ? 'a signed link opens only the one file it was made for, and cannot list'
        : 'a token opens only the paths under its prefix; ask for one that covers this path';
    else if (error.code === 'FT_UDP_ENCRYPTION')
      hint = `${server} encrypts UDP: --udp goes with fts:// (or --tls) and the same --cacert/--pin as over TCP`;
  } else if (error instanceof FtError) {
    if (error.code === ClientErrorCode.CONNECT_FAILED) hint = `is ftserve running on ${server}?`;
    else if (
      error.code === ClientErrorCode.CONNECTION_LOST ||
      error.code === ClientErrorCode.STALLED
    )
      hint = 'run again with --resume to continue from where it stopped';
    if (exitCode === ExitCode.NETWORK && context.continueWith !== undefined) {
      const then = `"${context.continueWith}" continues from where it stopped`;
      hint = error.code === ClientErrorCode.CONNECT_FAILED ? `${hint}; once it is, ${then}` : then;
    } else if (exitCode === ExitCode.PROTOCOL)
      hint = `${server} does not behave like ftserve; nothing it sent was kept unverified`;
  } else if (exitCode === ExitCode.LOCAL_IO) {
    const errno = (error as { code?: string }).code;
    hint =
      errno === 'ENOSPC' || errno === 'EDQUOT'
        ? 'free some disk space, then run again with --resume'
        : 'check the output path and its permissions';
  } else if (exitCode === ExitCode.INTERNAL) {
    hint = 'this is a bug in ftget; set DEBUG=1 to see the stack trace';
  }
  return { message, hint, exitCode };
}
