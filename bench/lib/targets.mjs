/**
 * The goals of the issue, evaluated against one run. They are reported (met / missed by how
 * much), never asserted: the bench exits 0 whatever the figures are.
 */
import { fmt, median } from './stats.mjs';
import { summarize } from './report.mjs';
import { LABELS as TLS, SINGLE as TLS_SINGLE, rpsGroup } from '../scenarios/tls.mjs';
import { LABELS as FIRST_BYTE } from '../scenarios/first-byte.mjs';

function find(report, sectionId, label, group) {
  const section = report.sections.find((s) => s.id === sectionId);
  const row = section?.rows.find(
    (r) =>
      r.label === label &&
      (group === undefined || r.group === group) &&
      r.unavailable === undefined,
  );
  return row === undefined ? undefined : summarize(row);
}

/** "met" or "missed by N%" for measured ≥ goal (or ≤ goal when lowerIsBetter). */
function verdict(measured, goal, lowerIsBetter = false) {
  if (measured === null || goal === null || measured === undefined || goal === undefined)
    return 'not measured';
  const ok = lowerIsBetter ? measured <= goal : measured >= goal;
  if (ok) return 'met';
  const by = lowerIsBetter ? (measured / goal - 1) * 100 : (1 - measured / goal) * 100;
  return `missed by ${fmt(by)}%`;
}

