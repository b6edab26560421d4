/**
 * Where `ftget get` writes, decided before anything is fetched, from -o, --output-dir, -O and
 * --create-dirs (curl's names; see README "Output paths"):
 * - `-o DIR/` (trailing slash) or `-o DIR` naming an existing directory: into it, under the
 *   remote names; a missing DIR/ is created when its parent exists.
 * - `--output-dir DIR`: the same as `-o DIR/`; with -o FILE, FILE is taken relative to DIR.
 * - several REMOTEs: OUTPUT must be a directory in one of those forms (cp's rule), never a
 *   file name silently turned into a directory.
 * - a missing parent directory is an error naming the path as given, unless --create-dirs.
 * Errors the file system raises later on internal names (OUTPUT.part.lock.*.tmp) are
 * reported under the output path instead (hideInternalNames).
 */
import { mkdir, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ClientError, ClientErrorCode } from '../errors.js';

export interface OutputFlags {
  output: string | undefined;
  outputDir?: string | undefined;
  remoteName?: boolean | undefined;
  createDirs?: boolean | undefined;
  json: boolean;
}

function usage(message: string, hint: string): ClientError {
  return new ClientError(ClientErrorCode.USAGE, message, { hint });
}

async function kindOf(path: string): Promise<'directory' | 'other' | 'missing'> {
  try {
    return (await stat(path)).isDirectory() ? 'directory' : 'other';
  } catch {
    return 'missing';
  }
}

/** A missing parent directory: created with --create-dirs, else an error naming `given`. */
async function ensureParent(given: string, path: string, createDirs: boolean): Promise<void> {
  const parent = dirname(path);
  const kind = await kindOf(parent);
  if (kind === 'directory') return;
  if (kind === 'missing' && createDirs) {
    await mkdir(parent, { recursive: true });
    return;
  }
  throw new ClientError(
    ClientErrorCode.LOCAL_IO,
    kind === 'missing'
      ? `cannot write ${given}: directory ${parent} does not exist`
      : `cannot write ${given}: ${parent} is not a directory`,
    { hint: kind === 'missing' ? 'create it, or add --create-dirs' : 'choose another -o' },
  );
}

/**
 * Checks the output flags and prepares what they name (directories given with a trailing
 * slash or --output-dir, parents with --create-dirs); returns OUTPUT as planDownloads takes it.
 */
export async function resolveOutput(
  flags: OutputFlags,
  remoteCount: number,
  recursive: boolean,
): Promise<string | undefined> {
  let out = flags.output;
  const createDirs = flags.createDirs === true;
  if (flags.remoteName === true && out !== undefined)
    throw usage('-O/--remote-name and -o both name the output', 'give one of them');
  if (out === '-') {
    if (flags.json)
      throw usage(
        '--json and -o - would both write to stdout',
        'drop --json (the data is on stdout), or write to a file',
      );
    if (flags.outputDir !== undefined)
      throw usage('--output-dir and -o - do not go together', 'drop one of them');
    return out;
  }
  if (flags.outputDir !== undefined) {
    out =
      out === undefined ? `${flags.outputDir.replace(/\/+$/, '')}/` : join(flags.outputDir, out);
  }
  if (out === undefined) return undefined;
  if (out === '') throw usage('-o needs a path', 'give a file or directory name, or - for stdout');
  const kind = await kindOf(out);
  const intoDirectory = out.endsWith('/') || kind === 'directory';
  if (intoDirectory) {
    if (kind === 'other')
      throw new ClientError(ClientErrorCode.LOCAL_IO, `${out} is not a directory`, {
        hint: 'drop the trailing /, or choose another -o',
      });
    if (kind === 'missing') {
      await ensureParent(out, out.replace(/\/+$/, ''), createDirs);
      await mkdir(out, { recursive: true });
    }
    return out;
  }
  if (remoteCount > 1 && !recursive) {
    throw usage(
      kind === 'other'
        ? `-o ${out} is a file, but several REMOTEs need a directory`
        : `-o ${out}: with several REMOTEs, OUTPUT must be a directory`,
      `write -o ${out}/ (created if missing) or --output-dir ${out}`,
    );
  }
  await ensureParent(out, out, createDirs);
  return out;
}

/** Internal file names (lock, state temp files) that must not appear in messages. */
const INTERNAL = /\.part(\.lock|\.json)?\.[^/]*\b(tmp|stale)\b|\.part\.lock$/;

/**
 * A file-system error on one of ftget's own files beside OUTPUT (its lock's temp file, say)
 * is reported as being about OUTPUT: "f.bin: ENOENT: no such file or directory".
 */
export function hideInternalNames(error: unknown, output: string): unknown {
  const e = error as NodeJS.ErrnoException | null;
  if (
    e === null ||
    typeof e !== 'object' ||
    typeof e.path !== 'string' ||
    typeof e.code !== 'string'
  )
    return error;
  if (!INTERNAL.test(e.path) && !e.message.includes('.tmp')) return error;
  const base = e.message.split(',')[0] ?? e.code;
  e.message = `${output}: ${base}`;
  return e;
}
