/**
 * Resume across replicas behind a real load balancer (issue 13): three ftserve replicas serve
 * copies of one 256 MiB file from different directories (every inode and mtime differs, so
 * every validator does), behind HAProxy in TCP mode (r1 active, r2 and r3 backups, a health
 * check that speaks the ft handshake) and behind nginx `stream`. The replica serving the
 * download is SIGKILLed once 40 % of the file has passed a counting proxy in front of the
 * balancer; ftget (real CLI, retrying) must finish byte-identical, having continued on the
 * backup under its other validator because the root digest is the same, with under 1.2× the
 * file size moved in total.
 */
import { readFile } from 'node:fs/promises';
import net from 'node:net';
import { join } from 'node:path';
import test from 'ava';
import type { ExecutionContext } from 'ava';
import { FrameType } from '@ft/protocol';
import { REPO_ROOT } from './helpers/ftserve.js';
import type { Ftserve } from './helpers/ftserve.js';
import { killIfRunning, runFtget, spawnFtget } from './helpers/ftget.js';
import { ftHealthCheck, startHaproxy } from './helpers/haproxy.js';
import { nginxStreamConfig, startNginxStream } from './helpers/nginx-stream.js';
import { waitFor } from './helpers/procfs.js';
import { RawClient } from './helpers/raw-client.js';
import { killReplica, replicaTrees, sha256File, startReplicas } from './helpers/replicas.js';
import type { ReplicaTrees } from './helpers/replicas.js';
import { startTcpProxy } from './helpers/tcp-proxy.js';
import type { TcpProxy } from './helpers/tcp-proxy.js';

const SIZE = 256 * 1024 * 1024;
const KILL_AT = 0.4;

/** STAT with the root digest, straight from one replica. */
async function statOf(port: number, path: string): Promise<{ validator: string; root: string }> {
  const c = await RawClient.connect(port);
  try {
    const st = await c.stat(path, true);
    if (st.type !== FrameType.STAT_OK) throw new Error(`STAT failed: ${st.message}`);
    return { validator: st.validator.toString('hex'), root: st.root.toString('hex') };
  } finally {
    c.destroy();
  }
}

interface Failover {
  trees: ReplicaTrees;
  servers: Ftserve[];
  proxy: TcpProxy;
}

/**
 * Runs the scenario through the balancer `setUp` starts in front of the replicas; asserts the
 * outcome and hands back what the caller checks further.
 */
async function failover(
  t: ExecutionContext,
  setUp: (trees: ReplicaTrees, servers: Ftserve[]) => Promise<{ host: string; port: number }>,
): Promise<Failover> {
  t.timeout(600_000);
  const trees = await replicaTrees(t, 'ft-failover-', 3, SIZE);
  const servers = await startReplicas(t, trees.roots);
  // The precondition of the test: other validators everywhere, one content (root digest).
  const seen = await Promise.all(servers.map((s) => statOf(s.port, trees.file)));
  t.is(new Set(seen.map((s) => s.validator)).size, 3, 'every replica has its own validator');
  t.is(new Set(seen.map((s) => s.root)).size, 1, 'every replica has the same root digest');

  const balancer = await setUp(trees, servers);
  const proxy = await startTcpProxy({ target: balancer });
  t.teardown(() => proxy.close());
  const out = join(trees.dl, trees.file);
  const run = spawnFtget(
    [
      'get',
      `ft://127.0.0.1:${proxy.port}/${trees.file}`,
      '-o',
      out,
      '-v',
      '--retry-max-time',
      '90',
    ],
    { timeoutMs: 400_000 },
  );
  t.teardown(() => killIfRunning(run.child));
  const running = (): boolean => run.child.exitCode === null && run.child.signalCode === null;
  await waitFor(() => proxy.bytesDown >= KILL_AT * SIZE || !running(), 300_000, 2);
  const atKill = proxy.bytesDown;
  t.true(running(), 'ftget was still downloading when the replica was killed');
  killReplica(servers[0]!);
  const result = await run.result;
  t.is(result.code, 0, result.stderr);
  t.true(atKill >= KILL_AT * SIZE && atKill < SIZE, `killed at ${atKill} bytes`);
  // It continued under the backup's validator (not a restart from 0).
  t.regex(result.stderr, /content is identical; continuing/);
  t.notRegex(result.stderr, /starting over/);
  t.is(await sha256File(out), trees.sha256, 'the download is byte-identical');
  t.log(
    `killed r1 at ${((atKill / SIZE) * 100).toFixed(1)} %; moved ${(proxy.bytesDown / SIZE).toFixed(3)}× the file size over ${proxy.connections} connections`,
  );
  t.true(proxy.bytesDown >= SIZE && proxy.bytesDown < 1.2 * SIZE, `moved ${proxy.bytesDown} bytes`);
  return { trees, servers, proxy };
}

