#!/usr/bin/env node
/**
 * Writes V8's code cache of the CLI bundle (bin/bundle.js reads it) after a training run:
 * `ftget get` against a port nothing listens on, in a scratch directory. The cache then holds
 * the bytecode of every function such a run compiled (oclif's config and parser, our flags,
 * the connection and retry code), not only the modules' top level, which saves ~25 ms of CPU
 * per `ftget get`. Run by scripts/bundle-cli.mjs, in a child process of its own (the run sets
 * process-wide state and ends the process). Usage: code-cache.mjs PACKAGE_ROOT.
 */
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const root = process.argv[2];
const { BUNDLE, CODE_CACHE, loadBundle } = await import(
  pathToFileURL(path.join(root, 'bin', 'bundle.js')).href
);
// A port that was free a moment ago: the connection is refused, and no retry is made.
const port = await new Promise((resolve) => {
  const server = net.createServer().listen(0, '127.0.0.1', () => {
    const { port: free } = server.address();
    server.close(() => resolve(free));
  });
});
const { exports, script } = loadBundle(root);
// The failed get ends the process (oclif exits with ftget's code 3): write the cache on exit.
process.on('exit', () => {
  writeFileSync(path.join(root, CODE_CACHE), script.createCachedData());
  process.exitCode = 0;
});
await exports.main(
  ['get', 'training.bin', '-o', 'training.bin', '-q', '--retries', '0'].concat([
    '--host',
    '127.0.0.1',
    '--port',
    String(port),
  ]),
  { root, commandsTarget: `./${BUNDLE}` },
);
