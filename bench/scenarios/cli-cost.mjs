/**
 * 6. CLI cost: start-up of `ftget --version` against `node -e 0` and `curl --version`, and one
 * 4 KiB download with `ftget get` against curl from nginx.
 */
import path from 'node:path';
import process from 'node:process';
import { runTimed } from '../lib/proc.mjs';
import { checkExit, clientFigures, emptyDir, measureRow, verifyFile } from '../lib/measure.mjs';

export const TITLE = 'CLI cost: start-up and one 4 KiB download';

export async function run(ctx) {
  const { bins, fixtures, profile } = ctx;
  const rows = [];
  const opts = { runs: profile.cliRuns, warmup: 1 };
  const simple = (label, tool, group, argv, server) =>
    measureRow(
      ctx,
      { label, tool, group, metric: 'seconds' },
      async () => {
        const r = await runTimed(argv, { scratch: fixtures.scratch, timeoutMs: 30_000 });
        checkExit(label, r);
        return clientFigures(r, 0);
      },
      { ...opts, server },
    );
  rows.push(await simple('node -e 0', 'peer', 'start-up', [process.execPath, '-e', '0']));
  if (bins.curl)
    rows.push(await simple('curl --version', 'peer', 'start-up', [bins.curl, '--version']));
  if (ctx.ftReady || ctx.ftClientReady)
    rows.push(await simple('ftget --version', 'ft', 'start-up', ctx.ftgetBare(['--version'])));
  else rows.push(ctx.missing('ftget --version', 'ft', 'start-up', 'ftClient'));

  const src = path.join(fixtures.data, 'one4k.bin');
  const out = path.join(fixtures.out, 'one4k.bin');
  const download = (label, tool, argv, server) =>
    measureRow(
      ctx,
      { label, tool, group: '4 KiB download', metric: 'seconds' },
      async ({ warm }) => {
        emptyDir(fixtures.out);
        const r = await runTimed(argv, { scratch: fixtures.scratch, timeoutMs: 30_000 });
        checkExit(label, r);
        await verifyFile(label, out, src, profile.smallSize, warm);
        return clientFigures(r, profile.smallSize);
      },
      { ...opts, server },
    );
  const nginx = ctx.servers.nginx;
  if (nginx && bins.curl)
    rows.push(
      await download(
        'curl',
        'peer',
        [bins.curl, '-sS', '-o', out, `http://127.0.0.1:${nginx.port}/one4k.bin`],
        nginx,
      ),
    );
  else rows.push(ctx.missing('curl', 'peer', '4 KiB download', 'nginx'));
  const ft = ctx.servers.ftPrefork;
  if (ft)
    rows.push(
      await download('ftget get', 'ft', ctx.ftget(['get', 'one4k.bin', '-o', out], ft), ft),
    );
  else rows.push(ctx.missing('ftget get', 'ft', '4 KiB download', 'ftPrefork'));
  return { id: 'cli', title: TITLE, rows, note: 'wall time of one process, lower is better' };
}