/** The body bytes a replica logged as sent, over all its connections. */
function bytesLogged(server: Ftserve): number {
  let sum = 0;
  for (const m of server.stderr().matchAll(/ connection .*?\bbytes=(\d+)/g)) sum += Number(m[1]);
  return sum;
}

test.serial('HAProxy: r1 killed at 40 % of 256 MiB, ftget finishes on the backup', async (t) => {
  let haproxy: Awaited<ReturnType<typeof startHaproxy>> | undefined;
  const { servers } = await failover(t, async (trees, replicas) => {
    haproxy = await startHaproxy(t, {
      dir: trees.dir,
      servers: replicas.map((s, i) => ({ name: `r${i + 1}`, port: s.port, backup: i > 0 })),
    });
    await haproxy.waitForStatus({ r1: 'UP', r2: 'UP', r3: 'UP' });
    return haproxy;
  });
  const stats = await haproxy!.stats();
  t.is(stats.get('r1')?.status, 'DOWN', 'the health check noticed r1 gone');
  // r1 sent the first part, the first backup the rest, the second backup nothing.
  t.true(stats.get('r1')!.bytesOut >= KILL_AT * SIZE);
  t.true(stats.get('r2')!.bytesOut > 0.4 * SIZE, `r2 sent ${stats.get('r2')!.bytesOut}`);
  t.is(stats.get('r3')!.bytesOut, 0);
  // r2's own log agrees once its connection is over.
  t.true(await waitFor(() => bytesLogged(servers[1]!) > 0.4 * SIZE, 20_000));
});

test.serial(
  'nginx stream: r1 killed at 40 % of 256 MiB, ftget finishes on the backup',
  async (t) => {
    const { servers } = await failover(t, (trees, replicas) =>
      startNginxStream(
        t,
        trees.dir,
        replicas.map((s, i) => ({ name: `r${i + 1}`, port: s.port, backup: i > 0 })),
      ),
    );
    t.true(await waitFor(() => bytesLogged(servers[1]!) > 0.4 * SIZE, 20_000));
    t.is(bytesLogged(servers[2]!), 0, 'the second backup sent nothing');
  },
);

test('the HAProxy health check needs the ft handshake: a plain TCP listener is DOWN', async (t) => {
  const trees = await replicaTrees(t, 'ft-check-', 1, 1024);
  const [server] = await startReplicas(t, trees.roots);
  // Accepts and answers, but not with WELCOME (an HTTP server on the wrong port, say).
  const impostor = net.createServer((s) => {
    s.on('error', () => {});
    s.on('data', () => s.end('HTTP/1.1 400 Bad Request\r\n\r\n'));
  });
  await new Promise<void>((resolve) => impostor.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => impostor.close(() => resolve())));
  const haproxy = await startHaproxy(t, {
    dir: trees.dir,
    servers: [
      { name: 'ft', port: server!.port },
      { name: 'impostor', port: (impostor.address() as net.AddressInfo).port },
    ],
  });
  await haproxy.waitForStatus({ ft: 'UP', impostor: 'DOWN' });
  const stats = await haproxy.stats();
  t.is(stats.get('ft')?.checkStatus, 'L7OK');
  t.regex(stats.get('impostor')?.checkStatus ?? '', /^L7/, 'refused by the content check');
});

