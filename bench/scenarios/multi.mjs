/**
 * 7. Several connections and mirrors over a long, per-flow shaped link (issue 13): every
 * connection goes through the shaping proxy of the test helpers (20 ms each way, so 40 ms RTT,
 * and 8 MB/s per TCP connection by a token bucket per flow), as a link shaped per flow (fq with
 * a flow rate, a per-5-tuple policer) would treat it. One ftget connection against
 * `--connections 4` against two ftserve mirrors with one connection each (`--mirror`), beside
 * aria2c `-x 4 -s 4` against nginx through the same proxy. The rows of ftget flags that this
 * build does not have yet say so ("not available").
 */
import path from 'node:path';
import { runTimed } from '../lib/proc.mjs';
import { checkExit, clientFigures, emptyDir, measureRow, verifyFile } from '../lib/measure.mjs';
import { startFt } from '../lib/servers.mjs';
import { testHelper } from '../lib/test-helpers.mjs';

export const TITLE = 'Parallel connections and mirrors over a shaped link';

/** The link: one-way delay and per-connection rate. */
export const DELAY_MS = 20;
export const RATE = 8_000_000;
const GROUP = `${2 * DELAY_MS} ms RTT, ${RATE / 1e6} MB/s per connection`;
const FILE = 'multi.bin';

/** ftget's help names each flag it has; a flag missing there is a row "not available". */
async function ftgetFlags(ctx) {
  const r = await runTimed(ctx.ftgetBare(['get', '--help']), {
    stdout: 'pipe',
    scratch: ctx.fixtures.scratch,
    timeoutMs: 30_000,
  });
  const text = r.stdout + r.stderr;
  return (flag) =>
    new RegExp(`(^|\\s)${flag}[=\\s]`, 'm').test(text)
      ? undefined
      : `this ftget has no ${flag} (branch parallel, issue 13, not merged yet)`;
}

/** One server object for measureRow that watches two servers' trees (CPU summed, peaks summed). */
function both(a, b) {
  return {
    monitor: {
      cpuSeconds: () => a.monitor.cpuSeconds() + b.monitor.cpuSeconds(),
      startPeak: () => {
        a.monitor.startPeak();
        b.monitor.startPeak();
      },
      stopPeak: () => a.monitor.stopPeak() + b.monitor.stopPeak(),
      get peakPss() {
        return (a.monitor.peakPss ?? 0) + (b.monitor.peakPss ?? 0);
      },
    },
  };
}

