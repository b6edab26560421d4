/**
 * One ftget per output: OUTPUT.part.lock holds the pid of the process downloading to OUTPUT.
 * It is created atomically with its content (a temp file hard-linked into place, which fails
 * if the lock exists), so a lock is never seen empty. A lock whose process is gone (ftget was
 * SIGKILLed, the machine crashed) is stale and taken over; a live holder is a local conflict.
 */
import { rmSync } from 'node:fs';
import { link, open, readFile, rename, rm } from 'node:fs/promises';
import { ClientError, ClientErrorCode } from './errors.js';

/** Attempts to create the lock before giving up (each failed one removed a stale lock). */
const MAX_LOCK_ATTEMPTS = 5;

/** Locks this process holds now, for releaseHeldLocksSync(). */
const held = new Set<string>();

/**
 * Removes every lock this process holds, synchronously: for a signal that must end the
 * process before the asynchronous cleanup is done (the partial and its state are consistent
 * at any instant; only the lock would be left behind).
 */
export function releaseHeldLocksSync(): void {
  for (const path of held) rmSync(path, { force: true });
  held.clear();
}

/** Where the lock of `output` lives. */
export function lockPathFor(output: string): string {
  return `${output}.part.lock`;
}

/** A held output lock; `release()` removes it (idempotent). */
export interface OutputLock {
  readonly path: string;
  release(): Promise<void>;
}

/**
 * Takes the lock of `output`, or rejects with FT_LOCAL_CONFLICT naming the live process that
 * holds it. File-system errors (e.g. EACCES) are passed on as they are.
 */
export async function acquireOutputLock(output: string): Promise<OutputLock> {
  const path = lockPathFor(output);
  for (let attempt = 0; attempt < MAX_LOCK_ATTEMPTS; attempt++) {
    if (await create(path)) {
      held.add(path);
      let holding = true;
      return {
        path,
        release: async () => {
          if (!holding) return;
          holding = false;
          held.delete(path);
          await rm(path, { force: true });
        },
      };
    }
    const holder = await readHolder(path);
    if (holder === undefined) continue; // released meanwhile
    if (holder !== null && isAlive(holder)) {
      throw new ClientError(
        ClientErrorCode.LOCAL_CONFLICT,
        `another ftget (pid ${holder}) is downloading to ${output}`,
        {
          hint: `wait for it to finish or stop it; if no ftget is running, remove ${path}`,
        },
      );
    }
    await takeOver(path, holder);
  }
  throw new ClientError(
    ClientErrorCode.LOCAL_CONFLICT,
    `cannot lock ${output}: ${path} keeps changing`,
    {
      hint: 'another ftget seems to be starting on the same output; try again',
    },
  );
}

/** Creates the lock with our pid in it; false when it already exists. */
async function create(path: string): Promise<boolean> {
  const temp = `${path}.${process.pid}.tmp`;
  // The temp file goes whatever happens, a failed write (disk full) included.
  try {
    const handle = await open(temp, 'w', 0o644);
    try {
      await handle.writeFile(`${process.pid}\n`);
    } finally {
      await handle.close();
    }
    try {
      await link(temp, path);
      return true;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP')
        return await createExclusive(path);
      throw error;
    }
  } finally {
    await rm(temp, { force: true });
  }
}

/** For file systems without hard links: O_EXCL create, then the pid (briefly empty). */
async function createExclusive(path: string): Promise<boolean> {
  let handle;
  try {
    handle = await open(path, 'wx', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
  try {
    await handle.writeFile(`${process.pid}\n`);
  } finally {
    await handle.close();
  }
  return true;
}

/** The holder's pid; null when the lock says nothing usable; undefined when it is gone. */
async function readHolder(path: string): Promise<number | null | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const pid = Number(text.trim());
  return Number.isSafeInteger(pid) && pid > 0 ? pid : null;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes a stale lock. It is renamed aside first and checked: if another process replaced
 * the stale lock with a live one in the meantime, that one is put back, not deleted.
 */
async function takeOver(path: string, stalePid: number | null): Promise<void> {
  const aside = `${path}.${process.pid}.stale`;
  try {
    await rename(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  const moved = await readHolder(aside);
  if (moved !== stalePid && moved !== undefined && moved !== null && isAlive(moved)) {
    await link(aside, path).catch(() => {});
  }
  await rm(aside, { force: true });
}
