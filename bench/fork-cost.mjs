#!/usr/bin/env node
/**
 * What one fork-per-connection child costs, measured on its own (not part of `pnpm bench`):
 *   node bench/fork-cost.mjs [--rounds 3] [--seconds 5] [--concurrency 1,8] [--big 100]
 *     [--big-mib 64] [--nginx] [-- extra ftserve flags]
 * Each round starts a fresh `ftserve --fork-per-connection` and reports, from /proc:
 *   - start-up of an idle spare: CPU until it said "ready" (schedstat), Pss / Private / Rss;
 *   - connections/s over a new connection per 4 KiB GET for --seconds, and the p50 / p90 time
 *     from connect() to the first response byte, at each --concurrency;
 *   - server CPU per connection (primary + reaped children: robust to a busy machine);
 *   - with --big N: N concurrent downloads of a --big-mib file (BUSY retried), aggregate MB/s
 *     and the peak PSS summed over the server's tree; --nginx does the same against nginx.
 * Prints one JSON line per round and a median summary. Every loop is bounded in time.
 */
import { readFileSync, rmSync, mkdtempSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { FrameDecoder, FrameType, WireError, encodeGet, encodeHello } from '@ft/protocol';
import { MAX_PROTOCOL_VERSION, MIN_PROTOCOL_VERSION } from '@ft/protocol';
import { writeRandomFile } from './lib/fixtures.mjs';
import { which } from './lib/install.mjs';
import { killAll, processTree, runTimed } from './lib/proc.mjs';
import { startFt, startNginx, freePort } from './lib/servers.mjs';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const LOAD_GEN = fileURLToPath(new URL('./lib/load-gen.mjs', import.meta.url));
const CLK_TCK = 100;

function options(argv) {
  const o = { rounds: 3, seconds: 5, concurrency: [1, 8], big: 0, bigMib: 64, nginx: false };
  const dash = argv.indexOf('--');
  o.extra = dash < 0 ? [] : argv.slice(dash + 1);
  const args = dash < 0 ? argv : argv.slice(0, dash);
  for (let i = 0; i < args.length; i++) {
    const v = args[i + 1];
    if (args[i] === '--rounds') o.rounds = Number(v);
    else if (args[i] === '--seconds') o.seconds = Number(v);
    else if (args[i] === '--concurrency') o.concurrency = v.split(',').map(Number);
    else if (args[i] === '--big') o.big = Number(v);
    else if (args[i] === '--big-mib') o.bigMib = Number(v);
    else if (args[i] === '--nginx') {
      o.nginx = true;
      continue;
    } else throw new Error(`unknown option ${args[i]}`);
    i++;
  }
  return o;
}

function kb(text, key) {
  const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(text);
  return m === null ? 0 : Number(m[1]) * 1024;
}

/** Memory of one process: Pss, Private (clean + dirty) and Rss in bytes. */
function memoryOf(pid) {
  try {
    const t = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return {
      pss: kb(t, 'Pss'),
      priv: kb(t, 'Private_Clean') + kb(t, 'Private_Dirty'),
      rss: kb(t, 'Rss'),
    };
  } catch {
    return undefined;
  }
}

/** CPU seconds a process has used so far (ns-precise, from schedstat). */
function cpuOf(pid) {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e9;
  } catch {
    return undefined;
  }
}

/** CPU seconds of `pid` itself, and of its reaped children (utime+stime, cutime+cstime). */
function ticksS(pid) {
  const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = t
    .slice(t.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return { own: (f[11] + f[12]) / CLK_TCK, children: (f[13] + f[14]) / CLK_TCK };
}

/** One ft GET over a new connection; resolves {ttfbMs} or rejects (err.kind 'BUSY' …). */
function ftGet(port, file) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let first;
    const socket = net.connect({ host: '127.0.0.1', port, noDelay: true });
    const decoder = new FrameDecoder({ accept: 'responses' });
    const fail = (e) => {
      socket.destroy();
      reject(e);
    };
    socket.setTimeout(30_000, () => fail(new Error('timeout')));
    socket.once('connect', () =>
      socket.write(
        Buffer.concat([
          encodeHello({
            minVersion: MIN_PROTOCOL_VERSION,
            maxVersion: MAX_PROTOCOL_VERSION,
            name: 'fork-cost',
          }),
          encodeGet({ requestId: 1, path: file, offset: 0, wantDigests: false }),
        ]),
      ),
    );
    socket.on('data', (chunk) => {
      first ??= performance.now() - started;
      for (const e of decoder.push(chunk)) {
        if (e.kind === 'data') continue;
        if (e.message.type === FrameType.ERROR) {
          const err = new Error(`ERROR ${e.message.code}`);
          err.kind = e.message.code === WireError.BUSY ? 'BUSY' : 'error';
          return fail(err);
        }
        if (e.message.type === FrameType.END) {
          socket.destroy();
          return resolve({ ttfbMs: first });
        }
      }
    });
    socket.once('error', fail);
    socket.once('close', () => reject(new Error('closed early')));
  });
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)];
};
const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) * p)] ?? NaN;

/** Idle spares' start-up CPU and memory (the children that exist right after start). */
async function spares(server) {
  await sleep(1000);
  const kids = processTree(server.pid).slice(1);
  return kids.map((pid) => ({ startCpuMs: cpuOf(pid) * 1000, ...memoryOf(pid) }));
}

