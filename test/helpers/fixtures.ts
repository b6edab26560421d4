/** Temporary directory trees for end-to-end tests, removed when the test ends. */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';

export interface ServedFile {
  /** The temporary directory holding both trees. */
  dir: string;
  /** What ftserve serves: holds `f.bin`. */
  root: string;
  /** An empty download directory (ftget's cwd). */
  dl: string;
  /** The contents of `root/f.bin`. */
  data: Buffer;
}

/** Makes `<tmp>/srv/f.bin` with `size` random bytes and an empty `<tmp>/dl`; removed at teardown. */
export async function servedFile(
  t: ExecutionContext,
  prefix: string,
  size: number,
): Promise<ServedFile> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const root = join(dir, 'srv');
  const dl = join(dir, 'dl');
  await mkdir(root);
  await mkdir(dl);
  const data = randomBytes(size);
  await writeFile(join(root, 'f.bin'), data);
  return { dir, root, dl, data };
}

/** Makes `path` a sparse file of `size` zero bytes (large test files without the disk writes). */
export async function sparseFile(path: string, size: number): Promise<void> {
  await writeFile(path, '');
  await truncate(path, size);
}
