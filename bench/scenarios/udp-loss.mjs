/**
 * 5. The UDP variant under packet loss: one file at several loss rates, ftget --udp against
 * TFTP (tftpd-hpa with curl at the largest block size, and the tftp-hpa client at 512 B) and
 * against ft's own TCP path and nginx + curl. Loss comes from an nftables drop rule on the
 * loopback of a private network namespace (see lib/netns.mjs). Transfers slower than a cap are
 * cut and reported as the throughput reached until then (marked "cut").
 */
import path from 'node:path';
import { freePort, runTimed } from '../lib/proc.mjs';
import { bytesIn, emptyDir, measureRow, verifyFile } from '../lib/measure.mjs';
import { createLossNamespace } from '../lib/netns.mjs';
import { startFt, startNginx, startTftpd } from '../lib/servers.mjs';

export const TITLE = 'UDP variant under packet loss';

/**
 * Runs a capped transfer inside the namespace. A run that completes must deliver the exact
 * bytes; one that is cut or gives up counts the bytes it wrote by then.
 */
async function capped(ctx, ns, tool, name, argv, capS, fullCheck, stdoutFile) {
  const { fixtures, profile } = ctx;
  emptyDir(fixtures.out);
  const r = await runTimed(argv, {
    netns: ns.name,
    scratch: fixtures.scratch,
    timeoutMs: capS * 1000,
    stdout: stdoutFile ?? 'ignore',
  });
  const src = path.join(fixtures.data, 'udp.bin');
  const out = path.join(fixtures.out, 'udp.bin');
  // tftp-hpa exits 0 even when it gave up mid-file: for a peer, a short file is an incomplete
  // transfer; ft must never report success without every byte.
  const complete =
    r.code === 0 && !r.timedOut && (tool === 'ft' || bytesIn(fixtures.out) === profile.udpSize);
  if (complete) {
    await verifyFile(name, out, src, profile.udpSize, fullCheck);
    return {
      wallS: r.wallS,
      bytes: profile.udpSize,
      clientCpuS: r.cpuS,
      clientRssBytes: r.maxRssBytes,
    };
  }
  const bytes = bytesIn(fixtures.out);
  if (bytes === 0 && !r.timedOut) {
    const tail = r.stderr.trim().split('\n').slice(-1)[0] ?? '';
    throw new Error(`${name} exited ${r.code}: ${tail}`);
  }
  // Cut by our cap, or the tool gave up on its own before it (tftp-hpa does at high loss).
  return {
    wallS: r.wallS,
    bytes,
    cut: r.timedOut,
    gaveUp: !r.timedOut,
    clientCpuS: r.cpuS,
    clientRssBytes: r.maxRssBytes,
  };
}

