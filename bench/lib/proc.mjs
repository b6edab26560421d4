/**
 * Process plumbing for the benchmark: every child is spawned in its own process group and
 * registered, so one call (also on Ctrl-C or a crash) kills exactly the processes we started.
 * Client processes run under GNU time for their CPU seconds and peak RSS; long-lived servers are
 * measured from /proc (CPU of the whole process tree, sampled RSS summed over the tree).
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import process from 'node:process';
import { setTimeout as sleep } from 'node:timers/promises';
import { setInterval, clearInterval, setTimeout, clearTimeout } from 'node:timers';

const GNU_TIME = '/usr/bin/time';
const CLK_TCK = 100;
const TAIL_BYTES = 4096;

/** Children still running, by pid. */
const live = new Map();

/** Kills every child we started (their whole process group), synchronously. */
export function killAll() {
  for (const pid of live.keys()) killGroup(pid);
  live.clear();
}

function killGroup(pid) {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Spawns a registered child in its own process group. */
export function spawnTracked(argv, options = {}) {
  const [cmd, ...args] = argv;
  const child = spawn(cmd, args, { detached: true, ...options });
  if (child.pid !== undefined) live.set(child.pid, child);
  const exited = new Promise((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('close', (code, signal) => resolve({ code, signal, error: undefined }));
  });
  void exited.then(() => live.delete(child.pid));
  return { child, exited };
}

/** Stops one child: SIGTERM, then SIGKILL after graceMs; resolves when it has exited. */
export async function stopChild(handle, graceMs = 3000) {
  const pid = handle.child.pid;
  if (pid === undefined || !live.has(pid)) return handle.exited;
  try {
    process.kill(-pid, 'SIGTERM');
  } catch {
    // gone
  }
  const timer = setTimeout(() => killGroup(pid), graceMs);
  const result = await handle.exited;
  clearTimeout(timer);
  killGroup(pid); // grandchildren that ignored SIGTERM
  return result;
}

export function hasGnuTime() {
  return existsSync(GNU_TIME);
}

let timeFiles = 0;

/**
 * Runs one command to completion and measures it.
 * @param {string[]} argv
 * @param {{stdout?: 'ignore'|'pipe'|string, stdin?: string, cwd?: string, timeoutMs: number,
 *   netns?: string, scratch: string, env?: NodeJS.ProcessEnv, onSpawn?: (pid: number) => void}} o
 *   stdout: 'ignore', 'pipe' or a file path to write to (e.g. /dev/null).
 * @returns {Promise<{wallS: number, cpuS: number|null, maxRssBytes: number|null, code: number|null,
 *   timedOut: boolean, stdout: string, stderr: string}>}
 */
export async function runTimed(argv, o) {
  const timeFile = path.join(o.scratch, `time-${process.pid}-${timeFiles++}.txt`);
  const timed = hasGnuTime() ? [GNU_TIME, '-f', '%U %S %M', '-o', timeFile, ...argv] : argv;
  const full = o.netns === undefined ? timed : ['ip', 'netns', 'exec', o.netns, ...timed];
  const fds = [];
  const open = (p, flags) => {
    const fd = openSync(p, flags);
    fds.push(fd);
    return fd;
  };
  const stdin = o.stdin === undefined ? 'ignore' : open(o.stdin, 'r');
  const stdoutSpec = o.stdout ?? 'ignore';
  const stdout =
    stdoutSpec === 'ignore' || stdoutSpec === 'pipe' ? stdoutSpec : open(stdoutSpec, 'w');
  const started = process.hrtime.bigint();
  const handle = spawnTracked(full, {
    cwd: o.cwd,
    env: o.env ?? process.env,
    stdio: [stdin, stdout, 'pipe'],
  });
  for (const fd of fds) closeSync(fd);
  if (handle.child.pid !== undefined) o.onSpawn?.(handle.child.pid);
  let out = '';
  let err = '';
  handle.child.stdout?.on('data', (d) => {
    if (out.length < 1 << 20) out += d.toString();
  });
  handle.child.stderr?.on('data', (d) => {
    err = (err + d.toString()).slice(-TAIL_BYTES);
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(handle.child.pid);
  }, o.timeoutMs);
  const { code, error } = await handle.exited;
  clearTimeout(timer);
  const wallS = Number(process.hrtime.bigint() - started) / 1e9;
  if (error !== undefined) err += String(error);
  const usage = readTimeFile(timeFile);
  return { wallS, ...usage, code, timedOut, stdout: out, stderr: err };
}

function readTimeFile(file) {
  try {
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    rmSync(file, { force: true });
    const [u, s, m] = (lines.at(-1) ?? '').split(' ').map(Number);
    if (![u, s, m].every(Number.isFinite)) return { cpuS: null, maxRssBytes: null };
    return { cpuS: u + s, maxRssBytes: m * 1024 };
  } catch {
    return { cpuS: null, maxRssBytes: null };
  }
}

function readStat(pid) {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
    // after "pid (comm) ": state ppid ... utime(14) stime(15) cutime(16) cstime(17) → index-3
    return {
      ppid: Number(f[1]),
      ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]),
    };
  } catch {
    return undefined;
  }
}

