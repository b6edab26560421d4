/**
 * 3. Many small files: N × 4 KiB in one `ftget` invocation against one curl process with N URLs
 * (nginx); then requests per second over a new connection per file from 1, 50 and 200
 * concurrent clients: our load generator (ft and HTTP) against both ft process models and
 * nginx, plus ApacheBench against nginx as the usual reference.
 */
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync } from 'node:fs';
import { readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { capture, runTimed } from '../lib/proc.mjs';
import {
  CorruptError,
  HarnessError,
  checkExit,
  clientFigures,
  measureRow,
} from '../lib/measure.mjs';

const LOAD_GEN = fileURLToPath(new URL('../lib/load-gen.mjs', import.meta.url));

export const TITLE_BATCH = 'Many small files in one client invocation';
export const TITLE_RPS = 'Requests per second, a new connection per 4 KiB file';

function treeBytes(dir) {
  let files = 0;
  let bytes = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    files++;
    bytes += statSync(path.join(e.parentPath ?? e.path, e.name)).size;
  }
  return { files, bytes };
}

/**
 * A brand-new file system for every run of every tool: a sparse image under the system's
 * temporary directory, made by a default `mkfs.ext4` (journal and all), mounted on a loop device
 * for the run and unmounted and removed after it (neither is timed). Why not only a new
 * directory: this VM's / is ext4 *without* a journal, where creating a file skips, one at a time,
 * every inode of its group deleted in the last 60–300 s (`recently_deleted()`); so a run paid for
 * the files that the runs and sections before it deleted, and the row measured mostly the order
 * of its tools (docs/BENCHMARKS.md, "Many small files"). A fresh file system has no deleted
 * inodes and the same state for each run, and a `sync` before the run leaves nothing dirty
 * for it to wait behind. `noinit_itable`: the kernel does not zero the inode
 * tables in the background during the run (a new sparse image reads as zeros anyway). Needs root,
 * mkfs.ext4 (e2fsprogs) and loop devices; without them the section fails (HarnessError), since
 * figures on another setup would not mean what docs/BENCHMARKS.md says the row measures.
 */
class FreshFileSystems {
  constructor(bins) {
    this.bins = bins;
    this.parent = mkdtempSync(path.join(tmpdir(), 'ft-bench-small-'));
    this.n = 0;
    this.current = undefined;
  }

  /** Mounts a new file system; returns an empty output directory on it. */
  async next() {
    const { bins } = this;
    if (process.getuid?.() !== 0 || !bins['mkfs.ext4'] || !bins.mount || !bins.umount)
      throw new HarnessError(
        'the small row needs root, mkfs.ext4 (e2fsprogs) and mount to give each run a new file system',
      );
    const n = ++this.n;
    const image = path.join(this.parent, `fs-${n}.img`);
    const mnt = path.join(this.parent, `mnt-${n}`);
    mkdirSync(mnt);
    this.current = { image, mnt, mounted: false };
    try {
      const fd = openSync(image, 'wx');
      ftruncateSync(fd, IMAGE_BYTES);
      closeSync(fd);
      await capture([bins['mkfs.ext4'], '-q', '-F', image], 60_000);
      await capture([bins.mount, '-o', 'loop,noinit_itable', image, mnt], 60_000);
      this.current.mounted = true;
      // Nothing dirty anywhere when the run starts: the write-back of what earlier runs and
      // sections left (the image just unmounted, deleted trees) is not charged to this run.
      await capture(['sync'], 120_000);
    } catch (error) {
      await this.release();
      throw new HarnessError(`cannot make the run's file system: ${error.message}`);
    }
    const out = path.join(mnt, 'out');
    mkdirSync(out);
    return out;
  }

  /** Unmounts and removes the current file system (also after a failed run). */
  async release() {
    const c = this.current;
    this.current = undefined;
    if (c === undefined) return;
    if (c.mounted) await capture([this.bins.umount, c.mnt], 120_000);
    rmSync(c.image, { force: true });
    rmSync(c.mnt, { recursive: true, force: true });
  }

  async removeAll() {
    await this.release();
    rmSync(this.parent, { recursive: true, force: true });
  }
}

/** Room for 1,000 × 4 KiB and more (sparse: only what is written takes space). */
const IMAGE_BYTES = 256 * 1024 * 1024;

export async function runBatch(ctx) {
  const outputs = new FreshFileSystems(ctx.bins);
  try {
    return await measureBatch(ctx, outputs);
  } finally {
    await outputs.removeAll();
  }
}

