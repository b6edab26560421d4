/** Small statistics and number formatting for the benchmark tables. */

export function median(xs) {
  const v = xs.filter((x) => x !== null && Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = Math.floor(v.length / 2);
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

export function range(xs) {
  const v = xs.filter((x) => x !== null && Number.isFinite(x));
  if (v.length === 0) return null;
  return [Math.min(...v), Math.max(...v)];
}

/** Formats with about 3 significant digits, e.g. 0.0123, 1.23, 123, 1,234. */
export function fmt(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return '–';
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString('en-US');
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  if (a >= 1) return x.toFixed(2);
  if (a === 0) return '0';
  return x.toPrecision(2);
}

/** "median (min–max)", or just the median for a single run. */
export function fmtSpread(xs) {
  const m = median(xs);
  const r = range(xs);
  if (m === null || r === null) return '–';
  if (xs.length < 2 || r[0] === r[1]) return fmt(m);
  return `${fmt(m)} (${fmt(r[0])}–${fmt(r[1])})`;
}

export const MB = 1e6;
export const MiB = 1024 * 1024;

export function fmtBytes(n) {
  if (n >= 1024 * MiB) return `${fmt(n / (1024 * MiB))} GiB`;
  if (n >= MiB) return `${fmt(n / MiB)} MiB`;
  if (n >= 1024) return `${fmt(n / 1024)} KiB`;
  return `${n} B`;
}
