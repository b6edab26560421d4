/**
 * Real HAProxy (the Debian package) in TCP mode in front of ftserve replicas, for end-to-end
 * tests. ensureHaproxy() installs it with apt-get when missing and throws (so the test fails,
 * never skips) when it cannot. startHaproxy() writes a generated configuration, runs
 * `haproxy -db` (foreground) on a free loopback port, waits until it accepts connections, and
 * stops it at teardown. The health check speaks the ft handshake: see ftHealthCheck().
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { accessSync, constants, existsSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { FrameType, MAGIC, encodeHello } from '@ft/protocol';

/** Name the health check's HELLO gives (logged by nobody; informational). */
export const CHECK_CLIENT_NAME = 'haproxy-check';

/** The path of an executable in the usual system directories, or undefined. */
export function which(command: string): string | undefined {
  for (const dir of [
    '/usr/local/sbin',
    '/usr/local/bin',
    '/usr/sbin',
    '/usr/bin',
    '/sbin',
    '/bin',
  ]) {
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      // Not in this directory.
    }
  }
  return undefined;
}

/**
 * Installs Debian packages with apt-get (as the tests that need a Debian tool do); throws with
 * apt's own words when that fails.
 */
export function aptInstall(packages: string[]): void {
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const run = (args: string[]): void => {
    execFileSync('apt-get', args, { env, stdio: 'pipe', timeout: 300_000 });
  };
  try {
    run(['install', '-y', '-q', ...packages]);
  } catch {
    // The package lists may be missing or stale (a fresh image): update once and try again.
    try {
      run(['update', '-q']);
      run(['install', '-y', '-q', ...packages]);
    } catch (error) {
      const stderr = String((error as { stderr?: Buffer }).stderr ?? error).trim();
      throw new Error(`apt-get install ${packages.join(' ')} failed: ${stderr.split('\n').pop()}`);
    }
  }
}

/** The haproxy binary, installed with apt-get if it is not there yet. */
export function ensureHaproxy(): string {
  const found = which('haproxy');
  if (found !== undefined) return found;
  aptInstall(['haproxy']);
  const installed = which('haproxy');
  if (installed === undefined) throw new Error('haproxy is still missing after apt-get install');
  return installed;
}

/** A TCP port free on `host` right now (bound to port 0 and released). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/**
 * The health-check lines of a HAProxy backend that speaks the ft handshake: send a HELLO
 * offering version 1 (encoded by @ft/protocol) and expect the start of a WELCOME for version 1:
 * frame type WELCOME, flags 0, a payload length below 256 (its low byte depends on the
 * server's name), the magic and version 1. rbinary matches the response in upper-case hex.
 * docs/DEPLOY.md shows exactly these lines (a test checks that).
 */
export function ftHealthCheck(): string[] {
  const hello = encodeHello({ minVersion: 1, maxVersion: 1, name: CHECK_CLIENT_NAME });
  const hex = (bytes: number[] | Buffer): string =>
    Buffer.from(bytes).toString('hex').toUpperCase();
  const welcomePrefix =
    '^' + hex([FrameType.WELCOME, 0, 0, 0, 0]) + '..' + hex(MAGIC) + hex([0, 1]);
  // No explicit `tcp-check connect`: the implicit one takes the server line's options, so
  // `check-send-proxy` (with send-proxy-v2) also puts a PROXY header before the check's HELLO.
  return [
    'option tcp-check',
    `tcp-check send-binary ${hello.toString('hex')}`,
    `tcp-check expect rbinary ${welcomePrefix}`,
  ];
}

export interface Backend {
  name: string;
  host?: string;
  port: number;
  /** A `backup` server: used only while every active server is down. */
  backup?: boolean;
}

export interface HaproxyOptions {
  /** Where the configuration and the stats socket go (a test's temporary directory). */
  dir: string;
  servers: Backend[];
  /** Extra words for every server (on the default-server line), e.g. `send-proxy-v2 check-send-proxy`. */
  serverOptions?: string;
  /** Health-check interval in ms (default 300: a dead replica is noticed quickly). */
  checkIntervalMs?: number;
}

export interface Haproxy {
  host: string;
  port: number;
  config: string;
  /** Everything haproxy wrote to stdout and stderr so far. */
  output(): string;
  /** One row of `show stat` per server: its status (UP, DOWN, …) and the bytes it sent (bout). */
  stats(): Promise<Map<string, { status: string; bytesOut: number; checkStatus: string }>>;
  /** Polls the stats until every named server has the status given (or `ms` pass: throws). */
  waitForStatus(want: Record<string, string>, ms?: number): Promise<void>;
  stop(): Promise<void>;
}