async function measureBatch(ctx, outputs) {
  const { bins, fixtures, profile } = ctx;
  const names = fixtures.smallNames;
  const total = names.length * profile.smallSize;
  const rows = [];
  let out = '';
  const check = (name) => {
    const t = treeBytes(out);
    if (t.files !== names.length || t.bytes !== total)
      throw new CorruptError(
        `${name}: got ${t.files} files / ${t.bytes} B, expected ${names.length} / ${total}`,
      );
  };
  // Generous: a client that opens a connection per file against a server that forks per
  // connection pays a process start-up per file.
  const timeoutMs = 60_000 + names.length * 500;
  const nginx = ctx.servers.nginx;
  if (nginx && bins.curl) {
    rows.push(
      await measureRow(
        ctx,
        { label: `curl, ${names.length} URLs`, tool: 'peer', metric: 'MBps' },
        async () => {
          out = await outputs.next();
          try {
            const urls = names.map((n) => `http://127.0.0.1:${nginx.port}/${n}`);
            const argv = [bins.curl, '-sS', '--remote-name-all', '--output-dir', out, ...urls];
            const r = await runTimed(argv, { scratch: fixtures.scratch, timeoutMs });
            checkExit('curl', r);
            check('curl');
            return { ...clientFigures(r, total), requests: names.length };
          } finally {
            await outputs.release();
          }
        },
        { server: nginx },
      ),
    );
  } else rows.push(ctx.missing('curl', 'peer', undefined, 'nginx'));
  for (const [label, key] of ctx.ftModels) {
    const server = ctx.servers[key];
    if (server === undefined) {
      rows.push(ctx.missing(label, 'ft', undefined, key));
      continue;
    }
    rows.push(
      await measureRow(
        ctx,
        { label: `${label}, one ftget`, tool: 'ft', metric: 'MBps' },
        async () => {
          out = await outputs.next();
          try {
            const r = await runTimed(ctx.ftget(['get', ...names, '-o', out], server), {
              scratch: fixtures.scratch,
              timeoutMs,
            });
            checkExit('ftget', r);
            check('ftget');
            return { ...clientFigures(r, total), requests: names.length };
          } finally {
            await outputs.release();
          }
        },
        { server },
      ),
    );
  }
  return {
    id: 'small',
    title: TITLE_BATCH,
    rows,
    note: `${names.length} files of ${profile.smallSize} B; one client process fetches them all`,
  };
}

/**
 * One load-generator run against a server; returns figures with `requests` (and `resumed`, the
 * TLS connections that resumed a session). `extra` is added to its configuration (e.g. `tls`).
 */
export async function loadGen(ctx, proto, server, concurrency, extra = {}) {
  const { fixtures, profile } = ctx;
  const cfg = {
    proto,
    host: '127.0.0.1',
    port: server.port,
    paths: fixtures.smallNames,
    concurrency,
    mode: 'rps',
    durationS: profile.rpsDurationS,
    ...extra,
  };
  const r = await runTimed([process.execPath, LOAD_GEN, JSON.stringify(cfg)], {
    stdout: 'pipe',
    scratch: fixtures.scratch,
    timeoutMs: (profile.rpsDurationS + 60) * 1000,
  });
  checkExit('load generator', r);
  const s = JSON.parse(r.stdout.trim().split('\n').at(-1));
  if (s.requests === 0) throw new Error(`no request succeeded: ${JSON.stringify(s.errorKinds)}`);
  return {
    wallS: s.elapsedS,
    requests: s.requests,
    bytes: s.bytes,
    errors: s.errors,
    errorKinds: s.errorKinds,
    resumed: s.resumed,
    firstByteP50Ms: s.firstByteP50Ms,
    clientCpuS: r.cpuS,
    clientRssBytes: r.maxRssBytes,
  };
}

async function ab(ctx, server, concurrency) {
  const { bins, fixtures, profile } = ctx;
  const url = `http://127.0.0.1:${server.port}/${fixtures.smallNames[0]}`;
  const argv = [
    bins.ab,
    '-q',
    '-r',
    '-s',
    '10',
    '-t',
    String(profile.rpsDurationS),
    '-n',
    '5000000',
  ];
  const r = await runTimed([...argv, '-c', String(concurrency), url], {
    stdout: 'pipe',
    scratch: fixtures.scratch,
    timeoutMs: (profile.rpsDurationS + 60) * 1000,
  });
  checkExit('ab', r);
  const complete = Number(/Complete requests:\s+(\d+)/.exec(r.stdout)?.[1]);
  const seconds = Number(/Time taken for tests:\s+([\d.]+)/.exec(r.stdout)?.[1]);
  const failed = Number(/Failed requests:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
  if (!(complete > 0 && seconds > 0)) throw new Error('could not parse ab output');
  return {
    wallS: seconds,
    requests: complete - failed,
    errors: failed,
    clientCpuS: r.cpuS,
    clientRssBytes: r.maxRssBytes,
  };
}

export async function runRps(ctx) {
  const rows = [];
  const nginx = ctx.servers.nginx;
  for (const c of ctx.profile.rpsConcurrency) {
    const group = `${c} concurrent client${c === 1 ? '' : 's'}`;
    const opts = { warmup: ctx.profile.rpsWarmup };
    if (nginx) {
      rows.push(
        await measureRow(
          ctx,
          { label: 'nginx, load generator (HTTP)', tool: 'peer', group, metric: 'rps' },
          () => loadGen(ctx, 'http', nginx, c),
          { ...opts, server: nginx },
        ),
      );
      if (ctx.bins.ab)
        rows.push(
          await measureRow(
            ctx,
            { label: 'nginx, ab', tool: 'peer', group, metric: 'rps' },
            () => ab(ctx, nginx, c),
            { ...opts, server: nginx },
          ),
        );
    } else rows.push(ctx.missing('nginx', 'peer', group, 'nginx'));
    for (const [label, key] of ctx.ftModels) {
      const server = ctx.servers[key];
      if (server === undefined) {
        rows.push(ctx.missing(label, 'ft', group, key));
        continue;
      }
      rows.push(
        await measureRow(
          ctx,
          { label: `${label}, load generator`, tool: 'ft', group, metric: 'rps' },
          () => loadGen(ctx, 'ft', server, c),
          { ...opts, server },
        ),
      );
    }
  }
  return {
    id: 'rps',
    title: TITLE_RPS,
    rows,
    note: `each run lasts ${ctx.profile.rpsDurationS} s; the load generator is one Node process (its CPU is the client column); failed requests (e.g. BUSY) are not counted`,
  };
}
