/**
 * The key of signed links (`ftserve --sign-key FILE`, `ftserve sign --key-file FILE`): making
 * one, reading it, signing a path and checking a link's HMAC (PROTOCOL.md §5.7).
 *
 * Key file format: one line, the base64url (unpadded) text of 32 to 64 random bytes; those
 * bytes are the HMAC-SHA256 key. Like ssh with its private keys, the file is refused when its
 * group or others may read or write it: whoever reads it can sign links to every file.
 */
import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { closeSync, fstatSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
import { linkMacInput, linkPathDigest } from '@ft/protocol';
import type { LinkCredential, LinkParams } from '@ft/protocol';

/** A missing, unsafe or malformed key file, or a bad path to sign: one line for the user. */
export class SignKeyError extends Error {
  override name = 'SignKeyError';
}

/** Random bytes in a key made by `ftserve sign --new-key`. */
export const NEW_KEY_BYTES = 32;
const MIN_KEY_BYTES = 32;
const MAX_KEY_BYTES = 64;
/** Larger than any valid key file (86 characters and a newline): read no more than this. */
const MAX_FILE_BYTES = 256;

/** The 8-hex-digit key id: the first 4 bytes of SHA-256(key). Not secret; names the key in logs. */
export function keyIdOf(key: Buffer): string {
  return createHash('sha256').update(key).digest().subarray(0, 4).toString('hex');
}

function modeText(mode: number): string {
  return (mode & 0o777).toString(8).padStart(4, '0');
}

/** Reads and checks a key file (see the format above); a SignKeyError if it is unusable. */
export function readSignKeyFile(file: string): Buffer {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new SignKeyError(`cannot read signing key file ${file}: ${code ?? String(error)}`);
  }
  try {
    // fstat of the open descriptor: the file checked is the file read.
    const st = fstatSync(fd);
    if (!st.isFile()) throw new SignKeyError(`signing key file ${file} is not a regular file`);
    if ((st.mode & 0o077) !== 0) {
      throw new SignKeyError(
        `signing key file ${file} is accessible by group or others (mode ${modeText(st.mode)}); run: chmod 600 ${file}`,
      );
    }
    const buf = Buffer.alloc(MAX_FILE_BYTES);
    const n = readSync(fd, buf, 0, MAX_FILE_BYTES, 0);
    const text = buf.subarray(0, n).toString('latin1').trim();
    const key = /^[A-Za-z0-9_-]+$/.test(text) ? Buffer.from(text, 'base64url') : Buffer.alloc(0);
    if (n === MAX_FILE_BYTES || key.length < MIN_KEY_BYTES || key.length > MAX_KEY_BYTES) {
      throw new SignKeyError(
        `signing key file ${file} must hold one line of base64url (${MIN_KEY_BYTES}-${MAX_KEY_BYTES} bytes); make one with: ftserve sign --new-key FILE`,
      );
    }
    return key;
  } finally {
    closeSync(fd);
  }
}

/** Writes a new random key to `file` (created mode 0600, never over an existing file); its id. */
export function writeNewSignKey(file: string): string {
  const key = randomBytes(NEW_KEY_BYTES);
  let fd: number;
  try {
    fd = openSync(file, 'wx', 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new SignKeyError(
      code === 'EEXIST'
        ? `${file} exists already; a new key goes to a new file (then mv it over the old one and send SIGHUP)`
        : `cannot create ${file}: ${code ?? String(error)}`,
    );
  }
  try {
    writeSync(fd, key.toString('base64url') + '\n');
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return keyIdOf(key);
}

function mac(key: Buffer, keyId: string, expires: number, pathDigest: Buffer): Buffer {
  return createHmac('sha256', key)
    .update(linkMacInput(keyId, expires, pathDigest))
    .digest();
}

/** The link parameters for `normalisedPath` (see linkPathDigest) expiring at `expires` (Unix s). */
export function signPath(key: Buffer, normalisedPath: string, expires: number): LinkParams {
  const keyId = keyIdOf(key);
  const signature = mac(key, keyId, expires, linkPathDigest(normalisedPath)).toString('base64url');
  return { expires, keyId, signature };
}

/** What checking a link's signature found. */
export type SignatureCheck = 'valid' | 'bad-signature' | 'other-key' | 'no-key';

/**
 * The key a serving process checks links with; `load()` (at start and on SIGHUP) reads the file
 * again. A load that fails leaves no key (fail closed): every link is refused until a good file
 * is loaded.
 */
export class SignKey {
  private key: Buffer | undefined;
  private id: string | undefined;

  constructor(
    readonly file: string,
    load = true,
  ) {
    if (load) this.load();
  }

  /** A SignKey for `file` that accepts no link (until a load() succeeds). */
  static empty(file: string): SignKey {
    return new SignKey(file, false);
  }

  /** The loaded key's id, or undefined when none is loaded. */
  get keyId(): string | undefined {
    return this.id;
  }

  /** Reads the file; throws SignKeyError (and then accepts no link) if it is unusable. */
  load(): void {
    this.key = undefined;
    this.id = undefined;
    const key = readSignKeyFile(this.file);
    this.key = key;
    this.id = keyIdOf(key);
  }

  /**
   * Checks the HMAC of a decoded credential, in constant time (timingSafeEqual on the 32-byte
   * MACs; the MAC is computed whatever the key id says, so the time taken does not depend on it).
   */
  verify(link: LinkCredential): SignatureCheck {
    if (this.key === undefined) return 'no-key';
    const want = mac(this.key, link.keyId, link.expires, link.pathDigest);
    const got = Buffer.from(link.signature, 'base64url');
    const same = got.length === want.length && timingSafeEqual(got, want);
    if (same && link.keyId === this.id) return 'valid';
    return link.keyId === this.id ? 'bad-signature' : 'other-key';
  }
}
