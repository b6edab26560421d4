/**
 * What the signed-link tests share: a served tree with a signing key made by the real
 * `ftserve sign --new-key`, links made by the real `ftserve sign` (each signature remembered,
 * so a test can check that none shows up in any output), servers started with --sign-key, and
 * the credential of a link built from PROTOCOL.md §5.7 alone.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExecutionContext } from 'ava';
import { FrameType, PROTOCOL_VERSION, encodeHello } from '@ft/protocol';
import { runFtget } from './ftget.js';
import type { FtgetResult } from './ftget.js';
import { runFtserve, serveRoot } from './ftserve.js';
import type { Ftserve } from './ftserve.js';
import { RawClient } from './raw-client.js';

const MiB = 1024 * 1024;
/** ftget gives up at once: a refusal is the answer under test, not something to retry. */
export const FAST = ['--retries', '0'];

/** The `sig` of a link. */
export function sigOf(link: string): string {
  const m = /[?&]sig=([A-Za-z0-9_-]+)/.exec(link);
  if (m === null) throw new Error(`no sig in ${link}`);
  return m[1]!;
}

/**
 * The credential of `link` as PROTOCOL.md §5.7 builds it (not with the code under test):
 * ftlink1.<expires>.<kid>.<base64url SHA-256(path)>.<sig>.
 */
export function credentialOf(link: string): string {
  const m =
    /^fts?:\/\/[^/]+\/([^?]*)\?expires=(\d+)&kid=([0-9a-f]{8})&sig=([A-Za-z0-9_-]{43})$/.exec(link);
  if (m === null) throw new Error(`unexpected link ${link}`);
  const path = decodeURIComponent(m[1]!);
  const digest = createHash('sha256').update(path, 'utf8').digest('base64url');
  return `ftlink1.${m[2]}.${m[3]}.${digest}.${m[4]}`;
}

/** A raw connection whose HELLO carries `credential`. */
export async function rawWith(
  port: number,
  credential: string,
  localAddress?: string,
): Promise<RawClient> {
  const c = await RawClient.connect(port, {
    hello: false,
    ...(localAddress === undefined ? {} : { localAddress }),
  });
  c.send(
    encodeHello({
      minVersion: PROTOCOL_VERSION,
      maxVersion: PROTOCOL_VERSION,
      name: 'test',
      token: credential,
    }),
  );
  const w = await c.nextMessage();
  if (w.type !== FrameType.WELCOME) throw new Error(`expected WELCOME, got ${JSON.stringify(w)}`);
  return c;
}

/** A temporary tree (root/big.bin, root/docs/{a,b}.txt) and a signing key for it. */
export class LinkFixture {
  /** 8 MiB + 5 random bytes, served as big.bin. */
  readonly big = randomBytes(8 * MiB + 5);
  readonly root: string;
  readonly key: string;
  /** ftget's environment: no tokens file, no FTGET_TOKEN. */
  readonly env: NodeJS.ProcessEnv;
  /** Every link made here: none of their signatures may show up in any output. */
  readonly signatures: string[] = [];
  /** Every server started here (check their logs with noSignature at the end). */
  readonly servers: Ftserve[] = [];
  private outs = 0;

  private constructor(readonly base: string) {
    this.root = join(base, 'root');
    this.key = join(base, 'link.key');
    this.env = { ...process.env, XDG_CONFIG_HOME: join(base, 'no-config'), FTGET_TOKEN: '' };
  }

  static async create(prefix: string): Promise<LinkFixture> {
    const f = new LinkFixture(mkdtempSync(join(tmpdir(), prefix)));
    mkdirSync(join(f.root, 'docs'), { recursive: true });
    mkdirSync(join(f.base, 'out'));
    writeFileSync(join(f.root, 'big.bin'), f.big);
    writeFileSync(join(f.root, 'docs', 'a.txt'), 'docs-a');
    writeFileSync(join(f.root, 'docs', 'b.txt'), 'docs-b');
    const made = await runFtserve(['sign', '--new-key', f.key]);
    if (made.code !== 0) throw new Error(`sign --new-key failed: ${made.stderr}`);
    return f;
  }

  remove(): void {
    rmSync(this.base, { recursive: true, force: true });
  }

  /** A fresh output path. */
  out(): string {
    return join(this.base, 'out', `o${this.outs++}`);
  }

  /** `ftserve sign PATH --expires 1h` for 127.0.0.1:port (key: this fixture's, or --key-file in `extra`). */
  async sign(path: string, port: number, ...extra: string[]): Promise<string> {
    const keyFile = extra.includes('--key-file') ? [] : ['--key-file', this.key];
    const expires = extra.includes('--expires') ? [] : ['--expires', '1h'];
    const r = await runFtserve([
      'sign',
      path,
      ...keyFile,
      ...expires,
      '--host',
      '127.0.0.1',
      '--port',
      String(port),
      ...extra,
    ]);
    if (r.code !== 0) throw new Error(`sign failed: ${r.stderr}`);
    const link = r.stdout.trim();
    this.signatures.push(sigOf(link));
    return link;
  }

  /** Fails the test if `text` holds any signature made here. */
  noSignature(t: ExecutionContext, text: string, where: string): void {
    for (const s of this.signatures) t.false(text.includes(s), `a signature appears in ${where}`);
  }

  /** ftserve on 127.0.0.1 with --no-udp --sign-key (this fixture's key unless `keyFile`). */
  async serve(t: ExecutionContext, extra: string[] = [], keyFile = this.key): Promise<Ftserve> {
    const s = await serveRoot(t, this.root, [
      '--host',
      '127.0.0.1',
      '--no-udp',
      '--sign-key',
      keyFile,
      ...extra,
    ]);
    this.servers.push(s);
    return s;
  }

  /** `ftget get ARGS --retries 0` with this fixture's environment. */
  get(args: string[], cwd?: string): Promise<FtgetResult> {
    return runFtget(['get', ...args, ...FAST], { env: this.env, ...(cwd ? { cwd } : {}) });
  }
}
