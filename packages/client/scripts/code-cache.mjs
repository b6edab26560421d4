#!/usr/bin/env node
/**
 * Writes V8's code cache of the CLI bundle (bin/bundle.js reads it) after a training run:
 * `ftget get` against a port nothing listens on, in a scratch directory. The cache then holds
 * the bytecode of every function such a run compiled (oclif's config and parser, our flags,
 * the connection and retry code), not only the modules' top level, which saves ~25 ms of CPU
 * per `ftget get`. Run by scripts/bundle-cli.mjs, in a child process of its own (the run sets
 * process-wide state and ends the process). Usage: code-cache.mjs PACKAGE_ROOT full|lean (the
 * lean bundle, src/cli/lean-get.ts, is trained on the same command line).
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const [root, which] = process.argv.slice(2);
const { BUNDLE, CODE_CACHE, LEAN_BUNDLE, LEAN_CODE_CACHE, loadBundle } = await import(
  pathToFileURL(path.join(root, 'bin', 'bundle.js')).href
);
// A port that was free a moment ago: the connection is refused, and no retry is made.
const port = await new Promise((resolve) => {
  const server = net.createServer().listen(0, '127.0.0.1', () => {
    const { port: free } = server.address();
    server.close(() => resolve(free));
  });
});
const [bundle, codeCache] =
  which === 'lean' ? [LEAN_BUNDLE, LEAN_CODE_CACHE] : [BUNDLE, CODE_CACHE];
const { exports, script } = loadBundle(root, bundle, codeCache);
// The failed get ends the process (exit code 3): write the cache on exit.
process.on('exit', () => {
  writeFileSync(path.join(root, codeCache), script.createCachedData());
  process.exitCode = 0;
});
const argv = ['get', 'training.bin', '-o', 'training.bin', '-q', '--retries', '0'].concat([
  '--host',
  '127.0.0.1',
  '--port',
  String(port),
]);
if (which === 'lean') {
  if (!(await exports.leanGet(argv))) throw new Error('the lean path refused the training run');
} else await exports.main(argv, { root, commandsTarget: `./${BUNDLE}` });
