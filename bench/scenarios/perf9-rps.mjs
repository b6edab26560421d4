#!/usr/bin/env node
/**
 * perf9's side-by-side measurement (not part of `pnpm bench`): requests/s and server CPU per
 * request, a new connection per 4 KiB file, for several ftserve builds and nginx, interleaved
 * run by run so that every build sees the same minutes of a shared machine.
 *   node bench/scenarios/perf9-rps.mjs [--ft label=/path/to/repo ...] [--nginx]
 *     [--concurrency 1,50,200] [--seconds 3] [--rounds 3] [--files 1000] [--subdir D]
 *     [--env label=VAR=VALUE ...] [--big N [--big-mib 64]] [-- ftserve flags]
 * --env sets an environment variable for one ftserve only (e.g. FTSERVE_CHILD_NODE_FLAGS).
 * --big N replaces the requests/s runs with N concurrent downloads of one --big-mib file (BUSY
 * retried) per run, after --seconds of small-file requests from 50 clients: aggregate MB/s and
 * the peak PSS summed over the server's tree (with its split by process role). --udp leaves
 * ftserve's UDP service on (the bench does; default here: --no-udp).
 * Each ftserve is `--workers 2 --host 127.0.0.1 --max-connections-per-ip 1024` (as the bench),
 * logging on (stderr, drained by this script). Server CPU is utime+stime (+ reaped children) of
 * the server's whole tree from /proc, before and after each run; the load generator is
 * bench/lib/load-gen.mjs under GNU time. To profile the workers, set FTSERVE_CHILD_NODE_FLAGS
 * (read by ftserve: extra Node flags for its children), e.g. "--cpu-prof --cpu-prof-dir=/tmp/p":
 * the profiles are written when the workers exit at the end.
 * Prints one JSON line per run and a median table.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { setInterval, clearInterval } from 'node:timers';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { writeRandomFile } from '../lib/fixtures.mjs';
import { which } from '../lib/install.mjs';
import { killAll, processTree, runTimed } from '../lib/proc.mjs';
import { freePort, startFt, startNginx } from '../lib/servers.mjs';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const LOAD_GEN = fileURLToPath(new URL('../lib/load-gen.mjs', import.meta.url));

function options(argv) {
  const o = { ft: [], nginx: false, concurrency: [1, 50, 200], seconds: 3, rounds: 3 };
  o.files = 1000;
  o.big = 0;
  o.bigMib = 64;
  o.env = [];
  const dash = argv.indexOf('--');
  o.extra = dash < 0 ? [] : argv.slice(dash + 1);
  const args = dash < 0 ? argv : argv.slice(0, dash);
  for (let i = 0; i < args.length; i++) {
    const v = args[i + 1];
    if (args[i] === '--nginx') {
      o.nginx = true;
      continue;
    }
    if (args[i] === '--ft') {
      const [label, repo] = v.split('=');
      o.ft.push({ label, repo: path.resolve(repo) });
    } else if (args[i] === '--concurrency') o.concurrency = v.split(',').map(Number);
    else if (args[i] === '--seconds') o.seconds = Number(v);
    else if (args[i] === '--rounds') o.rounds = Number(v);
    else if (args[i] === '--files') o.files = Number(v);
    else if (args[i] === '--subdir') o.subdir = v;
    else if (args[i] === '--big') o.big = Number(v);
    else if (args[i] === '--udp') {
      o.udp = true;
      continue;
    } else if (args[i] === '--big-mib') o.bigMib = Number(v);
    else if (args[i] === '--env') {
      const [label, name, ...value] = v.split('=');
      o.env.push({ label, name, value: value.join('=') });
    } else throw new Error(`unknown option ${args[i]}`);
    i++;
  }
  if (o.ft.length === 0) o.ft.push({ label: 'ft', repo: REPO });
  return o;
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
};

async function run(server, proto, concurrency, o, names, scratch) {
  const cfg = {
    proto,
    host: '127.0.0.1',
    port: server.port,
    paths: names,
    concurrency,
    mode: 'rps',
    durationS: o.seconds,
  };
  const cpu0 = server.monitor.cpuSeconds();
  const r = await runTimed([process.execPath, LOAD_GEN, JSON.stringify(cfg)], {
    stdout: 'pipe',
    scratch,
    timeoutMs: (o.seconds + 60) * 1000,
  });
  const cpu1 = server.monitor.cpuSeconds();
  const s = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
  return {
    server: server.name,
    concurrency,
    rps: s.requests / s.elapsedS,
    errors: s.errors,
    serverUsPerReq: ((cpu1 - cpu0) / Math.max(1, s.requests)) * 1e6,
    clientUsPerReq: ((r.cpuS ?? NaN) / Math.max(1, s.requests)) * 1e6,
  };
}

function pssOf(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0);
    return { pss: kb('Pss') / 1024, priv: (kb('Private_Clean') + kb('Private_Dirty')) / 1024 };
  } catch {
    return undefined;
  }
}

function roleOf(pid, root) {
  if (pid === root) return 'primary';
  try {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    return /udp/.test(cmd) ? 'udp' : /child/.test(cmd) ? 'child' : 'other';
  } catch {
    return 'gone';
  }
}

/** Samples the tree's summed PSS every 40 ms; stop() gives the peak sample, by process role. */
function peakBreakdown(rootPid) {
  let best = { sum: 0, parts: {} };
  const sample = () => {
    let sum = 0;
    const parts = {};
    for (const pid of processTree(rootPid)) {
      const m = pssOf(pid);
      if (m === undefined) continue;
      sum += m.pss;
      const r = roleOf(pid, rootPid);
      parts[r] ??= { n: 0, pss: 0, priv: 0 };
      parts[r].n++;
      parts[r].pss += m.pss;
      parts[r].priv += m.priv;
    }
    if (sum > best.sum) best = { sum, parts };
  };
  const timer = setInterval(sample, 40);
  return {
    stop() {
      clearInterval(timer);
      sample();
      for (const p of Object.values(best.parts)) {
        p.pss = +p.pss.toFixed(1);
        p.priv = +p.priv.toFixed(1);
      }
      return best;
    },
  };
}

