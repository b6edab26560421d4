/**
 * Pure formatting of progress figures and lines: 3 significant digits, binary units, ETA, and
 * fitting a line into the terminal width (the label is shortened first, never the numbers).
 */

/** A positive number with 3 significant digits: 196.926 → "197", 1.3734 → "1.37". */
export function sig3(value: number): string {
  if (!Number.isFinite(value) || value <= 0) return '0';
  if (value >= 99.95) return String(Math.round(value));
  if (value >= 9.995) return value.toFixed(1);
  if (value >= 0.9995) return value.toFixed(2);
  return value.toFixed(3);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** 1536 → "1.50 KiB", 197 → "197 B": binary units, at most 3 significant digits (4 at ≥ 1000 B). */
export function humanBytes(n: number): string {
  if (!Number.isFinite(n) || n < 1000) return `${Math.max(0, Math.round(n || 0))} B`;
  let value = n;
  let unit = 0;
  while (value >= 999.5 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${sig3(value)} ${UNITS[unit]}`;
}

/** A rate in bytes per second: "197 MiB/s". */
export function humanRate(bytesPerSecond: number): string {
  return `${humanBytes(bytesPerSecond)}/s`;
}

/** Seconds as m:ss or h:mm:ss; "--:--" when unknown. */
export function formatEta(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  if (s >= 100 * 3600) return '>99h';
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${ss}` : `${m}:${ss}`;
}

/** A duration for summaries: "0.42 s", "12.3 s", "3:07". */
export function formatDuration(ms: number): string {
  const s = ms / 1000;
  return s < 100 ? `${sig3(s)} s` : formatEta(s);
}

/** Shortens `text` to `width` characters, keeping its end (the file name): "…/2024/a.jpg". */
export function shortenStart(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 0) return '';
  return `…${chars.slice(chars.length - width + 1).join('')}`;
}

const MIN_BAR = 6;
const MAX_BAR = 40;
const MIN_LABEL = 8;

/**
 * One progress line in at most `width - 1` columns (the last column would make some terminals
 * wrap): `label ███░░░ numbers`. The numbers are never shortened; the label is shortened
 * first (down to 8 characters), then the bar shrinks and, below 6 cells, is dropped; only on
 * a terminal too narrow for the numbers themselves is the line cut.
 */
export function fitLine(width: number, label: string, fraction: number, numbers: string): string {
  const usable = Math.max(1, width - 1);
  const room = usable - [...numbers].length - 1;
  const labelLength = [...label].length;
  let shown = label;
  let bar = 0;
  if (room >= labelLength + 1 + MIN_BAR) {
    bar = Math.min(MAX_BAR, room - labelLength - 1);
  } else if (room >= MIN_LABEL + 1 + MIN_BAR) {
    shown = shortenStart(label, room - 1 - MIN_BAR);
    bar = MIN_BAR;
  } else {
    shown = shortenStart(label, Math.max(room, 0));
  }
  const parts = [shown];
  if (bar > 0) parts.push(drawBar(bar, fraction));
  parts.push(numbers);
  const line = parts.filter((p) => p !== '').join(' ');
  return [...line].slice(0, usable).join('');
}

function drawBar(cells: number, fraction: number): string {
  const f = Math.min(1, Math.max(0, Number.isFinite(fraction) ? fraction : 0));
  const full = Math.floor(f * cells);
  return '█'.repeat(full) + '░'.repeat(cells - full);
}

/** "68%" (floored, so 100% means done). */
export function percent(done: number, total: number): string {
  if (total <= 0) return '0%';
  return `${Math.floor((Math.min(done, total) / total) * 100)}%`;
}
