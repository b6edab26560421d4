/** The throughput-vs-loss chart of the loss section, as SVG (undefined when nothing to plot). */
import { summarize } from './report.mjs';
import { lossPlotSvg } from './svg-plot.mjs';

export function lossChart(report) {
  const section = report.sections.find((s) => s.id === 'loss');
  if (section === undefined) return undefined;
  const byLabel = new Map();
  for (const row of section.rows) {
    if (row.unavailable !== undefined || row.loss === undefined) continue;
    const s = summarize(row);
    const points = byLabel.get(row.label) ?? [];
    points.push({ x: row.loss, y: s.primary, cut: s.cut || s.gaveUp });
    byLabel.set(row.label, points);
  }
  if (byLabel.size === 0) return undefined;
  const series = [...byLabel].map(([label, points]) => ({ label, points }));
  return lossPlotSvg({
    title: `Throughput vs packet loss (${report.profileName} run, ${report.startedAt.slice(0, 10)})`,
    series,
  });
}
