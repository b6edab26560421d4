import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { Defaults, ProcessModel, resolveConfig } from '../src/config.js';
import { ExitCode, ServeError } from '../src/exit-codes.js';

const cwd = realpathSync(mkdtempSync(join(tmpdir(), 'ft-config-')));
const root = join(cwd, 'public');
mkdirSync(root);
writeFileSync(join(cwd, 'file'), '');
test.after.always(() => rmSync(cwd, { recursive: true, force: true }));

test('defaults: ./public under the cwd, port 7070, prefork, all interfaces', (t) => {
  const c = resolveConfig({}, cwd);
  t.is(c.root, root);
  t.is(c.port, Defaults.port);
  t.is(c.host, undefined);
  t.is(c.model, ProcessModel.PREFORK);
  t.true(c.workers >= 1);
  t.is(c.maxChildren, 64);
  t.is(c.idleTimeoutMs, Defaults.idleTimeoutSeconds * 1000);
  t.is(c.logFormat, 'text');
});

test('flags map to the config with absolute paths and milliseconds', (t) => {
  const c = resolveConfig(
    {
      root: 'public',
      port: 0,
      'fork-per-connection': true,
      'max-children': 4,
      'idle-timeout': 2,
      grace: 0,
      'log-file': 'x.log',
      'log-format': 'json',
      'pid-file': 'run/ft.pid',
      dotfiles: true,
    },
    cwd,
  );
  t.like(c, {
    port: 0,
    model: ProcessModel.FORK_PER_CONNECTION,
    maxChildren: 4,
    idleTimeoutMs: 2000,
    graceMs: 0,
    logFile: join(cwd, 'x.log'),
    logFormat: 'json',
    pidFile: join(cwd, 'run/ft.pid'),
    dotfiles: true,
  });
});

for (const [name, flags] of [
  ['a missing root', { root: 'nope' }],
  ['a root that is a file', { root: 'file' }],
  ['--daemon without --pid-file', { daemon: true }],
  ['--inetd with --fork-per-connection', { inetd: true, 'fork-per-connection': true }],
  ['--inetd with --daemon', { inetd: true, daemon: true, 'pid-file': 'p' }],
  ['--workers with --fork-per-connection', { workers: 2, 'fork-per-connection': true }],
  ['a port out of range', { port: 70000 }],
  ['a tiny --max-request-size', { 'max-request-size': 100 }],
  ['an unknown log format', { 'log-format': 'xml' }],
  ['zero workers', { workers: 0 }],
] as const) {
  test(`${name} is a usage error`, (t) => {
    const e = t.throws(() => resolveConfig(flags, cwd), { instanceOf: ServeError });
    t.is(e?.exitCode, ExitCode.USAGE);
    t.false(e?.message.includes('\n'));
  });
}
