/**
 * The default process model: a fixed pool of worker processes. The primary binds the listening
 * socket and shares it with every worker; workers accept from it directly (the kernel queues
 * connections while none is accepting) and serve many connections each with non-blocking I/O,
 * each enforcing its share of the connection limits. The primary never accepts or serves. A
 * worker that dies is replaced, unless workers die faster than the restart budget allows,
 * which means something is broken: then we give up.
 */
import type { ChildProcess, SendHandle } from 'node:child_process';
import type { Socket } from 'node:net';
import type { ServerConfig } from '../config.js';
import { isFromChild, shareOf } from './ipc.js';
import { SessionRelay } from './session-relay.js';
import type { AcceptWakeup, ToChild } from './ipc.js';
import type { SharedSocket } from '../net/listen.js';
import type { Logger } from '../logger.js';
import { RestartBudget, exited, spawnChild } from './spawn-child.js';

/** Common face of both forking models, as the primary drives them. */
export interface ProcessPool {
  /** Starts the processes; resolves when they are ready to serve. */
  start(): Promise<void>;
  /** Drains every child (up to the grace period, then kills) and resolves when all have exited. */
  shutdown(): Promise<void>;
  reopenLogs(): void;
  /** Resolves with a reason if the pool cannot go on (restart storm). */
  readonly failed: Promise<string>;
  /** Pids of the live children (for tests and status). */
  pids(): number[];
}

interface Worker {
  slot: number;
  child: ChildProcess;
  /** How it is woken for new connections, once it listens. */
  accept?: AcceptWakeup;
}

const START_TIMEOUT_MS = 30_000;
/** Margin after the grace period for children to exit before they are killed. */
const KILL_MARGIN_MS = 2000;

/** Sends a message (and maybe a socket) to a child; false if the channel is gone. */
export function sendTo(
  child: ChildProcess,
  message: ToChild,
  handle?: Socket | object,
  done?: (error: Error | null) => void,
): boolean {
  if (!child.connected) return false;
  try {
    return child.send(message, handle as SendHandle, {}, done ?? (() => {}));
  } catch {
    return false;
  }
}

export class PreforkPool implements ProcessPool {
  readonly failed: Promise<string>;
  private fail!: (reason: string) => void;
  private readonly workers = new Map<number, Worker>();
  private readonly budget: RestartBudget;
  private stopping = false;

  constructor(
    private readonly config: ServerConfig,
    private readonly serverName: string,
    private readonly logger: Logger,
    private readonly socket: SharedSocket,
    private readonly sessions: SessionRelay = new SessionRelay(false),
  ) {
    this.failed = new Promise((resolve) => (this.fail = resolve));
    this.budget = new RestartBudget(Math.max(10, 2 * config.workers));
  }

  pids(): number[] {
    return [...this.workers.values()].flatMap((w) =>
      w.child.pid === undefined ? [] : [w.child.pid],
    );
  }

  async start(): Promise<void> {
    const ready: Promise<void>[] = [];
    for (let slot = 0; slot < this.config.workers; slot++) ready.push(this.spawn(slot));
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error('workers did not start in time')),
        START_TIMEOUT_MS,
      );
    });
    try {
      await Promise.race([
        Promise.all(ready),
        timeout,
        this.failed.then((r) => Promise.reject(new Error(r))),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Starts the worker of `slot`; resolves once it listens on the shared socket. */
  /**
   * 'exclusive' when every live worker polls the shared socket with EPOLLEXCLUSIVE (one idle
   * worker wakes per connection), 'all' when any does not (then it wakes for every connection).
   */
  acceptWakeup(): AcceptWakeup {
    const all = [...this.workers.values()];
    return all.length > 0 && all.every((w) => w.accept === 'exclusive') ? 'exclusive' : 'all';
  }

  private spawn(slot: number): Promise<void> {
    const child = spawnChild({
      role: 'worker',
      server: this.config,
      serverName: this.serverName,
      udpSessions: this.sessions.enabled,
    });
    this.sessions.watch(child);
    const worker: Worker = { slot, child };
    this.workers.set(slot, worker);
    const { workers, maxConnections, maxConnectionsPerIp } = this.config;
    return new Promise((resolve) => {
      child.on('message', (message: unknown) => {
        if (!isFromChild(message)) return;
        if (message.t === 'ready') {
          sendTo(
            child,
            {
              t: 'listen',
              maxConnections: shareOf(maxConnections, workers, slot),
              maxConnectionsPerIp: shareOf(maxConnectionsPerIp, workers, slot),
            },
            this.socket.handle,
          );
        } else if (message.t === 'listening') {
          worker.accept = message.accept;
          resolve();
        } else if (message.t === 'listen-failed') {
          this.fail(`a worker cannot listen on ${this.socket.text}: ${message.code}`);
        }
      });
      child.on('error', (error) =>
        this.logger.error('worker-error', { slot, error: String(error) }),
      );
      child.once('exit', (code, signal) => this.onExit(worker, code, signal));
    });
  }

  private onExit(worker: Worker, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.workers.get(worker.slot) === worker) this.workers.delete(worker.slot);
    if (this.stopping) return;
    this.logger.warn('worker-exited', {
      pid: worker.child.pid,
      code: code ?? undefined,
      signal: signal ?? undefined,
    });
    if (this.budget.spend()) {
      this.fail(
        `workers keep dying (more than ${this.budget.max} restarts in ${this.budget.windowMs / 1000} s)`,
      );
      return;
    }
    void this.spawn(worker.slot).then(() =>
      this.logger.info('worker-started', {
        slot: worker.slot,
        pid: this.workers.get(worker.slot)?.child.pid,
        accept: this.workers.get(worker.slot)?.accept,
      }),
    );
  }

  reopenLogs(): void {
    for (const w of this.workers.values()) sendTo(w.child, { t: 'reopen-log' });
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    const workers = [...this.workers.values()];
    for (const w of workers) sendTo(w.child, { t: 'shutdown' });
    // Workers close their copies as they drain; the port is free once all are closed.
    this.socket.close();
    await stopChildren(
      workers.map((w) => w.child),
      this.config.graceMs + KILL_MARGIN_MS,
    );
  }
}

/** Waits for children to exit; SIGKILLs those still alive after `ms`. */
export async function stopChildren(children: ChildProcess[], ms: number): Promise<void> {
  const all = Promise.all(children.map(exited));
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<'late'>((resolve) => (timer = setTimeout(() => resolve('late'), ms)));
  const outcome = await Promise.race([all, late]);
  clearTimeout(timer);
  if (outcome === 'late') {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await all;
  }
}
