/** Starting workers and per-connection children, and the guard against restart storms. */
import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { childScript } from './child-bundle.js';
import { CHILD_CONFIG_ENV } from './ipc.js';
import type { ChildConfig } from './ipc.js';

/**
 * Forks the light child entry (its one-file bundle when current: see child-bundle.ts), with no
 * V8 flags: each one tried (--jitless, --max-semi-space-size, --single-threaded, --max-lazy)
 * cost 12-20 ms more start-up CPU, even on a bare Node, and none lowered peak memory.
 * stdin/stdout are /dev/null (children never print results); stderr is shared so their log
 * lines go where ours go. Node opens every descriptor close-on-exec, so the child does not
 * inherit the listening socket or other clients' sockets.
 */
export function spawnChild(config: ChildConfig): ChildProcess {
  return fork(childScript().path, [], {
    execArgv: childNodeFlags(),
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    env: { ...process.env, [CHILD_CONFIG_ENV]: JSON.stringify(config) },
    serialization: 'json',
  });
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
