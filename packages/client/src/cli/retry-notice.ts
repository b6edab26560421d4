/** The `retrying in 4 s (attempt 3): connection refused` line printed before each retry. */
import { FtError } from '@ft/protocol';
import { ClientErrorCode } from '../errors.js';
import type { RetryNotice } from '../retry.js';

const ERRNO_REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connect timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
};

/** A few words on why an attempt failed. */
export function retryReason(error: unknown): string {
  if (!(error instanceof FtError)) return error instanceof Error ? error.message : String(error);
  switch (error.code) {
    case ClientErrorCode.CONNECT_FAILED: {
      const errno = (error.cause as { code?: unknown } | undefined)?.code;
      if (typeof errno === 'string' && ERRNO_REASONS[errno] !== undefined)
        return ERRNO_REASONS[errno]!;
      return error.message.replace(/^cannot connect to \S+: /, '');
    }
    case ClientErrorCode.CONNECTION_LOST:
      return 'connection lost';
    case ClientErrorCode.STALLED:
      return error.message.replace(/^no data from \S+ /, 'no data ');
    case 'FT_BUSY':
      return 'server busy';
    case 'FT_TIMEOUT':
      return 'the server timed the connection out';
    default:
      return error.message;
  }
}

/** "4 s", "0.3 s". */
function delayText(ms: number): string {
  return ms >= 950 ? `${Math.round(ms / 1000)} s` : `${(ms / 1000).toFixed(1)} s`;
}

export function retryLine(notice: RetryNotice): string {
  return `retrying in ${delayText(notice.delayMs)} (attempt ${notice.attempt}): ${retryReason(notice.error)}`;
}
