/**
 * Turns measured rows into summaries, a console table, a markdown report (the block that
 * docs/BENCHMARKS.md embeds) and the JSON of record.
 */
import { MiB, fmt, fmtSpread, median } from './stats.mjs';
import { primary } from './measure.mjs';

/** Median figures of one row. */
export function summarize(row) {
  const runs = row.runs;
  const pick = (f) =>
    runs.map(f).filter((x) => x !== null && x !== undefined && Number.isFinite(x));
  const rate =
    row.metric === 'rps'
      ? pick((r) => r.requests / r.wallS)
      : pick((r) => (r.bytes > 0 ? r.bytes / r.wallS / 1e6 : null));
  return {
    primary: median(pick((r) => primary(row.metric, r))),
    wall: pick((r) => r.wallS),
    rate,
    clientCpu: median(pick((r) => r.clientCpuS)),
    serverCpu: median(pick((r) => r.serverCpuS)),
    serverRss: median(pick((r) => r.serverRssBytes)),
    serverPss: median(pick((r) => r.serverPssBytes)),
    clientRss: median(pick((r) => r.clientRssBytes)),
    cut: runs.some((r) => r.cut),
    gaveUp: runs.some((r) => r.gaveUp),
    errors: runs.reduce((s, r) => s + (r.errors ?? 0), 0),
    errorKinds: [...new Set(runs.flatMap((r) => Object.keys(r.errorKinds ?? {})))],
  };
}

/** ft's figure divided by each peer's in the same group ("×" lower-is-better for seconds). */
export function ratios(section, row) {
  if (row.tool !== 'ft' || row.unavailable !== undefined) return '';
  const mine = summarize(row).primary;
  const parts = [];
  for (const peer of section.rows) {
    if (peer.tool !== 'peer' || peer.group !== row.group || peer.unavailable !== undefined)
      continue;
    const theirs = summarize(peer).primary;
    if (mine === null || theirs === null || theirs === 0) continue;
    parts.push(`${fmt(mine / theirs)}× ${peer.label}`);
  }
  return parts.join(', ');
}

function rateUnit(section) {
  return section.rows.some((r) => r.metric === 'rps') ? 'req/s' : 'MB/s';
}

function cells(section, row) {
  if (row.unavailable !== undefined)
    return [
      row.group ?? '',
      row.label,
      `not available (${row.unavailable})`,
      '',
      '',
      '',
      '',
      '',
      '',
    ];
  const s = summarize(row);
  const mib = (b) => (b === null ? '–' : fmt(b / MiB));
  let rate = fmtSpread(s.rate);
  if (s.cut) rate += ' (cut)';
  if (s.gaveUp) rate += ' (gave up)';
  if (s.errors > 0) rate += ` (${s.errors} failed: ${s.errorKinds.join(', ') || 'errors'})`;
  return [
    row.group ?? '',
    row.label,
    fmtSpread(s.wall),
    rate,
    fmt(s.clientCpu),
    fmt(s.serverCpu),
    s.serverPss === null ? mib(s.serverRss) : `${mib(s.serverRss)} (${mib(s.serverPss)})`,
    mib(s.clientRss),
    ratios(section, row),
  ];
}

function headers(section) {
  return [
    '',
    'tool',
    'time s, median (min–max)',
    `${rateUnit(section)}, median (min–max)`,
    'client CPU s',
    'server CPU s',
    'server peak RSS (PSS) MiB',
    'client peak RSS MiB',
    section.rows.some((r) => r.metric === 'seconds') ? 'ft ÷ peer (time)' : 'ft ÷ peer',
  ];
}

/** Markdown for the sections, the targets and the notes. */
export function markdown(report) {
  const out = [];
  out.push(`Run ${report.startedAt} · ${report.profileName} profile · ${report.machine.summary}`);
  const peers = Object.entries(report.machine.peers ?? {});
  if (peers.length > 0) {
    out.push('');
    out.push(`Peers: ${peers.map(([name, v]) => `${name} \`${v}\``).join(' · ')}`);
  }
  out.push('');
  for (const section of report.sections) {
    out.push(`### ${section.title}`);
    out.push('');
    if (section.note) out.push(`_${section.note}_`, '');
    if (section.rows.length === 0) continue;
    const h = headers(section);
    out.push(`| ${h.join(' | ')} |`);
    out.push(`|${h.map(() => ' --- ').join('|')}|`);
    for (const row of section.rows) out.push(`| ${cells(section, row).join(' | ')} |`);
    out.push('');
    if (section.plot && report.plotFile) out.push(`![throughput vs loss](${report.plotFile})`, '');
  }
  if (report.targets.length > 0) {
    out.push('### Targets');
    out.push('');
    if (report.profileName === 'quick')
      out.push('_Quick profile: the sizes are too small for these verdicts to mean anything._', '');
    out.push('| target | measured | result |');
    out.push('| --- | --- | --- |');
    for (const t of report.targets) out.push(`| ${t.target} | ${t.measured} | ${t.result} |`);
    out.push('');
  }
  if (report.notes.length > 0) {
    out.push('### Notes');
    out.push('');
    for (const n of report.notes) out.push(`- ${n}`);
    out.push('');
  }
  return out.join('\n');
}

/** A plain-text rendering of the same tables for the terminal. */
export function consoleTables(report) {
  const out = [];
  for (const section of report.sections) {
    out.push('', `== ${section.title}`);
    if (section.note) out.push(`   ${section.note}`);
    if (section.rows.length === 0) continue;
    const table = [headers(section), ...section.rows.map((r) => cells(section, r))];
    const sized = [
      headers(section),
      ...section.rows.filter((r) => r.unavailable === undefined).map((r) => cells(section, r)),
    ];
    const widths = table[0].map((_, i) =>
      Math.min(40, Math.max(...sized.map((r) => String(r[i]).length))),
    );
    for (const r of table)
      out.push(
        r
          .map((c, i) => String(c).slice(0, 200).padEnd(widths[i]))
          .join('  ')
          .trimEnd(),
      );
  }
  if (report.targets.length > 0) {
    out.push('', '== Targets');
    for (const t of report.targets)
      out.push(`   ${t.result.padEnd(28)} ${t.target}: ${t.measured}`);
  }
  for (const n of report.notes) out.push(`note: ${n}`);
  return out.join('\n');
}
