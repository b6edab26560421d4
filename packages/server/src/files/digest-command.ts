/**
 * `ftserve digest DIR --digest-cache STORE`: fill the digest store (digest-store.ts) with the
 * chunk digests of every regular file under DIR, so that a server started later with
 * `--root DIR --digest-cache STORE` answers its first STAT or GET with digests without reading
 * the file. Replicas behind a balancer (docs/DEPLOY.md) each run it on their own copy: entries
 * are keyed by the local validator. The walk is the server's view of DIR (same jail, dotfiles
 * rule and validators, through FileService); symlinks are not followed (their targets inside DIR
 * are hashed where they are). Bounded: at most MAX_DEPTH levels, the server's per-directory
 * listing limit, and --max-files files. bin/run.js hands `ftserve digest …` here before oclif
 * starts, as for `ftserve token`. Exit codes: 0 every file is in the store, 1 internal error,
 * 2 bad usage, 5 some files could not be hashed or the walk was cut by a limit (each named on
 * stderr).
 */
import { performance } from 'node:perf_hooks';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { EntryKind, LinkKind } from '@ft/protocol';
import { resolveRoot } from '../config.js';
import { ExitCode, ServeError } from '../exit-codes.js';
import { isInside, openStoreDir } from './digest-store.js';
import { FileService } from './file-service.js';

const USAGE = `usage: ftserve digest DIR --digest-cache STORE [--dotfiles] [--max-files N]
Hashes every regular file under DIR (as ftserve --root DIR serves it) into the digest store
STORE, so that ftserve --root DIR --digest-cache STORE never hashes them on a first request.
Files already in STORE under their current validator are not read again. Progress goes to
stderr. Exit codes: 0 done, 1 internal error, 2 bad usage, 5 some files not hashed (named on
stderr) or a limit reached.`;

/** Deepest directory level walked (as LIST's depth bound, tcp/list-budget.ts). */
export const MAX_DEPTH = 256;
/** Default of --max-files. */
export const DEFAULT_MAX_FILES = 1_000_000;
const PROGRESS_INTERVAL_MS = 1000;

class UsageError extends Error {}

/** Counts of one run. */
export interface DigestRun {
  files: number;
  bytes: number;
  /** Files already in the store under their current validator. */
  stored: number;
  failed: number;
  /** Why the walk stopped early (a limit), if it did. */
  cut: string | undefined;
}

function gib(bytes: number): string {
  return bytes >= 1 << 30
    ? `${(bytes / (1 << 30)).toFixed(2)} GiB`
    : `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

function parse(args: string[]): {
  root: string;
  store: string;
  dotfiles: boolean;
  maxFiles: number;
} {
  const { values, positionals } = parseArgs({
    args,
    options: {
      'digest-cache': { type: 'string' },
      dotfiles: { type: 'boolean' },
      'max-files': { type: 'string' },
    },
    allowPositionals: true,
  });
  if (positionals.length !== 1) throw new UsageError('digest takes one DIR');
  const storeFlag = values['digest-cache'];
  if (storeFlag === undefined || storeFlag === '')
    throw new UsageError('--digest-cache STORE is required (the directory to fill)');
  const maxFiles =
    values['max-files'] === undefined ? DEFAULT_MAX_FILES : Number(values['max-files']);
  if (!Number.isSafeInteger(maxFiles) || maxFiles < 1)
    throw new UsageError(`--max-files must be a positive integer, got "${values['max-files']}"`);
  let root: string;
  try {
    root = resolveRoot(positionals[0]!, process.cwd());
  } catch (error) {
    if (error instanceof ServeError) throw new UsageError(error.message);
    throw error;
  }
  const store = resolve(storeFlag);
  // As for ftserve --digest-cache: the store is never served, and nothing is written under DIR.
  if (isInside(store, root))
    throw new UsageError(`--digest-cache ${store} must not be inside ${root}`);
  return { root, store, dotfiles: values.dotfiles === true, maxFiles };
}

/**
 * Walks `files`' root and stores the digests of every regular file; `say` gets progress and
 * per-file failures (one line each).
 */
export async function fillStore(
  files: FileService,
  maxFiles: number,
  say: (line: string) => void,
): Promise<DigestRun> {
  const run: DigestRun = { files: 0, bytes: 0, stored: 0, failed: 0, cut: undefined };
  let lastProgress = performance.now();
  // Depth-first with an explicit stack: [request path, depth].
  const dirs: [string, number][] = [['', 0]];
  while (dirs.length > 0 && run.cut === undefined) {
    const [dir, depth] = dirs.pop()!;
    let entries;
    try {
      entries = await files.list(dir, { links: true });
    } catch (error) {
      run.failed++;
      say(`cannot list ${dir === '' ? '.' : dir}: ${(error as Error).message}`);
      continue;
    }
    for (const e of entries) {
      // Links are skipped: a target inside the root is hashed where it is.
      if (e.link !== undefined && e.link !== LinkKind.NONE) continue;
      const path = dir === '' ? e.name : `${dir}/${e.name}`;
      if (e.kind === EntryKind.DIRECTORY) {
        if (depth + 1 >= MAX_DEPTH) {
          run.cut = `${path}: deeper than ${MAX_DEPTH} levels`;
          break;
        }
        dirs.push([path, depth + 1]);
        continue;
      }
      if (e.kind !== EntryKind.FILE) continue;
      if (run.files >= maxFiles) {
        run.cut = `more than ${maxFiles} files (--max-files)`;
        break;
      }
      run.files++;
      try {
        const opened = await files.openForRead(path);
        try {
          const { source } = await files.lookupDigests(opened);
          if (source === 'cached') run.stored++;
          run.bytes += opened.size;
        } finally {
          await opened.close();
        }
      } catch (error) {
        run.failed++;
        say(`cannot hash ${path}: ${(error as Error).message}`);
      }
      if (performance.now() - lastProgress >= PROGRESS_INTERVAL_MS) {
        lastProgress = performance.now();
        say(`${run.files} files, ${gib(run.bytes)} (${run.stored} already stored)…`);
      }
    }
  }
  return run;
}

/** Runs `ftserve digest ARGS…`; returns the exit code (errors are one line on `err`). */
export async function runDigestCommand(
  args: string[],
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Promise<number> {
  if (args.length === 1 && (args[0] === '--help' || args[0] === '-h')) {
    out.write(USAGE + '\n');
    return ExitCode.OK;
  }
  const say = (line: string): boolean => err.write(`ftserve digest: ${line}\n`);
  try {
    const o = parse(args);
    let dir: string;
    try {
      ({ dir } = openStoreDir(o.store));
    } catch (error) {
      throw new UsageError(`cannot create --digest-cache ${o.store}: ${(error as Error).message}`);
    }
    const files = new FileService({ root: o.root, dotfiles: o.dotfiles, digestStoreDir: dir });
    const run = await fillStore(files, o.maxFiles, say);
    say(
      `${run.files} files, ${gib(run.bytes)}: ${run.files - run.stored - run.failed} hashed, ` +
        `${run.stored} already stored, ${run.failed} failed; store ${dir}`,
    );
    if (run.cut !== undefined) say(`stopped early: ${run.cut}`);
    return run.failed > 0 || run.cut !== undefined ? ExitCode.INCOMPLETE : ExitCode.OK;
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (
      error instanceof UsageError ||
      (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS'))
    ) {
      err.write(`ftserve: ${(error as Error).message} (see ftserve digest --help)\n`);
      return ExitCode.USAGE;
    }
    err.write(`ftserve: internal error: ${(error as Error).message}\n`);
    return ExitCode.INTERNAL;
  }
}
