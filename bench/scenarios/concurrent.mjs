/**
 * 4. Many concurrent large downloads: N connections at once, each fetching the same file and
 * discarding it, from one load-generator process. Aggregate MB/s, wall time and the server's
 * peak RSS summed over all its processes, ft against nginx.
 */
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { runTimed } from '../lib/proc.mjs';
import { CorruptError, checkExit, measureRow } from '../lib/measure.mjs';

const LOAD_GEN = fileURLToPath(new URL('../lib/load-gen.mjs', import.meta.url));

export const TITLE = 'Concurrent large downloads';

async function once(ctx, proto, server) {
  const { profile, fixtures } = ctx;
  const n = profile.concurrentCount;
  const cfg = {
    proto,
    host: '127.0.0.1',
    port: server.port,
    paths: ['c64.bin'],
    concurrency: n,
    mode: 'once',
    requestTimeoutMs: 300_000,
  };
  const r = await runTimed([process.execPath, LOAD_GEN, JSON.stringify(cfg)], {
    stdout: 'pipe',
    scratch: fixtures.scratch,
    timeoutMs: ctx.transferTimeoutMs(n * profile.concurrentSize) + 60_000,
  });
  checkExit('load generator', r);
  const s = JSON.parse(r.stdout.trim().split('\n').at(-1));
  if (s.requests !== n)
    throw new Error(`${s.requests}/${n} downloads completed: ${JSON.stringify(s.errorKinds)}`);
  if (s.bytes !== n * profile.concurrentSize)
    throw new CorruptError(
      `${proto}: ${s.bytes} bytes received, expected ${n * profile.concurrentSize}`,
    );
  return {
    wallS: s.elapsedS,
    bytes: s.bytes,
    clientCpuS: r.cpuS,
    clientRssBytes: r.maxRssBytes,
  };
}

export async function run(ctx) {
  const rows = [];
  const nginx = ctx.servers.nginx;
  if (nginx)
    rows.push(
      await measureRow(
        ctx,
        { label: 'nginx', tool: 'peer', metric: 'MBps' },
        () => once(ctx, 'http', nginx),
        {
          server: nginx,
        },
      ),
    );
  else rows.push(ctx.missing('nginx', 'peer', undefined, 'nginx'));
  for (const [label, key] of ctx.ftModels) {
    const server = ctx.servers[key];
    if (server === undefined) {
      rows.push(ctx.missing(label, 'ft', undefined, key));
      continue;
    }
    rows.push(
      await measureRow(ctx, { label, tool: 'ft', metric: 'MBps' }, () => once(ctx, 'ft', server), {
        server,
      }),
    );
  }
  const { concurrentCount: n, concurrentSize: size } = ctx.profile;
  return {
    id: 'concurrent',
    title: TITLE,
    rows,
    note: `${n} × ${ctx.sizeLabel(size)} at once from one load-generator process that discards the bytes; MB/s is the aggregate`,
  };
}
