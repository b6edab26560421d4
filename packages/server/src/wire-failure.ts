/**
 * How a failed request is answered, over TCP (an ERROR frame) and UDP (an ERROR datagram) alike:
 * an FtError carries its wire code; a bare errno from the file system (a file that vanished or
 * became unreadable between the checks and the call) maps to what the client would have got
 * had the check seen it; anything else is INTERNAL, with a retry hint.
 */
import { FtError, WireError } from '@ft/protocol';

/** What went wrong in a request, as the client and the log will see it. */
export interface WireFailure {
  wireCode: number;
  message: string;
  retryAfterMs: number;
  /** The FtError code or errno for the log. */
  logCode: string;
}

/** The wire answer to `error`; see the module comment. */
export function wireFailure(error: unknown): WireFailure {
  if (error instanceof FtError && error.wireCode !== undefined) {
    return {
      wireCode: error.wireCode,
      message: error.message,
      retryAfterMs: error.retryAfterMs ?? 0,
      logCode: error.code,
    };
  }
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM')
    return {
      wireCode: WireError.ACCESS_DENIED,
      message: 'access denied',
      retryAfterMs: 0,
      logCode: code,
    };
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return { wireCode: WireError.NOT_FOUND, message: 'not found', retryAfterMs: 0, logCode: code };
  return {
    wireCode: WireError.INTERNAL,
    message: 'internal server error',
    retryAfterMs: 1000,
    logCode: code ?? (error instanceof Error ? error.message : String(error)),
  };
}
