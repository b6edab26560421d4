/**
 * Progress displays. `bar` (stderr is a terminal): a cli-progress MultiBar (the product card's
 * "oclif, with a cli-progress bar") with the current file's line, plus a total line in a batch,
 * redrawn by cli-progress 10 times a second; the speed is sampled once a second regardless, so a
 * stall shows as a falling speed. `line` (logs): one plain line every few seconds. Both take
 * their figures from ProgressModel.
 */
import type { WriteStream } from 'node:tty';
import cliProgress from 'cli-progress';
import type { DownloadProgress } from '../download-types.js';
import { fitLine } from './progress-format.js';
import { ProgressModel } from './progress-model.js';

/** --progress values. */
export const ProgressMode = { BAR: 'bar', LINE: 'line', NONE: 'none' } as const;
export type ProgressMode = (typeof ProgressMode)[keyof typeof ProgressMode];

/** What run-get drives; also the place messages go through (printAbove). */
export interface ProgressDisplay {
  startFile(label: string): void;
  update(p: DownloadProgress): void;
  /** A file is done; `current`: it is the one shown (else only the totals move). */
  finishFile(size: number, resumedFrom: number, current?: boolean): void;
  /** Writes whole lines of text without mixing them into the display. */
  printAbove(text: string, redraw?: boolean): void;
  stop(): void;
}

const FPS = 10;
const TICK_MS = 1000;
/** How often --progress=line prints. */
export const LINE_INTERVAL_MS = 5000;

const CLEAR_BELOW = '\x1b[J';

/** Which line a cli-progress bar of ours draws. */
interface BarPayload {
  line: 'file' | 'total';
}

export class BarProgress implements ProgressDisplay {
  private readonly model: ProgressModel;
  /** The bars on screen; undefined before the first file and after an error line. */
  private bars: cliProgress.MultiBar | undefined;
  /** The lines last handed to cli-progress, to find them again after the terminal re-wraps them. */
  private drawn: string[] = [];
  /** Set by printAbove: the next redraw clears the bars before writing the message. */
  private clearBeforeLog = false;
  private stopped = false;
  private readonly timer: NodeJS.Timeout;
  private readonly onResize = (): void => this.resized();

  constructor(
    private readonly stream: WriteStream,
    files: number,
    totalBytes: number | undefined,
  ) {
    this.model = new ProgressModel(files, totalBytes);
    this.timer = setInterval(() => this.model.tick(), TICK_MS);
    this.timer.unref();
    stream.on('resize', this.onResize);
  }

  startFile(label: string): void {
    this.model.startFile(label);
    if (!this.show()) this.bars?.update();
  }

  update(p: DownloadProgress): void {
    this.model.update(p);
    this.show();
  }

  finishFile(size: number, resumedFrom: number, current = true): void {
    this.model.finishFile(size, resumedFrom, current);
  }

  /**
   * Through MultiBar.log(), which writes the text where the bars were and redraws them below.
   * log() itself clears only the first bar line, so a 'redraw-pre' listener clears them all
   * first (no piece of the total line is left beside a message). `redraw` false (an error): the
   * bars are stopped and come back with the next file's progress.
   */
  printAbove(text: string, redraw = true): void {
    const bars = this.bars;
    if (bars === undefined) {
      this.stream.write(text);
    } else if (!redraw) {
      this.hide();
      this.stream.write(text);
    } else {
      this.clearBeforeLog = true;
      bars.log(text);
      bars.update();
    }
  }

  stop(): void {
    this.stopped = true;
    clearInterval(this.timer);
    this.stream.removeListener('resize', this.onResize);
    this.hide();
  }

  /** Puts the bars on screen if they are not; true if it did (and drew them). */
  private show(): boolean {
    if (this.bars !== undefined || this.stopped) return false;
    const bars = new cliProgress.MultiBar({
      stream: this.stream,
      fps: FPS,
      // The line is fitted by fitLine (label shortened first, never the numbers) to the width
      // cli-progress reads from the stream's `columns` at each render, so it follows SIGWINCH.
      format: (_options, params, payload: BarPayload) => this.line(payload.line, params.maxWidth),
      hideCursor: true,
      clearOnComplete: true,
      // Wrapping stays on: the bar lines are already narrower than the terminal, and with
      // DECAWM off a long message (or a crash before stop()) would be cut at the right edge.
      linewrap: true,
      // Every render rewrites the lines even if unchanged: the lines must come back after
      // printAbove and resized cleared them.
      forceRedraw: true,
      // Signals are ftget's (interrupts.ts): it stops the display, then dies by the signal.
      gracefulExit: false,
    });
    bars.on('redraw-pre', () => {
      if (!this.clearBeforeLog) return;
      this.clearBeforeLog = false;
      this.stream.write(CLEAR_BELOW);
    });
    bars.create(1, 0, { line: 'file' } satisfies BarPayload);
    if (this.model.files > 1) bars.create(1, 0, { line: 'total' } satisfies BarPayload);
    this.bars = bars;
    bars.update();
    return true;
  }

  /** Stops cli-progress (it clears the lines and shows the cursor again). */
  private hide(): void {
    this.bars?.stop();
    this.bars = undefined;
    this.drawn = [];
  }

  private line(which: BarPayload['line'], width: number): string {
    const figures = which === 'file' ? this.model.fileFigures() : this.model.totalFigures();
    const text =
      figures === undefined ? '' : fitLine(width, figures.label, figures.fraction, figures.numbers);
    this.drawn[which === 'file' ? 0 : 1] = text;
    return text;
  }

  /**
   * After a resize. cli-progress goes back up one row per bar line, but a terminal that
   * narrowed re-wrapped the lines drawn at the old width onto more rows (tmux, VTE do), which
   * would leave their first rows behind. So: up to the first of those rows, clear, and down
   * again to the row cli-progress believes it is on; then redraw at the new width at once.
   */
  private resized(): void {
    const bars = this.bars;
    if (bars === undefined) return;
    const width = this.stream.columns > 0 ? this.stream.columns : 80;
    const lines = this.drawn.filter((l) => l !== undefined);
    const rows = lines.reduce((n, l) => n + Math.max(1, Math.ceil([...l].length / width)), 0);
    let out = '\r';
    if (rows > 1) out += `\x1b[${rows - 1}A`;
    out += CLEAR_BELOW;
    if (lines.length > 1) out += `\x1b[${lines.length - 1}B`;
    this.stream.write(out);
    bars.update();
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

  finishFile(size: number, resumedFrom: number, current = true): void {
    this.model.finishFile(size, resumedFrom, current);
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
