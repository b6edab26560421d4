#!/usr/bin/env node
/**
 * Summarises V8 .cpuprofile files (from `--cpu-prof`, e.g. ftserve workers run with
 * FTSERVE_CHILD_NODE_FLAGS="--cpu-prof --cpu-prof-dir=DIR"): self time per function, and
 * inclusive time of the frames whose name matches each --group pattern (a frame counted once
 * per sample even when recursive), as a share of the samples in which the process was busy. Not part of `pnpm bench`.
 *   node bench/scenarios/perf9-profile.mjs DIR_OR_FILES... [--top 40] [--group label=regex ...]
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';

const args = process.argv.slice(2);
const files = [];
const groups = [];
let top = 40;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else if (args[i] === '--group') {
    const [label, re] = args[++i].split(/=(.*)/s);
    groups.push({ label, re: new RegExp(re) });
  } else if (statSync(args[i]).isDirectory())
    for (const f of readdirSync(args[i]))
      if (f.endsWith('.cpuprofile')) files.push(path.join(args[i], f));
      else continue;
  else files.push(args[i]);
}

const self = new Map();
const inclusive = new Map(groups.map((g) => [g.label, 0]));
let total = 0;
for (const file of files) {
  const p = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n) => {
    const f = n.callFrame;
    const where = f.url === '' ? '' : ` ${path.basename(f.url)}:${f.lineNumber + 1}`;
    return `${f.functionName || '(anonymous)'}${where}`;
  };
  const counts = new Map();
  for (const id of p.samples) counts.set(id, (counts.get(id) ?? 0) + 1);
  for (const [id, count] of counts) {
    const n = byId.get(id);
    total += count;
    const k = name(n);
    self.set(k, (self.get(k) ?? 0) + count);
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const label = name(byId.get(cur));
      for (const g of groups) if (!seen.has(g.label) && g.re.test(label)) seen.add(g.label);
    }
    for (const l of seen) inclusive.set(l, inclusive.get(l) + count);
  }
}
// Shares of the samples in which the process was not idle (waiting in epoll).
const busy = total - (self.get('(idle)') ?? 0);
const pct = (n) => ((100 * n) / busy).toFixed(1).padStart(5) + '%';
process.stdout.write(
  `${files.length} profiles, ${total} samples, ${busy} not idle (= 100%)\n\nself time:\n`,
);
for (const [k, v] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top))
  process.stdout.write(`${pct(v)}  ${k}\n`);
if (groups.length > 0) {
  process.stdout.write('\ninclusive:\n');
  for (const [k, v] of inclusive) process.stdout.write(`${pct(v)}  ${k}\n`);
}
