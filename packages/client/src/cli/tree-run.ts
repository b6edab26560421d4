/**
 * The tree half of `ftget get -r`: before each file, the re-run rules (tree-sync.ts); after the
 * last one, symlinks (tree-links.ts), --delete (tree-delete.ts), directory mtimes
 * (tree-times.ts) and the manifests. run-get.ts calls it around its download loop.
 */
import type { DownloadResult } from '../download-types.js';
import type { DownloadSession } from '../session.js';
import { stat } from '../stat.js';
import type { TransportKind } from '../udp/transport.js';
import type { Job, Plan } from './plan.js';
import { deleteVanished } from './tree-delete.js';
import { makeLinks } from './tree-links.js';
import { TreeSync } from './tree-sync.js';
import type { Decision, TreeFile } from './tree-sync.js';
import { keepDirectoryTimes } from './tree-times.js';
import type { TreeFilter } from './tree-filter.js';

export interface TreeRunFlags {
  checksum: boolean;
  update: boolean;
  force: boolean;
  delete: boolean;
  preserveMtime: boolean;
  stallTimeoutMs: number;
  transport: TransportKind | undefined;
  /** --include/--exclude: --delete leaves excluded local entries alone, as rsync does. */
  filter: TreeFilter;
}

function treeFile(job: Job): TreeFile | undefined {
  return job.tree === undefined
    ? undefined
    : { remote: job.remote, output: job.output, ...job.tree };
}

/** One `get -r` run's tree work; see the module comment. */
export class TreeRun {
  /** Files found up to date (nothing fetched). */
  upToDate = 0;

  private constructor(
    private readonly plan: Plan,
    private readonly flags: TreeRunFlags,
    private readonly sync: TreeSync,
  ) {}

  /** Reads the trees' manifests; undefined when the plan has no tree (no -r). */
  static async start(
    plan: Plan,
    flags: TreeRunFlags,
    session: DownloadSession,
    signal: AbortSignal,
  ): Promise<TreeRun | undefined> {
    if (plan.trees.length === 0) return undefined;
    const sync = new TreeSync({
      ...flags,
      session,
      signal,
      timeoutMs: flags.stallTimeoutMs,
    });
    for (const tree of plan.trees) await sync.addTree(tree.path, tree.remote.path);
    return new TreeRun(plan, flags, sync);
  }

  /** What to do with a job's file: download it (replacing what is there?), skip it, or refuse. */
  async decide(job: Job): Promise<Decision> {
    const file = treeFile(job);
    if (file === undefined) return { kind: 'download', replace: false };
    const decision = await this.sync.decide(file);
    if (decision.kind === 'up-to-date') this.upToDate++;
    return decision;
  }

  /** Records a file just downloaded. */
  async written(job: Job, result: DownloadResult): Promise<void> {
    const file = treeFile(job);
    if (file !== undefined) await this.sync.written(file, result.validator);
  }

  /** After the downloads: links, --delete, manifests, directory times. */
  async finish(onNotice: ((message: string) => void) | undefined): Promise<void> {
    const notice = onNotice ?? (() => {});
    await makeLinks(this.plan.links, notice);
    if (this.flags.delete) {
      for (const tree of this.plan.trees) {
        await deleteVanished(
          tree.path,
          tree.entries,
          (path) => notice(`deleted ${path}`),
          (rel, isDirectory) => !this.flags.filter.includes(rel, isDirectory),
        );
      }
    }
    // The manifest's rename touches the root directory: write it before the directory times.
    await this.sync.save();
    if (this.flags.preserveMtime) {
      await keepDirectoryTimes(this.plan.directoryTimes, this.plan.trees, async (remote) => {
        // A tree root whose STAT fails keeps its local time: not worth failing the run for.
        const st = await stat({
          remote,
          wantDigest: false,
          timeoutMs: this.flags.stallTimeoutMs,
        }).catch(() => undefined);
        return st?.mtimeMs;
      });
    }
  }
}
