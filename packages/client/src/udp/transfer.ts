/**
 * The transfer side of the UDP client, for GET: REQUEST → ACCEPT → DIGEST_REQUESTs for the
 * chunk digests → first ACK, then DATA flows through a UdpReceiver and ACKs go back, until
 * FIN; we answer CLOSE. ReceiveFlow (receive-flow.ts) holds what pause/resume/close act on
 * between datagrams.
 */
import { randomInt } from 'node:crypto';
import {
  CloseReason,
  DatagramType,
  DigestAlgorithm,
  FrameType,
  RemoteError,
  UdpReceiver,
  digestsPerDatagram,
  encodeUdpClose,
  encodeUdpDigestRequest,
  encodeUdpRequest,
} from '@ft/protocol';
import type { End, FileHeader, GetRequest, UdpAccept } from '@ft/protocol';
import type { GetSink } from '../connection.js';
import { checkRangeAnswer } from '../response-checks.js';
import { startRequest } from './handshake.js';
import type { Operation, UdpLink } from './link.js';
import { traceEnd } from './receive-flow.js';
import type { ReceiveFlow } from './receive-flow.js';

/** Largest receive window we offer, in bytes (memory bound per transfer). */
export const UDP_WINDOW = 6 * 1024 * 1024;
/** Kernel bookkeeping per queued datagram beyond its payload (skb truesize; ~1 KiB on Linux). */
const DATAGRAM_OVERHEAD = 1280;

/**
 * The receive window for a socket whose kernel receive buffer is `granted` bytes (what
 * getRecvBufferSize() reports, which Linux caps by net.core.rmem_max): a full window must
 * queue there while the main thread is busy, or the kernel drops the excess and the sender
 * takes it for congestion. So: the payloads of 90% of the datagrams that fit, at most
 * UDP_WINDOW, at least two datagrams. 64 KiB datagrams into the 8 MiB granted for a 4 MiB
 * request (rmem_max 4 MiB) give the whole 6 MiB; a default rmem_max (208 KiB, granted 416 KiB)
 * gives 5 datagrams instead of a 4 MiB window the kernel would mostly drop.
 */
export function windowFor(granted: number, payloadSize: number): number {
  // Unknown (the platform would not say): what was offered before the window was sized.
  if (!(granted > 0)) return 4 * 1024 * 1024;
  const fit = Math.floor((0.9 * granted) / (payloadSize + DATAGRAM_OVERHEAD));
  return Math.max(2 * payloadSize, Math.min(UDP_WINDOW, fit * payloadSize));
}
/** DIGEST_REQUESTs in flight at once. */
const DIGEST_PIPELINE = 8;
/**
 * In-order segments per ACK, by segment size. With loopback's 65000-byte segments the 4 MiB
 * window holds 64 of them: an ACK every 16 (a quarter window, which is also when a window
 * update is due) halves the ACKs of the default 8, each of which costs both processes a send,
 * a receive and a wake-up (555 ACKs were ~7% of the client's CPU in a 256 MiB transfer). The
 * receiver goes back to 8 at the first hole: under loss the sender needs the ACK clock.
 * Small segments keep 8.
 */
function ackEveryFor(payloadSize: number, window: number): number {
  if (payloadSize < 16 * 1024) return 8;
  return Math.max(2, Math.min(16, Math.floor(window / payloadSize / 4)));
}

