/**
 * Finds the peer tools and, when running as root, installs the missing ones from Debian packages
 * (one `apt-get update`, then one install; package by package if the batch fails). A peer that
 * still is not there is skipped by the sections that need it, with a note in the report.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import process from 'node:process';
import { capture } from './proc.mjs';

/** Binary → Debian package that provides it. */
const PEERS = {
  nginx: 'nginx',
  nc: 'netcat-openbsd',
  socat: 'socat',
  rsync: 'rsync',
  'in.tftpd': 'tftpd-hpa',
  tftp: 'tftp-hpa',
  wrk: 'wrk',
  ab: 'apache2-utils',
  hyperfine: 'hyperfine',
  curl: 'curl',
  nft: 'nftables',
  ip: 'iproute2',
  time: 'time',
  aria2c: 'aria2',
  openssl: 'openssl',
  // The small row's fresh file system per run (scenarios/small-files.mjs).
  'mkfs.ext4': 'e2fsprogs',
  mount: 'mount',
  umount: 'mount',
};

const SEARCH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of an executable, or undefined. */
export function which(bin) {
  const dirs = [...(process.env.PATH ?? '').split(':'), ...SEARCH];
  for (const dir of dirs) {
    if (dir === '') continue;
    const p = path.join(dir, bin);
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/**
 * Installs what is missing (root only) and returns {bins: {name: path|undefined}, notes}.
 * @param {{install: boolean, log: (s: string) => void}} o
 */
export async function ensurePeers(o) {
  const notes = [];
  const missing = () => Object.keys(PEERS).filter((b) => which(b) === undefined);
  let todo = missing();
  if (todo.length > 0 && o.install && process.getuid?.() === 0 && which('apt-get')) {
    const pkgs = [...new Set(todo.map((b) => PEERS[b]))];
    o.log(`installing missing peers: ${pkgs.join(' ')}`);
    const apt = (args, ms) =>
      capture(['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', ...args], ms);
    try {
      await apt(['update', '-q'], 180_000);
    } catch (error) {
      notes.push(`apt-get update failed: ${firstLine(error)}`);
    }
    try {
      await apt(['install', '-y', '-q', '--no-install-recommends', ...pkgs], 600_000);
    } catch {
      for (const pkg of pkgs) {
        try {
          await apt(['install', '-y', '-q', '--no-install-recommends', pkg], 300_000);
        } catch (error) {
          notes.push(`could not install ${pkg}: ${firstLine(error)}`);
        }
      }
    }
    todo = missing();
  } else if (todo.length > 0) {
    notes.push(
      o.install
        ? 'not root (or no apt-get): missing peers are not installed'
        : '--no-install: missing peers are not installed',
    );
  }
  for (const b of todo) notes.push(`peer not available: ${b} (Debian package ${PEERS[b]})`);
  const bins = Object.fromEntries(Object.keys(PEERS).map((b) => [b, which(b)]));
  return { bins, notes };
}

function firstLine(error) {
  return String(error?.message ?? error)
    .split('\n')[0]
    .slice(0, 200);
}

/** Versions of the peers, for the report (best effort, never throws). */
export async function peerVersions(bins) {
  const probes = {
    nginx: [bins.nginx, '-v'],
    socat: [bins.socat, '-V'],
    rsync: [bins.rsync, '--version'],
    curl: [bins.curl, '--version'],
    'tftpd-hpa': [bins['in.tftpd'], '-V'],
    ab: [bins.ab, '-V'],
    wrk: [bins.wrk, '-v'],
    aria2c: [bins.aria2c, '--version'],
    openssl: [bins.openssl, 'version'],
  };
  const out = {};
  for (const [name, argv] of Object.entries(probes)) {
    if (argv[0] === undefined) continue;
    try {
      const text = await captureAll(argv);
      const line = text.split('\n').find((l) => /\d+\.\d+/.test(l)) ?? text.split('\n')[0];
      out[name] = line.trim().slice(0, 80);
    } catch {
      // unknown
    }
  }
  try {
    const dpkg = await capture(['dpkg-query', '-W', '-f', '${Version}', 'netcat-openbsd']);
    out['netcat-openbsd'] = dpkg.trim();
  } catch {
    // unknown
  }
  return out;
}

/** Some tools print their version on stderr or exit non-zero: merge both streams. */
async function captureAll(argv) {
  return capture(['sh', '-c', '"$@" 2>&1; true', 'sh', ...argv], 10_000);
}
