#!/usr/bin/env node
/**
 * `pnpm bench` — ft against the tools users would pick instead, same machine, same run.
 * Writes bench/results/latest.{json,md} and loss.svg; --write-docs also refreshes the results
 * block of docs/BENCHMARKS.md. Exits non-zero only when the harness is broken or a transfer
 * delivered wrong bytes — never because of a figure.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { ensurePeers, peerVersions } from './lib/install.mjs';
import { createFixtures } from './lib/fixtures.mjs';
import { CorruptError } from './lib/measure.mjs';
import { SECTIONS, parseOptions } from './lib/options.mjs';
import { killAll, hasGnuTime } from './lib/proc.mjs';
import { consoleTables, markdown } from './lib/report.mjs';
import { fmtBytes } from './lib/stats.mjs';
import { evaluateTargets } from './lib/targets.mjs';
import { startServers, stopServers } from './lib/setup.mjs';
import { lossChart } from './lib/loss-chart.mjs';
import * as single from './scenarios/single-stream.mjs';
import * as resume from './scenarios/resume.mjs';
import * as small from './scenarios/small-files.mjs';
import * as concurrent from './scenarios/concurrent.mjs';
import * as loss from './scenarios/udp-loss.mjs';
import * as cli from './scenarios/cli-cost.mjs';
import * as multi from './scenarios/multi.mjs';
import * as tls from './scenarios/tls.mjs';
import * as firstByte from './scenarios/first-byte.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const RESULTS = path.join(REPO, 'bench/results');
const DOCS = path.join(REPO, 'docs/BENCHMARKS.md');
const BEGIN = '<!-- bench:results:begin -->';
const END = '<!-- bench:results:end -->';

const log = (s) => process.stderr.write(`[bench] ${s}\n`);
const cleanups = [];
let tmpDir;
let keep = false;

function cleanup() {
  killAll();
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch {
      // best effort
    }
  }
  if (tmpDir !== undefined && !keep) rmSync(tmpDir, { recursive: true, force: true });
  tmpDir = undefined;
}

for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => {
    log(`${sig}: stopping`);
    cleanup();
    process.exit(130);
  });
}
process.once('exit', cleanup);

async function machine(bins) {
  const cpus = os.cpus();
  const info = {
    nproc: os.availableParallelism(),
    cpu: cpus[0]?.model ?? 'unknown',
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    kernel: os.release(),
    node: process.version,
    peers: await peerVersions(bins),
  };
  info.summary = `${info.nproc} CPUs (${info.cpu}), ${info.memoryGiB} GiB RAM, Linux ${info.kernel}, Node ${info.node}`;
  return info;
}

function writeDocs(md) {
  if (!existsSync(DOCS)) return `--write-docs: ${DOCS} does not exist`;
  const text = readFileSync(DOCS, 'utf8');
  const a = text.indexOf(BEGIN);
  const b = text.indexOf(END);
  if (a < 0 || b < a)
    return `--write-docs: markers ${BEGIN} … ${END} not found in docs/BENCHMARKS.md`;
  writeFileSync(DOCS, `${text.slice(0, a + BEGIN.length)}\n${md}\n${text.slice(b)}`);
  return undefined;
}

/** Writes latest.{json,md}, the plot and (with --write-docs) the docs block; returns problems. */
function publish(report, opts) {
  const problems = [];
  const partial =
    report.profileName === 'quick' ||
    !SECTIONS.every((id) => report.sections.some((s) => s.id === id));
  // A smoke run or a run of some sections must not overwrite the committed results of a full run.
  const dir =
    report.profileName === 'quick'
      ? path.join(RESULTS, 'quick')
      : partial
        ? path.join(RESULTS, 'partial')
        : RESULTS;
  report.plotFile = 'loss.svg';
  report.targets = evaluateTargets(report);
  mkdirSync(dir, { recursive: true });
  const chart = lossChart(report);
  if (chart !== undefined) writeFileSync(path.join(dir, 'loss.svg'), chart);
  else report.plotFile = undefined;
  // Runs of different sections keep their own files, so that they can be merged later.
  const base =
    dir === path.join(RESULTS, 'partial')
      ? `latest-${report.sections.map((x) => x.id).join('+') || 'none'}`
      : 'latest';
  writeFileSync(path.join(dir, `${base}.json`), JSON.stringify(report, null, 2) + '\n');
  writeFileSync(path.join(dir, `${base}.md`), markdown(report) + '\n');
  if (opts.writeDocs && partial) {
    problems.push(
      '--write-docs needs a full run of every section: docs/BENCHMARKS.md left as it was',
    );
  } else if (opts.writeDocs) {
    const md = markdown({ ...report, plotFile: report.plotFile && '../bench/results/loss.svg' });
    const problem = writeDocs(md);
    if (problem !== undefined) problems.push(problem);
    else log('docs/BENCHMARKS.md results block updated');
  }
  process.stdout.write(consoleTables(report) + '\n');
  log(`results: ${path.relative(process.cwd(), path.join(dir, `${base}.md`))}`);
  return problems;
}