/** GET a range; the sink sees a FILE header (with every chunk digest) and then the body in order. */
export function getOperation(
  link: UdpLink,
  flow: ReceiveFlow,
  request: Omit<GetRequest, 'type' | 'requestId'>,
  sink: GetSink,
  resolve: (value: End) => void,
): Operation {
  const nonce = randomInt(1, 0xffff_ffff);
  // On loopback the DATA CRC would only repeat what the chunk digests check anyway: ask for a
  // CRC of the header alone (HEADER_CRC), unless this path's digests already failed once here.
  const headerCrc = request.wantDigests && link.loopback && !link.headerCrcPaths.has(request.path);
  if (headerCrc) link.headerCrcPaths.add(request.path);
  const ask = startRequest(link, nonce, (token, legacy) =>
    encodeUdpRequest({
      nonce,
      path: request.path,
      offset: request.offset,
      length: request.length,
      validator: request.validator,
      wantDigests: request.wantDigests,
      // The chunk digests verify every payload byte: the DATA CRC may cover the header only.
      headerCrc: headerCrc && !legacy,
      maxPayload: link.payloadSize,
      window: link.window,
      token,
      credential: link.credential,
    }),
  );
  let accept: UdpAccept | undefined;
  let digests: Buffer[] = [];
  /** Digest batches: first chunk → [count, sentAt, sends]. */
  const batches = new Map<number, { count: number; sentAt: number; sends: number }>();
  let nextBatch = 0;
  let startAckAt = 0;
  let lastHeard = performance.now();
  let dataSeen = false;
  /** FT_UDP_TRACE: when the phases began (ms since the process started). */
  const marks: Record<string, number> = { requestAt: performance.now() };

  const sendBatch = (first: number, count: number, now: number): void => {
    const b = batches.get(first) ?? { count, sentAt: now, sends: 0 };
    b.sentAt = now;
    b.sends++;
    batches.set(first, b);
    link.send(encodeUdpDigestRequest({ transferId: flow.transferId, firstChunk: first, count }));
  };
  const fillDigestPipeline = (now: number): void => {
    const a = accept!;
    const per = digestsPerDatagram(a.payloadSize);
    while (batches.size < DIGEST_PIPELINE && nextBatch < a.chunkCount) {
      const count = Math.min(per, a.chunkCount - nextBatch);
      sendBatch(a.firstChunk + nextBatch, count, now);
      nextBatch += count;
    }
  };
  const startData = (now: number): void => {
    const a = accept!;
    const header: FileHeader = {
      type: FrameType.FILE,
      requestId: 0,
      size: a.size,
      offset: a.offset,
      length: a.length,
      mtimeMs: a.mtimeMs,
      validator: a.validator,
      algorithm: a.algorithm,
      chunkSize: a.chunkSize,
      root: a.root,
      firstChunk: a.firstChunk,
      chunkDigests: digests,
    };
    sink.onHeader(header);
    marks.dataAt = now;
    flow.receiver = new UdpReceiver({
      start: a.offset,
      end: a.offset + a.length,
      payloadSize: a.payloadSize,
      window: a.window,
      ackEvery: ackEveryFor(a.payloadSize, a.window),
    });
    startAckAt = now;
    flow.sendAck();
  };
  const onAccept = (m: UdpAccept, now: number): void => {
    if (accept !== undefined) return; // a repeat: we are past it
    // The caller checks the FILE header built from it again; checked here too, so that no
    // digest is fetched for a range or version that was not asked for.
    checkRangeAnswer(m, {
      offset: request.offset,
      length: request.length,
      validator: request.validator,
      known: undefined,
    });
    if (m.payloadSize > link.payloadSize || m.window > link.window)
      throw link.bad('ACCEPT grants more than was asked for');
    if (request.wantDigests && m.length > 0 && m.algorithm !== DigestAlgorithm.SHA256_CHUNKS)
      throw link.bad('ACCEPT without the chunk digests that were asked for');
    accept = m;
    marks.acceptAt = now;
    flow.transferId = m.transferId;
    digests = new Array<Buffer>(m.chunkCount);
    if (m.chunkCount > 0) fillDigestPipeline(now);
    else startData(now);
  };
  return {
    onMessage: (m) => {
      const now = performance.now();
      if (accept === undefined) {
        if (!ask.handles(m)) return;
        if (m.type !== DatagramType.ACCEPT) throw link.bad(`expected ACCEPT, got type ${m.type}`);
        lastHeard = now;
        onAccept(m, now);
        return;
      }
      if (m.type === DatagramType.ERROR && m.transferId === flow.transferId) {
        throw new RemoteError(m.code, m.message, 0, m.retryAfterMs);
      }
      if (!('transferId' in m) || m.transferId !== flow.transferId) {
        link.drop();
        return;
      }
      lastHeard = now;
      switch (m.type) {
        case DatagramType.DIGESTS: {
          const b = batches.get(m.firstChunk);
          if (b === undefined || flow.receiver !== undefined) return; // late duplicate
          if (m.digests.length !== b.count) throw link.bad('DIGESTS with the wrong count');
          if (b.sends === 1) link.rtt.sample(now - b.sentAt);
          batches.delete(m.firstChunk);
          m.digests.forEach((d, i) => (digests[m.firstChunk - accept!.firstChunk + i] = d));
          fillDigestPipeline(now);
          if (batches.size === 0 && nextBatch >= accept.chunkCount) startData(now);
          return;
        }
        case DatagramType.DATA: {
          const r = flow.receiver;
          if (r === undefined) return;
          // A payload with no CRC of its own is acceptable only when digests will check it.
          if (m.headerCrc && !headerCrc) {
            link.drop();
            return;
          }
          if (!dataSeen) marks.firstDataAt = now;
          dataSeen = true;
          const verdict = r.onData(m.offset, m.payload, m.tsval);
          if (verdict === 'invalid') throw link.bad(`DATA at ${m.offset} is off the segment grid`);
          flow.deliver(sink);
          if (r.ackUrgent) flow.sendAck();
          else if (r.ackPending) flow.scheduleAck(now);
          return;
        }
        case DatagramType.FIN: {
          const r = flow.receiver;
          if (r === undefined || !r.complete) throw link.bad('FIN before all data arrived');
          const close = encodeUdpClose({
            transferId: flow.transferId,
            reason: CloseReason.DONE,
          });
          // Twice: a lost CLOSE only costs the server a few FIN resends, but why pay.
          link.send(close);
          link.send(close);
          if (process.env.FT_UDP_TRACE === '1')
            traceEnd(r, { ...marks, timerAcks: flow.timerAcks });
          flow.transferId = 0;
          flow.receiver = undefined;
          resolve({
            type: FrameType.END,
            requestId: 0,
            bytesSent: accept.length,
            status: m.status,
          });
          return;
        }
        default:
          link.drop();
      }
    },
    onTimer: (now) => {
      if (accept === undefined) {
        ask.onTimer(now);
        return;
      }
      const liveness = Math.min(link.livenessMs, accept.livenessMs);
      if (now - lastHeard >= liveness) throw link.silent(liveness);
      for (const [first, b] of batches) {
        if (now - b.sentAt >= link.retryDelay(b.sends)) sendBatch(first, b.count, now);
      }
      // Our first ACK starts the data; until DATA shows up, it may have been lost.
      if (flow.receiver !== undefined && !dataSeen && now - startAckAt >= link.rtt.rto) {
        startAckAt = now;
        flow.sendAck();
      }
    },
    fail: () => {
      if (flow.transferId !== 0) {
        link.send(encodeUdpClose({ transferId: flow.transferId, reason: CloseReason.CANCEL }));
      }
      flow.transferId = 0;
      flow.receiver = undefined;
    },
  };
}
