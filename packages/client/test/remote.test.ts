import test from 'ava';
import { formatServer, normalizeRemotePath, parseRemote, resolveServer } from '../src/remote.js';

const server = { host: 'localhost', port: 7070 };

test('a plain path uses the default server and loses its leading slash', (t) => {
  t.deepEqual(parseRemote('/docs//a.txt', server), {
    host: 'localhost',
    port: 7070,
    path: 'docs/a.txt',
  });
  t.deepEqual(parseRemote('./x', server), { host: 'localhost', port: 7070, path: 'x' });
});

test('ft:// URLs name host, port and path; IPv6 in brackets; percent-decoding', (t) => {
  t.deepEqual(parseRemote('ft://10.0.0.5:9000/big.iso', server), {
    host: '10.0.0.5',
    port: 9000,
    path: 'big.iso',
  });
  t.deepEqual(parseRemote('ft://[::1]:7071/a%20b', server), {
    host: '::1',
    port: 7071,
    path: 'a b',
  });
  t.deepEqual(parseRemote('ft://example.org/x/y', server), {
    host: 'example.org',
    port: 7070,
    path: 'x/y',
  });
  t.deepEqual(parseRemote('FT://h:1', server), { host: 'h', port: 1, path: '' });
});

test('bad REMOTEs are usage errors', (t) => {
  for (const bad of [
    'http://h/x',
    'ft://h:0/x',
    'ft://h:99999/x',
    'ft://h:abc/x',
    'ft://[::1/x',
    'a/../b',
    'ft://h/%zz',
  ]) {
    const error = t.throws(() => parseRemote(bad, server), undefined, bad);
    t.is((error as { code?: string }).code, 'FT_USAGE', bad);
  }
});

test('flags win over the environment, which wins over localhost:7070', (t) => {
  t.deepEqual(resolveServer({}, {}), { host: 'localhost', port: 7070 });
  t.deepEqual(resolveServer({}, { FTGET_HOST: 'h', FTGET_PORT: '1234' }), {
    host: 'h',
    port: 1234,
  });
  t.deepEqual(resolveServer({ host: 'f', port: 1 }, { FTGET_HOST: 'h', FTGET_PORT: '1234' }), {
    host: 'f',
    port: 1,
  });
  t.throws(() => resolveServer({}, { FTGET_PORT: 'x' }), { message: /FTGET_PORT/ });
});

test('normalizeRemotePath and formatServer', (t) => {
  t.is(normalizeRemotePath('/'), '');
  t.is(normalizeRemotePath('a/./b/'), 'a/b');
  t.is(formatServer({ host: '::1', port: 7 }), '[::1]:7');
  t.is(formatServer({ host: '127.0.0.1', port: 7 }), '127.0.0.1:7');
});
