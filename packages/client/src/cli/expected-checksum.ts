/**
 * `ftget get FILE --checksum sha256:HEX`: a digest the user got elsewhere, checked against the
 * downloaded bytes before they appear at the output name. `--checksum` alone is the boolean of
 * `get -r` re-runs (compare contents); the two share the name as rsync's and aria2's flags do,
 * so the value form is taken out of argv before oclif parses it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { ClientError, ClientErrorCode } from '../errors.js';

const VALUE = /^sha256:/i;

function usage(message: string): ClientError {
  return new ClientError(ClientErrorCode.USAGE, message, {
    hint: 'give --checksum sha256:HEX with 64 hex digits (sha256sum prints them)',
  });
}

/** Parses "sha256:HEX"; throws FT_USAGE on anything else. Returns the lower-case hex. */
export function parseExpectedChecksum(value: string): string {
  const m = /^sha256:([0-9a-f]{64})$/i.exec(value.trim());
  if (m === null) throw usage(`--checksum ${JSON.stringify(value)}: expected sha256:HEX`);
  return m[1]!.toLowerCase();
}

/**
 * Takes `--checksum sha256:HEX` and `--checksum=VALUE` out of argv (before `--`); a bare
 * `--checksum` not followed by a sha256: value stays (the boolean). At most one value.
 */
export function extractExpectedChecksum(argv: readonly string[]): {
  argv: string[];
  expected: string | undefined;
} {
  const out: string[] = [];
  let expected: string | undefined;
  const take = (value: string): void => {
    if (expected !== undefined) throw usage('--checksum sha256:HEX given twice');
    expected = parseExpectedChecksum(value);
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      out.push(...argv.slice(i));
      break;
    }
    if (a.startsWith('--checksum=')) take(a.slice('--checksum='.length));
    else if (a === '--checksum' && VALUE.test(argv[i + 1] ?? '')) take(argv[++i]!);
    else out.push(a);
  }
  return { argv: out, expected };
}

/** SHA-256 of a whole local file, hex. */
export async function sha256OfFile(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { signal, highWaterMark: 1024 * 1024 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** Throws FT_INTEGRITY (exit 6) unless the file at `path` has the SHA-256 `expected`. */
export async function checkExpectedChecksum(
  path: string,
  expected: string,
  shown: string,
  signal?: AbortSignal,
): Promise<void> {
  const actual = await sha256OfFile(path, signal);
  // Digests are public values here; a plain comparison is enough.
  if (actual !== expected) {
    throw new ClientError(
      ClientErrorCode.INTEGRITY,
      `${shown}: SHA-256 is ${actual}, --checksum expected ${expected}`,
      { hint: `the downloaded data is kept in ${path}; check the expected value` },
    );
  }
}
