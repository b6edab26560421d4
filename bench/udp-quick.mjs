#!/usr/bin/env node
// Quick UDP throughput check (not a test): one file, real ftserve and ftget processes on
// loopback, TCP and UDP direct, then UDP through the userspace impairment proxy at 0/1/5% random
// loss each way. Prints MB/s (10^6 bytes/s) of the whole ftget run (process start, handshake,
// verification and rename included). The scenarios are interleaved run by run, so a machine
// shared with other work slows them alike; the summary gives medians and each one's ratio to TCP.
// It also prints the kernel's UDP drop counters (/proc/net/snmp) before and after.
// Needs `npx tsc -b` first (it uses test/dist/helpers).
//   node bench/udp-quick.mjs [--size-mib 256] [--loss 0,0.01,0.05] [--runs 3] [--payload N]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

const repo = fileURLToPath(new URL('..', import.meta.url));
const { startUdpProxy } = await import(join(repo, 'test/dist/helpers/udp-proxy.js'));
const { values } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '256' },
    loss: { type: 'string', default: '0,0.01,0.05' },
    runs: { type: 'string', default: '3' },
    payload: { type: 'string' },
  },
});
const size = Number(values['size-mib']) * 1024 * 1024;
const runs = Number(values.runs);

/** Udp InErrors, RcvbufErrors, SndbufErrors from /proc/net/snmp (undefined off Linux). */
async function udpCounters() {
  try {
    const lines = (await readFile('/proc/net/snmp', 'utf8'))
      .split('\n')
      .filter((l) => l.startsWith('Udp:'));
    const names = lines[0].split(/\s+/);
    const nums = lines[1].split(/\s+/);
    const get = (n) => Number(nums[names.indexOf(n)]);
    return {
      InErrors: get('InErrors'),
      RcvbufErrors: get('RcvbufErrors'),
      SndbufErrors: get('SndbufErrors'),
    };
  } catch {
    return undefined;
  }
}

const dir = await mkdtemp(join(tmpdir(), 'ft-udp-bench-'));
const root = join(dir, 'srv');
await mkdir(root);
// Random data in 16 MiB pieces (no giant single allocation).
const piece = randomBytes(16 * 1024 * 1024);
const parts = [];
for (let left = size; left > 0; left -= piece.length)
  parts.push(piece.subarray(0, Math.min(left, piece.length)));
await writeFile(join(root, 'big.bin'), parts);

const server = spawn(
  process.execPath,
  [join(repo, 'packages/server/bin/run.js'), '--root', root, '--port', '0', '--workers', '1'],
  { stdio: ['ignore', 'pipe', 'pipe'] },
);
let serverLog = '';
server.stderr.setEncoding('utf8').on('data', (s) => (serverLog += s));
const [line] = await new Promise((resolve) => {
  let out = '';
  server.stdout.on('data', (b) => {
    out += b;
    if (out.includes('\n')) resolve([out.split('\n')[0]]);
  });
});
const port = Number(/tcp=\S*:(\d+)/.exec(line)[1]);

/** The server's udp-transfer-end lines logged since `from` (waits briefly for them). */
async function serverEnds(from) {
  for (let i = 0; i < 100 && !/udp-transfer-end/.test(serverLog.slice(from)); i++)
    await new Promise((resolve) => setTimeout(resolve, 20));
  return [...serverLog.slice(from).matchAll(/udp-transfer-end .*? ms=(\d+)/g)];
}

/**
 * One ftget run. Returns MB/s of the whole run and, for UDP, of the server's own transfer time
 * (REQUEST to CLOSE, summed over attempts): the latter leaves out process start and the final
 * verification, which TCP and UDP share. undefined when the run failed.
 */
