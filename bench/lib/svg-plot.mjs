/**
 * A dependency-free SVG line chart: throughput (log scale) against packet loss, one line per
 * tool. Written by the bench itself so the plot always matches the run it comes from.
 */

const COLORS = ['#d62728', '#1f77b4', '#2ca02c', '#9467bd', '#ff7f0e', '#8c564b', '#17becf'];
const W = 880;
const H = 420;
const M = { left: 70, right: 340, top: 40, bottom: 50 };

function esc(s) {
  return String(s).replace(
    /[<>&"]/g,
    (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c],
  );
}

/**
 * @param {{title: string, series: {label: string, points: {x: number, y: number|null, cut?: boolean}[]}[]}} chart
 *   x = loss in %, y = MB/s
 */
export function lossPlotSvg(chart) {
  const xs = chart.series.flatMap((s) => s.points.map((p) => p.x));
  const ys = chart.series
    .flatMap((s) => s.points.map((p) => p.y))
    .filter((y) => y !== null && y > 0);
  const xMax = Math.max(1, ...xs);
  const lo = Math.floor(Math.log10(Math.min(...ys, 1)));
  const hi = Math.ceil(Math.log10(Math.max(...ys, 10)));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const px = (x) => M.left + (x / xMax) * pw;
  const py = (y) => M.top + ph - ((Math.log10(y) - lo) / Math.max(1, hi - lo)) * ph;
  const parts = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${M.left + pw / 2}" y="22" text-anchor="middle" font-size="14">${esc(chart.title)}</text>`,
  );
  for (let e = lo; e <= hi; e++) {
    const y = py(10 ** e);
    parts.push(
      `<line x1="${M.left}" y1="${y}" x2="${M.left + pw}" y2="${y}" stroke="#ddd"/>`,
      `<text x="${M.left - 6}" y="${y + 4}" text-anchor="end">${10 ** e >= 1 ? 10 ** e : (10 ** e).toPrecision(1)}</text>`,
    );
  }
  for (const x of [...new Set(xs)].sort((a, b) => a - b)) {
    parts.push(
      `<line x1="${px(x)}" y1="${M.top}" x2="${px(x)}" y2="${M.top + ph}" stroke="#eee"/>`,
      `<text x="${px(x)}" y="${M.top + ph + 18}" text-anchor="middle">${x}%</text>`,
    );
  }
  parts.push(
    `<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`,
    `<text x="${M.left + pw / 2}" y="${H - 10}" text-anchor="middle">packet loss (each direction)</text>`,
    `<text transform="translate(18 ${M.top + ph / 2}) rotate(-90)" text-anchor="middle">MB/s (log scale)</text>`,
  );
  chart.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const pts = s.points.filter((p) => p.y !== null && p.y > 0).sort((a, b) => a.x - b.x);
    if (pts.length > 1)
      parts.push(
        `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map((p) => `${px(p.x).toFixed(1)},${py(p.y).toFixed(1)}`).join(' ')}"/>`,
      );
    for (const p of pts) {
      // A hollow marker: the transfer was cut, the true figure is at most this.
      const fill = p.cut ? 'white' : color;
      parts.push(
        `<circle cx="${px(p.x).toFixed(1)}" cy="${py(p.y).toFixed(1)}" r="4" fill="${fill}" stroke="${color}" stroke-width="2"/>`,
      );
    }
    const ly = M.top + 10 + i * 20;
    parts.push(
      `<line x1="${M.left + pw + 15}" y1="${ly}" x2="${M.left + pw + 35}" y2="${ly}" stroke="${color}" stroke-width="2"/>`,
      `<text x="${M.left + pw + 40}" y="${ly + 4}">${esc(s.label)}</text>`,
    );
  });
  const ny = M.top + 10 + chart.series.length * 20 + 10;
  parts.push(
    `<text x="${M.left + pw + 15}" y="${ny}" fill="#555">hollow: incomplete (cut at the time cap or gave up)</text>`,
  );
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
