/**
 * Progress displays. `bar` (stderr is a terminal): the current file's bar, plus a total line
 * in a batch, redrawn in place at most 10 times a second and once a second regardless (so a
 * stall shows as a falling speed). `line` (logs): one plain line every few seconds. Both take
 * their figures from ProgressModel.
 */
import type { WriteStream } from 'node:tty';
import type { DownloadProgress } from '../download-types.js';
import { fitLine } from './progress-format.js';
import { ProgressModel } from './progress-model.js';
import { StatusArea } from './status-area.js';

/** --progress values. */
export const ProgressMode = { BAR: 'bar', LINE: 'line', NONE: 'none' } as const;
export type ProgressMode = (typeof ProgressMode)[keyof typeof ProgressMode];

/** What run-get drives; also the place messages go through (printAbove). */
export interface ProgressDisplay {
  startFile(label: string): void;
  update(p: DownloadProgress): void;
  finishFile(size: number, resumedFrom: number): void;
  /** Writes whole lines of text without mixing them into the display. */
  printAbove(text: string, redraw?: boolean): void;
  stop(): void;
}

const REDRAW_MS = 100;
const TICK_MS = 1000;
/** How often --progress=line prints. */
export const LINE_INTERVAL_MS = 5000;

export class BarProgress implements ProgressDisplay {
  private readonly model: ProgressModel;
  private readonly area: StatusArea;
  private lastDraw = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(stream: WriteStream, files: number, totalBytes: number | undefined) {
    this.model = new ProgressModel(files, totalBytes);
    this.area = new StatusArea(stream, (width) => this.lines(width));
    this.timer = setInterval(() => {
      this.model.tick();
      this.draw();
    }, TICK_MS);
    this.timer.unref();
  }

  startFile(label: string): void {
    this.model.startFile(label);
    this.draw();
  }

  update(p: DownloadProgress): void {
    this.model.update(p);
    if (performance.now() - this.lastDraw >= REDRAW_MS) this.draw();
  }

  finishFile(size: number, resumedFrom: number): void {
    this.model.finishFile(size, resumedFrom);
  }

  printAbove(text: string, redraw = true): void {
    this.area.printAbove(text, redraw);
  }

  stop(): void {
    clearInterval(this.timer);
    this.area.close();
  }

  private draw(): void {
    this.lastDraw = performance.now();
    this.area.redraw();
  }

  private lines(width: number): string[] {
    const lines: string[] = [];
    const file = this.model.fileFigures();
    if (file !== undefined) lines.push(fitLine(width, file.label, file.fraction, file.numbers));
    if (this.model.files > 1) {
      const total = this.model.totalFigures();
      lines.push(fitLine(width, total.label, total.fraction, total.numbers));
    }
    return lines;
  }
}

export class LineProgress implements ProgressDisplay {
  private readonly model: ProgressModel;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly stream: NodeJS.WritableStream,
    files: number,
    totalBytes: number | undefined,
  ) {
    this.model = new ProgressModel(files, totalBytes);
    this.timer = setInterval(() => this.print(), LINE_INTERVAL_MS);
    this.timer.unref();
  }

  startFile(label: string): void {
    this.model.startFile(label);
  }

  update(p: DownloadProgress): void {
    this.model.update(p);
  }

  finishFile(size: number, resumedFrom: number): void {
    this.model.finishFile(size, resumedFrom);
  }

  printAbove(text: string): void {
    this.stream.write(text);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private print(): void {
    this.model.tick();
    const file = this.model.fileFigures();
    if (file === undefined) return;
    let text = `ftget: ${file.label}: ${file.numbers.trim().replace(/ +/g, ' ')}`;
    if (this.model.files > 1)
      text += ` (total ${this.model.totalFigures().numbers.trim().replace(/ +/g, ' ')})`;
    this.stream.write(`${text}\n`);
  }
}