/**
 * One report from runs of different sections (each section comes whole from one run, with its
 * peers measured in that same run): sections in the bench's order, a later file's section
 * replacing an earlier one's; the notes say when each run started.
 */
function mergeReports(reports) {
  if (reports.length === 1) return reports[0];
  const byId = new Map();
  for (const r of reports) for (const s of r.sections) byId.set(s.id, { s, at: r.startedAt });
  const order = [...SECTIONS, 'tls-rps'];
  const sections = [...byId.values()]
    .sort((a, b) => order.indexOf(a.s.id) - order.indexOf(b.s.id))
    .map((x) => x.s);
  const when = [...byId.entries()].map(([id, x]) => `${id} ${x.at}`).join(', ');
  const profiles = new Set(reports.map((r) => r.profileName));
  return {
    ...reports[0],
    startedAt: reports.map((r) => r.startedAt).sort()[0],
    profileName: profiles.size === 1 ? reports[0].profileName : 'mixed',
    sections,
    notes: [
      `sections measured in ${reports.length} runs, each section with its peers in one run: ${when}`,
      ...new Set(reports.flatMap((r) => r.notes)),
    ],
    targets: [],
  };
}

async function main() {
  const opts = parseOptions();
  if (opts.fromJson !== undefined) {
    const report = mergeReports(
      opts.fromJson.split(',').map((f) => JSON.parse(readFileSync(f, 'utf8'))),
    );
    const problems = publish(report, opts);
    for (const p of problems) log(p);
    process.exitCode = problems.length > 0 ? 1 : 0;
    return;
  }
  keep = opts.keep;
  const { profile } = opts;
  const startedAt = new Date().toISOString();
  const notes = [];
  log(`profile ${opts.quick ? 'quick' : 'full'}; sections ${[...opts.only].join(',')}`);
  const { bins, notes: peerNotes } = await ensurePeers({ install: opts.install, log });
  notes.push(...peerNotes);
  if (!hasGnuTime()) notes.push('/usr/bin/time missing: client CPU and RSS are not measured');
  const info = await machine(bins);
  log(info.summary);

  log('creating test files…');
  const fixtures = createFixtures(opts.tmp, profile, opts.only);
  tmpDir = fixtures.dir;
  if (keep) log(`data in ${tmpDir}`);

  const ctx = {
    opts,
    profile,
    fixtures,
    bins,
    repo: REPO,
    log,
    onCleanup: (fn) => cleanups.push(fn),
    transferTimeoutMs: (bytes) => 60_000 + Math.ceil(bytes / 5e6) * 1000,
    sizeLabel: fmtBytes,
  };
  await startServers(ctx, notes);

  const plan = [
    ['single', single.run],
    ['resume', resume.run],
    ['small', small.runBatch],
    ['rps', small.runRps],
    ['concurrent', concurrent.run],
    ['loss', loss.run],
    ['cli', cli.run],
    ['multi', multi.run],
    ['tls', tls.run],
    ['ttfb', firstByte.run],
  ];
  const sections = [];
  let broken = 0;
  for (const [id, fn] of plan) {
    if (!opts.only.has(id)) continue;
    log(`section ${id}`);
    try {
      // A section may come as several tables (tls: MB/s and req/s).
      const result = await fn(ctx);
      sections.push(...(Array.isArray(result) ? result : [result]));
    } catch (error) {
      broken++;
      const what = error instanceof CorruptError ? 'wrong bytes' : 'harness error';
      log(`section ${id} failed (${what}): ${error.stack ?? error}`);
      notes.push(`section ${id} failed (${what}): ${error.message}`);
      sections.push({ id, title: `${id} (failed)`, rows: [], note: `failed: ${error.message}` });
    }
  }
  await stopServers(ctx);

  const report = {
    startedAt,
    profileName: opts.quick ? 'quick' : 'full',
    profile,
    machine: info,
    sections,
    notes,
    targets: [],
  };
  const problems = publish(report, opts);
  for (const p of problems) log(p);
  notes.push(...problems);
  broken += problems.length;
  cleanup();
  process.exitCode = broken > 0 ? 1 : 0;
}

main().catch((error) => {
  log(`fatal: ${error.stack ?? error}`);
  cleanup();
  process.exitCode = 1;
});
