/**
 * Test certificates made at test time with the openssl command (installed with apt-get when
 * missing; a test fails, never skips, when it cannot be): a CA, server certificates it signs
 * for 127.0.0.1/localhost (two, with different keys, for reload tests) and for another host,
 * and the SPKI pins curl's --pinnedpubkey would use.
 */
import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

function ensureOpenssl(): void {
  try {
    execFileSync('openssl', ['version'], { stdio: 'ignore' });
    return;
  } catch {
    // Not installed: install it below.
  }
  execFileSync('apt-get', ['install', '-y', '-q', 'openssl'], {
    stdio: 'ignore',
    timeout: 300_000,
  });
  execFileSync('openssl', ['version'], { stdio: 'ignore' });
}

function openssl(args: string[], input?: Buffer): Buffer {
  return execFileSync('openssl', args, {
    input,
    stdio: ['pipe', 'pipe', 'pipe'],
    timeout: 30_000,
  });
}

/** A certificate and its key, as PEM files. */
export interface CertFiles {
  cert: string;
  key: string;
  /** sha256//BASE64 of the SPKI, computed by openssl (independent of the code under test). */
  pin: string;
}

export interface TestPki {
  dir: string;
  /** The CA certificate (PEM), for --cacert. */
  ca: string;
  /** For 127.0.0.1 and localhost, signed by the CA; the file also holds the CA (a chain). */
  server: CertFiles;
  /** Another certificate for the same names, with another key. */
  server2: CertFiles;
  /** Signed by the CA, for other.example only. */
  wrongHost: CertFiles;
  /** Signed by the CA for 127.0.0.1 and localhost, valid only in January 2020. */
  expired: CertFiles;
  remove(): void;
}

function newKey(path: string): void {
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', path]);
}

function pinOf(cert: string): string {
  const pub = openssl(['x509', '-in', cert, '-pubkey', '-noout']);
  const der = openssl(['pkey', '-pubin', '-outform', 'DER'], pub);
  const digest = openssl(['dgst', '-sha256', '-binary'], der);
  return `sha256//${digest.toString('base64')}`;
}

function signed(dir: string, name: string, san: string, caCert: string, caKey: string): CertFiles {
  const key = join(dir, `${name}.key`);
  const csr = join(dir, `${name}.csr`);
  const crt = join(dir, `${name}.crt`);
  const ext = join(dir, `${name}.ext`);
  newKey(key);
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${name}`, '-out', csr]);
  writeFileSync(ext, `subjectAltName=${san}\nbasicConstraints=CA:FALSE\n`);
  openssl([
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    caCert,
    '-CAkey',
    caKey,
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    ext,
    '-out',
    crt,
  ]);
  return { cert: crt, key, pin: pinOf(crt) };
}

/**
 * A certificate for `san` whose validity ended long ago: `openssl x509 -req` of OpenSSL 3.0
 * cannot set dates in the past, `openssl ca` can (with a throwaway CA database).
 */
function expiredCert(dir: string, san: string, caCert: string, caKey: string): CertFiles {
  const db = join(dir, 'ca-db');
  mkdirSync(db);
  writeFileSync(join(db, 'index.txt'), '');
  writeFileSync(join(db, 'serial'), '1000\n');
  const config = join(db, 'ca.cnf');
  writeFileSync(
    config,
    [
      '[ca]',
      'default_ca = test',
      '[test]',
      `database = ${join(db, 'index.txt')}`,
      `serial = ${join(db, 'serial')}`,
      `new_certs_dir = ${db}`,
      'default_md = sha256',
      'policy = any',
      'copy_extensions = copy',
      'unique_subject = no',
      '[any]',
      'commonName = supplied',
      '',
    ].join('\n'),
  );
  const key = join(dir, 'expired.key');
  const csr = join(dir, 'expired.csr');
  const crt = join(dir, 'expired.crt');
  newKey(key);
  openssl([
    'req',
    '-new',
    '-key',
    key,
    '-subj',
    '/CN=expired',
    '-addext',
    `subjectAltName=${san}`,
    '-out',
    csr,
  ]);
  openssl([
    'ca',
    '-batch',
    '-notext',
    '-config',
    config,
    '-cert',
    caCert,
    '-keyfile',
    caKey,
    '-startdate',
    '20200101000000Z',
    '-enddate',
    '20200201000000Z',
    '-in',
    csr,
    '-out',
    crt,
  ]);
  return { cert: crt, key, pin: pinOf(crt) };
}

/** Makes a fresh CA and server certificates in a temporary directory. */
export function makeTestPki(): TestPki {
  ensureOpenssl();
  const dir = mkdtempSync(join(tmpdir(), 'ft-tls-'));
  const caKey = join(dir, 'ca.key');
  const ca = join(dir, 'ca.crt');
  newKey(caKey);
  openssl([
    'req',
    '-x509',
    '-new',
    '-key',
    caKey,
    '-subj',
    '/CN=ft test CA',
    '-days',
    '2',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign',
    '-out',
    ca,
  ]);
  const names = 'DNS:localhost,IP:127.0.0.1';
  const server = signed(dir, 'server', names, ca, caKey);
  const server2 = signed(dir, 'server2', names, ca, caKey);
  const wrongHost = signed(dir, 'wrong', 'DNS:other.example', ca, caKey);
  const expired = expiredCert(dir, names, ca, caKey);
  appendFileSync(server.cert, readFileSync(ca));
  return {
    dir,
    ca,
    server,
    server2,
    wrongHost,
    expired,
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
