import test from 'ava';
import { FtError, WireError } from '@ft/protocol';
import { wireOf } from '../src/udp/answers.js';
import { wireFailure } from '../src/wire-failure.js';

const errno = (code: string): NodeJS.ErrnoException =>
  Object.assign(new Error(`${code}: from the file system`), { code });

test('an FtError is answered with its own wire code, message and retry hint', (t) => {
  const error = new FtError('FT_BUSY', 'busy now', { wireCode: WireError.BUSY, retryAfterMs: 250 });
  t.deepEqual(wireFailure(error), {
    wireCode: WireError.BUSY,
    message: 'busy now',
    retryAfterMs: 250,
    logCode: 'FT_BUSY',
  });
});

test('a bare errno maps to NOT_FOUND or ACCESS_DENIED; anything else is INTERNAL with a retry hint', (t) => {
  t.like(wireFailure(errno('ENOENT')), { wireCode: WireError.NOT_FOUND, message: 'not found' });
  t.like(wireFailure(errno('ENOTDIR')), { wireCode: WireError.NOT_FOUND });
  t.like(wireFailure(errno('EACCES')), { wireCode: WireError.ACCESS_DENIED });
  t.like(wireFailure(errno('EPERM')), { wireCode: WireError.ACCESS_DENIED });
  t.like(wireFailure(errno('EIO')), {
    wireCode: WireError.INTERNAL,
    message: 'internal server error',
    retryAfterMs: 1000,
    logCode: 'EIO',
  });
});

test('the UDP service answers a failure as the TCP connection does', (t) => {
  for (const error of [errno('ENOENT'), errno('EACCES'), errno('EIO'), new Error('boom')]) {
    const f = wireFailure(error);
    t.deepEqual(wireOf(error), {
      code: f.wireCode,
      message: f.message,
      retryAfterMs: f.retryAfterMs,
    });
  }
});
