#!/usr/bin/env node
/**
 * What starting one fork-per-connection child costs against the floor, measured apart from
 * `pnpm bench`: CPU from fork() to its 'ready' message (/proc/PID/schedstat: ns, includes the
 * child's V8 and libuv threads) and its private memory then (smaps_rollup), for
 *   - bare: a forked Node that opens the IPC channel and says ready (the floor of any Node child);
 *   - child: ftserve's one-shot child (the bundle, with the config a --fork-per-connection
 *     server gives it, and the Node flags and environment spawn-child.ts gives one-shot
 *     children), optionally with extra Node flags after those (--flags "...").
 * Forks alternate bare/child one at a time, so both see the same minutes of a shared machine.
 *   node bench/scenarios/perf9-child-start.mjs [--n 20] [--flags "--max-semi-space-size=1"]
 *     [--flags-b "..."]   (a third member: the child again, with these flags instead)
 */
import { fork } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const PROCESS_DIR = path.join(REPO, 'packages/server/dist/src/process');
const BUNDLE = path.join(PROCESS_DIR, 'child-bundle.cjs');
const { ROLE_NODE_FLAGS, childEnv } = await import(path.join(PROCESS_DIR, 'spawn-child.js'));

const args = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = args.indexOf(name);
  return i < 0 ? fallback : args[i + 1];
};
const n = Number(opt('--n', '20'));
const flags = opt('--flags', '').split(/\s+/).filter(Boolean);
const flagsB = opt('--flags-b', undefined)?.split(/\s+/).filter(Boolean);

const dir = mkdtempSync(path.join(os.tmpdir(), 'ft-child-start-'));
const bare = path.join(dir, 'bare.cjs');
writeFileSync(bare, 'process.on("message", () => {});\nprocess.send({ t: "ready" });\n');
const root = path.join(dir, 'root');
(await import('node:fs')).mkdirSync(root);

/** The configuration ftserve --fork-per-connection gives its children (defaults, this root). */
function childConfig() {
  return {
    role: 'oneshot',
    serverName: 'ftserve/perf9',
    server: {
      root,
      host: '127.0.0.1',
      port: 0,
      model: 'fork-per-connection',
      workers: 2,
      maxChildren: 64,
      maxConnections: 1024,
      maxConnectionsPerIp: 64,
      idleTimeoutMs: 60_000,
      requestTimeoutMs: 5000,
      maxRequestSize: 8192,
      graceMs: 30_000,
      dotfiles: false,
      logFormat: 'text',
      logFile: undefined,
      digestCacheDir: path.join(dir, 'digests'),
      proxyProtocol: false,
      daemon: false,
      allow: [],
      deny: [],
    },
  };
}

const kb = (t, k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(t)?.[1] ?? 0);

function startOne(script, env, execArgv) {
  return new Promise((resolve, reject) => {
    const child = fork(script, [], {
      execArgv,
      env,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'json',
    });
    const timer = setTimeout(() => (child.kill('SIGKILL'), reject(new Error('no ready'))), 30_000);
    child.once('message', () => {
      clearTimeout(timer);
      const pid = child.pid;
      const cpuMs = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
      const smaps = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
      const privMiB = (kb(smaps, 'Private_Clean') + kb(smaps, 'Private_Dirty')) / 1024;
      child.once('exit', () => resolve({ cpuMs, privMiB }));
      child.kill('SIGKILL');
    });
    child.once('error', reject);
  });
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const results = { bare: [], child: [], ...(flagsB === undefined ? {} : { childB: [] }) };
try {
  const env = childEnv(childConfig());
  const own = ROLE_NODE_FLAGS.oneshot;
  for (let i = 0; i < n; i++) {
    results.bare.push(await startOne(bare, process.env, []));
    results.child.push(await startOne(BUNDLE, env, [...own, ...flags]));
    if (flagsB !== undefined) results.childB.push(await startOne(BUNDLE, env, [...own, ...flagsB]));
  }
  for (const [k, rs] of Object.entries(results))
    process.stdout.write(
      `${k.padEnd(6)} start CPU ms median ${median(rs.map((r) => r.cpuMs)).toFixed(1)} (min ${Math.min(...rs.map((r) => r.cpuMs)).toFixed(1)}), private MiB median ${median(rs.map((r) => r.privMiB)).toFixed(2)}\n`,
    );
} finally {
  rmSync(dir, { recursive: true, force: true });
}
