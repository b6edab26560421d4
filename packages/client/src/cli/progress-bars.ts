/**
 * Progress bars on stderr (only used when stderr is a TTY): one bar per file, each starting
 * at the file's resume offset, with bytes done/total, percent, speed and ETA.
 */
import cliProgress from 'cli-progress';
import { basename } from 'node:path';
import type { DownloadProgress } from '../download-types.js';
import { humanBytes } from './report.js';

export class ProgressBars {
  private readonly multi = new cliProgress.MultiBar(
    {
      format: ' {file} |{bar}| {percentage}% {done}/{size} {speed} ETA {eta_formatted}',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  private readonly bars = new Map<
    string,
    { bar: cliProgress.SingleBar; start: number; from: number }
  >();

  update(p: DownloadProgress): void {
    let entry = this.bars.get(p.path);
    const payload = (bytes: number, elapsed: number) => ({
      file: basename(p.path),
      done: humanBytes(bytes),
      size: humanBytes(p.total),
      speed:
        elapsed > 0 ? `${humanBytes(((bytes - (entry?.from ?? bytes)) / elapsed) * 1000)}/s` : '',
    });
    if (entry === undefined) {
      if (p.total === 0 && p.bytes === 0) return;
      entry = {
        bar: this.multi.create(p.total, p.resumedFrom, payload(p.resumedFrom, 0)),
        start: performance.now(),
        from: p.resumedFrom,
      };
      this.bars.set(p.path, entry);
    }
    entry.bar.setTotal(p.total);
    entry.bar.update(p.bytes, payload(p.bytes, performance.now() - entry.start));
  }

  stop(): void {
    this.multi.stop();
  }
}
