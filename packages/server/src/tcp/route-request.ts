/**
 * Where a request after HELLO goes: a UDP session grant, or (once the credentials, if any,
 * allow it) the GET, STAT or LIST handler. Moved out of connection.ts, which keeps the
 * connection's life (reading, queueing, deadlines, closing); this is what is asked of it.
 */
import { FrameType } from '@ft/protocol';
import type { GetRequest, ListRequest, StatRequest, UdpSessionRequest } from '@ft/protocol';
import { authorize } from '../access/request-auth.js';
import type { ConnectionOptions } from './connection-options.js';
import { serveGet } from './get-handler.js';
import type { RequestContext } from './request-context.js';
import { serveList, serveStat } from './stat-list-handlers.js';
import { serveUdpSession } from './udp-session-handler.js';

/** Serves one request other than HELLO on `ctx`, with the HELLO's `token`. */
export async function routeRequest(
  ctx: RequestContext,
  request: GetRequest | StatRequest | ListRequest | UdpSessionRequest,
  options: Pick<ConnectionOptions, 'credentials' | 'udpSessions'>,
  token: string | undefined,
): Promise<void> {
  const credentials = options.credentials;
  if (request.type === FrameType.UDP_SESSION)
    return await serveUdpSession(ctx, request, {
      grant: options.udpSessions,
      credentials,
      token,
    });
  if (credentials !== undefined && !(await authorize(ctx, credentials, token, request))) return;
  switch (request.type) {
    case FrameType.GET:
      return await serveGet(ctx, request);
    case FrameType.STAT:
      return await serveStat(ctx, request);
    case FrameType.LIST:
      return await serveList(ctx, request);
  }
}
