/** Starting workers and per-connection children, and the guard against restart storms. */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { childScript } from './child-bundle.js';
import { CHILD_CONFIG_ENV } from './ipc.js';
import type { ChildConfig, ChildRole } from './ipc.js';

/**
 * Node flags each role starts with, before FTSERVE_CHILD_NODE_FLAGS (a flag given twice: the
 * last wins, so the variable can undo these). Measured on the 2-core VM, interleaved with none
 * (bench notes in docs/BENCHMARKS.md, "Memory of the process models"):
 * - workers: a 4 MiB semi-space cap instead of V8's 16 MiB. A request burst grows the young
 *   generation to its cap and it stays there: after 5 s of 50-client 4 KiB requests, 100
 *   concurrent 64 MiB downloads peaked at 131 MiB of summed PSS instead of 166 (whole tree,
 *   medians of 3), with no worker CPU per request difference the VM could show (a 1 or 2 MiB
 *   cap cost 10-15% more per request: objects that live across a request get promoted). One
 *   V8 helper thread instead of four (--v8-pool-size is Node's flag, not V8's): no CPU
 *   difference per request, a stack and a malloc arena less each.
 * - one-shot children: one V8 helper thread, and one libuv thread (UV_THREADPOOL_SIZE, set
 *   in childEnv unless the environment gives one): a child serves one connection with at
 *   most one read in flight. 5 threads instead of 11 while serving; summed PSS for 100
 *   concurrent 64 MiB downloads (64 children) 527 -> 486 MiB, start-up CPU unchanged. No V8
 *   flag here: any flag V8 itself reads costs each child start 9-20 ms more CPU
 *   (perf9-child-start.mjs; likely V8 rejecting Node's code cache of its built-in modules,
 *   which is keyed to V8's flags), and none of them lowered a child's memory (a bare forked
 *   Node is ~7 MiB private whatever the flags).
 */
export const ROLE_NODE_FLAGS: Record<ChildRole, readonly string[]> = {
  worker: ['--max-semi-space-size=4', '--v8-pool-size=1'],
  oneshot: ['--v8-pool-size=1'],
};
/** libuv threads of a one-shot child (see ROLE_NODE_FLAGS); workers keep libuv's default of 4. */
export const ONESHOT_UV_THREADS = '1';

/**
 * Forks the light child entry (its one-file bundle when current: see child-bundle.ts) with the
 * flags of its role. stdin/stdout are /dev/null (children never print results); stderr is
 * shared so their log lines go where ours go. Node opens every descriptor close-on-exec, so the
 * child does not inherit the listening socket or other clients' sockets.
 */
export function spawnChild(config: ChildConfig): ChildProcess {
  return fork(childScript().path, [], {
    execArgv: childExecArgv(config.role),
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: childEnv(config),
    serialization: 'json',
  });
}

/** Node flags of a child of `role`: its role's, then FTSERVE_CHILD_NODE_FLAGS. */
export function childExecArgv(role: ChildRole): string[] {
  return [...ROLE_NODE_FLAGS[role], ...childNodeFlags()];
}

/** The environment of a child: ours, its configuration, and for one-shot children one libuv thread. */
export function childEnv(config: ChildConfig): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, [CHILD_CONFIG_ENV]: JSON.stringify(config) };
  if (config.role === 'oneshot' && env.UV_THREADPOOL_SIZE === undefined)
    env.UV_THREADPOOL_SIZE = ONESHOT_UV_THREADS;
  return env;
}

/**
 * Environment variable with extra Node flags for every child (whitespace-separated), for
 * profiling: `FTSERVE_CHILD_NODE_FLAGS='--cpu-prof --cpu-prof-dir=/tmp/prof'` (Node 20 refuses
 * --cpu-prof in NODE_OPTIONS, and the primary passes none of its own flags on).
 */
export const CHILD_NODE_FLAGS_ENV = 'FTSERVE_CHILD_NODE_FLAGS';

export function childNodeFlags(): string[] {
  return (process.env[CHILD_NODE_FLAGS_ENV] ?? '').split(/\s+/).filter((f) => f !== '');
}

/** Counts failures in a sliding window; exhausted() says when to give up instead of looping. */
export class RestartBudget {
  private readonly times: number[] = [];
  constructor(
    readonly max: number,
    readonly windowMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records one failure; returns true if more than `max` happened within the window. */
  spend(): boolean {
    const t = this.now();
    this.times.push(t);
    while (this.times.length > 0 && this.times[0]! <= t - this.windowMs) this.times.shift();
    return this.times.length > this.max;
  }
}

/** Resolves when the child has exited (immediately if it already has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}
