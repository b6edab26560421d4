/**
 * Test data in a fresh temporary directory: incompressible files of the sizes the sections
 * need, world-readable so that nginx/tftpd workers running as another user can serve them.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, writeSync, mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const BLOCK = 8 * 1024 * 1024;

/** Writes `size` pseudo-random bytes (a random block repeated with a counter stamped in). */
export function writeRandomFile(file, size) {
  const block = randomBytes(Math.min(BLOCK, Math.max(size, 1)));
  const fd = openSync(file, 'w', 0o644);
  try {
    let written = 0;
    for (let i = 0; written < size; i++) {
      block.writeUInt32BE(i, 0); // no two blocks alike, so nothing can dedupe them
      const n = Math.min(block.length, size - written);
      writeSync(fd, block, 0, n);
      written += n;
    }
  } finally {
    closeSync(fd);
  }
  chmodSync(file, 0o644);
}

/**
 * Creates the data set for a profile and returns the paths (relative names are what the
 * servers see under their root).
 */
export function createFixtures(parent, profile, sections) {
  const dir = mkdtempSync(path.join(parent ?? os.tmpdir(), 'ft-bench-'));
  chmodSync(dir, 0o755);
  const data = path.join(dir, 'data');
  const out = path.join(dir, 'out');
  const scratch = path.join(dir, 'scratch');
  for (const d of [data, out, scratch]) mkdirSync(d, { mode: 0o755 });
  chmodSync(data, 0o755);
  const f = { dir, data, out, scratch, names: {} };
  const make = (name, size) => {
    writeRandomFile(path.join(data, name), size);
    f.names[name] = size;
  };
  if (sections.has('single') || sections.has('resume') || sections.has('tls'))
    make('big.bin', profile.bigSize);
  if (sections.has('ttfb')) make('ttfb.bin', profile.bigSize);
  if (sections.has('multi')) make('multi.bin', profile.multiSize);
  if (sections.has('concurrent')) make('c64.bin', profile.concurrentSize);
  if (sections.has('loss')) make('udp.bin', profile.udpSize);
  make('one4k.bin', profile.smallSize);
  if (sections.has('small') || sections.has('rps') || sections.has('tls')) {
    const small = path.join(data, 'small');
    mkdirSync(small, { mode: 0o755 });
    chmodSync(small, 0o755);
    f.smallNames = [];
    for (let i = 0; i < profile.smallCount; i++) {
      const name = `small/f${String(i).padStart(4, '0')}.bin`;
      make(name, profile.smallSize);
      f.smallNames.push(name);
    }
  }
  return f;
}
