import { MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION } from './constants.js';

/**
 * The version a server picks for a client's [min, max] range: the highest both speak, or
 * undefined when the ranges do not overlap (answer UNSUPPORTED_VERSION and close).
 */
export function negotiateVersion(
  clientMin: number,
  clientMax: number,
  serverMin = MIN_PROTOCOL_VERSION,
  serverMax = MAX_PROTOCOL_VERSION,
): number | undefined {
  const v = Math.min(clientMax, serverMax);
  return v >= Math.max(clientMin, serverMin) ? v : undefined;
}
