/**
 * Starts a real ftserve process (`node packages/server/bin/run.js … --port 0`), waits for its
 * documented first stdout line and returns where it listens. stop() sends a signal and waits;
 * tests call it in t.teardown so no process outlives its test.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess, StdioOptions } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';

/** The repository root (this file compiles to test/dist/helpers/ftserve.js). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const FTSERVE_BIN = fileURLToPath(
  new URL('../../../packages/server/bin/run.js', import.meta.url),
);

const LINE = /^ftserve listening tcp=(\[[^\]]+\]|[^\s:]+):(\d+) udp=(\S+) pid=(\d+) root=(.+)$/;

export interface ListeningLine {
  host: string;
  port: number;
  udp: string;
  pid: number;
  root: string;
}

/** Parses the documented first line; undefined if it is not one. */
export function parseListeningLine(line: string): ListeningLine | undefined {
  const m = LINE.exec(line.trim());
  if (m === null) return undefined;
  return {
    host: m[1]!.replace(/^\[|\]$/g, ''),
    port: Number(m[2]),
    udp: m[3]!,
    pid: Number(m[4]),
    root: m[5]!,
  };
}

export interface Ftserve extends ListeningLine {
  line: string;
  child: ChildProcess;
  /** Everything written to stderr so far (logs). */
  stderr(): string;
  /** Resolves with the exit status once the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Sends `signal` (default SIGTERM), waits up to `ms`, then SIGKILLs. Safe to call twice. */
  stop(
    signal?: NodeJS.Signals,
    ms?: number,
  ): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export interface StartOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Milliseconds to wait for the first line. */
  timeoutMs?: number;
}

/** Runs ftserve with `args` (add `--root` and `--port 0` yourself) and waits until it listens. */
// Every ftserve a test starts writes its log lines at once (the default gathers them for 20 ms):
// tests read a server's log the moment a client has its answer. Children inherit it.
process.env['FTSERVE_LOG_FLUSH_MS'] ??= '0';

export async function startFtserve(args: string[], options: StartOptions = {}): Promise<Ftserve> {
  // With --port 0 the kernel picks a free TCP port, and the UDP service then binds the same
  // number, which another test's UDP socket may hold at that moment: ftserve exits 3 and says
  // so. That is a collision of the tests' ports, not what a test checks: pick again, a few times.
  const anyPort = args.some((a, i) => (a === '--port' && args[i + 1] === '0') || a === '--port=0');
  const udpOwnPort = args.some((a) => a === '--udp-port' || a.startsWith('--udp-port='));
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(args, options);
    } catch (error) {
      const collided =
        anyPort &&
        !udpOwnPort &&
        /cannot listen on UDP .*address already in use/.test(String(error));
      if (!collided || attempt >= 5) throw error;
    }
  }
}

async function startOnce(args: string[], options: StartOptions): Promise<Ftserve> {
  const child = spawn(process.execPath, [FTSERVE_BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  let out = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (err += s));
  // 'exit' can come before the last stderr bytes are read; stop() waits a little for them.
  const stderrEnded = once(child.stderr!, 'end').then(
    () => {},
    () => {},
  );
  const exited = once(child, 'exit').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  const line = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ftserve did not announce itself in time; stderr: ${err}`));
    }, options.timeoutMs ?? 30_000);
    child.stdout!.setEncoding('utf8').on('data', (s: string) => {
      out += s;
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        clearTimeout(timer);
        resolve(out.slice(0, nl));
      }
    });
    void exited.then(({ code, signal }) => {
      clearTimeout(timer);
      reject(new Error(`ftserve exited (${signal ?? code}) before listening; stderr: ${err}`));
    });
  });
  const parsed = parseListeningLine(line);
  if (parsed === undefined) {
    child.kill('SIGKILL');
    throw new Error(`unexpected first line: ${line}`);
  }
  const stop = async (signal: NodeJS.Signals = 'SIGTERM', ms = 30_000) => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), ms);
      const status = await exited;
      clearTimeout(timer);
      // Children that outlive the primary may hold stderr open: wait for it at most 2 s.
      await Promise.race([stderrEnded, new Promise((r) => setTimeout(r, 2000).unref())]);
      return status;
    }
    return exited;
  };
  return { ...parsed, line, child, stderr: () => err, exited, stop };
}

/** startFtserve serving `root` on a free port with `flags`, stopped when the test ends. */
export async function serveRoot(
  t: ExecutionContext,
  root: string,
  flags: readonly string[] = [],
): Promise<Ftserve> {
  const server = await startFtserve(['--root', root, '--port', '0', ...flags]);
  t.teardown(() => server.stop());
  return server;
}

/** Spawns ftserve expecting it to fail fast; resolves with its exit code and output. */
export async function runFtserve(
  args: string[],
  options: { cwd?: string; stdio?: StdioOptions; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [FTSERVE_BIN, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    stdio: options.stdio ?? ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 30_000);
  const [code] = (await once(child, 'close')) as [number | null];
  clearTimeout(timer);
  return { code, stdout, stderr };
}

/** `ftserve token add --tokens FILE ARGS…`: the new token it prints once. */
export async function addToken(tokensFile: string, args: string[]): Promise<string> {
  const r = await runFtserve(['token', 'add', '--tokens', tokensFile, ...args]);
  if (r.code !== 0) throw new Error(`token add failed: ${r.stderr}`);
  return r.stdout.trim();
}
