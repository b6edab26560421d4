/**
 * Starts the long-lived servers shared by the sections (nginx, the rsync daemon, ftserve in
 * both process models), checks that ft really works with one small download, and puts the
 * helpers the sections use on the context. Whatever cannot start is recorded with its reason.
 */
import path from 'node:path';
import process from 'node:process';
import { runTimed } from './proc.mjs';
import { emptyDir, verifyFile } from './measure.mjs';
import { freePort, startFt, startNginx, startRsyncd } from './servers.mjs';

/**
 * ftserve flags of the two process models (2 workers: one per core of the reference VM). Every
 * client of the bench comes from 127.0.0.1, so the per-IP connection limit (default 64) is
 * raised as nginx's worker_connections is; --max-children keeps its default.
 */
const FT_COMMON = ['--host', '127.0.0.1', '--max-connections-per-ip', '1024'];
const FT_MODELS = [
  ['ft prefork', 'ftPrefork', [...FT_COMMON, '--workers', '2']],
  ['ft fork-per-connection', 'ftFork', [...FT_COMMON, '--fork-per-connection']],
];

export async function startServers(ctx, notes) {
  const { bins, fixtures, repo } = ctx;
  const servers = {};
  const reasons = {};
  const client = path.join(repo, 'packages/client/bin/run.js');
  ctx.servers = servers;
  ctx.reasons = reasons;
  ctx.ftModels = FT_MODELS.map(([label, key]) => [label, key]);
  ctx.ftPreforkFlags = FT_MODELS[0][2];
  ctx.ftgetBare = (args) => [process.execPath, client, ...args];
  ctx.ftget = (args, server) => [
    ...ctx.ftgetBare(args),
    '--host',
    '127.0.0.1',
    '--port',
    String(server.port),
    '--quiet',
  ];
  ctx.missing = (label, tool, group, key) => ({
    label,
    tool,
    group,
    metric: 'MBps',
    runs: [],
    unavailable: reasons[key] ?? `${key} not available`,
  });

  const root = fixtures.data;
  const scratch = fixtures.scratch;
  const only = ctx.opts.only;
  const needsNginx = [
    'single',
    'resume',
    'small',
    'rps',
    'concurrent',
    'cli',
    'multi',
    'tls',
    'ttfb',
  ].some((s) => only.has(s));
  const tryStart = async (key, fn) => {
    try {
      servers[key] = await fn();
    } catch (error) {
      reasons[key] = error.message;
      notes.push(`${key}: ${error.message}`);
    }
  };
  if (needsNginx) {
    if (bins.nginx)
      await tryStart('nginx', async () =>
        startNginx({ bin: bins.nginx, root, scratch, port: await freePort() }),
      );
    else reasons.nginx = 'nginx not installed';
  }
  if (only.has('single')) {
    if (bins.rsync)
      await tryStart('rsyncd', async () =>
        startRsyncd({ bin: bins.rsync, root, scratch, port: await freePort() }),
      );
    else reasons.rsyncd = 'rsync not installed';
  }

  ctx.ftClientReady = await probeClient(ctx);
  for (const [label, key, extra] of FT_MODELS) {
    try {
      const server = await startFt({ repo, root, extra, label });
      await probeDownload(ctx, server);
      servers[key] = server;
    } catch (error) {
      reasons[key] = `ft: not available (${error.message})`;
      notes.push(`${label}: not available (${error.message})`);
    }
  }
  ctx.ftReady = servers.ftPrefork !== undefined;
  ctx.ftReason = reasons.ftPrefork;
  reasons.ftClient = reasons.ftPrefork ?? 'ftget not available';
}

async function probeClient(ctx) {
  const r = await runTimed(ctx.ftgetBare(['--version']), {
    scratch: ctx.fixtures.scratch,
    timeoutMs: 30_000,
  });
  return r.code === 0;
}

/** One 4 KiB download must work before the big runs are attempted. */
async function probeDownload(ctx, server) {
  const { fixtures } = ctx;
  emptyDir(fixtures.out);
  const out = path.join(fixtures.out, 'one4k.bin');
  const r = await runTimed(ctx.ftget(['get', 'one4k.bin', '-o', out], server), {
    scratch: fixtures.scratch,
    timeoutMs: 30_000,
  });
  if (r.code !== 0 || r.timedOut) {
    await server.stop();
    const tail = r.stderr.trim().split('\n').slice(-1)[0] ?? '';
    throw new Error(
      `probe download failed: ftget exited ${r.timedOut ? 'on timeout' : r.code}: ${tail}`,
    );
  }
  await verifyFile(
    'ftget probe',
    out,
    path.join(fixtures.data, 'one4k.bin'),
    ctx.profile.smallSize,
    true,
  );
}

export async function stopServers(ctx) {
  for (const s of Object.values(ctx.servers)) await s.stop();
}
