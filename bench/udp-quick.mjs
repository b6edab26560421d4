#!/usr/bin/env node
// Quick UDP throughput check (not a test): one file, real ftserve and ftget processes on
// loopback, TCP and UDP direct, then UDP through the userspace impairment proxy at 0/1/5% random
// loss each way. Prints MB/s (10^6 bytes/s) of the whole ftget run (process start, handshake,
// verification and rename included). Needs `npx tsc -b` first (it uses test/dist/helpers).
//   node bench/udp-quick.mjs [--size-mib 256] [--loss 0,0.01,0.05] [--runs 1] [--payload N]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
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
    runs: { type: 'string', default: '1' },
    payload: { type: 'string' },
  },
});
const size = Number(values['size-mib']) * 1024 * 1024;
const runs = Number(values.runs);

const dir = await mkdtemp(join(tmpdir(), 'ft-udp-bench-'));
const root = join(dir, 'srv');
await import('node:fs/promises').then((fs) => fs.mkdir(root));
// Random data in 16 MiB pieces (no giant single allocation).
const piece = randomBytes(16 * 1024 * 1024);
const parts = [];
for (let left = size; left > 0; left -= piece.length)
  parts.push(piece.subarray(0, Math.min(left, piece.length)));
await writeFile(join(root, 'big.bin'), parts);

const server = spawn(
  process.execPath,
  [join(repo, 'packages/server/bin/run.js'), '--root', root, '--port', '0', '--workers', '1'],
  {
    stdio: ['ignore', 'pipe', 'ignore'],
  },
);
const [line] = await new Promise((resolve) => {
  let out = '';
  server.stdout.on('data', (b) => {
    out += b;
    if (out.includes('\n')) resolve([out.split('\n')[0]]);
  });
});
const port = Number(/tcp=\S*:(\d+)/.exec(line)[1]);

async function ftget(args, label) {
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
  console.log(
    `${label.padEnd(28)} ${code === 0 ? ((size / 1e6 / s).toFixed(1) + ' MB/s').padStart(12) : `exit ${code}`}  (${s.toFixed(2)} s)`,
  );
}

try {
  console.log(`file ${size / 1024 / 1024} MiB, ${runs} run(s) each`);
  // Warm the server's digest cache and the page cache first.
  await ftget(['--port', String(port)], 'warm-up (tcp)');
  for (let i = 0; i < runs; i++) {
    await ftget(['--port', String(port)], 'tcp direct');
    await ftget(['--port', String(port), '--udp'], 'udp direct');
  }
  for (const loss of values.loss.split(',').map(Number)) {
    const proxy = await startUdpProxy({
      target: { host: '127.0.0.1', port },
      seed: 1,
      toServer: { drop: loss },
      toClient: { drop: loss },
    });
    for (let i = 0; i < runs; i++)
      await ftget(['--port', String(proxy.port), '--udp'], `udp proxy ${loss * 100}% loss`);
    await proxy.close();
  }
} finally {
  server.kill('SIGTERM');
  await once(server, 'exit');
  await rm(dir, { recursive: true, force: true });
}
