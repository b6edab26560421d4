/**
 * Runs the real `ftget` binary (`node packages/client/bin/run.js`) and collects its exit
 * status and output. Every run has a deadline after which it is SIGKILLed; spawnFtget hands
 * back the child for tests that signal it mid-transfer (they kill it in t.teardown).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';

export const FTGET_BIN = fileURLToPath(
  new URL('../../../packages/client/bin/run.js', import.meta.url),
);

export interface FtgetResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

export interface FtgetRun {
  child: ChildProcess;
  result: Promise<FtgetResult>;
}

export function spawnFtget(
  args: string[],
  options: {
    cwd?: string;
    env?: NodeJS.ProcessEnv;
    timeoutMs?: number;
    /** Another entry script in place of bin/run.js (same process, same collection). */
    script?: string;
  } = {},
): FtgetRun {
  const env = { ...(options.env ?? process.env) };
  delete env['FTGET_HOST'];
  delete env['FTGET_PORT'];
  Object.assign(env, options.env ?? {});
  const child = spawn(process.execPath, [options.script ?? FTGET_BIN, ...args], {
    cwd: options.cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: Buffer[] = [];
  let stderr = '';
  child.stdout!.on('data', (b: Buffer) => out.push(b));
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 90_000);
  const result = once(child, 'close').then(([code, signal]) => {
    clearTimeout(timer);
    return {
      code: code as number | null,
      signal: signal as NodeJS.Signals | null,
      stdout: Buffer.concat(out),
      stderr,
    };
  });
  return { child, result };
}

export function runFtget(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<FtgetResult> {
  return spawnFtget(args, options).result;
}

/**
 * `ftget stat NAME` against 127.0.0.1:`port`: the server hashes the file and keeps its digests,
 * so the GETs that follow get them in the FILE header rather than streamed (protocol v3).
 */
export function statOn(port: number, name: string): Promise<FtgetResult> {
  return runFtget(['stat', name, '--host', '127.0.0.1', '--port', String(port)]);
}

/** Kills a child if it is still running (for t.teardown). */
export function killIfRunning(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}