export function evaluateTargets(report) {
  const t = [];
  const add = (target, measured, result) => t.push({ target, measured, result });
  const file = 'into file';

  const ft = find(report, 'single', 'ft prefork', file);
  const nc = find(report, 'single', 'nc (openbsd)', file);
  const nginx = find(report, 'single', 'nginx + curl', file);
  if (ft)
    add(
      'single stream into a file ≥ 90% of nc',
      `ft ${fmt(ft.primary)} MB/s, nc ${fmt(nc?.primary)} MB/s`,
      verdict(ft.primary, nc ? 0.9 * nc.primary : null),
    );
  if (ft)
    add(
      'single stream into a file ≥ nginx + curl',
      `ft ${fmt(ft.primary)} MB/s, nginx + curl ${fmt(nginx?.primary)} MB/s`,
      verdict(ft.primary, nginx?.primary ?? null),
    );

  const full = find(report, 'resume', 'ftget', 'full download');
  const r99 = find(report, 'resume', 'ftget --resume (partial + state)', '99% present');
  if (full && r99) {
    const goal = 0.05 * median(full.wall) + 0.3;
    add(
      'resume of the last 1% ≤ 5% of the full time + 0.3 s',
      `${fmt(median(r99.wall))} s (full ${fmt(median(full.wall))} s, goal ${fmt(goal)} s)`,
      verdict(median(r99.wall), goal, true),
    );
  }

  for (const model of ['ft prefork', 'ft fork-per-connection']) {
    const c = find(report, 'concurrent', model);
    if (c)
      add(
        `${model}: server RSS under concurrent downloads ≤ 200 MB`,
        `${fmt(c.serverRss / 1e6)} MB`,
        verdict(c.serverRss / 1e6, 200, true),
      );
  }

  const rps = report.sections.find((s) => s.id === 'rps');
  for (const group of [...new Set(rps?.rows.map((r) => r.group) ?? [])]) {
    const mine = find(report, 'rps', 'ft prefork, load generator', group);
    const theirs = find(report, 'rps', 'nginx, load generator (HTTP)', group);
    if (mine)
      add(
        `prefork ≥ 0.7× nginx req/s, ${group}`,
        `ft ${fmt(mine.primary)}, nginx ${fmt(theirs?.primary)} req/s (same load generator)`,
        verdict(mine.primary, theirs ? 0.7 * theirs.primary : null),
      );
    const fork = find(report, 'rps', 'ft fork-per-connection, load generator', group);
    if (fork)
      add(
        `fork-per-connection ≥ 20 connections/s, ${group}`,
        `${fmt(fork.primary)} req/s`,
        verdict(fork.primary, 20),
      );
    const forkRow = rps.rows.find(
      (r) => r.label === 'ft fork-per-connection, load generator' && r.group === group,
    );
    const p50 = median(
      (forkRow?.runs ?? []).map((r) => r.firstByteP50Ms).filter((x) => Number.isFinite(x)),
    );
    if (fork && p50 !== null)
      add(
        `fork-per-connection: p50 connect to first byte ≤ 100 ms, ${group} (issue 9)`,
        `${fmt(p50)} ms`,
        verdict(p50, 100, true),
      );
  }

  const loss = (label, pct) => find(report, 'loss', label, `${pct}% loss`);
  const udp0 = loss('ft UDP', 0);
  const tcp0 = loss('ft TCP', 0);
  if (udp0)
    add(
      'UDP at 0% loss ≥ ft TCP (issue 9)',
      `UDP ${fmt(udp0.primary)}, TCP ${fmt(tcp0?.primary)} MB/s`,
      verdict(udp0.primary, tcp0 ? tcp0.primary : null),
    );
  for (const [pct, goal] of [
    [1, 300],
    [5, 200],
  ]) {
    const u = loss('ft UDP', pct);
    if (u)
      add(
        `UDP at ${pct}% loss ≥ ${goal} MB/s (issue 9)`,
        `${fmt(u.primary)} MB/s${u.cut ? ' (cut)' : ''}`,
        verdict(u.primary, goal),
      );
  }
  // Issue 9: against TFTP with 64 KiB blocks (RFC 2348), the fair peer; 512 B TFTP stays in
  // the table for orientation only.
  const tftp = 'TFTP: tftpd-hpa + curl, 65464 B blocks';
  const p = loss(tftp, 0);
  if (udp0 && p)
    add(
      `UDP ≥ 0.8× ${tftp} at 0% loss (issue 9)`,
      `${fmt(udp0.primary / p.primary)}×`,
      verdict(udp0.primary, 0.8 * p.primary),
    );

  // Issue 13: through the shaping proxy (40 ms RTT, 8 MB/s per connection).
  const one = find(report, 'multi', 'ftget, 1 connection');
  if (one) {
    for (const [label, factor, name] of [
      ['ftget --connections 4', 3, '`--connections 4` ≥ 3× one connection'],
      ['ftget, 2 mirrors × 1 connection (--mirror)', 1.8, 'two mirrors ≥ 1.8× one mirror'],
    ]) {
      const m = find(report, 'multi', label);
      add(
        `${name} (issue 13)`,
        m
          ? `${fmt(m.primary)} vs ${fmt(one.primary)} MB/s (${fmt(m.primary / one.primary)}×)`
          : 'row not available',
        verdict(m?.primary, factor * one.primary),
      );
    }
  }

  // Issue 12: TLS against ft plaintext and nginx HTTPS, same run.
  const tlsFt = find(report, 'tls', TLS.ftTls, TLS_SINGLE);
  if (tlsFt) {
    for (const [label, factor] of [
      [TLS.ftPlain, 0.8],
      [TLS.nginxTls, 0.9],
    ]) {
      const peer = find(report, 'tls', label, TLS_SINGLE);
      add(
        `TLS single stream ≥ ${factor}× ${label} (issue 12)`,
        `ft TLS ${fmt(tlsFt.primary)}, ${label} ${fmt(peer?.primary)} MB/s`,
        verdict(tlsFt.primary, peer ? factor * peer.primary : null),
      );
    }
  }
  for (const c of report.profile?.tlsRpsConcurrency ?? []) {
    const mine = find(report, 'tls-rps', TLS.ftTlsRps, rpsGroup(c));
    const theirs = find(report, 'tls-rps', TLS.nginxTlsRps, rpsGroup(c));
    if (mine)
      add(
        `new TLS connection per 4 KiB request ≥ 0.5× nginx HTTPS, ${c} client${c === 1 ? '' : 's'} (issue 12)`,
        `ft ${fmt(mine.primary)}, nginx ${fmt(theirs?.primary)} req/s (same load generator)`,
        verdict(mine.primary, theirs ? 0.5 * theirs.primary : null),
      );
  }

  issue15Targets(report, add);
  issue9Targets(report, add);

  const v = find(report, 'cli', 'ftget --version');
  const node = find(report, 'cli', 'node -e 0');
  if (v && node)
    add(
      '`ftget --version` ≤ 1.2× `node -e 0` (issue 15)',
      `${fmt(v.primary * 1000)} ms vs ${fmt(node.primary * 1000)} ms`,
      verdict(v.primary, 1.2 * node.primary, true),
    );
  return t;
}

const MiB = 1024 * 1024;
const ratio = (a, b) => (a === null || b === null || b === 0 ? null : a / b);

