import test from 'ava';
import {
  DecodeError,
  FtError,
  ProtocolError,
  RemoteError,
  WIRE_ERROR_MEANINGS,
  WireError,
  codeForWire,
} from '../src/index.js';
import type { DecodeErrorCode } from '../src/index.js';

test('wire codes are distinct u16 values and every one has a meaning', (t) => {
  const codes = Object.values(WireError);
  t.is(new Set(codes).size, codes.length);
  for (const c of codes) t.true(Number.isInteger(c) && c > 0 && c <= 0xffff);
  t.deepEqual(Object.keys(WIRE_ERROR_MEANINGS).sort(), Object.keys(WireError).sort());
  for (const meaning of Object.values(WIRE_ERROR_MEANINGS)) t.true(meaning.length > 0);
});

test('the catalog covers what the protocol promises', (t) => {
  for (const name of [
    'NOT_FOUND',
    'IS_DIRECTORY',
    'ACCESS_DENIED',
    'BAD_REQUEST',
    'UNSUPPORTED_VERSION',
    'OFFSET_BEYOND_EOF',
    'PRECONDITION_FAILED',
    'BUSY',
    'TOO_LARGE',
    'INTERNAL',
  ]) {
    t.true(name in WireError, name);
  }
});

test('codeForWire names wire codes and tolerates unknown ones', (t) => {
  t.is(codeForWire(WireError.PRECONDITION_FAILED), 'FT_PRECONDITION_FAILED');
  t.is(codeForWire(WireError.NOT_FOUND), 'FT_NOT_FOUND');
  t.is(codeForWire(999), 'FT_UNKNOWN_REMOTE_ERROR');
  t.is(codeForWire(0), 'FT_UNKNOWN_REMOTE_ERROR');
});

test('every decode error maps to a wire code', (t) => {
  const wire = new Set<number>(Object.values(WireError));
  for (const [code, w] of Object.entries(DecodeError)) {
    t.regex(code, /^FT_ERR_[A-Z0-9_]+$/);
    t.true(wire.has(w), code);
  }
});

test('ProtocolError carries its code and the wire code to answer with', (t) => {
  const e = new ProtocolError('FT_ERR_FRAME_TOO_LARGE', 'too big');
  t.true(e instanceof FtError);
  t.is(e.name, 'ProtocolError');
  t.is(e.code, 'FT_ERR_FRAME_TOO_LARGE');
  t.is(e.wireCode, WireError.TOO_LARGE);
  t.is(e.message, 'too big');
  for (const code of Object.keys(DecodeError) as DecodeErrorCode[]) {
    t.is(new ProtocolError(code, '').wireCode, DecodeError[code]);
  }
});

test('RemoteError turns an ERROR frame into a coded error', (t) => {
  const busy = new RemoteError(WireError.BUSY, 'full', 0, 1500);
  t.true(busy instanceof FtError);
  t.is(busy.code, 'FT_BUSY');
  t.is(busy.wireCode, WireError.BUSY);
  t.is(busy.retryAfterMs, 1500);
  t.is(busy.requestId, 0);
  const nf = new RemoteError(WireError.NOT_FOUND, 'nope', 3, 0);
  t.is(nf.retryAfterMs, undefined, 'retryAfterMs 0 means no hint');
  t.is(nf.requestId, 3);
  t.is(nf.name, 'RemoteError');
});

test('FtError keeps a cause', (t) => {
  const cause = new Error('disk');
  const e = new FtError('FT_X', 'wrapped', { cause });
  t.is(e.cause, cause);
  t.is(new FtError('FT_X', 'plain').cause, undefined);
});
