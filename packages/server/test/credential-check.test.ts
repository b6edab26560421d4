/**
 * checkCredential as a unit: every outcome for tokens and signed links, with TokenStore.check's
 * result shape (what the TCP request check and the UDP service both rely on). The end-to-end
 * angle, with real processes, is test/access-signed-links.test.ts.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import test from 'ava';
import { encodeLinkCredential, linkPathDigest } from '@ft/protocol';
import { checkCredential } from '../src/access/credential-check.js';
import { SignKey, readSignKeyFile, signPath, writeNewSignKey } from '../src/access/sign-key.js';
import { TokenStore, hashToken, newToken, writeTokenFile } from '../src/access/token-store.js';

const dir = mkdtempSync(join(tmpdir(), 'ft-cred-'));
test.after.always(() => rmSync(dir, { recursive: true, force: true }));

const keyFile = join(dir, 'link.key');
writeNewSignKey(keyFile);
const signKey = new SignKey(keyFile);
const token = newToken();
const tokenFile = join(dir, 'tokens.json');
writeTokenFile(tokenFile, {
  version: 1,
  tokens: [
    {
      id: '01020304',
      name: 'docs-team',
      prefix: 'docs',
      sha256: hashToken(token).toString('hex'),
      created: new Date().toISOString(),
      expires: null,
    },
  ],
});
const tokens = new TokenStore(tokenFile);
const NOW = 1_800_000_000_000;
const both = { tokens, signKey };

/** The credential ftget sends for a link to `path` signed with `key`. */
function credential(path: string, expires = NOW / 1000 + 3600, key = signKey): string {
  const secret = readSignKeyFile(key.file);
  return encodeLinkCredential({
    ...signPath(secret, path, expires),
    pathDigest: linkPathDigest(path),
  });
}

test('a link opens GET and STAT of its one path, normalised', (t) => {
  const c = credential('docs/a.txt');
  for (const op of ['GET', 'STAT'] as const) {
    const r = checkCredential(both, c, 'docs//./a.txt', op, NOW);
    t.like(r, { ok: true, kind: 'link', prefix: 'docs/a.txt' });
    t.regex(r.ok ? r.name : '', /^[0-9a-f]{8}@2027-01-15T0\d:00:00Z$/);
  }
});

test('a link refuses LIST, paths under, beside and above it: FORBIDDEN', (t) => {
  const c = credential('docs');
  t.like(checkCredential(both, c, 'docs', 'LIST', NOW), {
    ok: false,
    code: 'FORBIDDEN',
    kind: 'link',
    message: 'a signed link opens one file; LIST is refused',
  });
  for (const path of ['docs/a.txt', 'docs2', '', 'x/../docs']) {
    t.like(checkCredential(both, c, path, 'STAT', NOW), {
      ok: false,
      code: 'FORBIDDEN',
      why: 'other path',
      message: 'the signed link is for another path',
    });
  }
});

test('expired, altered, other-key and malformed links: UNAUTHORIZED, never the signature in why or message', (t) => {
  const c = credential('docs/a.txt', NOW / 1000 - 1);
  const expired = checkCredential(both, c, 'docs/a.txt', 'GET', NOW);
  t.like(expired, { ok: false, code: 'UNAUTHORIZED', why: 'expired' });
  t.regex(
    expired.ok ? '' : expired.message,
    /^the signed link expired at \d{4}-\d\d-\d\dT[\d:]+Z$/,
  );
  const good = credential('docs/a.txt');
  const sig = good.slice(good.lastIndexOf('.') + 1);
  const altered = good.slice(0, -sig.length) + (sig[0] === 'A' ? 'B' : 'A') + sig.slice(1);
  const otherFile = join(dir, 'other.key');
  writeNewSignKey(otherFile);
  const other = credential('docs/a.txt', NOW / 1000 + 60, new SignKey(otherFile));
  for (const [cred, why] of [
    [altered, 'bad signature'],
    [other, /^signed with another key \(server key [0-9a-f]{8}\)$/],
    ['ftlink1.junk', 'malformed link'],
  ] as const) {
    const r = checkCredential(both, cred, 'docs/a.txt', 'GET', NOW);
    t.like(r, { ok: false, code: 'UNAUTHORIZED' });
    if (r.ok) continue;
    if (typeof why === 'string') t.is(r.why, why);
    else t.regex(r.why, why);
    t.false(`${r.why} ${r.message} ${r.name ?? ''}`.includes(sig));
  }
});

test('tokens keep TokenStore.check answers; each kind needs its own configuration', (t) => {
  t.like(checkCredential(both, token, 'docs/x', 'LIST', NOW), {
    ok: true,
    kind: 'token',
    name: 'docs-team',
    prefix: 'docs',
  });
  t.like(checkCredential(both, token, 'secret', 'GET', NOW), {
    ok: false,
    code: 'FORBIDDEN',
    message: 'the token does not cover this path',
  });
  t.like(checkCredential(both, 'ft_nope', 'docs/x', 'GET', NOW), {
    ok: false,
    code: 'UNAUTHORIZED',
    message: 'invalid, expired or revoked token',
  });
  t.like(checkCredential({ signKey }, token, 'docs/x', 'GET', NOW), {
    ok: false,
    code: 'UNAUTHORIZED',
    message: 'this server accepts only signed links',
  });
  t.like(checkCredential({ tokens }, credential('docs/x'), 'docs/x', 'GET', NOW), {
    ok: false,
    code: 'UNAUTHORIZED',
    message: 'this server does not accept signed links',
  });
  t.like(checkCredential(both, undefined, 'docs/x', 'GET', NOW), {
    ok: false,
    code: 'UNAUTHORIZED',
    why: 'no token',
    message: 'this server needs an access token or a signed link',
  });
});

test('a key file that fails to load on reload admits no link (fail closed)', (t) => {
  const file = join(dir, 'reload.key');
  writeNewSignKey(file);
  const key = new SignKey(file);
  const c = credential('a', NOW / 1000 + 60, key);
  t.like(checkCredential({ signKey: key }, c, 'a', 'GET', NOW), { ok: true });
  writeFileSync(file, 'broken\n');
  t.throws(() => key.load(), { message: /must hold one line of base64url/ });
  t.like(checkCredential({ signKey: key }, c, 'a', 'GET', NOW), {
    ok: false,
    code: 'UNAUTHORIZED',
    why: 'no signing key loaded',
  });
});