/** The pids of a process and all its descendants (one scan of /proc). */
export function processTree(root) {
  const children = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(name);
    if (st === undefined) continue;
    const list = children.get(st.ppid) ?? [];
    list.push(Number(name));
    children.set(st.ppid, list);
  }
  const out = [root];
  for (let i = 0; i < out.length && out.length < 10_000; i++)
    out.push(...(children.get(out[i]) ?? []));
  return out;
}

function rssBytes(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

/**
 * Proportional set size: resident pages, with each page shared by N processes counted 1/N. The
 * sum of PSS over a process tree is what the tree really occupies; the sum of VmRSS counts the
 * Node binary's shared pages once per process.
 */
function pssBytes(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m === null ? 0 : Number(m[1]) * 1024;
  } catch {
    return 0;
  }
}

/**
 * Watches a server's process tree: CPU seconds (own + reaped children) and peak RSS, the sum of
 * VmRSS over every live process of the tree, sampled every intervalMs (and the peak sum of PSS).
 */
export class TreeMonitor {
  constructor(rootPid, intervalMs = 40) {
    this.root = rootPid;
    this.intervalMs = intervalMs;
    this.timer = undefined;
    this.peak = 0;
  }

  cpuSeconds() {
    let ticks = 0;
    for (const pid of processTree(this.root)) ticks += readStat(pid)?.ticks ?? 0;
    return ticks / CLK_TCK;
  }

  rssNow() {
    let sum = 0;
    for (const pid of processTree(this.root)) sum += rssBytes(pid);
    return sum;
  }

  pssNow() {
    let sum = 0;
    for (const pid of processTree(this.root)) sum += pssBytes(pid);
    return sum;
  }

  sample() {
    this.peak = Math.max(this.peak, this.rssNow());
    this.peakPss = Math.max(this.peakPss, this.pssNow());
  }

  startPeak() {
    this.peak = 0;
    this.peakPss = 0;
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  /** Ends sampling; returns the peak summed VmRSS (and sets `peakPss`). */
  stopPeak() {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    return this.peak;
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** True when the network namespace of `pid` has a socket bound to `port` (TCP LISTEN or UDP). */
function bound(pid, port, proto) {
  const hex = `:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const file of proto === 'tcp' ? ['tcp', 'tcp6'] : ['udp', 'udp6']) {
    let text = '';
    try {
      text = readFileSync(`/proc/${pid}/net/${file}`, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f[1]?.endsWith(hex) && (proto === 'udp' || f[3] === '0A')) return true;
    }
  }
  return false;
}

/** Waits (bounded) until the process has a listening socket on port. */
export async function waitBound(pid, port, proto = 'tcp', timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (bound(pid, port, proto)) return true;
    await sleep(20);
  }
  return false;
}

/** Runs a short command and returns its stdout (throws on failure or timeout). */
export async function capture(argv, timeoutMs = 30_000) {
  const handle = spawnTracked(argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  handle.child.stdout.on('data', (d) => (out += d));
  handle.child.stderr.on('data', (d) => (err = (err + d).slice(-TAIL_BYTES)));
  const timer = setTimeout(() => killGroup(handle.child.pid), timeoutMs);
  const { code, error } = await handle.exited;
  clearTimeout(timer);
  if (error !== undefined || code !== 0)
    throw new Error(`${argv.join(' ')}: ${error?.message ?? `exit ${code}`} ${err.trim()}`);
  return out;
}
