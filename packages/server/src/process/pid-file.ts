/**
 * The pid file of a running ftserve: created exclusively, refused while it names a live process,
 * taken over when stale, and removed on exit only if it still names us.
 */
import { closeSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs';
import { ExitCode, ServeError } from '../exit-codes.js';

/** The live pid recorded in `path`, or undefined if there is none (missing, garbage or stale). */
export function livePid(path: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  const pid = Number.parseInt(text.trim(), 10);
  if (!Number.isSafeInteger(pid) || pid <= 0 || String(pid) !== text.trim()) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    // EPERM: it exists but belongs to someone else; still alive.
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined;
  }
}

/** Throws a ServeError (exit 4) if the pid file names a live process other than us. */
export function checkPidFile(path: string): void {
  const pid = livePid(path);
  if (pid !== undefined && pid !== process.pid) {
    throw new ServeError(`pid file ${path} names running process ${pid}`, ExitCode.PID_FILE_HELD);
  }
}

/** Writes our pid to `path`, refusing if a live process holds it. Returns a remover. */
export function acquirePidFile(path: string): () => void {
  checkPidFile(path);
  try {
    unlinkSync(path);
  } catch {
    // Not there, or not ours to remove: the exclusive create below decides.
  }
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      throw new ServeError(
        `pid file ${path} was created by another process`,
        ExitCode.PID_FILE_HELD,
      );
    }
    throw new ServeError(`cannot write pid file ${path}: ${code ?? String(error)}`, ExitCode.USAGE);
  }
  writeSync(fd, `${process.pid}\n`);
  closeSync(fd);
  return () => {
    try {
      if (readFileSync(path, 'utf8').trim() === String(process.pid)) unlinkSync(path);
    } catch {
      // Already gone.
    }
  };
}
