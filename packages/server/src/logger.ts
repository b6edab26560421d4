/**
 * One log line per event, as text (`key=value`) or JSON, to stderr or a file opened for append.
 * Lines are gathered for up to FLUSH_MS (or until PIPE_BUF bytes are waiting) and leave together
 * in one write(2) of whole lines, at most PIPE_BUF bytes, so the lines of several processes
 * sharing the file or pipe do not interleave, and a busy worker does not pay a system call per
 * request: at a few thousand requests/s, one write per event-loop turn was 4% of a worker's CPU.
 * Lines still waiting are written on exit. reopen() is what SIGHUP calls after log rotation.
 */
import { closeSync, fstatSync, openSync, writeSync } from 'node:fs';
import type { LogFormat } from './config.js';

export type LogFields = Record<string, string | number | boolean | undefined>;

const SAFE = /^[\w.:/@+[\]-]*$/;

function textValue(v: string | number | boolean): string {
  if (typeof v !== 'string') return String(v);
  // Paths come from the network: quote anything unusual so a line can never be forged or split.
  return v !== '' && SAFE.test(v) ? v : JSON.stringify(v);
}

let lastMs = -1;
let lastIso = '';

/** The current time as an ISO 8601 string (formatted once per millisecond: a busy worker logs several lines in each). */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}

/** Formats one log line (with trailing newline). */
export function formatLine(
  format: LogFormat,
  level: string,
  event: string,
  fields: LogFields,
): string {
  const time = isoNow();
  if (format === 'json') {
    const clean: Record<string, unknown> = { time, level, pid: process.pid, event };
    for (const [k, v] of Object.entries(fields)) if (v !== undefined) clean[k] = v;
    return JSON.stringify(clean) + '\n';
  }
  let line = `${time} ${level} ftserve[${process.pid}] ${event}`;
  // for-in, not Object.entries: no array of pairs per line (two lines per request). The fields
  // are plain object literals, so both visit the same keys in the same order.
  for (const k in fields) {
    const v = fields[k];
    if (v !== undefined) line += ` ${k}=${textValue(v)}`;
  }
  return line + '\n';
}

export interface LoggerOptions {
  format: LogFormat;
  /** Absolute path to append to; undefined means stderr. */
  file: string | undefined;
  /** Drop every line (used when stderr is the client's socket, as under inetd). */
  silent?: boolean;
}

/** Largest write that a pipe keeps atomic (PIPE_BUF on Linux). */
const MAX_WRITE = 4096;
/**
 * Longest a line waits before it is written: 20 ms, or FTSERVE_LOG_FLUSH_MS (0 to 1000; 0
 * writes at the next turn of the event loop). The test suite sets 0, because its assertions
 * read a server's log the moment a client has its answer.
 */
export const FLUSH_MS = flushDelay(process.env['FTSERVE_LOG_FLUSH_MS']);

/** The flush delay `text` asks for, or the default 20 ms when it is unset or not 0–1000. */
export function flushDelay(text: string | undefined): number {
  const ms = text === undefined || text === '' ? NaN : Number(text);
  return Number.isInteger(ms) && ms >= 0 && ms <= 1000 ? ms : 20;
}

export class Logger {
  private fd: number | undefined;
  private pending: string[] = [];
  private pendingBytes = 0;
  private scheduled = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly flushNow = (): void => this.flush();

  constructor(private readonly options: LoggerOptions) {
    this.open();
    // Lines of a process that exits before the end of the turn are still written.
    process.once('exit', this.flushNow);
  }

  private open(): void {
    if (this.options.file !== undefined && this.options.silent !== true) {
      this.fd = openSync(this.options.file, 'a', 0o640);
    }
  }

  info(event: string, fields: LogFields = {}): void {
    this.write('info', event, fields);
  }

  warn(event: string, fields: LogFields = {}): void {
    this.write('warn', event, fields);
  }

  error(event: string, fields: LogFields = {}): void {
    this.write('error', event, fields);
  }

  private write(level: string, event: string, fields: LogFields): void {
    if (this.options.silent === true) return;
    const line = formatLine(this.options.format, level, event, fields);
    const bytes = Buffer.byteLength(line);
    if (this.pendingBytes + bytes > MAX_WRITE) this.flush();
    this.pending.push(line);
    this.pendingBytes += bytes;
    if (!this.scheduled) {
      this.scheduled = true;
      // Unref'd: waiting lines never keep a process alive (they are written on exit).
      this.timer = setTimeout(this.flushNow, FLUSH_MS).unref();
    }
  }

  /** Writes the lines logged so far. */
  flush(): void {
    if (this.scheduled) clearTimeout(this.timer);
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const text = this.pending.join('');
    this.pending = [];
    this.pendingBytes = 0;
    try {
      if (this.fd !== undefined) writeSync(this.fd, text);
      else process.stderr.write(text);
    } catch {
      // A full disk or a closed stderr must not take the server down; the lines are lost.
    }
  }

  /** Reopens the log file (after rotation); a no-op when logging to stderr. */
  reopen(): void {
    if (this.fd === undefined) return;
    this.flush();
    const old = this.fd;
    try {
      this.fd = openSync(this.options.file!, 'a', 0o640);
      closeSync(old);
    } catch (error) {
      this.error('log-reopen-failed', { error: String(error) });
    }
  }

  close(): void {
    this.flush();
    process.off('exit', this.flushNow);
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/** True if fd 2 is the same socket as fd 0 (inetd hands the connection over as stdin, stdout and stderr). */
export function stderrIsStdinSocket(): boolean {
  try {
    const a = fstatSync(0);
    const b = fstatSync(2);
    return a.isSocket() && b.isSocket() && a.dev === b.dev && a.ino === b.ino;
  } catch {
    return false;
  }
}
