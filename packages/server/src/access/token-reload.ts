/** Loading the --tokens file in a serving process, and reloading it on SIGHUP. */
import type { Logger } from '../logger.js';
import { TokenFileError, TokenStore } from './token-store.js';

/**
 * The store for `file`, or undefined without --tokens. The primary checked the file at start;
 * if it went bad since, the store starts empty (no request is let through) and says so.
 */
export function loadTokens(file: string | undefined, logger: Logger): TokenStore | undefined {
  if (file === undefined) return undefined;
  try {
    return new TokenStore(file);
  } catch (error) {
    if (!(error instanceof TokenFileError)) throw error;
    logger.error('tokens-load-failed', { error: error.message });
    return TokenStore.empty(file);
  }
}

/** Reads the token file again; if it is bad, no token is valid until it is fixed (fail closed). */
export function reloadTokens(store: TokenStore | undefined, logger: Logger): void {
  if (store === undefined) return;
  try {
    store.load();
    logger.info('tokens-reloaded', { tokens: store.size });
  } catch (error) {
    logger.error('tokens-reload-failed', {
      error: error instanceof Error ? error.message : String(error),
      tokens: 0,
    });
  }
}
