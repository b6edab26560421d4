/**
 * Real nginx with its `stream` module (Debian: libnginx-mod-stream) as a TCP load balancer in
 * front of ftserve replicas. ensureNginxStream() installs what is missing with apt-get — the
 * module at exactly the installed nginx's version, so nothing else is upgraded — and throws
 * (the test fails, never skips) when it cannot. startNginxStream() runs `nginx` in the
 * foreground with a generated configuration on a free loopback port and kills it at teardown.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { aptInstall, freePort, waitForPort, which } from './haproxy.js';
import type { Backend } from './haproxy.js';

export const STREAM_MODULE = '/usr/lib/nginx/modules/ngx_stream_module.so';

/** The nginx binary, with the stream module installed beside it. */
export function ensureNginxStream(): string {
  if (which('nginx') === undefined) aptInstall(['nginx-light', 'libnginx-mod-stream']);
  else if (!existsSync(STREAM_MODULE)) {
    const version = execFileSync('dpkg-query', ['-W', '-f=${Version}', 'nginx-common'], {
      encoding: 'utf8',
    }).trim();
    aptInstall([`libnginx-mod-stream=${version}`]);
  }
  const bin = which('nginx');
  if (bin === undefined || !existsSync(STREAM_MODULE))
    throw new Error(`nginx or ${STREAM_MODULE} is still missing after apt-get install`);
  return bin;
}

/** The stream configuration startNginxStream runs: `servers` as one upstream, backups marked. */
export function nginxStreamConfig(
  dir: string,
  port: number,
  servers: Backend[],
  options: { proxyProtocol?: boolean } = {},
): string {
  return [
    `load_module ${STREAM_MODULE};`,
    'daemon off;',
    'worker_processes 1;',
    `pid ${join(dir, 'nginx.pid')};`,
    `error_log ${join(dir, 'nginx-error.log')} info;`,
    'events { worker_connections 256; }',
    'stream {',
    '    upstream replicas {',
    ...servers.map(
      (s) =>
        `        server ${s.host ?? '127.0.0.1'}:${s.port}${s.backup === true ? ' backup' : ' max_fails=1 fail_timeout=30s'};`,
    ),
    '    }',
    '    server {',
    `        listen 127.0.0.1:${port};`,
    '        proxy_pass replicas;',
    '        proxy_connect_timeout 2s;',
    '        proxy_timeout 60s;',
    '        proxy_next_upstream on;',
    ...(options.proxyProtocol === true ? ['        proxy_protocol on;'] : []),
    '    }',
    '}',
    '',
  ].join('\n');
}

export interface NginxStream {
  host: string;
  port: number;
  config: string;
  output(): string;
  stop(): Promise<void>;
}

export async function startNginxStream(
  t: ExecutionContext,
  dir: string,
  servers: Backend[],
  options: { proxyProtocol?: boolean } = {},
): Promise<NginxStream> {
  const bin = ensureNginxStream();
  const configPath = join(dir, 'nginx.conf');
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = nginxStreamConfig(dir, port, servers, options);
    await writeFile(configPath, config);
    const child = spawn(bin, ['-p', dir, '-e', join(dir, 'nginx-error.log'), '-c', configPath], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => (output += s));
    child.stderr.setEncoding('utf8').on('data', (s: string) => (output += s));
    const exited = once(child, 'exit');
    const gone = (): boolean => child.exitCode !== null || child.signalCode !== null;
    const stop = async (): Promise<void> => {
      if (gone()) return;
      // SIGTERM: the master stops its workers (a SIGKILLed master would leave them behind).
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    };
    t.teardown(stop);
    if (await waitForPort(port, gone, 20_000))
      return { host: '127.0.0.1', port, config, output: () => output, stop };
    await stop();
    if (attempt >= 5 || !/Address already in use/.test(output))
      throw new Error(`nginx did not start: ${output.trim()}`);
  }
}
