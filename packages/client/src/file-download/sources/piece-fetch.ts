/**
 * One piece over one connection: a GET of its chunks, each received buffer written into the
 * partial where it belongs and hashed where it is (as the one-connection path does), the
 * digests reported to the run as they come back. When others took the back of the piece
 * meanwhile, the GET stops at the new end (the connection is then closed: the protocol has no
 * way to cut a body short); when another connection took over its last chunk, it stops at once.
 */
import { RemoteError, WireError } from '@ft/protocol';
import { ChunkDigester } from '../../hashing/chunk-digester.js';
import { checkFileHeader } from '../../response-checks.js';
import type { TransferConnection } from '../../udp/transport.js';
import { UntrustedState } from '../local-partial.js';
import type { Piece } from './chunk-board.js';
import type { Source, SourcesRun, Worker } from './sources-run.js';

/** Thrown from the body callback to end a GET whose remaining bytes others fetch. */
class PieceCut extends Error {}

/** How a piece's GET ended when it did not fail: whole, or cut short (connection closed). */
export type PieceEnd = 'whole' | 'cut';

/** Fetches `piece` from `source` on `connection` under `validator`; see the module comment. */
export async function fetchPiece(
  run: SourcesRun,
  w: Worker,
  source: Source,
  connection: TransferConnection,
  piece: Piece,
  validator: Buffer,
): Promise<PieceEnd> {
  const job = run.job;
  const ledger = job.ledger!;
  const writer = job.writer!;
  const cs = ledger.chunkSize;
  const offset = piece.first * cs;
  const length = Math.min(piece.end * cs, ledger.size) - offset;
  const known = { size: ledger.size, chunkSize: cs, root: ledger.root };
  let position = offset;
  let digester: ChunkDigester | undefined;
  /** Chunks below this one had their digest reported. */
  let reported = piece.first;
  let failure: unknown;
  let cut = false;
  try {
    const end = await connection.get(
      { path: source.remote.path, offset, length, validator, wantDigests: true },
      {
        onHeader: (h) => {
          checkFileHeader(h, { offset, length, validator, known });
          // Digests that contradict the state's, from a source that agrees on the root: the
          // state is what is damaged (as on the one-connection path).
          if (job.stateAdopted && ledger.conflicts(h.firstChunk, h.chunkDigests))
            throw new UntrustedState('has chunk digests other than the server’s');
          ledger.learn(h.firstChunk, h.chunkDigests);
          digester = new ChunkDigester(
            cs,
            piece.first,
            (i, d) => {
              reported = i + 1;
              run.onDigest(w, i, d);
            },
            { onLow: () => run.resumeClear(), onError: () => connection.close() },
          );
          w.digester = digester;
        },
        onData: (chunk, pin) => {
          const limit = Math.min(piece.end * cs, ledger.size);
          if (piece.cancelled || position >= limit) throw new PieceCut();
          const data =
            position + chunk.length > limit ? chunk.subarray(0, limit - position) : chunk;
          if (pin === undefined) digester!.update(data);
          else digester!.updateShared(data, pin());
          writer.write(data, position, pin?.());
          position += data.length;
          piece.received += data.length;
          piece.lastData = performance.now();
          piece.next = Math.min(Math.floor(position / cs), piece.end);
          w.unverified += data.length;
          job.fetchedSomething = true;
          job.tick();
          if (position >= limit && limit < offset + length) throw new PieceCut();
          if (writer.congested || digester!.congested) connection.pause();
        },
      },
    );
    if (end.status !== 0) {
      throw new RemoteError(
        WireError.PRECONDITION_FAILED,
        'the remote file changed while it was being sent',
        end.requestId,
        0,
      );
    }
  } catch (error) {
    if (error instanceof PieceCut) cut = true;
    else failure = error;
  }
  // Chunks that arrived whole count whatever happened after them: a failure costs only the
  // chunk that was being received.
  if (digester !== undefined) {
    if (position === ledger.size) digester.finish();
    await digester.flushed().catch(() => {});
    failure ??= digester.failed;
    digester.dispose();
  }
  w.digester = undefined;
  w.unverified = 0;
  piece.next = reported;
  const elapsed = performance.now() - piece.started;
  if (piece.received > 0 && elapsed > 0) {
    const sample = piece.received / elapsed;
    w.rate = w.rate === 0 ? sample : (w.rate + sample) / 2;
  }
  if (failure !== undefined) throw failure;
  return cut ? 'cut' : 'whole';
}
