/**
 * Replicas for load-balancer tests: copies of one file in separate directories (so every copy
 * has its own inode and, set explicitly, its own mtime: the validators differ while the content
 * and so the root digest is the same), an ftserve on each, and a hard kill of one replica.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { copyFile, mkdir, mkdtemp, open, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { startFtserve } from './ftserve.js';
import type { Ftserve } from './ftserve.js';
import { childrenOf } from './procfs.js';

export interface ReplicaTrees {
  dir: string;
  /** One served directory per replica, each holding `file`. */
  roots: string[];
  /** An empty download directory. */
  dl: string;
  file: string;
  size: number;
  /** SHA-256 (hex) of the file's content. */
  sha256: string;
}

/**
 * Writes `size` random bytes to `<tmp>/r1/big.bin` (1 MiB at a time, so the test's memory does
 * not grow with the file), copies it to r2…rN, and gives copy i the mtime 2020+i-01-01.
 * Everything is removed at teardown.
 */
export async function replicaTrees(
  t: ExecutionContext,
  prefix: string,
  count: number,
  size: number,
): Promise<ReplicaTrees> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = 'big.bin';
  const roots = Array.from({ length: count }, (_, i) => join(dir, `r${i + 1}`));
  const dl = join(dir, 'dl');
  await Promise.all([...roots, dl].map((d) => mkdir(d)));
  const hash = createHash('sha256');
  const out = await open(join(roots[0]!, file), 'w');
  try {
    for (let written = 0; written < size;) {
      const piece = randomBytes(Math.min(1 << 20, size - written));
      hash.update(piece);
      await out.write(piece);
      written += piece.length;
    }
  } finally {
    await out.close();
  }
  for (const root of roots.slice(1)) await copyFile(join(roots[0]!, file), join(root, file));
  for (const [i, root] of roots.entries()) {
    const mtime = new Date(Date.UTC(2020 + i, 0, 1));
    await utimes(join(root, file), mtime, mtime);
  }
  return { dir, roots, dl, file, size, sha256: hash.digest('hex') };
}

/** SHA-256 (hex) of a file, streamed. */
export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** One ftserve (one worker, TCP only, loopback) per root, stopped at teardown. */
export async function startReplicas(
  t: ExecutionContext,
  roots: string[],
  extraArgs: string[] = [],
): Promise<Ftserve[]> {
  const servers = await Promise.all(
    roots.map((root) =>
      startFtserve([
        '--root',
        root,
        '--host',
        '127.0.0.1',
        '--port',
        '0',
        '--workers',
        '1',
        '--no-udp',
        ...extraArgs,
      ]),
    ),
  );
  for (const s of servers) t.teardown(() => s.stop('SIGKILL'));
  return servers;
}

/**
 * Kills a replica as a crashed machine would stop serving: SIGKILL to its workers and its
 * primary at once (a SIGKILLed primary alone would leave its workers to finish their transfers).
 */
export function killReplica(server: Ftserve): void {
  for (const pid of [...childrenOf(server.pid), server.pid]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
