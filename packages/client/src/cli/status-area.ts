/**
 * The lines at the bottom of a terminal that a progress display redraws in place. Everything
 * else written to the same terminal (warnings, errors, summaries) goes through printAbove(),
 * which clears the area first and draws it again below the message, so a message never ends
 * up drawn over a bar. The area follows the terminal's width (SIGWINCH, seen as 'resize').
 */
import type { WriteStream } from 'node:tty';

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const CLEAR_LINE = '\x1b[2K';
const CLEAR_BELOW = '\x1b[J';

export class StatusArea {
  /** Lengths of the status lines now on screen; the cursor sits at the end of the last one. */
  private drawn: number[] = [];
  private closed = false;
  private readonly onResize = (): void => this.redraw();

  /** `render(width)` gives the lines to show at that width. */
  constructor(
    private readonly stream: WriteStream,
    private readonly render: (width: number) => string[],
  ) {
    stream.on('resize', this.onResize);
  }

  /** Current terminal width (80 when the terminal does not say). */
  get width(): number {
    return this.stream.columns > 0 ? this.stream.columns : 80;
  }

  /** Draws the current lines in place of the previous ones. */
  redraw(): void {
    if (this.closed) return;
    const lines = this.render(this.width);
    let out = this.drawn.length === 0 ? HIDE_CURSOR : this.home();
    out += lines.map((l) => CLEAR_LINE + l).join('\n');
    out += CLEAR_BELOW;
    this.drawn = lines.map((l) => [...l].length);
    this.stream.write(out);
  }

  /** Removes the status lines from the screen (they come back with the next redraw). */
  clear(): void {
    if (this.drawn.length === 0) return;
    this.stream.write(this.home() + CLEAR_BELOW + SHOW_CURSOR);
    this.drawn = [];
  }

  /** Writes `text` (whole lines) where the status lines were; redraws them below unless told not to. */
  printAbove(text: string, redraw = true): void {
    const had = this.drawn.length > 0;
    this.clear();
    this.stream.write(text);
    if (redraw && had) this.redraw();
  }

  /** Clears the lines for good and shows the cursor again. */
  close(): void {
    this.clear();
    this.closed = true;
    this.stream.removeListener('resize', this.onResize);
  }

  /**
   * Back to the start of the first status line. Each line was drawn narrower than the terminal;
   * if the terminal has since become narrower, it re-wrapped them onto more rows.
   */
  private home(): string {
    const width = this.width;
    const rows = this.drawn.reduce((n, length) => n + Math.max(1, Math.ceil(length / width)), 0);
    return rows > 1 ? `\r\x1b[${rows - 1}A` : '\r';
  }
}