/** Issue 15: every row of its table that the ratios above do not already cover. */
function issue15Targets(report, add) {
  const devnull = 'into /dev/null';
  const ftNull = find(report, 'single', 'ft prefork', devnull);
  const ncNull = find(report, 'single', 'nc (openbsd)', devnull);
  if (ftNull)
    add(
      '`-o -` single stream ≥ 0.7× nc (issue 15)',
      `ft ${fmt(ftNull.primary)}, nc ${fmt(ncNull?.primary)} MB/s`,
      verdict(ftNull.primary, ncNull ? 0.7 * ncNull.primary : null),
    );
  const ft = find(report, 'single', 'ft prefork', 'into file');
  if (ft?.clientRss !== null && ft?.clientRss !== undefined)
    add(
      'client peak RSS, 1 GiB download ≤ 80 MiB (issue 15)',
      `${fmt(ft.clientRss / MiB)} MiB`,
      verdict(ft.clientRss / MiB, 80, true),
    );
  const node = find(report, 'cli', 'node -e 0');
  for (const [group, label, goal, against] of [
    ['50% present', 'ftget --resume (partial + state)', 1.2, 'curl'],
    ['50% present', 'ftget --resume (bare .part, no state)', 1.6, 'curl'],
    ['99% present', 'ftget --resume (partial + state)', 2.5, 'node'],
  ]) {
    const mine = find(report, 'resume', label, group);
    const theirs = against === 'node' ? node : find(report, 'resume', 'curl -C -', group);
    const name = against === 'node' ? '`node -e 0`' : '`curl -C -`';
    if (mine)
      add(
        `resume, ${group}, ${label.replace('ftget --resume ', '')} ≤ ${goal}× ${name} (issue 15)`,
        `${fmt(mine.primary)} s vs ${fmt(theirs?.primary)} s (${fmt(ratio(mine.primary, theirs?.primary ?? null))}×)`,
        verdict(mine.primary, theirs ? goal * theirs.primary : null, true),
      );
  }
  const many = find(report, 'small', 'ft prefork, one ftget');
  const curl = find(report, 'small', 'curl, 1000 URLs');
  if (many) {
    // This section's primary figure is MB/s; the target is about wall time.
    const mine = median(many.wall);
    const theirs = curl ? median(curl.wall) : null;
    add(
      '1,000 × 4 KiB in one ftget ≤ 3× curl (issue 15)',
      `${fmt(mine)} s vs ${fmt(theirs)} s (${fmt(ratio(mine, theirs))}×)`,
      verdict(mine, theirs === null ? null : 3 * theirs, true),
    );
  }
  const one = find(report, 'cli', 'ftget get', '4 KiB download');
  if (one && node)
    add(
      'one 4 KiB `ftget get` ≤ 2× `node -e 0` (issue 15)',
      `${fmt(one.primary * 1000)} ms vs ${fmt(node.primary * 1000)} ms`,
      verdict(one.primary, 2 * node.primary, true),
    );
}

/** Issue 9: concurrency, memory, loss and first-byte rows beyond those above. */
function issue9Targets(report, add) {
  const streamed = find(report, 'ttfb', FIRST_BYTE.streamed);
  if (streamed)
    add(
      'time to first byte of a never-hashed 1 GiB file ≤ 50 ms (issue 9)',
      `${fmt(streamed.primary * 1000)} ms (nginx ${fmt((find(report, 'ttfb', FIRST_BYTE.nginx)?.primary ?? NaN) * 1000)} ms, v2 client ${fmt((find(report, 'ttfb', FIRST_BYTE.header)?.primary ?? NaN) * 1000)} ms)`,
      verdict(streamed.primary, 0.05, true),
    );
  const nginx = find(report, 'concurrent', 'nginx');
  for (const [model, factor, pssGoal] of [
    ['ft prefork', 1.0, 80],
    ['ft fork-per-connection', 0.6, 400],
  ]) {
    const c = find(report, 'concurrent', model);
    if (!c) continue;
    add(
      `${model}: 100 × 64 MiB ≥ ${factor}× nginx (issue 9)`,
      `ft ${fmt(c.primary)}, nginx ${fmt(nginx?.primary)} MB/s`,
      verdict(c.primary, nginx ? factor * nginx.primary : null),
    );
    add(
      `${model}: summed PSS under 100 × 64 MiB ≤ ${pssGoal} MiB (issue 9)`,
      c.serverPss === null ? 'not measured' : `${fmt(c.serverPss / MiB)} MiB`,
      c.serverPss === null ? 'not measured' : verdict(c.serverPss / MiB, pssGoal, true),
    );
  }
  for (const pct of [1, 5]) {
    const group = `${pct}% loss`;
    const udp = find(report, 'loss', 'ft UDP', group);
    const tcp = find(report, 'loss', 'ft TCP', group);
    if (udp)
      add(
        `UDP at ${pct}% loss ≥ 1.2× ft TCP (issue 9)`,
        `UDP ${fmt(udp.primary)}, TCP ${fmt(tcp?.primary)} MB/s`,
        verdict(udp.primary, tcp ? 1.2 * tcp.primary : null),
      );
  }
}
