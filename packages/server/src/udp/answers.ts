/**
 * What a validated REQUEST or STAT is answered with: a ServerTransfer ready to send its ACCEPT
 * (the file opened, the range and digests settled, payload size and window granted), or the
 * STAT_OK datagram. Failures are FtErrors carrying the wire code to answer with.
 */
import type { RemoteInfo } from 'node:dgram';
import { FtError, WireError, chunksOverlapping, encodeUdpStatOk } from '@ft/protocol';
import type { UdpRequest, UdpStat } from '@ft/protocol';
import type { FileService } from '../files/file-service.js';
import { digestFields } from '../files/digest-fields.js';
import { settleRange } from '../files/get-range.js';
import { wireFailure } from '../wire-failure.js';
import { UdpDefaults } from './config.js';
import { ServerTransfer } from './transfer.js';
import type { TransferHost } from './transfer.js';

/** What opening a transfer needs of the service. */
export interface OpenContext {
  host: TransferHost;
  files: FileService;
  livenessMs: number;
  maxWindow: number;
  /** A transfer id not in use. */
  newId(): number;
  /** True once the service is closing: the transfer is refused with BUSY. */
  shuttingDown(): boolean;
  /** Records the new transfer, before its first datagram can arrive. */
  register(transfer: ServerTransfer): void;
  /** The transfer runs in an encrypted session (its DATA then goes without CRC). */
  sealed: boolean;
}

/** The wire code, message and retry hint to answer a failure with (the same as over TCP). */
export function wireOf(error: unknown): { code: number; message: string; retryAfterMs: number } {
  const f = wireFailure(error);
  return { code: f.wireCode, message: f.message, retryAfterMs: f.retryAfterMs };
}

/** Opens the file a REQUEST names and builds its transfer; the caller sends the ACCEPT. */
export async function openTransfer(
  ctx: OpenContext,
  m: UdpRequest,
  rinfo: RemoteInfo,
): Promise<ServerTransfer> {
  const opened = await ctx.files.openForRead(m.path);
  try {
    const length = settleRange(opened, m);
    const digests = m.wantDigests ? await ctx.files.digestsFor(opened) : undefined;
    if (ctx.shuttingDown())
      throw new FtError('FT_BUSY', 'server shutting down', {
        wireCode: WireError.BUSY,
        retryAfterMs: UdpDefaults.busyRetryMs,
      });
    const span =
      digests === undefined
        ? { first: 0, count: 0 }
        : chunksOverlapping(m.offset, length, digests.chunkSize);
    const id = ctx.newId();
    const payloadSize = Math.min(m.maxPayload, UdpDefaults.maxPayload);
    const transfer = new ServerTransfer(
      ctx.host,
      {
        id,
        address: rinfo.address,
        port: rinfo.port,
        nonce: m.nonce,
        opened,
        chunkDigests: digests?.chunkDigests ?? [],
        sealed: ctx.sealed,
        // Only where the chunk digests verify every payload byte (and never sealed: no CRC there).
        headerCrc: m.headerCrc === true && digests !== undefined && !ctx.sealed,
        accept: {
          nonce: m.nonce,
          transferId: id,
          size: opened.size,
          offset: m.offset,
          length,
          mtimeMs: opened.mtimeMs,
          validator: opened.validator,
          ...digestFields(digests),
          firstChunk: span.count === 0 ? 0 : span.first,
          chunkCount: span.count,
          payloadSize,
          window: Math.max(Math.min(m.window, ctx.maxWindow), 2 * payloadSize),
          livenessMs: ctx.livenessMs,
        },
      },
      ctx.livenessMs,
    );
    ctx.register(transfer);
    return transfer;
  } catch (error) {
    await opened.close().catch(() => {});
    throw error;
  }
}

/** The STAT_OK answering `m`. */
export async function answerStat(files: FileService, m: UdpStat): Promise<Buffer> {
  const st = await files.stat(m.path, { wantDigest: m.wantDigest });
  return encodeUdpStatOk({
    nonce: m.nonce,
    kind: st.kind,
    size: st.size,
    mtimeMs: st.mtimeMs,
    validator: st.validator,
    ...digestFields(st.digest),
  });
}
