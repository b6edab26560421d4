/**
 * The one table of ftget exit codes. The README mirrors it and a test keeps them in sync;
 * scripts depend on these numbers, so never renumber: append.
 */
export const ExitCode = {
  OK: 0,
  INTERNAL: 1,
  USAGE: 2,
  NETWORK: 3,
  REMOTE_REFUSED: 4,
  REMOTE_CHANGED: 5,
  INTEGRITY: 6,
  LOCAL_IO: 7,
  PROTOCOL: 8,
  LOCAL_CONFLICT: 9,
  /** The server wants a token or signed link and got none or a bad one (UNAUTHORIZED), or it does not cover the path (FORBIDDEN). */
  AUTH: 10,
  TLS_VERIFY: 11,
  TLS_MISMATCH: 12,
  /** Several sources (--mirror, several URLs of one file) and none left that has the file's copy. */
  NO_SOURCE: 13,
  /** Not passed to exit() either: ftget dies by the signal, as the shell shows it for SIGINT. */
  INTERRUPTED: 130,
  /** Not passed to exit(): ftget dies by SIGPIPE (this is what the shell shows). */
  STDOUT_CLOSED: 141,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** One line per exit code, as printed in the README table and `ftget get --help`. */
export const EXIT_CODE_MEANINGS: Readonly<Record<ExitCode, string>> = {
  0: 'success (also: the file was already complete)',
  1: 'unexpected internal error (a bug)',
  2: 'usage error (bad flags or arguments)',
  3: 'network: cannot connect, or the transfer failed after all retries (incl. stalls)',
  4: 'remote refused: not found, access denied, is a directory, not a directory',
  5: 'remote file changed and --no-restart was given',
  6: 'integrity failure (digest mismatch that refetching did not fix)',
  7: 'local I/O error (disk full, permission, …)',
  8: 'protocol error (the server violated the protocol: wrong offset, short body, garbage)',
  9: 'local state conflict: existing output/partial without --resume/--force, or a partial larger than the remote file',
  10: 'authentication: the server needs an access token or signed link and none was sent, or it refused the one sent (unknown, expired, revoked, altered) or it does not cover the path',
  11: 'TLS: the server certificate failed verification (untrusted, expired, wrong host name, --pin mismatch)',
  12: 'TLS mismatch: a TLS client reached a plaintext server, a plaintext client a TLS-only server, or the TLS handshake failed',
  13: 'no source agrees: every source of a --mirror download was dropped, copies that differ from the reference among them',
  130: 'interrupted: on SIGINT/SIGTERM/SIGHUP ftget saves the partial and its state (kept for --resume), then dies by that signal, which the shell shows as 130/143/129',
  141: 'stdout closed by its reader (-o - piped into head): ftget stops quietly and dies by SIGPIPE, which the shell shows as 141',
};