/** The configuration startHaproxy runs: one TCP frontend on `port`, one backend of `servers`. */
export function haproxyConfig(options: HaproxyOptions, port: number, statsSocket: string): string {
  const inter = options.checkIntervalMs ?? 300;
  const extra = options.serverOptions === undefined ? '' : ` ${options.serverOptions}`;
  return [
    'global',
    '    maxconn 256',
    `    stats socket ${statsSocket} mode 600 level admin`,
    'defaults',
    '    mode tcp',
    '    timeout connect 2s',
    '    timeout client 60s',
    '    timeout server 60s',
    '    retries 2',
    '    option redispatch',
    'frontend ft',
    `    bind 127.0.0.1:${port}`,
    '    default_backend replicas',
    'backend replicas',
    ...ftHealthCheck().map((l) => `    ${l}`),
    `    default-server inter ${inter}ms fall 1 rise 2${extra}`,
    ...options.servers.map(
      (s) =>
        `    server ${s.name} ${s.host ?? '127.0.0.1'}:${s.port} check${s.backup === true ? ' backup' : ''}`,
    ),
    '',
  ].join('\n');
}

/** Sends one command to the stats socket and returns the whole answer. */
function adminCommand(socketPath: string, command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(socketPath);
    let out = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`no answer to "${command}" on the haproxy stats socket`));
    }, 5000);
    s.setEncoding('utf8');
    s.on('connect', () => s.end(`${command}\n`));
    s.on('data', (d: string) => (out += d));
    s.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.on('close', () => {
      clearTimeout(timer);
      resolve(out);
    });
  });
}

/** Polls until something accepts connections on 127.0.0.1:`port`; false once `exited()` or after `ms`. */
export async function waitForPort(
  port: number,
  exited: () => boolean,
  ms: number,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !exited()) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/**
 * Polls until haproxy's stats socket exists; false once `exited()` or after `ms`. The port alone
 * does not show that haproxy started: between freePort() and haproxy's bind another test may
 * take that port, and then the connect reaches it while haproxy exits with "cannot bind".
 */
async function waitForFile(file: string, exited: () => boolean, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !exited()) {
    if (existsSync(file)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

/** Runs haproxy until the test ends (it is SIGKILLed at teardown if stop() was not called). */
export async function startHaproxy(t: ExecutionContext, options: HaproxyOptions): Promise<Haproxy> {
  const bin = ensureHaproxy();
  const statsSocket = join(options.dir, 'haproxy.sock');
  const configPath = join(options.dir, 'haproxy.cfg');
  // The free port can be taken between our check and haproxy's bind: try a few.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = haproxyConfig(options, port, statsSocket);
    await writeFile(configPath, config);
    // A socket left by an attempt before (SIGKILLed) must not pass for this one's.
    rmSync(statsSocket, { force: true });
    const child = spawn(bin, ['-db', '-f', configPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    const exited = once(child, 'exit');
    const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
    const stop = async (): Promise<void> => {
      if (!gone()) {
        child.kill('SIGKILL');
        await exited;
      }
    };
    t.teardown(stop);
    if ((await waitForPort(port, gone, 20_000)) && (await waitForFile(statsSocket, gone, 20_000))) {
      const stats: Haproxy['stats'] = async () => {
        const csv = await adminCommand(statsSocket, 'show stat');
        const lines = csv.split('\n').filter((l) => l.trim() !== '');
        const header = lines[0]!.replace(/^# /, '').split(',');
        const col = (name: string): number => header.indexOf(name);
        const rows = new Map<string, { status: string; bytesOut: number; checkStatus: string }>();
        for (const line of lines.slice(1)) {
          const f = line.split(',');
          if (f[col('pxname')] !== 'replicas') continue;
          rows.set(f[col('svname')]!, {
            status: f[col('status')]!,
            bytesOut: Number(f[col('bout')]),
            checkStatus: f[col('check_status')]!,
          });
        }
        return rows;
      };
      return {
        host: '127.0.0.1',
        port,
        config,
        output: () => output,
        stats,
        async waitForStatus(want, ms = 30_000) {
          const deadline = Date.now() + ms;
          let seen = '';
          while (Date.now() < deadline) {
            const rows = await stats();
            seen = [...rows].map(([n, r]) => `${n}=${r.status}/${r.checkStatus}`).join(' ');
            if (Object.entries(want).every(([n, s]) => rows.get(n)?.status === s)) return;
            await new Promise((r) => setTimeout(r, 100));
          }
          throw new Error(`haproxy servers not ${JSON.stringify(want)} within ${ms} ms: ${seen}`);
        },
        stop,
      };
    }
    await stop();
    if (attempt >= 5 || !/cannot bind|Address already in use/.test(output))
      throw new Error(`haproxy did not start: ${output.trim()}`);
  }
}
