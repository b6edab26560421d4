/**
 * Long-lived servers for the benchmark, each on 127.0.0.1 (optionally inside a network
 * namespace) with its configuration, pid file, logs and temp paths in the scratch directory.
 * Each start function returns a Server: {name, port, udpPort?, pid, monitor, stop()} or throws
 * with a reason the report can print.
 */
import { mkdirSync, writeFileSync, readFileSync } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { createInterface } from 'node:readline';
import { setTimeout, clearTimeout } from 'node:timers';
import { freePort, spawnTracked, stopChild, TreeMonitor, waitBound } from './proc.mjs';

const isRoot = process.getuid?.() === 0;

function inNetns(netns, argv) {
  return netns === undefined ? argv : ['ip', 'netns', 'exec', netns, ...argv];
}

function logTail(file) {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-3).join(' | ');
  } catch {
    return '';
  }
}

async function started(name, handle, port, proto, logFile) {
  const pid = handle.child.pid;
  const ok = pid !== undefined && (await waitBound(pid, port, proto, 10_000));
  if (!ok) {
    await stopChild(handle, 500);
    throw new Error(`${name} did not start listening on ${port}: ${logTail(logFile)}`);
  }
  return {
    name,
    port,
    pid,
    monitor: new TreeMonitor(pid),
    stop: () => stopChild(handle),
  };
}

/**
 * nginx with sendfile on, one worker per core, no access log. With `tls` ({cert, key}: PEM
 * files) it serves HTTPS only: TLS 1.2 and 1.3, a shared session cache and session tickets, as
 * a tuned HTTPS server would (sendfile does not apply to TLS; nginx then reads and encrypts).
 */
export async function startNginx({ bin, root, scratch, netns, port, tls }) {
  const dir = path.join(scratch, `nginx-${port}`);
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  const errorLog = path.join(dir, 'error.log');
  const temp = (n) => `${n}_temp_path ${path.join(dir, n)};`;
  writeFileSync(
    conf,
    `daemon off;
master_process on;
worker_processes auto;
${isRoot ? 'user root root;' : ''}
pid ${path.join(dir, 'nginx.pid')};
error_log ${errorLog} warn;
events { worker_connections 8192; multi_accept on; }
worker_rlimit_nofile 20000;
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  ${['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map(temp).join('\n  ')}
  server {
    listen 127.0.0.1:${port}${tls === undefined ? '' : ' ssl'} backlog=4096;
    root ${root};${
      tls === undefined
        ? ''
        : `
    ssl_certificate ${tls.cert};
    ssl_certificate_key ${tls.key};
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache shared:ft_bench:10m;
    ssl_session_tickets on;`
    }
  }
}
`,
  );
  const handle = spawnTracked(inNetns(netns, [bin, '-p', dir, '-e', errorLog, '-c', conf]), {
    stdio: 'ignore',
  });
  return started('nginx', handle, port, 'tcp', errorLog);
}

/** rsync daemon with one read-only module "data". */
export async function startRsyncd({ bin, root, scratch, netns, port }) {
  const dir = path.join(scratch, `rsyncd-${port}`);
  mkdirSync(dir, { recursive: true });
  const conf = path.join(dir, 'rsyncd.conf');
  const log = path.join(dir, 'rsyncd.log');
  writeFileSync(
    conf,
    `use chroot = no
${isRoot ? 'uid = root\ngid = root\n' : ''}log file = ${log}
max connections = 200
[data]
  path = ${root}
  read only = yes
`,
  );
  const argv = [bin, '--daemon', '--no-detach', `--config=${conf}`, `--port=${port}`];
  const handle = spawnTracked(inNetns(netns, [...argv, '--address=127.0.0.1']), {
    stdio: 'ignore',
  });
  return started('rsyncd', handle, port, 'tcp', log);
}

/** tftpd-hpa in the foreground, serving root, with the largest block size it allows. */
export async function startTftpd({ bin, root, scratch, netns, port }) {
  if (!isRoot) throw new Error('in.tftpd -s needs root (chroot)');
  const log = path.join(scratch, `tftpd-${port}.log`);
  const argv = [bin, '-L', '-s', root, '-a', `127.0.0.1:${port}`, '-u', 'root', '-B', '65464'];
  const handle = spawnTracked(inNetns(netns, argv), { stdio: 'ignore' });
  return started('tftpd', handle, port, 'udp', log);
}

/**
 * ftserve: `node packages/server/bin/run.js --root DIR --port 0 [extra]`, ready when it prints
 * `ftserve listening tcp=<host>:<port> udp=<host>:<port>|off pid=<pid> root=<abs>`.
 */
export async function startFt({ repo, root, netns, extra = [], label = 'ftserve' }) {
  const bin = path.join(repo, 'packages/server/bin/run.js');
  const argv = [process.execPath, bin, '--root', root, '--port', '0', ...extra];
  const handle = spawnTracked(inNetns(netns, argv), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  handle.child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  const lines = createInterface({ input: handle.child.stdout });
  const first = await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 20_000);
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve(line);
    });
    void handle.exited.then(() => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  // Keep draining stdout so the server never blocks on a full pipe.
  lines.on('line', () => {});
  const m = /^ftserve listening tcp=(\S+):(\d+) udp=(?:(\S+):(\d+)|off) pid=(\d+)/.exec(
    first ?? '',
  );
  if (m === null) {
    await stopChild(handle, 500);
    const why = first === undefined ? stderr.trim().split('\n').slice(-2).join(' | ') : first;
    throw new Error(`ftserve did not start: ${why || 'no output'}`);
  }
  const port = Number(m[2]);
  const pid = handle.child.pid;
  return {
    name: label,
    port,
    udpPort: m[4] === undefined ? undefined : Number(m[4]),
    pid,
    monitor: new TreeMonitor(pid),
    stop: () => stopChild(handle),
    stderr: () => stderr,
  };
}

export { freePort };
