/**
 * UDP_SESSION (PROTOCOL.md §4.11): over TLS, a client asks for an encrypted UDP session for a
 * path. The request is authorised as a STAT of that path would be (tokens, prefix, symlinks);
 * then the session gets a random id, the connection's TLS exporter gives both ends the same
 * keys (the client derives its own copy), and the grant goes to the UDP service process via
 * the primary. The answer is UDP_SESSION_OK, or a request-level ERROR UDP_ENCRYPTION when this
 * connection or server cannot open one.
 */
import { randomBytes } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import {
  FrameType,
  FtError,
  UDP_EXPORTER_LABEL,
  UDP_KEY_MATERIAL_SIZE,
  UDP_SESSION_ID_SIZE,
  WireError,
  encodeUdpSessionOk,
} from '@ft/protocol';
import type { UdpSessionRequest } from '@ft/protocol';
import { authorize } from '../access/request-auth.js';
import type { Credentials } from '../access/credential-check.js';
import { pathComponents } from '../access/token-store.js';
import { writeTo } from '../files/file-sender.js';
import { UDP_SESSION_LIFETIME_MS } from '../udp/session-grant.js';
import type { UdpSessionGrant } from '../udp/session-grant.js';
import { refuse } from './request-context.js';
import type { RequestContext } from './request-context.js';

/** Sessions one connection may open (each is state in the UDP service until it expires). */
export const MAX_SESSIONS_PER_CONNECTION = 16;
const opened = new WeakMap<RequestContext, number>();

/** What the handler needs besides the connection. */
export interface UdpSessionContext {
  /** Hands a grant to the UDP service; undefined when there is none (--no-udp, --inetd). */
  grant: ((grant: UdpSessionGrant) => void) | undefined;
  credentials: Credentials | undefined;
  /** The token HELLO carried. */
  token: string | undefined;
}

function unavailable(message: string): FtError {
  return new FtError('FT_UDP_ENCRYPTION', message, { wireCode: WireError.UDP_ENCRYPTION });
}

/** Answers one UDP_SESSION. */
export async function serveUdpSession(
  ctx: RequestContext,
  request: UdpSessionRequest,
  sc: UdpSessionContext,
): Promise<void> {
  const log = (result: string, extra: Record<string, unknown> = {}): void =>
    ctx.logger.info('request', {
      peer: ctx.peer,
      op: 'UDP_SESSION',
      path: request.path,
      result,
      ...extra,
    });
  const fail = (error: FtError): Promise<void> =>
    refuse(ctx, request.requestId, error, (result) => log(result));
  // Duck-typed: node:tls stays unloaded in children that serve no TLS (start-up cost).
  const socket = ctx.socket as Partial<TLSSocket>;
  if (socket.encrypted !== true || typeof socket.exportKeyingMaterial !== 'function')
    return fail(unavailable('UDP sessions are opened over ft over TLS only (fts://)'));
  if (sc.grant === undefined) return fail(unavailable('this server has no UDP service'));
  // Authorised exactly as a STAT of the path (UNAUTHORIZED / FORBIDDEN / BUSY answered there).
  const asStat = { type: FrameType.STAT, requestId: request.requestId, path: request.path };
  if (
    sc.credentials !== undefined &&
    !(await authorize(ctx, sc.credentials, sc.token, { ...asStat, wantDigest: false }))
  )
    return;
  const parts = pathComponents(request.path);
  if (parts === undefined)
    return fail(
      new FtError('FT_ACCESS_DENIED', `${request.path}: ".." is not allowed`, {
        wireCode: WireError.ACCESS_DENIED,
      }),
    );
  const count = opened.get(ctx) ?? 0;
  if (count >= MAX_SESSIONS_PER_CONNECTION)
    return fail(
      new FtError('FT_BUSY', `at most ${MAX_SESSIONS_PER_CONNECTION} UDP sessions per connection`, {
        wireCode: WireError.BUSY,
        retryAfterMs: 1000,
      }),
    );
  opened.set(ctx, count + 1);
  const sessionId = randomBytes(UDP_SESSION_ID_SIZE);
  const material = (ctx.socket as TLSSocket).exportKeyingMaterial(
    UDP_KEY_MATERIAL_SIZE,
    UDP_EXPORTER_LABEL,
    sessionId,
  );
  sc.grant({
    id: sessionId.toString('hex'),
    material: material.toString('base64'),
    prefix: parts.join('/'),
    expiresAt: Date.now() + UDP_SESSION_LIFETIME_MS,
  });
  log('ok', { session: sessionId.toString('hex') });
  await writeTo(
    ctx.socket,
    encodeUdpSessionOk({
      requestId: request.requestId,
      sessionId,
      lifetimeMs: UDP_SESSION_LIFETIME_MS,
    }),
  );
}