async function big(server, proto, o, scratch) {
  const cfg = {
    proto,
    host: '127.0.0.1',
    port: server.port,
    paths: ['big.bin'],
    concurrency: o.big,
    mode: 'once',
    requestTimeoutMs: 300_000,
  };
  const cpu0 = server.monitor.cpuSeconds();
  server.monitor.startPeak();
  const breakdown = peakBreakdown(server.pid);
  const r = await runTimed([process.execPath, LOAD_GEN, JSON.stringify(cfg)], {
    stdout: 'pipe',
    scratch,
    timeoutMs: 600_000,
  });
  const peakRss = server.monitor.stopPeak();
  const parts = breakdown.stop().parts;
  const cpu1 = server.monitor.cpuSeconds();
  const s = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
  const bytes = o.big * o.bigMib * 2 ** 20;
  if (s.requests !== o.big || s.bytes !== bytes)
    throw new Error(
      `big: ${s.requests}/${o.big} done, ${s.bytes} B: ${JSON.stringify(s.errorKinds)}`,
    );
  return {
    server: server.name,
    concurrency: o.big,
    MBps: s.bytes / s.elapsedS / 1e6,
    peakPssMiB: server.monitor.peakPss / 2 ** 20,
    peakRssMiB: peakRss / 2 ** 20,
    serverCpuS: cpu1 - cpu0,
    parts,
  };
}

async function main() {
  const o = options(process.argv.slice(2));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ft-perf9-rps-'));
  const root = path.join(dir, 'data');
  mkdirSync(root);
  // --subdir D: the files live in D/ under the root, as in the bench's rps section (small/).
  if (o.subdir !== undefined) mkdirSync(path.join(root, o.subdir));
  const names = Array.from(
    { length: o.files },
    (_, i) => `${o.subdir === undefined ? '' : o.subdir + '/'}f${String(i).padStart(4, '0')}.bin`,
  );
  for (const n of names) writeRandomFile(path.join(root, n), 4096);
  if (o.big > 0) writeRandomFile(path.join(root, 'big.bin'), o.bigMib * 2 ** 20);
  const cleanup = () => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => (cleanup(), process.exit(130)));
  const flags = ['--host', '127.0.0.1', '--max-connections-per-ip', '1024', '--workers', '2'];
  flags.push(...(o.udp ? [] : ['--no-udp']), ...o.extra);
  const servers = [];
  try {
    for (const { label, repo } of o.ft) {
      const saved = { ...process.env };
      for (const e of o.env) if (e.label === label) process.env[e.name] = e.value;
      try {
        servers.push({ proto: 'ft', s: await startFt({ repo, root, extra: flags, label }) });
      } finally {
        for (const e of o.env) if (saved[e.name] === undefined) delete process.env[e.name];
        Object.assign(process.env, saved);
      }
    }
    if (o.nginx) {
      const bin = which('nginx');
      if (bin === undefined) throw new Error('--nginx: nginx is not installed');
      const s = await startNginx({ bin, root, scratch: dir, port: await freePort() });
      servers.push({ proto: 'http', s });
    }
    const rows = [];
    if (o.big > 0) {
      // As in the bench, the big downloads come after small-file traffic has warmed the workers.
      for (const { proto, s } of servers) await run(s, proto, 50, o, names, dir);
      for (let round = 0; round < o.rounds; round++)
        for (const { proto, s } of servers) {
          const row = await big(s, proto, o, dir);
          rows.push(row);
          process.stdout.write(JSON.stringify(row) + '\n');
        }
      process.stdout.write(
        '\nserver                   MB/s  peak PSS MiB  peak RSS MiB  server CPU s\n',
      );
      for (const { s } of servers) {
        const mine = rows.filter((r) => r.server === s.name);
        const f = (k, d = 0) => median(mine.map((r) => r[k])).toFixed(d);
        process.stdout.write(
          `${s.name.padEnd(22)} ${f('MBps').padStart(6)} ${f('peakPssMiB', 1).padStart(13)} ${f('peakRssMiB', 1).padStart(13)} ${f('serverCpuS', 2).padStart(13)}\n`,
        );
      }
      for (const { s } of servers) await s.stop();
      return;
    }
    for (let round = 0; round < o.rounds; round++)
      for (const c of o.concurrency)
        for (const { proto, s } of servers) {
          const row = await run(s, proto, c, o, names, dir);
          rows.push(row);
          process.stdout.write(JSON.stringify(row) + '\n');
        }
    process.stdout.write('\nserver                 conc   req/s  server µs/req  client µs/req\n');
    for (const c of o.concurrency)
      for (const { s } of servers) {
        const mine = rows.filter((r) => r.server === s.name && r.concurrency === c);
        const f = (k, d = 0) => median(mine.map((r) => r[k])).toFixed(d);
        process.stdout.write(
          `${s.name.padEnd(22)} ${String(c).padStart(4)} ${f('rps').padStart(7)} ${f('serverUsPerReq').padStart(14)} ${f('clientUsPerReq').padStart(14)}\n`,
        );
      }
    for (const { s } of servers) await s.stop();
  } finally {
    cleanup();
  }
}

await main();
