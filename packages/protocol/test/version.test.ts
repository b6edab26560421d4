import test from 'ava';
import {
  MAX_PROTOCOL_VERSION,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  negotiateVersion,
} from '../src/index.js';

test('this implementation speaks versions 1 to 3', (t) => {
  t.is(PROTOCOL_VERSION, 3);
  t.is(MIN_PROTOCOL_VERSION, 1);
  t.is(MAX_PROTOCOL_VERSION, 3);
});

test('v1 and v2 clients keep their version with this server (no streamed digests for them)', (t) => {
  t.is(negotiateVersion(1, 1), 1);
  t.is(negotiateVersion(1, 2), 2);
  t.is(negotiateVersion(1, 3, 1, 2), 2, 'a v3 client and a v2 server agree on 2');
});

test('a v1 client and a v2 server agree on 1; a v2 client and a v1 server too', (t) => {
  t.is(negotiateVersion(1, 1), 1);
  t.is(negotiateVersion(1, 2, 1, 1), 1);
  t.is(negotiateVersion(1, 2, 1, 2), 2);
});

test('a v1 client and a v1 server agree on 1', (t) => {
  t.is(negotiateVersion(1, 1), 1);
});

test('a client speaking 1..3 gets 3 from this server, 1 from a v1 server', (t) => {
  t.is(negotiateVersion(1, 3), 3);
  t.is(negotiateVersion(1, 3, 1, 1), 1);
});

test('a v4-only client and this server have no version in common', (t) => {
  t.is(negotiateVersion(4, 4), undefined);
  t.is(negotiateVersion(2, 5, 1, 1), undefined);
});

test('the highest common version wins', (t) => {
  t.is(negotiateVersion(1, 3, 2, 4), 3);
  t.is(negotiateVersion(1, 9, 2, 4), 4);
  t.is(negotiateVersion(3, 3, 2, 4), 3);
  t.is(negotiateVersion(5, 9, 2, 4), undefined);
  t.is(negotiateVersion(0, 1, 2, 4), undefined);
  t.is(negotiateVersion(0, 0), undefined, 'version 0 is not spoken');
});
