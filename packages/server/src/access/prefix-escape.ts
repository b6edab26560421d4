/**
 * Whether a path under a token's prefix resolves, symlinks followed, outside the prefix's own
 * real directory: a link under docs/ to ../secret must not open secret with a docs token.
 * Used by both transports' checks (request-auth.ts over TCP, udp/udp-auth.ts over UDP).
 */
import { sep } from 'node:path';
import type { PathJail } from '../files/path-jail.js';

/**
 * True if `path`, which names something under `prefix`, leads outside it. A path the jail
 * refuses or cannot find is not judged here (false): the request then fails as usual.
 */
export function leadsOutsidePrefix(jail: PathJail, prefix: string, path: string): boolean {
  if (prefix === '') return false;
  try {
    const base = jail.resolveSync(prefix);
    const real = jail.resolveSync(path);
    return real !== base && !real.startsWith(base.endsWith(sep) ? base : base + sep);
  } catch {
    return false;
  }
}
