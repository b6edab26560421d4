/**
 * 2. Resume: the large file already 50% and 99% present; time to fetch the remainder with
 * `ftget --resume` and with `curl -C -`, next to the full download of each. ft is measured on
 * the partial an interrupted ftget leaves (OUTPUT.part + state, made through a cutting proxy)
 * and on a bare OUTPUT.part without state (e.g. copied from elsewhere), which ft must re-hash.
 */
import { copyFileSync, truncateSync } from 'node:fs';
import path from 'node:path';
import { runTimed } from '../lib/proc.mjs';
import { interruptedDownload } from '../lib/cut-proxy.mjs';
import { checkExit, clientFigures, emptyDir, measureRow, verifyFile } from '../lib/measure.mjs';

export const TITLE = 'Resume: time to fetch the remainder of a partial download';

export async function run(ctx) {
  const { bins, fixtures, profile } = ctx;
  const src = path.join(fixtures.data, 'big.bin');
  const out = path.join(fixtures.out, 'big.bin');
  const size = profile.bigSize;
  const rows = [];
  const nginx = ctx.servers.nginx;
  const ft = ctx.servers.ftPrefork;
  const timeoutMs = ctx.transferTimeoutMs(size);

  /** Leaves the first `fraction` of the file at `out`, as an interrupted download would. */
  const partial = (fraction) => {
    emptyDir(fixtures.out);
    if (fraction === 0) return;
    copyFileSync(src, out);
    truncateSync(out, Math.floor(size * fraction));
  };

  for (const fraction of [0, 0.5, 0.99]) {
    const group = fraction === 0 ? 'full download' : `${fraction * 100}% present`;
    const missing = size - Math.floor(size * fraction);
    // curl resumes the output file in place.
    if (nginx && bins.curl) {
      rows.push(
        await measureRow(
          ctx,
          { label: fraction === 0 ? 'curl' : 'curl -C -', tool: 'peer', group, metric: 'seconds' },
          async ({ warm }) => {
            const url = `http://127.0.0.1:${nginx.port}/big.bin`;
            const args = fraction === 0 ? [] : ['-C', '-'];
            const r = await runTimed([bins.curl, '-sS', ...args, '-o', out, url], {
              scratch: fixtures.scratch,
              timeoutMs,
            });
            checkExit('curl', r);
            await verifyFile('curl -C -', out, src, size, warm);
            return clientFigures(r, missing);
          },
          { server: nginx, prepare: async () => partial(fraction) },
        ),
      );
    } else rows.push(ctx.missing('curl -C -', 'peer', group, 'nginx'));

    if (ft) {
      const ftRow = (label, prepare, extra = []) =>
        measureRow(
          ctx,
          { label, tool: 'ft', group, metric: 'seconds' },
          async ({ warm, prepared: present }) => {
            const flags = fraction === 0 ? [] : ['--resume', ...extra];
            const r = await runTimed(ctx.ftget(['get', 'big.bin', '-o', out, ...flags], ft), {
              scratch: fixtures.scratch,
              timeoutMs,
            });
            checkExit('ftget', r);
            await verifyFile(label, out, src, size, warm);
            return { ...clientFigures(r, size - present), present };
          },
          { server: ft, prepare },
        );
      if (fraction === 0) {
        rows.push(
          await ftRow('ftget', async () => {
            emptyDir(fixtures.out);
            return 0;
          }),
        );
      } else {
        let overhead = 0; // response bytes before the body (WELCOME, FILE header): learnt on the first cut
        const interrupted = async () => {
          emptyDir(fixtures.out);
          const target = Math.floor(size * fraction);
          const present = await interruptedDownload(ctx, ft, 'big.bin', out, target + overhead);
          overhead = Math.max(0, target + overhead - present);
          return present;
        };
        rows.push(await ftRow('ftget --resume (partial + state)', interrupted));
        // The default trusts the state for the present part, as curl -C - trusts its partial;
        // this row re-hashes it from disk beside the fetch.
        rows.push(
          await ftRow('ftget --resume --verify-partial (partial + state)', interrupted, [
            '--verify-partial',
          ]),
        );
        rows.push(
          await ftRow('ftget --resume (bare .part, no state)', async () => {
            emptyDir(fixtures.out);
            copyFileSync(src, `${out}.part`);
            truncateSync(`${out}.part`, Math.floor(size * fraction));
            return Math.floor(size * fraction);
          }),
        );
      }
    } else rows.push(ctx.missing('ftget', 'ft', group, 'ftPrefork'));
  }
  // The cut lands near, not exactly at, the nominal fraction: say where it landed.
  const landed = rows
    .filter((r) => r.label === 'ftget --resume (partial + state)' && r.runs.length > 0)
    .map((r) => {
      const p = r.runs.map((x) => x.present / size);
      return `${r.group}: ${(Math.min(...p) * 100).toFixed(2)}–${(Math.max(...p) * 100).toFixed(2)}%`;
    });
  return {
    id: 'resume',
    title: TITLE,
    rows,
    note:
      `${ctx.sizeLabel(size)} file; MB/s counts only the missing bytes` +
      (landed.length > 0 ? `; partials left by the cut ftget held ${landed.join(', ')}` : ''),
  };
}