async function rate(server, concurrency, seconds) {
  const ttfb = [];
  let busy = 0;
  let errors = 0;
  const cpu0 = ticksS(server.pid);
  const t0 = performance.now();
  const deadline = t0 + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline && errors < 1000) {
        try {
          ttfb.push((await ftGet(server.port, 'small.bin')).ttfbMs);
        } catch (e) {
          if (e.kind === 'BUSY') busy++;
          else errors++;
        }
      }
    }),
  );
  const wall = (performance.now() - t0) / 1000;
  await sleep(500); // let the last children exit and be reaped
  const cpu1 = ticksS(server.pid);
  const perConn = (s) => (s / Math.max(1, ttfb.length)) * 1000;
  return {
    concurrency,
    connPerS: ttfb.length / wall,
    p50Ms: median(ttfb),
    p90Ms: pct(ttfb, 0.9),
    busy,
    errors,
    serverCpuPerConnMs: perConn(cpu1.own + cpu1.children - cpu0.own - cpu0.children),
    primaryCpuPerConnMs: perConn(cpu1.own - cpu0.own),
  };
}

async function big(server, n, bytes, proto, scratch) {
  const cfg = {
    proto,
    host: '127.0.0.1',
    port: server.port,
    paths: ['big.bin'],
    concurrency: n,
    mode: 'once',
    requestTimeoutMs: 300_000,
  };
  server.monitor.startPeak();
  const r = await runTimed([process.execPath, LOAD_GEN, JSON.stringify(cfg)], {
    stdout: 'pipe',
    scratch,
    timeoutMs: 600_000,
  });
  const peakRss = server.monitor.stopPeak();
  const s = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
  if (s.requests !== n || s.bytes !== n * bytes)
    throw new Error(`big: ${s.requests}/${n} done, ${s.bytes} B: ${JSON.stringify(s.errorKinds)}`);
  return {
    MBps: s.bytes / s.elapsedS / 1e6,
    peakPssMiB: server.monitor.peakPss / 2 ** 20,
    peakRssMiB: peakRss / 2 ** 20,
  };
}

async function main() {
  const o = options(process.argv.slice(2));
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ft-fork-cost-'));
  const root = path.join(dir, 'data');
  const scratch = dir;
  const cleanup = () => {
    killAll();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => (cleanup(), process.exit(130)));
  try {
    (await import('node:fs')).mkdirSync(root);
    writeRandomFile(path.join(root, 'small.bin'), 4096);
    if (o.big > 0) writeRandomFile(path.join(root, 'big.bin'), o.bigMib * 2 ** 20);
    const flags = ['--host', '127.0.0.1', '--no-udp', '--fork-per-connection'];
    flags.push('--max-connections-per-ip', '1024', ...o.extra);
    const rounds = [];
    for (let i = 0; i < o.rounds; i++) {
      const server = await startFt({ repo: REPO, root, extra: flags });
      try {
        const round = { spares: await spares(server), rates: [] };
        for (const c of o.concurrency) round.rates.push(await rate(server, c, o.seconds));
        if (o.big > 0) round.big = await big(server, o.big, o.bigMib * 2 ** 20, 'ft', scratch);
        rounds.push(round);
        process.stdout.write(JSON.stringify(round) + '\n');
      } finally {
        await server.stop();
      }
    }
    const all = rounds.flatMap((r) => r.spares);
    const summary = {
      spareStartCpuMs: median(all.map((s) => s.startCpuMs)),
      sparePrivMiB: median(all.map((s) => s.priv)) / 2 ** 20,
      sparePssMiB: median(all.map((s) => s.pss)) / 2 ** 20,
      spareRssMiB: median(all.map((s) => s.rss)) / 2 ** 20,
    };
    for (const [j, c] of o.concurrency.entries()) {
      const rs = rounds.map((r) => r.rates[j]);
      for (const k of [
        'connPerS',
        'p50Ms',
        'p90Ms',
        'serverCpuPerConnMs',
        'primaryCpuPerConnMs',
        'busy',
      ])
        summary[`c${c}.${k}`] = median(rs.map((r) => r[k]));
    }
    if (o.big > 0)
      for (const k of ['MBps', 'peakPssMiB', 'peakRssMiB'])
        summary[`big.${k}`] = median(rounds.map((r) => r.big[k]));
    if (o.nginx && o.big > 0) {
      const bin = which('nginx');
      if (bin === undefined)
        throw new Error('--nginx: nginx is not installed (apt-get install nginx)');
      const nginx = await startNginx({ bin, root, scratch, port: await freePort() });
      try {
        const runs = [];
        for (let i = 0; i < o.rounds; i++)
          runs.push(await big(nginx, o.big, o.bigMib * 2 ** 20, 'http', scratch));
        summary['nginx.MBps'] = median(runs.map((r) => r.MBps));
        summary['nginx.peakPssMiB'] = median(runs.map((r) => r.peakPssMiB));
      } finally {
        await nginx.stop();
      }
    }
    process.stdout.write(`summary ${JSON.stringify(summary, null, 1)}\n`);
  } finally {
    cleanup();
  }
}

await main();