/** Downloads the small file through `port` from 127.0.0.2 (via a proxy bound there): ftget's real address. */
async function fetchFrom127002(
  t: ExecutionContext,
  trees: ReplicaTrees,
  port: number,
): Promise<void> {
  const proxy = await startTcpProxy({
    target: { host: '127.0.0.1', port },
    localAddress: '127.0.0.2',
  });
  t.teardown(() => proxy.close());
  const out = join(trees.dl, trees.file);
  const r = await runFtget(['get', `ft://127.0.0.1:${proxy.port}/${trees.file}`, '-o', out], {
    timeoutMs: 60_000,
  });
  t.is(r.code, 0, r.stderr);
  t.is(await sha256File(out), trees.sha256);
}

test('HAProxy send-proxy-v2: the replica logs the real client, and checks pass; --trusted-proxy refuses anyone else', async (t) => {
  const trees = await replicaTrees(t, 'ft-pp2-', 1, 100_000);
  // HAProxy connects from 127.0.0.1: the only peer the replica believes.
  const [server] = await startReplicas(t, trees.roots, [
    '--proxy-protocol',
    '--trusted-proxy',
    '127.0.0.1',
  ]);
  const haproxy = await startHaproxy(t, {
    dir: trees.dir,
    servers: [{ name: 'r1', port: server!.port }],
    serverOptions: 'send-proxy-v2 check-send-proxy',
  });
  await haproxy.waitForStatus({ r1: 'UP' });
  await fetchFrom127002(t, trees, haproxy.port);
  // The client is 127.0.0.2; HAProxy itself connects from 127.0.0.1.
  const line = / connection peer=127\.0\.0\.2:\d+ via=127\.0\.0\.1:\d+ requests=[1-9]/;
  t.true(await waitFor(() => line.test(server!.stderr()), 10_000), server!.stderr());
  t.notRegex(server!.stderr(), /proxy-header-refused|proxy-untrusted/);
  // The same client going around the balancer is refused, header or not.
  const direct = await RawClient.connect(server!.port, { hello: false, localAddress: '127.0.0.2' });
  const events = await direct.untilClosed();
  t.true(
    events.some((e) => e.kind === 'message' && e.message.type === FrameType.ERROR),
    'refused with an ERROR',
  );
  t.true(
    await waitFor(() => / proxy-untrusted ip=127\.0\.0\.2 /.test(server!.stderr()), 10_000),
    server!.stderr(),
  );
});

test('nginx stream proxy_protocol on: the replica logs the real client', async (t) => {
  const trees = await replicaTrees(t, 'ft-pp1-', 1, 100_000);
  const [server] = await startReplicas(t, trees.roots, ['--proxy-protocol']);
  const nginx = await startNginxStream(t, trees.dir, [{ name: 'r1', port: server!.port }], {
    proxyProtocol: true,
  });
  await fetchFrom127002(t, trees, nginx.port);
  const line = / connection peer=127\.0\.0\.2:\d+ via=127\.0\.0\.1:\d+ requests=[1-9]/;
  t.true(await waitFor(() => line.test(server!.stderr()), 10_000), server!.stderr());
});

test('docs/DEPLOY.md shows the tested HAProxy health check and nginx stream upstream', async (t) => {
  const deploy = await readFile(join(REPO_ROOT, 'docs', 'DEPLOY.md'), 'utf8');
  for (const line of ftHealthCheck()) t.true(deploy.includes(line), `DEPLOY.md lacks: ${line}`);
  const nginx = nginxStreamConfig('/x', 7070, [
    { name: 'r1', port: 7070 },
    { name: 'r2', port: 7070, backup: true },
  ]);
  for (const directive of ['proxy_next_upstream on;', 'max_fails=1 fail_timeout=30s;', 'backup;'])
    t.true(nginx.includes(directive) && deploy.includes(directive), directive);
});
