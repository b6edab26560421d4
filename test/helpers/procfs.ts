/** Linux /proc readings about a process tree: children, zombies, open descriptors. */
import { readFileSync, readdirSync } from 'node:fs';

/** Pids of the direct children of `pid` (from /proc/<pid>/task/<tid>/children). */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: string[];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text !== '') out.push(...text.split(/\s+/).map(Number));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** State letter of a process (R, S, Z, …) or undefined if it is gone. */
export function stateOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name is in parentheses and may hold spaces: the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}

/** Children of `pid` that are zombies (exited but not reaped). */
export function zombieChildren(pid: number): number[] {
  return childrenOf(pid).filter((c) => stateOf(c) === 'Z');
}

/** Number of open file descriptors of `pid`. */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Resident set size of `pid` in bytes. */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** Polls `check` every `intervalMs` until it returns true or `ms` pass; returns the last result. */
export async function waitFor(
  check: () => boolean,
  ms = 20_000,
  intervalMs = 50,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Samples the number of children of `pid` every `intervalMs` (for at most `ms`) until stop(),
 * which resolves with the most seen at once.
 */
export function mostChildren(
  pid: number,
  intervalMs: number,
  ms = 120_000,
): { stop(): Promise<number> } {
  let most = 0;
  let sampling = true;
  const deadline = Date.now() + ms;
  const sampler = (async () => {
    while (sampling && Date.now() < deadline) {
      most = Math.max(most, childrenOf(pid).length);
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  })();
  return {
    stop: async () => {
      sampling = false;
      await sampler;
      return most;
    },
  };
}
