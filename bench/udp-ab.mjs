#!/usr/bin/env node
// A/B measurement of the UDP engine in the loss namespace of the bench (not part of `pnpm bench`):
// one 256 MiB file, ftserve of two checkouts (A = base, B = this one) plus tftpd-hpa + curl
// (64 KiB blocks) and ft TCP in the same namespace, runs interleaved per round. Prints one line
// per run (MB/s, client CPU, server CPU of the whole server tree) and medians per tool and loss.
// Root only (ip netns, nft). Run it under the measurement lock:
//   flock /tmp/ft-measure.lock node bench/udp-ab.mjs --base /path/to/base [--loss 0,1,5]
//     [--runs 3] [--size-mib 256] [--tools udpA,udpB,tcp,tftp] [--cap 30]
import { mkdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { writeRandomFile } from './lib/fixtures.mjs';
import { createLossNamespace } from './lib/netns.mjs';
import { freePort, runTimed, killAll } from './lib/proc.mjs';
import { startFt, startTftpd } from './lib/servers.mjs';
import { which } from './lib/install.mjs';

const repo = fileURLToPath(new URL('..', import.meta.url));
const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    loss: { type: 'string', default: '0,1,5' },
    runs: { type: 'string', default: '3' },
    'size-mib': { type: 'string', default: '256' },
    tools: { type: 'string', default: 'udpA,udpB,tcp,tftp' },
    cap: { type: 'string', default: '30' },
    dir: { type: 'string', default: '/dev/shm/ft-udp-ab' },
    verbose: { type: 'boolean', default: false },
  },
});
const size = Number(values['size-mib']) * 1024 * 1024;
const tools = values.tools.split(',');
const capS = Number(values.cap);
const dir = values.dir;
const data = path.join(dir, 'data');
const out = path.join(dir, 'out');
const scratch = path.join(dir, 'scratch');
for (const d of [data, out, scratch]) mkdirSync(d, { recursive: true });
const src = path.join(data, 'udp.bin');
let have = 0;
try {
  have = statSync(src).size;
} catch {
  // absent
}
if (have !== size) writeRandomFile(src, size);

const ns = await createLossNamespace();
const flags = ['--host', '127.0.0.1', '--max-connections-per-ip', '1024', '--workers', '2'];
const servers = {};
const cleanup = async () => {
  for (const s of Object.values(servers)) await s.stop().catch(() => {});
  ns.destroy();
  killAll();
};
process.on('SIGINT', () => void cleanup().then(() => process.exit(130)));
try {
  if (tools.includes('udpA')) {
    if (values.base === undefined) throw new Error('--base is needed for udpA');
    servers.A = await startFt({ repo: values.base, root: data, netns: ns.name, extra: flags });
  }
  servers.B = await startFt({ repo, root: data, netns: ns.name, extra: flags });
  if (tools.includes('tftp')) {
    const bin = which('in.tftpd');
    servers.tftp = await startTftpd({
      bin,
      root: data,
      scratch,
      netns: ns.name,
      port: await freePort(),
    });
  }
  const argvOf = (tool) => {
    const o = path.join(out, 'udp.bin');
    const ftget = (r, s, extra) => [
      process.execPath,
      path.join(r, 'packages/client/bin/run.js'),
      'get',
      'udp.bin',
      '-o',
      o,
      ...extra,
      '--host',
      '127.0.0.1',
      '--port',
      String(extra.length > 0 ? s.udpPort : s.port),
      '--quiet',
    ];
    switch (tool) {
      case 'udpA':
        return [servers.A, ftget(values.base, servers.A, ['--udp'])];
      case 'udpB':
        return [servers.B, ftget(repo, servers.B, ['--udp'])];
      case 'tcp':
        return [servers.B, ftget(repo, servers.B, [])];
      case 'tftp':
        return [
          servers.tftp,
          [
            which('curl'),
            '-sS',
            '--tftp-blksize',
            '65464',
            '-o',
            o,
            `tftp://127.0.0.1:${servers.tftp.port}/udp.bin`,
          ],
        ];
      default:
        throw new Error(`unknown tool ${tool}`);
    }
  };
  const results = new Map();
  const losses = values.loss.split(',').map(Number);
  for (const loss of losses) {
    await ns.setLoss(loss);
    for (let round = 0; round < Number(values.runs); round++) {
      for (const tool of tools) {
        rmSync(path.join(out, 'udp.bin'), { force: true });
        const [server, argv] = argvOf(tool);
        const cpu0 = server.monitor.cpuSeconds();
        const r = await runTimed(argv, { netns: ns.name, scratch, timeoutMs: capS * 1000 });
        const serverCpu = server.monitor.cpuSeconds() - cpu0;
        let bytes = 0;
        try {
          bytes = statSync(path.join(out, 'udp.bin')).size;
        } catch {
          // none
        }
        const ok = r.code === 0 && !r.timedOut && bytes === size;
        const mbps = bytes / r.wallS / 1e6;
        const gib = bytes / 2 ** 30 || 1;
        const row = {
          mbps,
          clientCpuPerGiB: (r.cpuS ?? NaN) / gib,
          serverCpuPerGiB: serverCpu / gib,
          ok,
        };
        const key = `${loss}%\t${tool}`;
        if (!results.has(key)) results.set(key, []);
        results.get(key).push(row);
        const end = tool.startsWith('udp') ? /udp-transfer-end [^\n]*/g : undefined;
        const last = end === undefined ? undefined : server.stderr().match(end)?.at(-1);
        if (values.verbose && last !== undefined)
          console.log(`  ${last.replace(/ id=\S+ peer=\S+/, '')}`);
        console.log(
          `${loss}%\t${tool}\tround ${round}\t${mbps.toFixed(0)} MB/s\tclient ${row.clientCpuPerGiB.toFixed(2)} s/GiB\tserver ${row.serverCpuPerGiB.toFixed(2)} s/GiB${ok ? '' : `\tINCOMPLETE code=${r.code} ${r.timedOut ? 'cut' : ''} ${r.stderr.trim().split('\n').at(-1) ?? ''}`}`,
        );
      }
    }
  }
  const med = (xs) => {
    const s = [...xs].sort((a, b) => a - b);
    return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  };
  console.log('\nmedians (n per row):');
  for (const [key, rows] of results) {
    console.log(
      `${key}\tn=${rows.length}\t${med(rows.map((r) => r.mbps)).toFixed(0)} MB/s\tclient ${med(rows.map((r) => r.clientCpuPerGiB)).toFixed(2)} s/GiB\tserver ${med(rows.map((r) => r.serverCpuPerGiB)).toFixed(2)} s/GiB\tincomplete ${rows.filter((r) => !r.ok).length}`,
    );
  }
} finally {
  await cleanup();
}