export async function run(ctx) {
  const { bins, fixtures, profile, repo } = ctx;
  const size = profile.multiSize;
  const src = path.join(fixtures.data, FILE);
  const out = path.join(fixtures.out, FILE);
  const rows = [];
  const missing = (label, tool, reason) => ({
    label,
    tool,
    group: GROUP,
    metric: 'MBps',
    runs: [],
    unavailable: reason,
  });
  const { startShapingProxy } = await testHelper(repo, 'shaping-proxy');
  const shaped = (server) =>
    startShapingProxy({
      target: { host: '127.0.0.1', port: server.port },
      delayMs: DELAY_MS,
      rateBytesPerSecond: RATE,
    });
  const stops = [];
  const used = {};
  // At 8 MB/s a run takes seconds, not the minute a loopback transfer is allowed.
  const timeoutMs = ctx.transferTimeoutMs(size) + Math.ceil((size / RATE) * 1000);
  try {
    const ft = ctx.servers.ftPrefork;
    const nginx = ctx.servers.nginx;
    let mirror;
    let mirrorReason;
    if (ft !== undefined) {
      try {
        mirror = await startFt({
          repo,
          root: fixtures.data,
          extra: ctx.ftPreforkFlags,
          label: 'ft mirror 2',
        });
        stops.push(() => mirror.stop());
      } catch (error) {
        mirrorReason = `second ftserve: ${error.message}`;
      }
    }
    const links = {};
    for (const [key, server] of [
      ['ft', ft],
      ['mirror', mirror],
      ['nginx', nginx],
    ]) {
      if (server === undefined) continue;
      links[key] = await shaped(server);
      stops.push(() => links[key].close());
    }
    const url = (key) => `ft://127.0.0.1:${links[key].port}/${FILE}`;
    /** A measured run of `argv`, counting the connections it opened through `via`. */
    const once =
      (name, argv, via, label) =>
      async ({ warm }) => {
        emptyDir(fixtures.out);
        const before = via.map((p) => p.connections);
        const r = await runTimed(argv(), { scratch: fixtures.scratch, timeoutMs });
        checkExit(name, r);
        await verifyFile(label, out, src, size, warm);
        used[label] = via.reduce((n, p, i) => n + p.connections - before[i], 0);
        return clientFigures(r, size);
      };
    const has = ctx.ftClientReady ? await ftgetFlags(ctx) : () => 'ftget not available';

    const ftRows = [
      ['ftget, 1 connection', () => [url('ft')], ['ft'], undefined],
      ['ftget --connections 4', () => [url('ft'), '--connections', '4'], ['ft'], '--connections'],
      [
        'ftget, 2 mirrors × 1 connection (--mirror)',
        () => [url('ft'), '--mirror', url('mirror')],
        ['ft', 'mirror'],
        '--mirror',
      ],
    ];
    for (const [label, args, via, flag] of ftRows) {
      const reason =
        ft === undefined
          ? ctx.reasons.ftPrefork
          : via.includes('mirror') && mirror === undefined
            ? mirrorReason
            : flag === undefined
              ? undefined
              : has(flag);
      if (reason !== undefined) {
        rows.push(missing(label, 'ft', reason));
        continue;
      }
      const argv = () => ctx.ftgetBare(['get', ...args(), '-o', out, '--quiet']);
      const proxies = via.map((k) => links[k]);
      const server = via.length === 2 ? both(ft, mirror) : ft;
      rows.push(
        await measureRow(
          ctx,
          { label, tool: 'ft', group: GROUP, metric: 'MBps' },
          once('ftget', argv, proxies, label),
          { server },
        ),
      );
    }

    const aria = 'aria2c -x 4 -s 4 (nginx)';
    if (nginx === undefined) rows.push(missing(aria, 'peer', ctx.reasons.nginx));
    else if (bins.aria2c === undefined)
      rows.push(missing(aria, 'peer', 'aria2c not installed (Debian package aria2)'));
    else {
      // -k 1M: aria2 splits only pieces of at least --min-split-size (20 MiB by default), which
      // would leave the quick profile's file to one connection.
      const argv = () => [
        bins.aria2c,
        '-x',
        '4',
        '-s',
        '4',
        '-k',
        '1M',
        '--file-allocation=none',
        '--allow-overwrite=true',
        '--auto-file-renaming=false',
        '--quiet=true',
        '-d',
        fixtures.out,
        '-o',
        FILE,
        `http://127.0.0.1:${links.nginx.port}/${FILE}`,
      ];
      rows.push(
        await measureRow(
          ctx,
          { label: aria, tool: 'peer', group: GROUP, metric: 'MBps' },
          once('aria2c', argv, [links.nginx], aria),
          { server: nginx },
        ),
      );
    }
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
  const opened = Object.entries(used)
    .map(([label, n]) => `${label} ${n}`)
    .join(', ');
  return {
    id: 'multi',
    title: TITLE,
    rows,
    note:
      `${ctx.sizeLabel(size)} through a user-space proxy per server: ${DELAY_MS} ms each way, ` +
      `${RATE / 1e6} MB/s per TCP connection and direction (token bucket per flow); ` +
      `mirrors are two ftserve on the same tree` +
      (opened === '' ? '' : `; connections opened in the last run: ${opened}`),
  };
}
