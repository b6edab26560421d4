/**
 * The root jail. A request path is checked as text first (no `..`, no absolute paths, no
 * backslashes, no control characters, no over-long names, no dotfiles unless allowed), then
 * resolved by the kernel with symlinks followed, and the result must still lie inside the root.
 * Opening uses O_NOFOLLOW and the opened descriptor's real path is checked again, so a symlink
 * swapped in between the check and the open cannot lead outside either.
 */
import {
  closeSync,
  constants as fsConstants,
  lstatSync,
  openSync,
  readlinkSync,
  realpathSync,
} from 'node:fs';
import { open } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { sep } from 'node:path';
import { FtError, Limits, WireError } from '@ft/protocol';

/** Why a path was refused: the wire error to answer with, and a message for the log. */
export class JailError extends FtError {
  constructor(wireCode: number, message: string) {
    super(wireCode === WireError.NOT_FOUND ? 'FT_NOT_FOUND' : 'FT_ACCESS_DENIED', message, {
      wireCode,
    });
    this.name = 'JailError';
  }
}

const denied = (why: string): JailError => new JailError(WireError.ACCESS_DENIED, why);

// Control characters (Unicode Cc: C0, DEL and C1, e.g. U+0085 NEL) never name a file we serve;
// NUL would truncate the path in C.
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * Splits a request path into its components, or throws a JailError (ACCESS_DENIED).
 * "", "." and "/"-separated empty or "." components mean "here"; the root itself is [].
 */
export function parseRequestPath(path: string, options: { dotfiles: boolean }): string[] {
  if (path.startsWith('/')) throw denied('absolute paths are refused');
  if (CONTROL.test(path)) throw denied('control characters in path');
  if (path.includes('\\')) throw denied('backslash in path');
  const parts: string[] = [];
  for (const part of path.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') throw denied('".." in path');
    if (Buffer.byteLength(part, 'utf8') > Limits.MAX_NAME_BYTES)
      throw denied('path component too long');
    if (!options.dotfiles && part.startsWith('.')) throw denied('dotfiles are not served');
    parts.push(part);
  }
  return parts;
}

const OPEN_FLAGS =
  fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK | fsConstants.O_NOCTTY;

/** Maps the errno of a failed resolve/open to the error a client sees. */
function fromErrno(error: unknown, path: string): JailError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR')
    return new JailError(WireError.NOT_FOUND, `${path}: not found`);
  return denied(`${path}: ${code ?? 'refused'}`);
}

/** Resolves request paths inside one root directory; see the module comment for the rules. */
export class PathJail {
  /** @param root the real (symlink-free) absolute path of the root directory */
  constructor(
    readonly root: string,
    private readonly options: { dotfiles: boolean },
  ) {}

  /** True if `real` (an absolute, resolved path) is the root or lies under it. */
  contains(real: string): boolean {
    return real === this.root || real.startsWith(this.root === sep ? sep : this.root + sep);
  }

  /** Rejects a resolved path outside the root, or one that reaches a dotfile through a symlink. */
  private check(real: string, path: string): void {
    if (!this.contains(real)) throw denied(`${path}: leads outside the root`);
    if (!this.options.dotfiles && real !== this.root) {
      const rest = real.slice(this.root.length).split(sep);
      if (rest.some((p) => p.startsWith('.'))) throw denied(`${path}: leads to a dotfile`);
    }
  }

  /** The real absolute path a request path names; throws JailError when refused or missing. */
  async resolve(path: string): Promise<string> {
    return this.resolveSync(path);
  }

  /**
   * resolve() without the promise. One realpath(3) call, made synchronously as nginx makes its
   * open()s: path lookups are answered from the dentry cache almost always, and a thread-pool
   * round trip would cost more than the lookup itself.
   */
  resolveSync(path: string): string {
    const parts = parseRequestPath(path, this.options);
    if (parts.length === 0) return this.root;
    const joined = this.root + (this.root.endsWith(sep) ? '' : sep) + parts.join(sep);
    let real: string;
    try {
      real = realpathSync.native(joined);
    } catch (error) {
      throw fromErrno(error, path);
    }
    this.check(real, path);
    return real;
  }

