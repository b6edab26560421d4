/**
 * The token file of `ftserve --tokens FILE`: which access tokens exist, what path prefix each
 * opens and until when. Only each token's SHA-256 is stored. A token is 32 random bytes
 * (256 bits): guessing one, or inverting its hash, is out of reach, so a slow password hash
 * (scrypt) would add nothing but a per-request CPU cost an attacker could make us pay; a fast
 * hash is what keeps a stolen token file from revealing working tokens.
 *
 * File format (JSON, version 1):
 *   { "version": 1, "tokens": [ { "id", "name", "prefix", "sha256", "created", "expires" } ] }
 * `expires` is an ISO-8601 time or null (never). Written atomically (temporary file in the same
 * directory, fsync, rename) with mode 0600.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** One stored token (never the token itself). */
export interface TokenRecord {
  /** Short random identifier, for `token revoke ID` and logs. */
  id: string;
  /** Unique human name; logs name a request's token by it. */
  name: string;
  /** Canonical prefix: components joined by "/", "" for the whole root. */
  prefix: string;
  /** Hex SHA-256 of the token's UTF-8 bytes. */
  sha256: string;
  created: string;
  expires: string | null;
}

/** What a token file holds. */
export interface TokenFile {
  version: 1;
  tokens: TokenRecord[];
}

/** A malformed token file or prefix: the message is one line for the user. */
export class TokenFileError extends Error {
  override name = 'TokenFileError';
}

/** Characters of a token after its "ft_" marker: base64url of 32 bytes. */
const TOKEN_BYTES = 32;
const TOKEN_PREFIX = 'ft_';

/** A new random token: "ft_" + base64url(32 random bytes), 46 characters. */
export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(TOKEN_BYTES).toString('base64url');
}

/** SHA-256 of a token's UTF-8 bytes. */
export function hashToken(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

/**
 * Splits a prefix or request path into components ("" and "." dropped), as the path jail does;
 * undefined if it has a ".." component (such a path is never covered by a prefix).
 */
export function pathComponents(path: string): string[] | undefined {
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') return undefined;
    parts.push(part);
  }
  return parts;
}

/** Canonical form of a prefix given on the command line, or a TokenFileError. */
export function canonicalPrefix(prefix: string): string {
  if (prefix.includes('\\') || prefix.includes('\0'))
    throw new TokenFileError(`--prefix "${prefix}" must not contain a backslash or NUL`);
  const parts = pathComponents(prefix);
  if (parts === undefined) throw new TokenFileError(`--prefix "${prefix}" must not contain ".."`);
  return parts.join('/');
}

/** Whether `prefix` (canonical) covers the request `path`: its components start with the prefix's. */
export function prefixCovers(prefix: string, path: string): boolean {
  const parts = pathComponents(path);
  if (parts === undefined) return false;
  if (prefix === '') return true;
  const want = prefix.split('/');
  if (parts.length < want.length) return false;
  return want.every((p, i) => parts[i] === p);
}

function isRecord(v: unknown): v is TokenRecord {
  if (typeof v !== 'object' || v === null) return false;
  const r = v as Record<string, unknown>;
  return (
    typeof r['id'] === 'string' &&
    typeof r['name'] === 'string' &&
    typeof r['prefix'] === 'string' &&
    typeof r['sha256'] === 'string' &&
    /^[0-9a-f]{64}$/.test(r['sha256']) &&
    typeof r['created'] === 'string' &&
    (r['expires'] === null ||
      (typeof r['expires'] === 'string' && !Number.isNaN(Date.parse(r['expires']))))
  );
}

/** Reads and checks a token file; a missing file is an empty one only when `missingOk`. */
export function readTokenFile(file: string, missingOk = false): TokenFile {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' && missingOk) return { version: 1, tokens: [] };
    throw new TokenFileError(`cannot read token file ${file}: ${code ?? String(error)}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new TokenFileError(`token file ${file} is not valid JSON`);
  }
  const p = parsed as { version?: unknown; tokens?: unknown };
  if (p?.version !== 1 || !Array.isArray(p.tokens))
    throw new TokenFileError(`token file ${file}: not an ftserve token file (version 1)`);
  const bad = p.tokens.findIndex((r) => !isRecord(r));
  if (bad !== -1) throw new TokenFileError(`token file ${file}: entry ${bad + 1} is malformed`);
  return { version: 1, tokens: p.tokens as TokenRecord[] };
}

/** Writes the token file atomically with mode 0600 (never a half-written file under its name). */
export function writeTokenFile(file: string, content: TokenFile): void {
  const tmp = join(
    dirname(file),
    `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`,
  );
  const fd = openSync(tmp, 'wx', 0o600);
  try {
    writeSync(fd, JSON.stringify(content, null, 2) + '\n');
    fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    unlinkSync(tmp);
    throw error;
  }
  closeSync(fd);
  renameSync(tmp, file);
  // The directory entry too, so the rename survives a crash.
  try {
    const dfd = openSync(dirname(file), 'r');
    fsyncSync(dfd);
    closeSync(dfd);
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  }
}

/** Outcome of checking a request against the tokens. */
export type TokenCheck =
  | { ok: true; name: string; prefix: string }
  | { ok: false; code: 'UNAUTHORIZED' | 'FORBIDDEN'; why: string; name?: string };

interface Loaded {
  record: TokenRecord;
  hash: Buffer;
  expiresAt: number;
}

/**
 * The tokens a server accepts, loaded from the token file; `reload()` (on SIGHUP) reads it again.
 * A reload that fails leaves no token valid (fail closed) until a good file is loaded.
 */
export class TokenStore {
  private tokens: Loaded[] = [];

  constructor(
    readonly file: string,
    load = true,
  ) {
    if (load) this.load();
  }

  /** A store for `file` that accepts no token (until a load() succeeds). */
  static empty(file: string): TokenStore {
    return new TokenStore(file, false);
  }

  /** How many tokens are loaded. */
  get size(): number {
    return this.tokens.length;
  }

  /** Reads the file; throws TokenFileError (and then accepts no token) if it is bad. */
  load(): void {
    this.tokens = [];
    const content = readTokenFile(this.file);
    this.tokens = content.tokens.map((record) => ({
      record,
      hash: Buffer.from(record.sha256, 'hex'),
      expiresAt: record.expires === null ? Infinity : Date.parse(record.expires),
    }));
  }

  /**
   * Checks `token` (from HELLO) for a request of `path`. Uses no file-system call: the answer
   * cannot depend on whether the path exists. Every stored hash is compared (timingSafeEqual),
   * so the time taken does not tell which, or how many, tokens exist.
   */
  check(token: string | undefined, path: string, now = Date.now()): TokenCheck {
    if (token === undefined) return { ok: false, code: 'UNAUTHORIZED', why: 'no token' };
    const hash = hashToken(token);
    let found: Loaded | undefined;
    for (const t of this.tokens)
      if (timingSafeEqual(hash, t.hash) && found === undefined) found = t;
    if (found === undefined) return { ok: false, code: 'UNAUTHORIZED', why: 'unknown token' };
    const name = found.record.name;
    if (now >= found.expiresAt) return { ok: false, code: 'UNAUTHORIZED', why: 'expired', name };
    if (!prefixCovers(found.record.prefix, path))
      return { ok: false, code: 'FORBIDDEN', why: 'outside prefix', name };
    return { ok: true, name, prefix: found.record.prefix };
  }
}
