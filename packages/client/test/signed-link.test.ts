/**
 * Signed links as REMOTEs: the query comes off before anything else sees the REMOTE, the link
 * becomes the credential for its server, and no error message repeats the signature.
 */
import test from 'ava';
import { decodeLinkCredential, linkPathDigest } from '@ft/protocol';
import { configureCredentials, tokenFor } from '../src/credentials.js';
import { ClientError } from '../src/errors.js';
import { parseLinkedRemote, splitSignedLink } from '../src/signed-link.js';

const SIG = 'pM8ScdPh4oTXjXZaFM6tl8IH07qa73-eydxaO9zPWUo';
const QUERY = `expires=1767225600&kid=630dcd29&sig=${SIG}`;
const defaults = { host: 'localhost', port: 7070 };
const noEnv = { XDG_CONFIG_HOME: '/nonexistent-ft-test' };

test('the query of an ft URL is taken off; plain paths and query-less URLs are unchanged', (t) => {
  t.deepEqual(splitSignedLink(`ft://h:1/docs/a.txt?${QUERY}`), {
    remote: 'ft://h:1/docs/a.txt',
    link: { expires: 1767225600, keyId: '630dcd29', signature: SIG },
  });
  t.deepEqual(splitSignedLink(`fts://h:1/a?sig=${SIG}&kid=630dcd29&expires=1767225600`).link, {
    expires: 1767225600,
    keyId: '630dcd29',
    signature: SIG,
  });
  t.deepEqual(splitSignedLink('docs/what?.txt'), { remote: 'docs/what?.txt' });
  t.is(splitSignedLink(`ft://h:1/a%20b%3F.txt?${QUERY}`).remote, 'ft://h:1/a%20b%3F.txt');
  t.deepEqual(splitSignedLink('ft://h:1/what%3F.txt'), { remote: 'ft://h:1/what%3F.txt' });
});

test('a malformed query is a usage error that never repeats it', (t) => {
  for (const query of [
    'x=1',
    `expires=1767225600&kid=630dcd29`,
    `expires=1767225600&kid=630dcd29&sig=${SIG}&sig=${SIG}`,
    `expires=01767225600&kid=630dcd29&sig=${SIG}`,
    `expires=1767225600&kid=630DCD29&sig=${SIG}`,
    `expires=1767225600&kid=630dcd29&sig=${SIG}x`,
    `expires=1767225600&kid=630dcd29&sig=${SIG}&x${SIG}=1`,
  ]) {
    const error = t.throws(() => splitSignedLink(`ft://h:1/a?${query}`), {
      instanceOf: ClientError,
    });
    t.is(error?.code, 'FT_USAGE', query);
    t.false(`${error?.message} ${(error as ClientError).hint}`.includes(SIG), query);
  }
});

test('parseLinkedRemote: the stripped REMOTE, and the credential for its server only', (t) => {
  configureCredentials(undefined, noEnv);
  const remote = parseLinkedRemote(`ft://127.0.0.1:7171//docs/./a.txt?${QUERY}`, {}, defaults);
  t.deepEqual(remote, { host: '127.0.0.1', port: 7171, path: 'docs/a.txt', signed: true });
  const sent = tokenFor({ host: '127.0.0.1', port: 7171 });
  t.like(decodeLinkCredential(sent ?? ''), {
    expires: 1767225600,
    keyId: '630dcd29',
    signature: SIG,
  });
  t.true(decodeLinkCredential(sent!)!.pathDigest.equals(linkPathDigest('docs/a.txt')));
  t.is(tokenFor({ host: '127.0.0.1', port: 7172 }), undefined);
  // A "?" in a file name comes as %3F: decoded into the path, and signed as such.
  const q = parseLinkedRemote(`ft://127.0.0.1:7173/a%20b%3F.txt?${QUERY}`, {}, defaults);
  t.is(q.path, 'a b?.txt');
  t.true(decodeLinkCredential(tokenFor(q)!)!.pathDigest.equals(linkPathDigest('a b?.txt')));
  // The same link again is fine; another link for the same server is not.
  parseLinkedRemote(`ft://127.0.0.1:7171/docs/a.txt?${QUERY}`, {}, defaults);
  const two = t.throws(() =>
    parseLinkedRemote(`ft://127.0.0.1:7171/docs/b.txt?${QUERY}`, {}, defaults),
  );
  t.regex(two?.message ?? '', /two different signed links for 127\.0\.0\.1:7171/);
  // A conflict with --port is reported without the query.
  const conflict = t.throws(() =>
    parseLinkedRemote(`ft://127.0.0.1:7171/a?${QUERY}`, { port: '9' }, defaults),
  );
  t.false(conflict?.message.includes(SIG));
  configureCredentials(undefined, noEnv);
  t.is(tokenFor({ host: '127.0.0.1', port: 7171 }), undefined);
});
