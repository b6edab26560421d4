/**
 * What `ftget get` tells people while it runs (stderr): the progress display chosen by
 * --progress, `resuming at 1.37 GiB of 2.00 GiB (68%)` when a partial is continued, retry
 * lines, and one summary per file that counts the bytes moved in this run apart from those
 * already there. --quiet silences all of it but errors.
 */
import type { WriteStream } from 'node:tty';
import { relative } from 'node:path';
import type { DownloadProgress, DownloadResult } from '../download-types.js';
import type { RetryNotice } from '../retry.js';
import { setVerboseSink } from '../verbose-log.js';
import { BarProgress, LineProgress, ProgressMode } from './progress-bars.js';
import type { ProgressDisplay } from './progress-bars.js';
import { formatDuration, humanBytes, humanRate, percent } from './progress-format.js';
import { reportNote, reportWarning, routeMessagesThrough } from './report.js';
import { retryLine } from './retry-notice.js';

export interface ReporterOptions {
  quiet: boolean;
  json: boolean;
  /** --progress, if given. */
  progress: ProgressMode | undefined;
  files: number;
  /** Sum of the file sizes when known up front (-r listings). */
  totalBytes: number | undefined;
  /** --verbose: connections, addresses, resume decisions, digests. */
  verbose?: boolean;
  /** Directory the labels are relative to ('.' by default). */
  labelBase: string;
  /** Every output is stdout. */
  toStdout: boolean;
}

/** The progress mode: --progress if given, else a bar on a terminal and nothing otherwise. */
export function progressModeFor(o: ReporterOptions): ProgressMode {
  if (o.quiet) return ProgressMode.NONE;
  if (o.progress !== undefined) return o.progress;
  if (o.json || o.toStdout) return ProgressMode.NONE;
  return process.stderr.isTTY ? ProgressMode.BAR : ProgressMode.NONE;
}

export class GetReporter {
  readonly display: ProgressDisplay | undefined;
  /** The output shown (the file started last): several may be in flight at once. */
  private currentOutput: string | undefined;
  /** Outputs in flight whose first progress (and resume note) was seen. */
  private readonly resumeShown = new Set<string>();

  constructor(private readonly o: ReporterOptions) {
    const mode = progressModeFor(o);
    if (mode === ProgressMode.BAR && process.stderr.isTTY)
      this.display = new BarProgress(process.stderr as WriteStream, o.files, o.totalBytes);
    else if (mode !== ProgressMode.NONE)
      this.display = new LineProgress(process.stderr, o.files, o.totalBytes);
    routeMessagesThrough(this.display);
    if (o.verbose === true) setVerboseSink((line) => reportNote(`verbose: ${line}`));
  }

  /** The name shown for an output: its path relative to the download's root. */
  labelOf(output: string): string {
    if (output === '-') return 'stdout';
    const rel = relative(this.o.labelBase, output);
    return rel === '' || rel.startsWith('..') ? output : rel;
  }

  startFile(output: string): void {
    this.currentOutput = output;
    this.display?.startFile(this.labelOf(output));
  }

  readonly onProgress = (p: DownloadProgress): void => {
    if (!this.resumeShown.has(p.path) && p.total > 0) {
      this.resumeShown.add(p.path);
      const label = this.labelOf(p.path);
      if (this.o.verbose === true && (p.resumedFrom === 0 || p.resumedFrom >= p.total))
        this.note(
          label,
          p.resumedFrom === 0
            ? `starting at 0 of ${humanBytes(p.total)}`
            : 'the local data is complete; checking it',
        );
      if (!this.o.quiet && p.resumedFrom > 0 && p.resumedFrom < p.total)
        reportNote(
          `${label}: resuming at ${humanBytes(p.resumedFrom)} of ${humanBytes(p.total)} (${percent(p.resumedFrom, p.total)})`,
        );
    }
    // The bar shows the file started last; the others count in the total once done.
    if (p.path === this.currentOutput) this.display?.update(p);
  };

  /** A retry of the download to `output` (several may be in flight). */
  retried(output: string, notice: RetryNotice): void {
    if (!this.o.quiet) reportNote(`${this.labelOf(output)}: ${retryLine(notice)}`);
  }

  readonly onWarning = (message: string): void => {
    if (!this.o.quiet) reportWarning(message);
  };

  /** A file is done: the summary line (not with --quiet or --json). */
  fileDone(r: DownloadResult): void {
    this.resumeShown.delete(r.path);
    this.display?.finishFile(r.bytes, r.resumedFrom, r.path === this.currentOutput);
    if (r.path === this.currentOutput) this.currentOutput = undefined;
    // Several files may be in flight at once: name the one that finished, not the last started.
    const label = this.labelOf(r.path);
    if (this.o.verbose === true)
      this.note(
        label,
        `verified against root digest sha256-chunks:${r.digest} (${r.attempts} attempt${r.attempts === 1 ? '' : 's'})`,
      );
    if (this.o.quiet || this.o.json || r.path === '-') return;
    if (r.alreadyComplete) {
      reportNote(`${label}: already complete`);
      return;
    }
    const moved = r.bytes - r.resumedFrom;
    const rate = r.durationMs > 0 ? humanRate((moved / r.durationMs) * 1000) : '';
    let text = `${label}: ${humanBytes(r.bytes)} in ${formatDuration(r.durationMs)}`;
    if (rate !== '') text += ` (${rate})`;
    if (r.resumedFrom > 0)
      text += `; ${humanBytes(moved)} moved in this run, ${humanBytes(r.resumedFrom)} were already there`;
    reportNote(text);
  }

  /** A --verbose line about a file. */
  private note(label: string, text: string): void {
    reportNote(`verbose: ${label}: ${text}`);
  }

  /** A file failed (its error is reported by the caller). */
  fileFailed(output: string): void {
    this.resumeShown.delete(output);
    this.display?.finishFile(0, 0, output === this.currentOutput);
    if (output === this.currentOutput) this.currentOutput = undefined;
  }

  stop(): void {
    this.display?.stop();
    routeMessagesThrough(undefined);
    setVerboseSink(undefined);
  }
}
