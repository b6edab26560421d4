/**
 * The classic model: one child process per connection, which serves that client and exits.
 *
 * Starting Node takes tens of milliseconds, so a couple of children are started ahead of need
 * ("spares") and each new connection goes to one that is already up; a replacement starts at
 * once. When none is up, the connection waits for the first child that becomes ready (not for
 * one started just for it). Spares count as children: the total never exceeds --max-children. At the cap the
 * connection is answered BUSY with a retry-after hint and closed (we do not stop accepting: a
 * queue of unaccepted connections would only turn into timeouts). That cap, with the overall
 * and per-IP connection limits checked before it, is what keeps a flood from fork-bombing us.
 */
import type { ChildProcess } from 'node:child_process';
import type { Socket } from 'node:net';
import type { Accepted, Refusal } from './acceptor.js';
import type { ServerConfig } from '../config.js';
import { childScript } from './child-bundle.js';
import { isFromChild } from './ipc.js';
import { SessionRelay } from './session-relay.js';
import type { Logger } from '../logger.js';
import { sendTo, stopChildren } from './prefork.js';
import type { ProcessPool } from './prefork.js';
import { RestartBudget, spawnChild } from './spawn-child.js';

/** Children kept started and waiting for a connection. */
export const SPARE_CHILDREN = 2;
/** Retry-after hint sent with BUSY at --max-children. */
export const BUSY_RETRY_MS = 250;
const KILL_MARGIN_MS = 2000;

interface Child {
  process: ChildProcess;
  ready: boolean;
  /** The connection it serves (a child serves at most one). */
  connection: Accepted | undefined;
}

/** An accepted connection waiting for a child to become ready. */
interface Pending {
  socket: Socket;
  accepted: Accepted;
}

export class ForkPerConnectionPool implements ProcessPool {
  readonly failed: Promise<string>;
  private fail!: (reason: string) => void;
  private readonly children = new Set<Child>();
  private readonly pending: Pending[] = [];
  /** Children that die without ever becoming ready: a broken install would otherwise fork forever. */
  private readonly budget = new RestartBudget(20);
  private stopping = false;
  private readonly spares: number;

  constructor(
    private readonly config: ServerConfig,
    private readonly serverName: string,
    private readonly logger: Logger,
    private readonly sessions: SessionRelay = new SessionRelay(false),
  ) {
    this.failed = new Promise((resolve) => (this.fail = resolve));
    // Serving still works from the modules, but each connection pays their loading.
    const { unbundledBecause } = childScript();
    if (unbundledBecause !== undefined)
      logger.warn('child-bundle-unused', { reason: unbundledBecause, fix: 'pnpm build' });
    this.spares = Math.min(SPARE_CHILDREN, config.maxChildren);
  }

  pids(): number[] {
    return [...this.children].flatMap((c) => (c.process.pid === undefined ? [] : [c.process.pid]));
  }

  async start(): Promise<void> {
    this.topUp();
    // Serving does not need the spares, but a first line printed after them makes the first
    // connections as fast as the rest (and start-up failures show before we say "listening").
    await Promise.race([
      Promise.all(
        [...this.children].map(
          (c) =>
            new Promise<void>((resolve) => {
              const check = (): void => {
                if (c.ready || c.process.exitCode !== null) resolve();
              };
              c.process.on('message', check);
              c.process.once('exit', check);
            }),
        ),
      ),
      this.failed.then((r) => Promise.reject(new Error(r))),
    ]);
  }

  private idle(): Child | undefined {
    for (const c of this.children) if (c.ready && c.connection === undefined) return c;
    return undefined;
  }

  /** Children still starting, each of which will take a pending connection or become a spare. */
  private starting(): number {
    let n = 0;
    for (const c of this.children) if (!c.ready) n++;
    return n;
  }

  private countIdle(): number {
    let n = 0;
    for (const c of this.children) if (c.ready && c.connection === undefined) n++;
    return n;
  }

  /** Keeps a child started or starting for every pending connection plus `spares`, within --max-children. */
  private topUp(): void {
    if (this.stopping) return;
    let available = this.countIdle() + this.starting() - this.pending.length;
    while (available < this.spares && this.children.size < this.config.maxChildren) {
      this.spawn();
      available++;
    }
  }

  private spawn(): Child {
    const child: Child = {
      process: spawnChild({
        role: 'oneshot',
        server: this.config,
        serverName: this.serverName,
        udpSessions: this.sessions.enabled,
      }),
      ready: false,
      connection: undefined,
    };
    this.children.add(child);
    this.sessions.watch(child.process);
    child.process.on('message', (message: unknown) => {
      if (!isFromChild(message) || message.t !== 'ready') return;
      child.ready = true;
      const next = this.pending.shift();
      if (next !== undefined) this.handOver(child, next);
    });
    child.process.on('error', (error) =>
      this.logger.error('child-error', { error: String(error) }),
    );
    child.process.once('exit', (code, signal) => {
      this.children.delete(child);
      child.connection?.release();
      if (!child.ready && !this.stopping) {
        this.logger.error('child-failed', {
          pid: child.process.pid,
          code: code ?? undefined,
          signal: signal ?? undefined,
        });
        if (this.budget.spend()) {
          this.fail(
            `children keep failing to start (more than ${this.budget.max} in ${this.budget.windowMs / 1000} s)`,
          );
          return;
        }
      }
      this.topUp();
    });
    return child;
  }

  private handOver(child: Child, { socket, accepted }: Pending): void {
    child.connection = accepted;
    const ok = sendTo(child.process, { t: 'conn', id: accepted.id }, socket, (error) => {
      if (error !== null) socket.destroy();
    });
    if (!ok && !child.process.connected) socket.destroy();
  }

  dispatch(socket: Socket, accepted: Accepted): Refusal | undefined {
    if (this.stopping) return { reason: 'shutting-down', retryAfterMs: BUSY_RETRY_MS };
    const child = this.idle();
    if (child !== undefined) {
      this.handOver(child, { socket, accepted });
    } else {
      if (this.pending.length >= this.starting() && this.children.size >= this.config.maxChildren)
        return { reason: 'max-children', retryAfterMs: BUSY_RETRY_MS };
      this.pending.push({ socket, accepted });
      // A pending connection closed by its client meanwhile is dropped from the queue.
      socket.once('close', () => {
        const i = this.pending.findIndex((p) => p.socket === socket);
        if (i < 0) return;
        this.pending.splice(i, 1);
        accepted.release();
      });
    }
    this.topUp();
    return undefined;
  }

  reopenLogs(): void {
    for (const c of this.children) sendTo(c.process, { t: 'reopen-log' });
  }

  async shutdown(): Promise<void> {
    this.stopping = true;
    const all = [...this.children];
    for (const p of this.pending.splice(0)) {
      p.socket.destroy();
      p.accepted.release();
    }
    for (const c of all) sendTo(c.process, { t: 'shutdown' });
    await stopChildren(
      all.map((c) => c.process),
      this.config.graceMs + KILL_MARGIN_MS,
    );
  }
}
