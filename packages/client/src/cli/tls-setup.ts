/** The TLS flags of a command, applied before it connects anywhere (tls-options.ts). */
import { configureTls, insecureWarning } from '../tls-options.js';
import type { TlsFlags } from '../tls-options.js';
import { reportError, reportWarning } from './report.js';

/** Configures TLS from the flags; returns an exit code if they are unusable, else undefined. */
export function setupTls(flags: TlsFlags): number | undefined {
  try {
    configureTls(flags);
  } catch (error) {
    return reportError(error);
  }
  const warning = insecureWarning();
  if (warning !== undefined) reportWarning(warning);
  return undefined;
}
