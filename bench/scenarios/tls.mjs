/**
 * 8. TLS (issue 12): one large file over one TLS stream — `ftserve --tls-cert/--tls-key` with
 * `ftget fts://… --cacert` — against ft in plaintext and nginx HTTPS + curl (nginx plaintext
 * beside them for orientation); then requests per second over a new TLS connection per 4 KiB
 * file, ftserve against nginx HTTPS with the same load generator, which resumes each worker's
 * previous session (TLS 1.3 tickets) as repeated clients would. Certificates are made for the
 * run by the test helpers' openssl logic (a CA and a server certificate for 127.0.0.1) and
 * removed after it.
 */
import path from 'node:path';
import { runTimed } from '../lib/proc.mjs';
import { checkExit, clientFigures, emptyDir, measureRow, verifyFile } from '../lib/measure.mjs';
import { freePort, startFt, startNginx } from '../lib/servers.mjs';
import { testHelper } from '../lib/test-helpers.mjs';
import { loadGen } from './small-files.mjs';

export const TITLE_SINGLE = 'TLS: one large file over one TLS stream';
export const TITLE_RPS = 'TLS: requests per second, a new TLS connection per 4 KiB file';
export const SINGLE = 'single stream into a file';
export const rpsGroup = (c) => `new connection per 4 KiB file, ${c} client${c === 1 ? '' : 's'}`;
/** Row labels the targets look up. */
export const LABELS = {
  ftTls: 'ft TLS (fts://, prefork)',
  ftPlain: 'ft plaintext (prefork)',
  nginxTls: 'nginx HTTPS + curl',
  ftTlsRps: 'ft TLS prefork, load generator',
  nginxTlsRps: 'nginx HTTPS, load generator',
};

export async function run(ctx) {
  const { bins, fixtures, profile, repo } = ctx;
  const size = profile.bigSize;
  const src = path.join(fixtures.data, 'big.bin');
  const out = path.join(fixtures.out, 'big.bin');
  const timeoutMs = ctx.transferTimeoutMs(size);
  const rows = [];
  const missing = (label, tool, group, reason) => ({
    label,
    tool,
    group,
    metric: group === SINGLE ? 'MBps' : 'rps',
    runs: [],
    unavailable: reason,
  });
  const stops = [];
  let pki;
  let pkiReason;
  try {
    const { makeTestPki } = await testHelper(repo, 'tls-certs');
    pki = makeTestPki();
    stops.push(() => pki.remove());
  } catch (error) {
    pkiReason = `no certificates: ${String(error.message).split('\n')[0]}`;
  }
  try {
    const start = async (what, fn) => {
      if (pki === undefined) return { reason: pkiReason };
      try {
        const server = await fn();
        stops.push(() => server.stop());
        return { server };
      } catch (error) {
        return { reason: `${what}: ${error.message}` };
      }
    };
    const ftTls = ctx.ftReady
      ? await start('ftserve --tls-cert', () =>
          startFt({
            repo,
            root: fixtures.data,
            extra: [
              ...ctx.ftPreforkFlags,
              '--no-udp',
              '--tls-cert',
              pki.server.cert,
              '--tls-key',
              pki.server.key,
            ],
            label: 'ft TLS',
          }),
        )
      : { reason: ctx.ftReason };
    const nginxTls = bins.nginx
      ? await start('nginx (ssl)', async () =>
          startNginx({
            bin: bins.nginx,
            root: fixtures.data,
            scratch: fixtures.scratch,
            port: await freePort(),
            tls: { cert: pki.server.cert, key: pki.server.key },
          }),
        )
      : { reason: 'nginx not installed' };

    const fetch = (name, argv, server, label, tool) =>
      server === undefined
        ? undefined
        : measureRow(
            ctx,
            { label, tool, group: SINGLE, metric: 'MBps' },
            async ({ warm }) => {
              emptyDir(fixtures.out);
              const r = await runTimed(argv(server), { scratch: fixtures.scratch, timeoutMs });
              checkExit(name, r);
              await verifyFile(label, out, src, size, warm);
              return clientFigures(r, size);
            },
            { server },
          );
    const curl = (scheme, extra) => (server) => [
      bins.curl,
      '-sS',
      ...extra,
      '-o',
      out,
      `${scheme}://127.0.0.1:${server.port}/big.bin`,
    ];
    const single = [
      [
        'nginx + curl (plaintext)',
        'peer',
        bins.curl ? ctx.servers.nginx : undefined,
        ctx.reasons.nginx ?? 'curl or nginx not installed',
        'curl',
        curl('http', []),
      ],
      [
        LABELS.nginxTls,
        'peer',
        bins.curl ? nginxTls.server : undefined,
        nginxTls.reason ?? 'curl not installed',
        'curl',
        curl('https', ['--cacert', pki?.ca ?? '']),
      ],
      [
        LABELS.ftPlain,
        'ft',
        ctx.servers.ftPrefork,
        ctx.reasons.ftPrefork,
        'ftget',
        (server) => ctx.ftget(['get', 'big.bin', '-o', out], server),
      ],
      [
        LABELS.ftTls,
        'ft',
        ftTls.server,
        ftTls.reason,
        'ftget',
        (server) =>
          ctx.ftgetBare([
            'get',
            `fts://127.0.0.1:${server.port}/big.bin`,
            '--cacert',
            pki.ca,
            '-o',
            out,
            '--quiet',
          ]),
      ],
    ];
    for (const [label, tool, server, reason, name, argv] of single) {
      const row = await fetch(name, argv, server, label, tool);
      rows.push(row ?? missing(label, tool, SINGLE, reason));
    }

    for (const c of profile.tlsRpsConcurrency) {
      const group = rpsGroup(c);
      const opts = { warmup: profile.rpsWarmup };
      for (const [label, tool, proto, target] of [
        [LABELS.nginxTlsRps, 'peer', 'http', nginxTls],
        [LABELS.ftTlsRps, 'ft', 'ft', ftTls],
      ]) {
        if (target.server === undefined) {
          rows.push(missing(label, tool, group, target.reason));
          continue;
        }
        rows.push(
          await measureRow(
            ctx,
            { label, tool, group, metric: 'rps' },
            () => loadGen(ctx, proto, target.server, c, { tls: { ca: pki.ca } }),
            { ...opts, server: target.server },
          ),
        );
      }
    }
  } finally {
    for (const stop of stops.reverse()) await stop();
  }
  // How many connections resumed a session: a figure that says whether tickets worked at all.
  const resumed = rows
    .filter((r) => r.metric === 'rps' && r.runs.length > 0)
    .map((r) => {
      const n = r.runs.reduce((s, x) => s + x.requests + (x.errors ?? 0), 0);
      const k = r.runs.reduce((s, x) => s + (x.resumed ?? 0), 0);
      return `${r.label}, ${r.group.split(', ').at(-1)}: ${n === 0 ? 0 : Math.round((100 * k) / n)}%`;
    });
  // Two tables: MB/s and req/s do not share a column.
  return [
    {
      id: 'tls',
      title: TITLE_SINGLE,
      rows: rows.filter((r) => r.group === SINGLE),
      note: `${ctx.sizeLabel(size)} file, page cache warm; TLS 1.3, P-256 certificate made for the run`,
    },
    {
      id: 'tls-rps',
      title: TITLE_RPS,
      rows: rows.filter((r) => r.group !== SINGLE),
      note:
        `each run lasts ${profile.rpsDurationS} s; one load-generator process, each of its ` +
        `workers resuming the session of its previous connection` +
        (resumed.length > 0 ? `; connections resumed: ${resumed.join(', ')}` : ''),
    },
  ];
}
