/**
 * The handshake side of the UDP client: a request (REQUEST or STAT) is resent with backoff
 * until answered, and sent again with the token a RETRY hands out; an ERROR answering it
 * rejects. STAT is an exchange of nothing more.
 */
import { randomInt } from 'node:crypto';
import { DatagramType, FrameType, RemoteError, encodeUdpStat } from '@ft/protocol';
import type { StatResult, UdpMessage } from '@ft/protocol';
import { ClientError, ClientErrorCode } from '../errors.js';
import type { Operation, UdpLink } from './link.js';

/**
 * A request that is resent with backoff until answered, and retried with a token on RETRY.
 * `build` gets `legacy` true once two sends went wholly unanswered: a server predating a
 * REQUEST flag drops a datagram that sets it, so optional flags (HEADER_CRC) are left out from
 * then on, for the rest of the connection.
 */
export function startRequest(
  link: UdpLink,
  nonce: number,
  build: (token: Buffer, legacy: boolean) => Buffer,
) {
  let sends = 0;
  let sentAt = 0;
  let retried = false;
  let heard = false;
  const started = performance.now();
  const transmit = (now: number): void => {
    if (!heard && sends >= 2) link.legacy = true;
    sends++;
    sentAt = now;
    link.send(build(link.token, link.legacy));
  };
  transmit(started);
  return {
    /** True if `m` answers this request (RETRY is consumed here). */
    handles: (m: UdpMessage): boolean => {
      if (!('nonce' in m) || m.nonce !== nonce) {
        link.drop();
        return false;
      }
      const now = performance.now();
      heard = true;
      if (sends === 1 && !retried) link.rtt.sample(now - sentAt);
      if (m.type === DatagramType.RETRY) {
        if (link.token.equals(m.token)) return false;
        link.token = m.token;
        retried = true;
        sends = 0;
        transmit(now);
        return false;
      }
      if (m.type === DatagramType.ERROR)
        throw new RemoteError(m.code, m.message, 0, m.retryAfterMs);
      return true;
    },
    onTimer: (now: number): void => {
      if (now - started >= link.livenessMs) {
        throw new ClientError(
          ClientErrorCode.CONNECT_FAILED,
          `no answer from ${link.server} over UDP in ${link.livenessMs} ms`,
          {
            hint: `is ftserve running with UDP on ${link.server}? (ftserve --no-udp turns it off)`,
          },
        );
      }
      if (now - sentAt >= link.retryDelay(sends)) transmit(now);
    },
  };
}

/** STAT a path over UDP: resolves with the answer in the TCP STAT_OK's shape. */
export function statOperation(
  link: UdpLink,
  path: string,
  wantDigest: boolean,
  resolve: (value: StatResult) => void,
): Operation {
  const nonce = randomInt(1, 0xffff_ffff);
  const request = startRequest(link, nonce, (token) =>
    encodeUdpStat({ nonce, path, wantDigest, token, credential: link.credential }),
  );
  return {
    onMessage: (m) => {
      if (!request.handles(m)) return;
      if (m.type !== DatagramType.STAT_OK) throw link.bad(`expected STAT_OK, got type ${m.type}`);
      resolve({
        type: FrameType.STAT_OK,
        requestId: 0,
        kind: m.kind,
        size: m.size,
        mtimeMs: m.mtimeMs,
        validator: m.validator,
        algorithm: m.algorithm,
        chunkSize: m.chunkSize,
        root: m.root,
      });
    },
    onTimer: (now) => request.onTimer(now),
    fail: () => {},
  };
}
