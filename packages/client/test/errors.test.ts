import { readFileSync } from 'node:fs';
import { FtError, ProtocolError, RemoteError, WireError } from '@ft/protocol';
import test from 'ava';
import {
  ClientError,
  ClientErrorCode,
  describeError,
  exitCodeFor,
  isRetryable,
} from '../src/errors.js';
import { EXIT_CODE_MEANINGS, ExitCode } from '../src/exit-codes.js';

test('every client error code maps to its documented exit code', (t) => {
  const expected: Record<string, number> = {
    FT_USAGE: 2,
    FT_CONNECT_FAILED: 3,
    FT_CONNECTION_LOST: 3,
    FT_STALLED: 3,
    FT_REMOTE_CHANGED: 5,
    FT_INTEGRITY: 6,
    FT_LOCAL_IO: 7,
    FT_BAD_RESPONSE: 8,
    FT_LOCAL_CONFLICT: 9,
    FT_PARTIAL_TOO_LARGE: 9,
    FT_ABORTED: 130,
    FT_TLS_VERIFY: 11,
    FT_TLS_MISMATCH: 12,
    FT_NO_SOURCE: 13,
  };
  for (const code of Object.values(ClientErrorCode)) {
    t.is(exitCodeFor(new ClientError(code, 'x')), expected[code]! as number as never, code);
  }
});

test('remote errors: refused → 4, busy/timeout/internal → 3, protocol-level → 8', (t) => {
  const exit = (wire: number) => exitCodeFor(new RemoteError(wire, 'm', 1, 0));
  t.is(exit(WireError.NOT_FOUND), 4);
  t.is(exit(WireError.ACCESS_DENIED), 4);
  t.is(exit(WireError.IS_DIRECTORY), 4);
  t.is(exit(WireError.NOT_A_DIRECTORY), 4);
  t.is(exit(WireError.BUSY), 3);
  t.is(exit(WireError.TIMEOUT), 3);
  t.is(exit(WireError.INTERNAL), 3);
  t.is(exit(WireError.BAD_REQUEST), 8);
  t.is(exit(WireError.UNSUPPORTED_VERSION), 8);
  t.is(exit(999), 8);
  t.is(exitCodeFor(new ProtocolError('FT_ERR_BAD_MAGIC', 'x')), 8);
});

test('local errno errors → 7; anything unknown → 1', (t) => {
  t.is(exitCodeFor(Object.assign(new Error('full'), { code: 'ENOSPC' })), 7);
  t.is(exitCodeFor(Object.assign(new Error('denied'), { code: 'EACCES' })), 7);
  t.is(exitCodeFor(new TypeError('bug')), 1);
  t.is(exitCodeFor(new FtError('FT_SOMETHING_NEW', 'x')), 1);
});

test('only network and load errors are retryable', (t) => {
  t.true(isRetryable(new ClientError(ClientErrorCode.CONNECTION_LOST, 'x')));
  t.true(isRetryable(new ClientError(ClientErrorCode.STALLED, 'x')));
  t.true(isRetryable(new RemoteError(WireError.BUSY, 'x', 0, 100)));
  t.false(isRetryable(new RemoteError(WireError.NOT_FOUND, 'x', 1, 0)));
  t.false(isRetryable(new RemoteError(WireError.ACCESS_DENIED, 'x', 1, 0)));
  t.false(isRetryable(new ClientError(ClientErrorCode.BAD_RESPONSE, 'x')));
  t.false(isRetryable(new Error('x')));
});

test('messages carry hints: connect failures name the server', (t) => {
  const d = describeError(new ClientError(ClientErrorCode.CONNECT_FAILED, 'cannot connect'), {
    server: '127.0.0.1:7070',
  });
  t.is(d.hint, 'is ftserve running on 127.0.0.1:7070?');
  t.is(d.exitCode, 3);
  t.regex(
    describeError(Object.assign(new Error('no space'), { code: 'ENOSPC' })).hint ?? '',
    /disk space/,
  );
  t.regex(describeError(new TypeError('oops')).hint ?? '', /DEBUG/);
});

test('the README exit-code table matches the table in exit-codes.ts', (t) => {
  const readme = readFileSync(new URL('../../../../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('<!-- ftget-exit-codes:start -->');
  const end = readme.indexOf('<!-- ftget-exit-codes:end -->');
  t.true(start >= 0 && end > start, 'the README marks the ftget exit-code table');
  const table = readme.slice(start, end);
  const rows = [...table.matchAll(/^\| *(\d+) *\| *(.+?) *\|$/gm)].map((m) => [Number(m[1]), m[2]]);
  t.deepEqual(
    rows,
    Object.entries(EXIT_CODE_MEANINGS).map(([code, meaning]) => [Number(code), meaning]),
  );
  t.deepEqual(
    Object.values(ExitCode).sort((a, b) => a - b),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 130, 141],
  );
});
