/**
 * What a progress display shows, independent of how: the file being downloaded (label, bytes,
 * total, averaged speed, ETA) and, in a batch, the total (files done of all, bytes, overall
 * speed and ETA). Rates count only the bytes moved in this run, never the resumed ones.
 */
import type { DownloadProgress } from '../download-types.js';
import { formatEta, humanBytes, humanRate, percent } from './progress-format.js';
import { RateMeter } from './rate-meter.js';

/** "8.09/28.6 MiB" (one unit when both share it), else "512 KiB/1.37 GiB". */
function ofTotal(done: number, total: number): string {
  const a = humanBytes(done);
  const b = humanBytes(total);
  const unitA = a.slice(a.indexOf(' '));
  return unitA === b.slice(b.indexOf(' ')) ? `${a.slice(0, a.indexOf(' '))}/${b}` : `${a}/${b}`;
}

interface CurrentFile {
  label: string;
  bytes: number;
  total: number;
  resumedFrom: number;
  started: boolean;
}

export class ProgressModel {
  current: CurrentFile | undefined;
  filesDone = 0;
  private fileMeter = new RateMeter();
  private readonly totalMeter = new RateMeter();
  /** Bytes moved in this run by finished files. */
  private movedDone = 0;
  /** Bytes of finished files (whole sizes). */
  private bytesDone = 0;

  /**
   * @param files how many files the batch has
   * @param totalBytes their total size when known up front (-r listings), else undefined
   */
  constructor(
    readonly files: number,
    private readonly totalBytes: number | undefined,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** A new file starts (before anything is known about it). */
  startFile(label: string): void {
    this.current = { label, bytes: 0, total: 0, resumedFrom: 0, started: false };
    this.fileMeter = new RateMeter();
  }

  update(p: DownloadProgress): void {
    const c = this.current;
    if (c === undefined) return;
    c.bytes = p.bytes;
    c.total = p.total;
    c.resumedFrom = p.resumedFrom;
    c.started = c.started || p.total > 0 || p.bytes > 0;
    this.tick();
  }

  /** Feeds the meters with the current figures (also called by a timer, so stalls show). */
  tick(): void {
    const t = this.now();
    const c = this.current;
    const moved = c === undefined ? 0 : Math.max(0, c.bytes - c.resumedFrom);
    this.fileMeter.add(t, moved);
    this.totalMeter.add(t, this.movedDone + moved);
  }

  /** The current file is done (or failed: `size` is what it holds). */
  /** Counts a finished file; `current`: it is the one shown, which then goes. */
  finishFile(size: number, resumedFrom: number, current = true): void {
    this.filesDone++;
    this.movedDone += Math.max(0, size - resumedFrom);
    this.bytesDone += size;
    if (current) this.current = undefined;
  }

  /** The current file's figures: label, fraction, numbers text; undefined before the first file. */
  fileFigures(): { label: string; fraction: number; numbers: string } | undefined {
    const c = this.current;
    if (c === undefined) return undefined;
    if (!c.started) return { label: c.label, fraction: 0, numbers: 'waiting for the server…' };
    const rate = this.fileMeter.rate();
    const eta = rate > 0 ? (c.total - c.bytes) / rate : Number.NaN;
    return {
      label: c.label,
      fraction: c.total > 0 ? c.bytes / c.total : 0,
      numbers: `${percent(c.bytes, c.total).padStart(4)} ${ofTotal(c.bytes, c.total)} ${humanRate(rate)} ETA ${formatEta(eta)}`,
    };
  }

  /** The batch total line's figures. */
  totalFigures(): { label: string; fraction: number; numbers: string } {
    const c = this.current;
    const done = this.bytesDone + (c?.bytes ?? 0);
    const rate = this.totalMeter.rate();
    const files = `${this.filesDone}/${this.files} files`;
    if (this.totalBytes === undefined) {
      return {
        label: 'total',
        fraction: this.files > 0 ? this.filesDone / this.files : 0,
        numbers: `${files} ${humanBytes(done)} ${humanRate(rate)}`,
      };
    }
    const eta = rate > 0 ? (this.totalBytes - done) / rate : Number.NaN;
    return {
      label: 'total',
      fraction: this.totalBytes > 0 ? done / this.totalBytes : this.filesDone / this.files,
      numbers: `${files} ${ofTotal(done, this.totalBytes)} ${humanRate(rate)} ETA ${formatEta(eta)}`,
    };
  }
}
