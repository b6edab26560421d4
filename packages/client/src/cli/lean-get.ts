/**
 * The lean path of `ftget get`: the common download of one file or a batch of them (`ftget get
 * REMOTE… -o OUT`, with -c, -q, --progress and the flags in LEAN_FLAGS) without oclif's Config,
 * plugin loading and command discovery, which cost more than the download of a small file (a
 * batch of 1,000 small files spent ~30 ms of its ~0.4 s of CPU on loading the full path).
 *
 * Nothing here parses or interprets a flag by itself: the command line goes through oclif's
 * own parser with get's own flag definitions (commands/get.ts: defaults, validation, --no-
 * forms), and the parsed result through the very function Get.run calls (runParsedGet). Only
 * the decision "lean or not" is made here, before anything is done; whatever this path does
 * not take (--help, an error while parsing, tree, parallel, mirror or
 * list-file runs, any flag outside LEAN_FLAGS) returns false and bin/run.js runs the full
 * oclif path, so such runs behave exactly as before. Bundled alone as
 * dist/src/ftget-lean.cjs (scripts/bundle-cli.mjs), where oclif's Command class, help system
 * and error handler are replaced by stubs: nothing on this path calls them. --udp is lean too:
 * the UDP transport is in this bundle anyway (the session's connection factory imports it).
 */
import { ExitError } from '@oclif/core/errors';
import { parse } from '@oclif/core/parser';
import Get, { runParsedGet } from '../commands/get.js';
import type { ParsedGetFlags } from '../commands/get.js';
import { extractExpectedChecksum } from './expected-checksum.js';

/** Flags (by name) a lean run may carry: files each from one source over TCP, TLS or UDP. */
export const LEAN_FLAGS: ReadonlySet<string> = new Set([
  'output',
  'output-dir',
  'remote-name',
  'create-dirs',
  'resume',
  'force',
  'restart',
  'verify-partial',
  'preserve-mtime',
  'host',
  'port',
  'token',
  'tls',
  'cacert',
  'pin',
  'insecure',
  'retries',
  'retry-max-time',
  'retry-max-wait',
  'stall-timeout',
  'limit-rate',
  'udp',
  'quiet',
  'verbose',
  'progress',
  'json',
]);

/** What oclif's Command.parse hands its parser for `get` (flags merged with baseFlags). */
function parserInput(): Parameters<typeof parse>[1] {
  return {
    flags: { ...Get.baseFlags, ...Get.flags },
    args: Get.args,
    strict: Get.strict,
    // No context (oclif passes the command): get's flags read nothing from it; help, which
    // would, is left to the full path.
  };
}

/**
 * Runs `argv` (without node and the script) if it is a lean `get` and returns true, with the
 * exit code in process.exitCode or the process ended by it, as oclif would; returns false,
 * having done nothing, for everything the full path must run.
 */
export async function leanGet(argv: readonly string[]): Promise<boolean> {
  if (argv[0] !== 'get') return false;
  // With DEBUG, oclif and the error handler print their own diagnostics: the full path's.
  if (process.env['DEBUG'] !== undefined) return false;
  const words = argv.slice(1);
  // --help/-h (oclif renders it) and `--`: those lines are the full path's.
  if (words.some((w) => w === '--' || w === '-h' || w === '--help' || w.startsWith('--help=')))
    return false;
  let parsed: Awaited<ReturnType<typeof parse>>;
  let raw: ReturnType<typeof extractExpectedChecksum>;
  try {
    raw = extractExpectedChecksum(words);
    parsed = await parse(raw.argv, parserInput());
  } catch {
    return false; // the full path reports it, in its words
  }
  const remotes = parsed.argv as string[];
  if (remotes.length === 0 || remotes.some((r) => r.startsWith('-'))) return false;
  if (parsed.raw.some((t) => t.type === 'flag' && !LEAN_FLAGS.has(t.flag))) return false;
  let code: number;
  try {
    code = await runParsedGet(remotes, parsed.flags as ParsedGetFlags, raw, usageErrorOfGet);
  } catch (error) {
    code = await exitCodeOf(error);
  }
  // As oclif: a failure ends the process at once, success lets it end by itself.
  if (code !== 0) process.exit(code);
  return true;
}

/** An instance of Get for its methods only (usage line and error format): never run. */
function getShim(): InstanceType<typeof Get> {
  const shim = Object.create(Get.prototype) as InstanceType<typeof Get> & { id: string };
  shim.id = 'get';
  return shim;
}

/** Get's usage error (three lines, exit 2), as Get.run raises it. */
function usageErrorOfGet(message: string): never {
  return (getShim() as unknown as { usageError(m: string): never }).usageError(message);
}

/** What Get's catch (FtgetCommand.catch) makes of an error thrown by the run: its exit code. */
async function exitCodeOf(error: unknown): Promise<number> {
  try {
    await getShim().catch(error as Error);
  } catch (thrown) {
    if (thrown instanceof ExitError) return thrown.oclif.exit ?? 1;
  }
  return 1;
}
