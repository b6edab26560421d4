/**
 * The work board of a download from several connections or sources: which chunks are still
 * wanted, which are being fetched (as part of which piece) and which are done, and the rules
 * that hand them out. Pieces are runs of consecutive wanted chunks, one GET each, sized so
 * that every connection gets work while much is left and the pieces shrink towards the end.
 * Once nothing is unassigned, an idle connection takes work from the one that will take
 * longest to finish (aria2's adaptive idea: the fast get more): it splits off the back of
 * that piece, in proportion to the two rates, or, when only the chunk being received is left
 * and its owner is far slower (or silent), takes that chunk over and the owner's GET is
 * cancelled. A chunk that failed verification goes back to the board, avoiding the source
 * that sent it while another source may fetch it.
 */

/** Most chunks one piece (one GET) covers. */
export const MAX_PIECE_CHUNKS = 16;
/** Most bytes one piece covers (for files with large chunks). */
export const MAX_PIECE_BYTES = 16 * 1024 * 1024;
/**
 * A chunk being received is taken over only when its owner would need more than this many
 * times as long as the taker needs for the whole chunk, and has had it for at least
 * TAKEOVER_MIN_MS: a takeover costs the bytes already received and a new connection.
 */
export const TAKEOVER_FACTOR = 3;
export const TAKEOVER_MIN_MS = 1000;
/**
 * A piece that received nothing for this long counts as stalled (rate 0) when others look for
 * work: long enough for a pause of the disk or the hashing thread, far shorter than the stall
 * timeout that would end its connection.
 */
export const SILENT_MS = 3000;

const WANTED = 0;
const ASSIGNED = 1;
const DONE = 2;

/** One fetching connection, as the board sees it. */
export interface BoardWorker {
  /** Index of its source. */
  readonly source: number;
  /** Bytes per ms measured over its last pieces; 0 until it completed one. */
  rate: number;
}

/** A run of chunks [first, end) given to one worker; `end` drops when others take the back. */
export interface Piece {
  readonly first: number;
  end: number;
  /** The chunk being received (every chunk below it arrived whole). */
  next: number;
  /** Body bytes of this piece received so far. */
  received: number;
  readonly started: number;
  /** When its last body bytes arrived (its start until then). */
  lastData: number;
  readonly worker: BoardWorker;
  /** Set when another worker took its last chunk: the owner's GET is to stop at once. */
  cancelled: boolean;
  /** Called when the piece was cancelled (the owner closes its connection). */
  onCancel?: () => void;
}

/** See the module comment. */
export class ChunkBoard {
  private readonly state: Uint8Array;
  /** Sources that sent a chunk failing verification, per chunk. */
  private readonly avoid = new Map<number, Set<number>>();
  private readonly pieces = new Set<Piece>();
  private open = 0;
  private waiters: (() => void)[] = [];

  constructor(
    readonly count: number,
    private readonly chunkSize: number,
    /** How many sources there are (indices 0…sources-1). */
    private readonly sources: number,
    private readonly size: number,
    wanted: readonly number[],
    private readonly now: () => number = () => performance.now(),
  ) {
    this.state = new Uint8Array(count).fill(DONE);
    for (const i of wanted) this.state[i] = WANTED;
    this.open = wanted.length;
  }

  /** Chunks not done yet (wanted or being fetched). */
  get remaining(): number {
    return this.open;
  }

  get finished(): boolean {
    return this.open === 0;
  }

  /** Bytes of chunk `index`. */
  bytesOf(index: number): number {
    return Math.min(this.chunkSize, this.size - index * this.chunkSize);
  }

  /** Chunk `index` arrived and verified. */
  done(index: number): void {
    if (this.state[index] === DONE) return;
    this.state[index] = DONE;
    this.open--;
    this.wake();
  }

  /** Chunk `index` must be fetched again; `badFrom` sent bytes that failed verification. */
  again(index: number, badFrom?: number): void {
    if (badFrom !== undefined) {
      const set = this.avoid.get(index) ?? new Set<number>();
      set.add(badFrom);
      this.avoid.set(index, set);
    }
    if (this.state[index] === DONE) this.open++;
    this.state[index] = WANTED;
    this.wake();
  }

  /** The piece ended (whole, cut or failed): its chunks not done go back to the board. */
  release(piece: Piece): void {
    this.pieces.delete(piece);
    for (let i = piece.next; i < piece.end; i++) if (this.state[i] === ASSIGNED) this.again(i);
    this.wake();
  }

  /**
   * Work for `worker`: a fresh piece, the back of a slower piece, or a slow piece's last chunk;
   * undefined when there is nothing it could take now (wait with changed()). `usable(s)` says
   * whether source s may still fetch (a chunk bad from every usable source may be retried
   * from any).
   */
  take(
    worker: BoardWorker,
    workers: number,
    usable: (source: number) => boolean,
  ): Piece | undefined {
    if (this.open === 0) return undefined;
    return this.fresh(worker, workers, usable) ?? this.steal(worker);
  }

