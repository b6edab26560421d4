/**
 * 10. Time to first byte of a file the server has never hashed (issue 9): one GET of a 1 GiB
 * file whose validator is new (its mtime is moved before each run, so no digest is cached), from
 * before connect to the first body byte, then the connection is closed. ft with streamed digests
 * (version 3, STREAM_DIGESTS: the server sends the first chunk at once and its digest after it)
 * against ft as a version-2 client sees it (digests in the FILE header: the server hashes the
 * whole file first) and nginx (no digests at all).
 */
import { utimesSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { runTimed } from '../lib/proc.mjs';
import { checkExit, measureRow } from '../lib/measure.mjs';

const LOAD_GEN = fileURLToPath(new URL('../lib/load-gen.mjs', import.meta.url));
export const TITLE = 'Time to first byte of a never-hashed file';
export const FILE = 'ttfb.bin';
export const LABELS = {
  streamed: 'ft prefork, streamed digests (v3)',
  header: 'ft prefork, digests in the header (v2 client)',
  nginx: 'nginx',
};

let bump = 0;
/** A new mtime, so the file gets a new validator and the server has no digests for it. */
function makeUnseen(ctx) {
  const t = Date.now() / 1000 - 86_400 + ++bump;
  utimesSync(path.join(ctx.fixtures.data, FILE), t, t);
}

async function once(ctx, proto, server, extra) {
  makeUnseen(ctx);
  const cfg = {
    proto,
    host: '127.0.0.1',
    port: server.port,
    paths: [FILE],
    concurrency: 1,
    mode: 'once',
    firstByteOnly: true,
    requestTimeoutMs: 120_000,
    ...extra,
  };
  const r = await runTimed([process.execPath, LOAD_GEN, JSON.stringify(cfg)], {
    stdout: 'pipe',
    scratch: ctx.fixtures.scratch,
    timeoutMs: 180_000,
  });
  checkExit('load generator', r);
  const s = JSON.parse(r.stdout.trim().split('\n').at(-1));
  if (s.requests !== 1 || s.firstByteP50Ms === null)
    throw new Error(`no first byte: ${JSON.stringify(s.errorKinds)}`);
  return { wallS: s.firstByteP50Ms / 1000, clientCpuS: r.cpuS, clientRssBytes: r.maxRssBytes };
}

export async function run(ctx) {
  const rows = [];
  const opts = (server) => ({ server, warmup: 1, runs: ctx.profile.runs });
  const nginx = ctx.servers.nginx;
  const ft = ctx.servers.ftPrefork;
  const row = (label, tool) => ({ label, tool, metric: 'seconds' });
  if (nginx)
    rows.push(
      await measureRow(ctx, row(LABELS.nginx, 'peer'), () => once(ctx, 'http', nginx, {}), {
        ...opts(nginx),
      }),
    );
  else rows.push(ctx.missing(LABELS.nginx, 'peer', undefined, 'nginx'));
  if (ft) {
    rows.push(
      await measureRow(
        ctx,
        row(LABELS.streamed, 'ft'),
        () => once(ctx, 'ft', ft, { streamDigests: true }),
        opts(ft),
      ),
    );
    rows.push(
      await measureRow(
        ctx,
        row(LABELS.header, 'ft'),
        () => once(ctx, 'ft', ft, { wantDigests: true }),
        opts(ft),
      ),
    );
  } else {
    rows.push(ctx.missing(LABELS.streamed, 'ft', undefined, 'ftPrefork'));
    rows.push(ctx.missing(LABELS.header, 'ft', undefined, 'ftPrefork'));
  }
  return {
    id: 'ttfb',
    title: TITLE,
    rows,
    note: `${ctx.sizeLabel(ctx.profile.bigSize)} file, its mtime moved before each run (a new validator: nothing cached); seconds from before connect to the first body byte (HTTP: the response header), one load-generator process`,
  };
}
