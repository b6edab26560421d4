/**
 * The partial download beside the output: OUTPUT.part holds the bytes, OUTPUT.part.json says
 * which server version they belong to and which chunks have been verified. The state records
 * the partial file's identity (size, mtime, ctime, inode) as of the moment it was written, so a
 * later run can tell whether the partial is exactly as we left it or was touched since.
 *
 * The state is replaced crash-safely: write a temp file, fsync it, rename it over the old
 * state, fsync the directory. A reader sees the old state or the new one, never a torn one.
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';

export const STATE_FORMAT = 'ftget-partial/1';

/** What identifies the partial file's bytes as we last left them. */
export interface PartialIdentity {
  size: number;
  /** Nanoseconds, as decimal strings (bigints do not survive JSON). */
  mtimeNs: string;
  ctimeNs: string;
  ino: string;
}

/** Contents of OUTPUT.part.json. */
export interface PartialState {
  format: typeof STATE_FORMAT;
  /** Informational: where the bytes came from. */
  server: string;
  remotePath: string;
  /** Server validator of the version being downloaded, hex. */
  validator: string;
  size: number;
  mtimeMs: number;
  chunkSize: number;
  /** Root digest of the version, hex. */
  root: string;
  /** Expected chunk digests, hex; '' where not known yet. */
  digests: string[];
  /** Bitmap of chunks whose bytes in the partial matched their digest, base64. */
  verified: string;
  /** Identity of OUTPUT.part when this state was written. */
  partial: PartialIdentity;
}

export function partPathFor(output: string): string {
  return `${output}.part`;
}
export function statePathFor(output: string): string {
  return `${output}.part.json`;
}

/** The identity of an open file. */
export async function identityOf(handle: FileHandle): Promise<PartialIdentity> {
  const st = await handle.stat({ bigint: true });
  return {
    size: Number(st.size),
    mtimeNs: st.mtimeNs.toString(),
    ctimeNs: st.ctimeNs.toString(),
    ino: st.ino.toString(),
  };
}

export function sameIdentity(a: PartialIdentity, b: PartialIdentity): boolean {
  return a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs && a.ino === b.ino;
}

const HEX_DIGEST = /^(?:[0-9a-f]{64})?$/;
const HEX_VALIDATOR = /^[0-9a-f]{32}$/;
const DECIMAL = /^\d{1,30}$/;

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Checks a parsed state thoroughly: a state file is input like any other and may be damaged. */
export function parseState(text: string): PartialState | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const s = raw as Record<string, unknown>;
  const partial = s['partial'] as Record<string, unknown> | undefined;
  const digests = s['digests'];
  const chunkSize = s['chunkSize'];
  const size = s['size'];
  if (
    s['format'] !== STATE_FORMAT ||
    typeof s['server'] !== 'string' ||
    typeof s['remotePath'] !== 'string' ||
    typeof s['validator'] !== 'string' ||
    !HEX_VALIDATOR.test(s['validator']) ||
    !isCount(size) ||
    !isCount(s['mtimeMs']) ||
    !isCount(chunkSize) ||
    chunkSize === 0 ||
    typeof s['root'] !== 'string' ||
    !/^[0-9a-f]{64}$/.test(s['root']) ||
    !Array.isArray(digests) ||
    digests.length !== (size === 0 ? 0 : Math.ceil(size / chunkSize)) ||
    !digests.every((d) => typeof d === 'string' && HEX_DIGEST.test(d)) ||
    typeof s['verified'] !== 'string' ||
    Buffer.from(s['verified'], 'base64').length !== Math.ceil(digests.length / 8) ||
    typeof partial !== 'object' ||
    partial === null ||
    !isCount(partial['size']) ||
    ![partial['mtimeNs'], partial['ctimeNs'], partial['ino']].every(
      (v) => typeof v === 'string' && DECIMAL.test(v),
    )
  ) {
    return undefined;
  }
  return raw as PartialState;
}

/**
 * Reads OUTPUT.part.json: 'missing' when there is none, 'damaged' when it cannot be trusted
 * (then the partial is treated as unverified, never as verified).
 */
export async function readState(path: string): Promise<PartialState | 'missing' | 'damaged'> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw error;
  }
  return parseState(text) ?? 'damaged';
}

/** Fsyncs a directory so a rename in it survives a crash (best effort where unsupported). */
export async function syncDirectory(dir: string): Promise<void> {
  let handle: FileHandle | undefined;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== 'EISDIR' && code !== 'EINVAL' && code !== 'EPERM') throw error;
  } finally {
    await handle?.close();
  }
}

/** Replaces the state file atomically and durably. */
export async function writeState(path: string, state: PartialState): Promise<void> {
  const temp = `${dirname(path)}/.${basename(path)}.tmp`;
  const handle = await open(temp, 'w', 0o644);
  try {
    await handle.writeFile(JSON.stringify(state));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
  await syncDirectory(dirname(path));
}

/** Removes the state file (and a stray temp file), ignoring ones that are already gone. */
export async function removeState(path: string): Promise<void> {
  await rm(path, { force: true });
  await rm(`${dirname(path)}/.${basename(path)}.tmp`, { force: true });
}
