/**
 * 1. One large file (page cache warm) over one TCP stream, into a file and into /dev/null:
 * ftget (prefork and fork-per-connection) against nc, socat, nginx + curl and the rsync daemon.
 */
import path from 'node:path';
import { freePort, runTimed, waitBound } from '../lib/proc.mjs';
import { checkExit, clientFigures, emptyDir, measureRow, verifyFile } from '../lib/measure.mjs';

export const TITLE = 'Single stream: one large file over TCP';

/**
 * A one-shot stream: a fresh listener per run (nc/socat exit after one connection), itself run
 * under GNU time so its CPU and RSS are the "server" figures.
 */
async function oneShot(ctx, serverArgv, clientArgv, stdinFile, stdoutFile) {
  const port = await freePort();
  let serverPid;
  const timeoutMs = ctx.transferTimeoutMs(ctx.profile.bigSize);
  const server = runTimed(serverArgv(port), {
    stdin: stdinFile,
    stdout: 'ignore',
    scratch: ctx.fixtures.scratch,
    timeoutMs,
    onSpawn: (pid) => (serverPid = pid),
  });
  if (serverPid === undefined || !(await waitBound(serverPid, port, 'tcp', 5000)))
    throw new Error(`${serverArgv(port)[0]} did not listen`);
  const client = await runTimed(clientArgv(port), {
    stdout: stdoutFile,
    scratch: ctx.fixtures.scratch,
    timeoutMs,
  });
  const s = await server;
  checkExit(clientArgv(port)[0], client);
  return {
    ...clientFigures(client, ctx.profile.bigSize),
    serverCpuS: s.cpuS,
    serverRssBytes: s.maxRssBytes,
  };
}

export async function run(ctx) {
  const { bins, fixtures, profile } = ctx;
  const src = path.join(fixtures.data, 'big.bin');
  const out = path.join(fixtures.out, 'big.bin');
  const size = profile.bigSize;
  const rows = [];
  const targets = [
    ['file', out],
    ['/dev/null', '/dev/null'],
  ];
  for (const [group, dest] of targets) {
    const toFile = dest !== '/dev/null';
    const verify = async (name, warm) => {
      if (toFile) await verifyFile(name, out, src, size, warm);
    };
    const row = (label, tool, fn, server) =>
      measureRow(ctx, { label, tool, group: `into ${group}`, metric: 'MBps' }, fn, { server });
    const fresh = () => emptyDir(fixtures.out);

    if (bins.nc) {
      rows.push(
        await row('nc (openbsd)', 'peer', async ({ warm }) => {
          fresh();
          const r = await oneShot(
            ctx,
            (p) => [bins.nc, '-N', '-l', '127.0.0.1', String(p)],
            (p) => [bins.nc, '-d', '127.0.0.1', String(p)],
            src,
            dest,
          );
          await verify('nc', warm);
          return r;
        }),
      );
    } else rows.push(ctx.missing('nc (openbsd)', 'peer', `into ${group}`, 'nc'));

    if (bins.socat) {
      rows.push(
        await row('socat', 'peer', async ({ warm }) => {
          fresh();
          const r = await oneShot(
            ctx,
            (p) => [
              bins.socat,
              '-u',
              '-b',
              '262144',
              `OPEN:${src}`,
              `TCP-LISTEN:${p},bind=127.0.0.1,reuseaddr`,
            ],
            (p) => [bins.socat, '-u', '-b', '262144', `TCP:127.0.0.1:${p}`, 'STDOUT'],
            undefined,
            dest,
          );
          await verify('socat', warm);
          return r;
        }),
      );
    } else rows.push(ctx.missing('socat', 'peer', `into ${group}`, 'socat'));

    const nginx = ctx.servers.nginx;
    if (nginx && bins.curl) {
      rows.push(
        await row(
          'nginx + curl',
          'peer',
          async ({ warm }) => {
            fresh();
            const url = `http://127.0.0.1:${nginx.port}/big.bin`;
            const r = await runTimed([bins.curl, '-sS', '-o', dest, url], {
              scratch: fixtures.scratch,
              timeoutMs: ctx.transferTimeoutMs(size),
            });
            checkExit('curl', r);
            await verify('nginx + curl', warm);
            return clientFigures(r, size);
          },
          nginx,
        ),
      );
    } else rows.push(ctx.missing('nginx + curl', 'peer', `into ${group}`, 'nginx'));

    const rsyncd = ctx.servers.rsyncd;
    if (toFile && rsyncd) {
      rows.push(
        await row(
          'rsync daemon',
          'peer',
          async ({ warm }) => {
            fresh();
            const url = `rsync://127.0.0.1:${rsyncd.port}/data/big.bin`;
            const r = await runTimed([bins.rsync, url, out], {
              scratch: fixtures.scratch,
              timeoutMs: ctx.transferTimeoutMs(size),
            });
            checkExit('rsync', r);
            await verify('rsync', warm);
            return clientFigures(r, size);
          },
          rsyncd,
        ),
      );
    } else if (toFile) rows.push(ctx.missing('rsync daemon', 'peer', `into ${group}`, 'rsyncd'));

    for (const [label, key] of ctx.ftModels) {
      const server = ctx.servers[key];
      if (server === undefined) {
        rows.push(ctx.missing(label, 'ft', `into ${group}`, key));
        continue;
      }
      rows.push(
        await row(
          label,
          'ft',
          async ({ warm }) => {
            fresh();
            const r = await runTimed(
              ctx.ftget(['get', 'big.bin', '-o', toFile ? out : '-'], server),
              {
                stdout: toFile ? 'ignore' : dest,
                scratch: fixtures.scratch,
                timeoutMs: ctx.transferTimeoutMs(size),
              },
            );
            checkExit('ftget', r);
            await verify(label, warm);
            return clientFigures(r, size);
          },
          server,
        ),
      );
    }
  }
  return { id: 'single', title: TITLE, rows, note: `${ctx.sizeLabel(size)}, page cache warm` };
}
