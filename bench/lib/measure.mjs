/**
 * Measures one table row: warm-up runs, then measured runs bounded by count and a time budget.
 * A run returns client figures; the server's CPU seconds and peak RSS come from its process tree
 * around the run. A row that cannot run (tool missing, ft not working yet) keeps its reason.
 */
import { statSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { capture } from './proc.mjs';

/** Thrown when a transfer completed but delivered the wrong bytes: the run must fail. */
export class CorruptError extends Error {}

/**
 * Thrown when the harness cannot set up what a row's figures mean (e.g. the small row's fresh
 * file system): the section fails instead of reporting the row as not available.
 */
export class HarnessError extends Error {}

/**
 * @param {object} ctx  {profile, log}
 * @param {{label: string, tool: 'ft'|'peer', group?: string, metric: 'MBps'|'rps'|'seconds'}} row
 * @param {(i: {warm: boolean, index: number}) => Promise<object>} once  one run's figures
 * @param {{server?: object, runs?: number, warmup?: number, budgetS?: number,
 *   prepare?: (i: {warm: boolean, index: number}) => Promise<unknown>}} [o]
 */
export async function measureRow(ctx, row, once, o = {}) {
  const warmup = o.warmup ?? ctx.profile.warmup;
  const wanted = o.runs ?? ctx.profile.runs;
  const result = { ...row, runs: [] };
  const t0 = Date.now();
  for (let i = 0; i < warmup + wanted; i++) {
    const warm = i < warmup;
    if (
      !warm &&
      result.runs.length > 0 &&
      (Date.now() - t0) / 1000 > (o.budgetS ?? ctx.profile.rowBudgetS)
    ) {
      result.note = `${result.runs.length} runs (time budget reached)`;
      break;
    }
    let r;
    try {
      // Preparation (e.g. making a partial download) is neither timed nor charged to the server.
      const prepared = o.prepare === undefined ? undefined : await o.prepare({ warm, index: i });
      r = await withServer(o.server, () => once({ warm, index: i, prepared }));
    } catch (error) {
      if (error instanceof CorruptError || error instanceof HarnessError) throw error;
      result.unavailable = String(error?.message ?? error).slice(0, 300);
      break;
    }
    if (!warm) result.runs.push(r);
  }
  if (result.unavailable !== undefined) result.runs = [];
  ctx.log(`  ${row.group ? row.group + ' / ' : ''}${row.label}: ${summary(result)}`);
  return result;
}

async function withServer(server, fn) {
  if (server === undefined) return fn();
  const cpu0 = server.monitor.cpuSeconds();
  server.monitor.startPeak();
  let r;
  try {
    r = await fn();
  } finally {
    const peak = server.monitor.stopPeak();
    if (r !== undefined) {
      r.serverCpuS = (r.serverCpuS ?? 0) + server.monitor.cpuSeconds() - cpu0;
      r.serverRssBytes = Math.max(r.serverRssBytes ?? 0, peak);
      r.serverPssBytes = Math.max(r.serverPssBytes ?? 0, server.monitor.peakPss ?? 0);
    }
  }
  return r;
}

function summary(row) {
  if (row.unavailable !== undefined) return `not available (${row.unavailable})`;
  const v = row.runs.map((r) => primary(row.metric, r));
  const sorted = [...v].sort((a, b) => a - b);
  const mid = sorted[Math.floor(sorted.length / 2)];
  const unit = { MBps: 'MB/s', rps: 'req/s', seconds: 's' }[row.metric];
  return `${mid?.toFixed(row.metric === 'seconds' ? 3 : 1)} ${unit} (${v.length} runs)`;
}

/** The figure a row is ranked by. */
export function primary(metric, run) {
  if (metric === 'MBps') return run.bytes / run.wallS / 1e6;
  if (metric === 'rps') return run.requests / run.wallS;
  return run.wallS;
}

/** Turns a failed client run into an error with its reason. */
export function checkExit(name, r) {
  if (r.timedOut) throw new Error(`${name} timed out`);
  if (r.code !== 0) {
    const tail = r.stderr.trim().split('\n').slice(-2).join(' | ');
    throw new Error(`${name} exited ${r.code}${tail ? `: ${tail}` : ''}`);
  }
}

/** Size check on every run; byte-for-byte check (cmp) when `full`. */
export async function verifyFile(name, out, src, expectedSize, full) {
  let size;
  try {
    size = statSync(out).size;
  } catch {
    throw new CorruptError(`${name}: output ${out} is missing`);
  }
  if (size !== expectedSize)
    throw new CorruptError(`${name}: output has ${size} bytes, expected ${expectedSize}`);
  if (full) {
    try {
      await capture(['cmp', '-s', src, out], 120_000);
    } catch {
      throw new CorruptError(`${name}: output differs from ${src}`);
    }
  }
}

/** Total bytes of the files in a directory (a partial download counts too). */
export function bytesIn(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isFile()) n += statSync(path.join(dir, e.name)).size;
  }
  return n;
}

export function emptyDir(dir) {
  for (const e of readdirSync(dir)) rmSync(path.join(dir, e), { recursive: true, force: true });
}

/** Client figures of a runTimed result. */
export function clientFigures(r, bytes) {
  return { wallS: r.wallS, bytes, clientCpuS: r.cpuS, clientRssBytes: r.maxRssBytes };
}
