/**
 * `-o -`: stream a remote file to a Writable (stdout) with nothing unverified ever emitted.
 * Each chunk is held until its digest matches, then written; memory is one chunk plus what
 * the socket delivered. A dropped connection resumes after the last emitted chunk; a
 * mismatch is fatal (FT_INTEGRITY), since emitted bytes cannot be taken back.
 */
import { RemoteError } from '@ft/protocol';
import { createHash } from 'node:crypto';
import type { Hash } from 'node:crypto';
import { openConnection } from './udp/transport.js';
import type { TransferConnection } from './udp/transport.js';
import { ClientError, ClientErrorCode, isRetryable } from './errors.js';
import type { DownloadOptions, DownloadResult } from './download.js';
import { formatServer } from './remote.js';
import { checkFileHeader } from './response-checks.js';
import { RetryBudget } from './retry.js';

interface Version {
  size: number;
  chunkSize: number;
  root: Buffer;
  validator: Buffer;
  digests: (Buffer | undefined)[];
}

export async function streamToWritable(o: DownloadOptions): Promise<DownloadResult> {
  const out = o.stdout ?? process.stdout;
  const started = performance.now();
  const budget = new RetryBudget({
    retries: o.retries ?? 5,
    maxWaitMs: o.retryMaxWaitMs ?? 30_000,
    baseDelayMs: o.retryBaseDelayMs ?? 250,
  });
  let version: Version | undefined;
  let emitted = 0;
  let outError: Error | undefined;
  let connection: TransferConnection | undefined;
  const onOutError = (error: Error): void => {
    outError = error;
    connection?.close();
  };
  out.on('error', onOutError);
  try {
    for (;;) {
      budget.start();
      const before = emitted;
      try {
        connection = await openConnection(o.transport, o.remote, {
          signal: o.signal,
          timeoutMs: o.stallTimeoutMs ?? 30_000,
        });
        await streamOnce(connection, o, out, version, emitted, {
          onVersion: (v) => (version = v),
          onEmitted: (n) => {
            emitted += n;
            o.onProgress?.({
              path: '-',
              bytes: emitted,
              total: version?.size ?? 0,
              resumedFrom: 0,
            });
          },
        });
        break;
      } catch (caught) {
        if (outError !== undefined) throw outError;
        const error = caught as Error;
        if (emitted > before) budget.progress();
        if (error instanceof RemoteError && error.code === 'FT_PRECONDITION_FAILED') {
          if (emitted > 0) {
            throw new ClientError(
              ClientErrorCode.REMOTE_CHANGED,
              `${o.remote.path} changed on the server after ${emitted} bytes were written to stdout`,
              { hint: 'run the command again to stream the new version' },
            );
          }
          version = undefined;
          continue;
        }
        if (!isRetryable(error)) throw error;
        if (
          !(await budget.shouldRetry((error as { retryAfterMs?: number }).retryAfterMs, o.signal))
        ) {
          throw error;
        }
      } finally {
        connection?.close();
        connection = undefined;
      }
    }
    if ((out as { writableNeedDrain?: boolean }).writableNeedDrain) {
      await new Promise((resolve) => out.once('drain', resolve));
    }
  } finally {
    out.removeListener('error', onOutError);
  }
  const v = version!;
  return {
    path: '-',
    bytes: v.size,
    resumedFrom: 0,
    durationMs: performance.now() - started,
    digest: v.root.toString('hex'),
    attempts: budget.attempts,
    alreadyComplete: false,
  };
}

async function streamOnce(
  connection: TransferConnection,
  o: DownloadOptions,
  out: NodeJS.WritableStream,
  known: Version | undefined,
  offset: number,
  events: { onVersion(v: Version): void; onEmitted(n: number): void },
): Promise<void> {
  let version = known;
  let held: Buffer[] = [];
  let heldBytes = 0;
  let hash: Hash = createHash('sha256');
  let chunk = 0;
  const emit = (): void => {
    const v = version!;
    const digest = hash.digest();
    if (!digest.equals(v.digests[chunk]!)) {
      throw new ClientError(
        ClientErrorCode.INTEGRITY,
        `chunk ${chunk} of ${o.remote.path} from ${formatServer(o.remote)} does not match its digest; stopped before writing it`,
        {
          hint: 'stdout received only verified chunks before it; retry later or download to a file',
        },
      );
    }
    let ok = true;
    for (const piece of held) ok = out.write(piece) && ok;
    events.onEmitted(heldBytes);
    held = [];
    heldBytes = 0;
    hash = createHash('sha256');
    chunk++;
    if (!ok) {
      connection.pause();
      out.once('drain', () => connection.resume());
    }
  };
  await connection.get(
    {
      path: o.remote.path,
      offset,
      length: undefined,
      validator: version?.validator,
      wantDigests: true,
    },
    {
      onHeader: (h) => {
        checkFileHeader(h, {
          offset,
          length: undefined,
          validator: version?.validator,
          known: version,
        });
        if (version === undefined) {
          version = {
            size: h.size,
            chunkSize: h.chunkSize,
            root: h.root,
            validator: h.validator,
            digests: new Array<Buffer | undefined>(Math.ceil(h.size / h.chunkSize)).fill(undefined),
          };
          events.onVersion(version);
        }
        h.chunkDigests.forEach((d, k) => (version!.digests[h.firstChunk + k] = d));
        chunk = Math.floor(offset / h.chunkSize);
      },
      onData: (data) => {
        const v = version!;
        let rest = data;
        while (rest.length > 0) {
          const chunkEnd = Math.min((chunk + 1) * v.chunkSize, v.size);
          const need = chunkEnd - (chunk * v.chunkSize + heldBytes);
          const piece = rest.length > need ? rest.subarray(0, need) : rest;
          hash.update(piece);
          held.push(piece);
          heldBytes += piece.length;
          rest = rest.subarray(piece.length);
          if (piece.length === need) emit();
        }
      },
    },
  );
}