async function ftget(args, label) {
  const logFrom = serverLog.length;
  const env = { ...process.env };
  if (values.payload !== undefined) env.FT_UDP_PAYLOAD = values.payload;
  const out = join(dir, 'out.bin');
  const started = performance.now();
  const child = spawn(
    process.execPath,
    [
      join(repo, 'packages/client/bin/run.js'),
      'get',
      'big.bin',
      '-o',
      out,
      '--force',
      '-q',
      '--host',
      '127.0.0.1',
      ...args,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], env },
  );
  const [code] = await once(child, 'exit');
  const s = (performance.now() - started) / 1000;
  await rm(out, { force: true });
  const whole = code === 0 ? size / 1e6 / s : undefined;
  let wire;
  if (code === 0 && args.includes('--udp')) {
    const ms = (await serverEnds(logFrom)).reduce((n, m) => n + Number(m[1]), 0);
    if (ms > 0) wire = size / 1e6 / (ms / 1000);
  }
  console.log(
    `${label.padEnd(24)} ${whole !== undefined ? (whole.toFixed(1) + ' MB/s').padStart(12) : `exit ${code}`}  (${s.toFixed(2)} s)` +
      (wire === undefined ? '' : `  server-side ${wire.toFixed(1)} MB/s`),
  );
  return { whole, wire };
}

const median = (xs) => {
  const v = xs.filter((x) => x !== undefined).sort((a, b) => a - b);
  if (v.length === 0) return undefined;
  return v.length % 2 === 1 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

const proxies = [];
try {
  console.log(`file ${size / 1024 / 1024} MiB, ${runs} run(s) of each scenario, interleaved`);
  const before = await udpCounters();
  // Warm the server's digest cache and the page cache first.
  await ftget(['--port', String(port)], 'warm-up (tcp)');
  const scenarios = [
    { label: 'tcp direct', args: ['--port', String(port)] },
    { label: 'udp direct', args: ['--port', String(port), '--udp'] },
  ];
  for (const loss of values.loss.split(',').map(Number)) {
    const proxy = await startUdpProxy({
      target: { host: '127.0.0.1', port },
      seed: 1,
      toServer: { drop: loss },
      toClient: { drop: loss },
    });
    proxies.push(proxy);
    scenarios.push({
      label: `udp proxy ${loss * 100}% loss`,
      args: ['--port', String(proxy.port), '--udp'],
    });
  }
  const results = new Map(scenarios.map((s) => [s.label, []]));
  for (let i = 0; i < runs; i++)
    for (const s of scenarios) results.get(s.label).push(await ftget(s.args, s.label));
  const after = await udpCounters();
  const tcp = median(results.get('tcp direct').map((r) => r.whole));
  console.log(`\nmedian of ${runs} (whole ftget run; in brackets: server-side UDP transfer time):`);
  for (const [label, rs] of results) {
    const m = median(rs.map((r) => r.whole));
    const w = median(rs.map((r) => r.wire));
    const ratio =
      m !== undefined && tcp !== undefined ? `${Math.round((100 * m) / tcp)}% of tcp` : '';
    console.log(
      `${label.padEnd(24)} ${m === undefined ? 'failed'.padStart(12) : (m.toFixed(1) + ' MB/s').padStart(12)}  ${ratio.padEnd(12)}` +
        (w === undefined ? '' : ` (${w.toFixed(1)} MB/s)`),
    );
  }
  const ends = [...serverLog.matchAll(/udp-transfer-end .*?timeouts=(\d+) probes=(\d+)/g)];
  const sum = (k) => ends.reduce((n, m) => n + Number(m[k]), 0);
  console.log(
    `\nserver: ${ends.length} UDP transfers, ${sum(1)} RTO timeouts, ${sum(2)} tail-loss probes`,
  );
  if (before !== undefined && after !== undefined)
    console.log(
      `kernel UDP counters during the runs: ${Object.keys(before)
        .map((k) => `${k} +${after[k] - before[k]}`)
        .join(', ')}`,
    );
} finally {
  for (const p of proxies) await p.close();
  server.kill('SIGTERM');
  await once(server, 'exit');
  await rm(dir, { recursive: true, force: true });
}
