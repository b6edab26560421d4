import test from 'ava';
import {
  MAX_PROTOCOL_VERSION,
  MIN_PROTOCOL_VERSION,
  PROTOCOL_VERSION,
  negotiateVersion,
} from '../src/index.js';

test('this implementation speaks version 1 only', (t) => {
  t.is(PROTOCOL_VERSION, 1);
  t.is(MIN_PROTOCOL_VERSION, 1);
  t.is(MAX_PROTOCOL_VERSION, 1);
});

test('a v1 client and a v1 server agree on 1', (t) => {
  t.is(negotiateVersion(1, 1), 1);
});

test('a client speaking 1..3 gets 1 from a v1 server', (t) => {
  t.is(negotiateVersion(1, 3), 1);
});

test('a v2-only client and a v1 server have no version in common', (t) => {
  t.is(negotiateVersion(2, 2), undefined);
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