  /** Resolves when chunks change state, or after `ms` (the rates change with time too). */
  changed(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== wake);
        resolve();
      }, ms);
      timer.unref();
      const wake = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.waiters.push(wake);
    });
  }

  /** Wakes every waiter (the download is over, or a source went away). */
  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  private fresh(
    worker: BoardWorker,
    workers: number,
    usable: (source: number) => boolean,
  ): Piece | undefined {
    let wanted = 0;
    for (let i = 0; i < this.count; i++) if (this.state[i] === WANTED) wanted++;
    if (wanted === 0) return undefined;
    const cap = Math.max(
      1,
      Math.min(MAX_PIECE_CHUNKS, Math.floor(MAX_PIECE_BYTES / this.chunkSize)),
    );
    const length = Math.max(1, Math.min(cap, Math.ceil(wanted / (2 * workers))));
    for (let i = 0; i < this.count; i++) {
      if (this.state[i] !== WANTED || !this.mayFetch(i, worker.source, usable)) continue;
      let end = i + 1;
      while (
        end < this.count &&
        end - i < length &&
        this.state[end] === WANTED &&
        this.mayFetch(end, worker.source, usable)
      )
        end++;
      for (let k = i; k < end; k++) this.state[k] = ASSIGNED;
      return this.add(i, end, worker);
    }
    return undefined;
  }

  /** Whether `source` may fetch chunk i: it did not send it bad, or every usable source did. */
  private mayFetch(i: number, source: number, usable: (source: number) => boolean): boolean {
    const bad = this.avoid.get(i);
    if (bad === undefined || !bad.has(source)) return true;
    for (let s = 0; s < this.sources; s++) if (!bad.has(s) && usable(s)) return false;
    return true;
  }

  private steal(worker: BoardWorker): Piece | undefined {
    const now = this.now();
    let victim: Piece | undefined;
    let longest = 0;
    for (const p of this.pieces) {
      if (p.worker === worker || p.cancelled || p.end <= p.next) continue;
      const ms = this.remainingMs(p, now);
      if (victim === undefined || ms > longest) {
        victim = p;
        longest = ms;
      }
    }
    if (victim === undefined) return undefined;
    const behind = victim.end - victim.next - 1;
    const victimRate = this.rateOf(victim, now);
    const thiefRate = worker.rate > 0 ? worker.rate : victimRate;
    if (behind > 0) {
      // Both should end together: the thief's share of what is left follows the two rates.
      const left = victim.end - victim.next;
      const share =
        victimRate + thiefRate > 0
          ? Math.floor((left * thiefRate) / (victimRate + thiefRate))
          : Math.floor(left / 2);
      const take = Math.min(behind, Math.max(victimRate === 0 ? behind : 0, share));
      if (take < 1) return undefined;
      const split = victim.end - take;
      const end = victim.end;
      victim.end = split;
      return this.add(split, end, worker);
    }
    // Only the chunk being received is left: take it over if its owner is far slower.
    if (worker.rate <= 0 || now - victim.started < TAKEOVER_MIN_MS) return undefined;
    const mine = this.bytesOf(victim.next) / worker.rate;
    if (longest <= TAKEOVER_FACTOR * mine) return undefined;
    const first = victim.next;
    const end = victim.end;
    victim.end = victim.next;
    victim.cancelled = true;
    this.pieces.delete(victim);
    victim.onCancel?.();
    return this.add(first, end, worker);
  }

  private add(first: number, end: number, worker: BoardWorker): Piece {
    const now = this.now();
    const piece: Piece = {
      first,
      end,
      next: first,
      received: 0,
      started: now,
      lastData: now,
      worker,
      cancelled: false,
    };
    this.pieces.add(piece);
    return piece;
  }

  /** Bytes per ms the piece's owner is getting now (its piece so far, else its history; 0 when silent). */
  private rateOf(p: Piece, now: number): number {
    if (now - p.lastData >= SILENT_MS) return 0;
    const elapsed = now - p.started;
    if (elapsed < 200 && p.worker.rate > 0) return p.worker.rate;
    return elapsed > 0 ? p.received / elapsed : p.worker.rate;
  }

  /** How long the piece's owner still needs at its current rate (Infinity when silent). */
  private remainingMs(p: Piece, now: number): number {
    const endByte = Math.min(p.end * this.chunkSize, this.size);
    const left = endByte - (p.first * this.chunkSize + p.received);
    const rate = this.rateOf(p, now);
    return rate > 0 ? left / rate : Infinity;
  }
}
