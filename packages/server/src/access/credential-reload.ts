/**
 * Loading what a serving process checks credentials with (--tokens, --sign-key), and reloading
 * both on SIGHUP. Each reload fails closed on its own: a bad token file leaves no token valid,
 * a bad key file no link, until the file is fixed and SIGHUP sent again.
 */
import type { Logger } from '../logger.js';
import type { Credentials } from './credential-check.js';
import { SignKey, SignKeyError } from './sign-key.js';
import { loadTokens, reloadTokens } from './token-reload.js';

/** The configuration fields naming the credential files. */
export interface CredentialFiles {
  tokensFile: string | undefined;
  signKeyFile: string | undefined;
}

/** The key for `file`, or an empty one (no link valid) if it went bad since the primary checked it. */
function loadSignKey(file: string, logger: Logger): SignKey {
  try {
    return new SignKey(file);
  } catch (error) {
    if (!(error instanceof SignKeyError)) throw error;
    logger.error('sign-key-load-failed', { error: error.message });
    return SignKey.empty(file);
  }
}

/** The credentials of a serving process, or undefined when it needs none (no access control). */
export function loadCredentials(files: CredentialFiles, logger: Logger): Credentials | undefined {
  const tokens = loadTokens(files.tokensFile, logger);
  const signKey =
    files.signKeyFile === undefined ? undefined : loadSignKey(files.signKeyFile, logger);
  if (tokens === undefined && signKey === undefined) return undefined;
  return { tokens, signKey };
}

/** SIGHUP: reads the token file and the key file again (logs `tokens-reloaded`, `sign-key-reloaded`). */
export function reloadCredentials(credentials: Credentials | undefined, logger: Logger): void {
  reloadTokens(credentials?.tokens, logger);
  const key = credentials?.signKey;
  if (key === undefined) return;
  try {
    key.load();
    logger.info('sign-key-reloaded', { key: key.keyId });
  } catch (error) {
    logger.error('sign-key-reload-failed', {
      error: error instanceof Error ? error.message : String(error),
    });
  }
}