  /**
   * Opens a request path read-only. O_NONBLOCK keeps a FIFO from blocking the open; O_NOFOLLOW
   * refuses a final component swapped for a symlink after resolve(). The caller owns the handle.
   */
  async open(path: string): Promise<{ handle: FileHandle; real: string }> {
    const real = this.resolveSync(path);
    let handle: FileHandle;
    try {
      this.beforeOpen();
      handle = await open(real, OPEN_FLAGS);
    } catch (error) {
      throw fromErrno(error, path);
    }
    try {
      this.verifyOpened(handle.fd, path);
    } catch (error) {
      await handle.close();
      throw error;
    }
    return { handle, real };
  }

  /**
   * open() as a plain descriptor, synchronously (see resolveSync): what the servers use per
   * request. The caller must closeSync() it, and only once no read on it is in flight.
   */
  openSync(path: string): { fd: number; real: string } {
    const parts = parseRequestPath(path, this.options);
    if (parts.length > 0) {
      const fast = this.openPlainSync(parts, path);
      if (fast !== undefined) return fast;
    }
    const real = this.resolveSync(path);
    let fd: number;
    try {
      this.beforeOpen();
      fd = openSync(real, OPEN_FLAGS);
    } catch (error) {
      throw fromErrno(error, path);
    }
    try {
      this.verifyOpened(fd, path);
    } catch (error) {
      closeSync(fd);
      throw error;
    }
    return { fd, real };
  }

  /**
   * openSync() of a path made of plain names under the root, without realpath(3) (which costs
   * one failing readlink per component of the root's path and of the request's, 4% of a
   * worker's CPU per request). The root is already real and every name has passed
   * parseRequestPath; each directory on the way is lstat'ed and must be a directory, not a
   * symlink, and O_NOFOLLOW refuses a symlink in the last place, so the kernel follows no link
   * at all: nothing outside the root is opened. (A directory swapped for a symlink between the
   * lstat and the open is the same race as between the slow path's realpath and its open, and
   * the /proc check below catches both.) A symlink anywhere, or a directory missing on the way,
   * is left to the slow path (undefined), which resolves it and checks where it leads; every
   * other error is what the slow path would answer (its realpath fails with the same ENOENT,
   * or succeeds and its open fails with the same errno).
   */
  private openPlainSync(parts: string[], path: string): { fd: number; real: string } | undefined {
    let joined = this.root.endsWith(sep) ? this.root : this.root + sep;
    for (let i = 0; i < parts.length - 1; i++) {
      joined += parts[i]!;
      let st;
      try {
        st = lstatSync(joined, { throwIfNoEntry: false });
      } catch {
        return undefined; // EACCES and the like: the slow path says which error it is
      }
      if (st === undefined || !st.isDirectory()) return undefined;
      joined += sep;
    }
    joined += parts.at(-1)!;
    let fd: number;
    try {
      this.beforeOpen();
      fd = openSync(joined, OPEN_FLAGS);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ELOOP') return undefined;
      throw fromErrno(error, path);
    }
    try {
      return { fd, real: this.verifyOpened(fd, path) ?? joined };
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  /**
   * Runs right before each open, after every check: where the window between a check and the
   * open lies. Nothing here; the tests override it to swap a file or directory in that window.
   */
  protected beforeOpen(): void {}

  /**
   * Where the kernel says the descriptor points (Linux /proc); skipped where /proc is missing.
   * Synchronous: procfs answers from memory, and a thread-pool round trip per request costs more.
   */
  private verifyOpened(fd: number, path: string): string | undefined {
    let actual: string;
    try {
      actual = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      return undefined;
    }
    this.check(actual, path);
    return actual;
  }
}