export async function run(ctx) {
  const { bins, fixtures, profile } = ctx;
  let ns;
  try {
    ns = await createLossNamespace();
  } catch (error) {
    return {
      id: 'loss',
      title: TITLE,
      rows: [],
      note: `skipped: cannot create a lossy network namespace (${error.message})`,
    };
  }
  ctx.onCleanup(ns.destroy);
  const servers = {};
  const reasons = {};
  const tryStart = async (key, fn) => {
    try {
      servers[key] = await fn();
    } catch (error) {
      reasons[key] = error.message;
    }
  };
  const root = fixtures.data;
  const scratch = fixtures.scratch;
  if (ctx.ftReady)
    await tryStart('ft', () =>
      startFt({ repo: ctx.repo, root, netns: ns.name, extra: ctx.ftPreforkFlags }),
    );
  else reasons.ft = ctx.ftReason;
  if (bins['in.tftpd'])
    await tryStart('tftpd', async () =>
      startTftpd({ bin: bins['in.tftpd'], root, scratch, netns: ns.name, port: await freePort() }),
    );
  else reasons.tftpd = 'in.tftpd not installed';
  if (bins.nginx)
    await tryStart('nginx', async () =>
      startNginx({ bin: bins.nginx, root, scratch, netns: ns.name, port: await freePort() }),
    );
  else reasons.nginx = 'nginx not installed';

  const rows = [];
  const cap = profile.lossCapS;
  const out = path.join(fixtures.out, 'udp.bin');
  const missingRow = (label, tool, group, key) => ({
    label,
    tool,
    group,
    metric: 'MBps',
    runs: [],
    unavailable: reasons[key] ?? `${key} not available`,
  });
  try {
    for (const loss of profile.lossPercents) {
      await ns.setLoss(loss);
      const group = `${loss}% loss`;
      const row = (label, tool, server, fn) =>
        measureRow(ctx, { label, tool, group, metric: 'MBps', loss }, fn, {
          server,
          // A capped transfer gains nothing from a warm-up; the page cache is warm from 0% loss.
          warmup: loss === 0 ? profile.warmup : 0,
          budgetS: profile.lossRowBudgetS,
        });
      const ft = servers.ft;
      if (ft) {
        const udpPort = ft.udpPort ?? ft.port;
        rows.push(
          await row('ft UDP', 'ft', ft, ({ index }) =>
            capped(
              ctx,
              ns,
              'ft',
              'ftget --udp',
              ctx.ftget(['get', 'udp.bin', '-o', out, '--udp'], { port: udpPort }),
              cap,
              index === 0,
            ),
          ),
        );
        rows.push(
          await row('ft TCP', 'ft', ft, ({ index }) =>
            capped(
              ctx,
              ns,
              'ft',
              'ftget',
              ctx.ftget(['get', 'udp.bin', '-o', out], ft),
              cap,
              index === 0,
            ),
          ),
        );
      } else {
        rows.push(missingRow('ft UDP', 'ft', group, 'ft'));
        rows.push(missingRow('ft TCP', 'ft', group, 'ft'));
      }
      const tftpd = servers.tftpd;
      if (tftpd && bins.curl) {
        const url = `tftp://127.0.0.1:${tftpd.port}/udp.bin`;
        rows.push(
          await row('TFTP: tftpd-hpa + curl, 65464 B blocks', 'peer', tftpd, ({ index }) =>
            capped(
              ctx,
              ns,
              'peer',
              'curl tftp',
              [bins.curl, '-sS', '--tftp-blksize', '65464', '-o', out, url],
              profile.tftpCapS,
              index === 0,
            ),
          ),
        );
      } else
        rows.push(missingRow('TFTP: tftpd-hpa + curl, 65464 B blocks', 'peer', group, 'tftpd'));
      if (tftpd && bins.tftp) {
        rows.push(
          await row('TFTP: tftpd-hpa + tftp-hpa, 512 B blocks', 'peer', tftpd, ({ index }) =>
            capped(
              ctx,
              ns,
              'peer',
              'tftp',
              [
                bins.tftp,
                '-m',
                'binary',
                '127.0.0.1',
                String(tftpd.port),
                '-c',
                'get',
                'udp.bin',
                out,
              ],
              profile.tftpCapS,
              index === 0,
            ),
          ),
        );
      } else
        rows.push(missingRow('TFTP: tftpd-hpa + tftp-hpa, 512 B blocks', 'peer', group, 'tftpd'));
      const nginx = servers.nginx;
      if (nginx && bins.curl) {
        const url = `http://127.0.0.1:${nginx.port}/udp.bin`;
        rows.push(
          await row('nginx + curl (TCP)', 'peer', nginx, ({ index }) =>
            capped(ctx, ns, 'peer', 'curl', [bins.curl, '-sS', '-o', out, url], cap, index === 0),
          ),
        );
      } else rows.push(missingRow('nginx + curl (TCP)', 'peer', group, 'nginx'));
    }
  } finally {
    for (const s of Object.values(servers)) await s.stop();
    ns.destroy();
  }
  return {
    id: 'loss',
    title: TITLE,
    rows,
    plot: true,
    note:
      `${ctx.sizeLabel(profile.udpSize)} file; loss = nftables "numgen random" drop on lo in a private network namespace ` +
      `(each packet, both directions); transfers are cut after ${cap} s (TFTP ${profile.tftpCapS} s) and then count the bytes written so far`,
  };
}
