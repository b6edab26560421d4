/**
 * The credential check of one GET, STAT or LIST on a server started with --tokens and/or
 * --sign-key: made before the request touches the file system, answered with a request-level
 * UNAUTHORIZED or FORBIDDEN (PROTOCOL.md §5.6, §5.7). Logs name a token by its name and a
 * signed link by its key id and expiry, never the credential itself.
 */
import { FtError, WireError } from '@ft/protocol';
import type { GetRequest, ListRequest, StatRequest } from '@ft/protocol';
import { refuse } from '../tcp/request-context.js';
import type { RequestContext } from '../tcp/request-context.js';
import { checkCredential } from './credential-check.js';
import type { CredentialCheck, Credentials } from './credential-check.js';
import { sharedAuthFailures } from './auth-failures.js';
import { leadsOutsidePrefix } from './prefix-escape.js';

const OPS = { 0x10: 'GET', 0x11: 'STAT', 0x12: 'LIST' } as const;

/** The log field naming the credential: token=NAME or link=KEYID@EXPIRY. */
function named(check: CredentialCheck): Record<string, string> {
  if (check.name === undefined) return {};
  return check.kind === 'link' ? { link: check.name } : { token: check.name };
}

/**
 * True if `token` lets the request through; otherwise answers it with ERROR and returns false.
 * `token` is what the connection's HELLO carried (undefined: none): an access token or a
 * signed link's credential.
 */
export async function authorize(
  ctx: RequestContext,
  credentials: Credentials,
  token: string | undefined,
  request: GetRequest | StatRequest | ListRequest,
): Promise<boolean> {
  const op = OPS[request.type];
  const wait = sharedAuthFailures.blockedFor(ctx.address);
  if (wait > 0) {
    const busy = new FtError('FT_BUSY', 'too many failed credential checks from this address', {
      wireCode: WireError.BUSY,
      retryAfterMs: wait,
    });
    await refuse(ctx, request.requestId, busy, (result) =>
      ctx.logger.warn('request', {
        peer: ctx.peer,
        op,
        path: request.path,
        result,
        why: 'auth-rate-limited',
      }),
    );
    return false;
  }
  const check = checkCredential(credentials, token, request.path, op);
  if (check.ok) {
    // A link opens its one path, whatever it resolves to: the signer named that path.
    if (check.kind === 'link' || !leadsOutsidePrefix(ctx.files.jail, check.prefix, request.path))
      return true;
    await refuse(
      ctx,
      request.requestId,
      new FtError('FT_FORBIDDEN', 'the token does not cover this path', {
        wireCode: WireError.FORBIDDEN,
      }),
      (result) =>
        ctx.logger.warn('request', {
          peer: ctx.peer,
          op,
          path: request.path,
          result,
          why: 'symlink leads outside prefix',
          ...named(check),
        }),
    );
    return false;
  }
  // Guessing is what the limit slows: a valid token asking outside its prefix is not counted.
  if (check.code === 'UNAUTHORIZED') sharedAuthFailures.fail(ctx.address);
  const wireCode = check.code === 'FORBIDDEN' ? WireError.FORBIDDEN : WireError.UNAUTHORIZED;
  await refuse(
    ctx,
    request.requestId,
    new FtError(`FT_${check.code}`, check.message, { wireCode }),
    (result) =>
      ctx.logger.warn('request', {
        peer: ctx.peer,
        op,
        path: request.path,
        result,
        why: check.why,
        ...named(check),
      }),
  );
  return false;
}
