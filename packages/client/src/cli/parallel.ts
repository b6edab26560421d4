/**
 * Several jobs of `ftget get` at once (pipelined on a connection, or --parallel N
 * connections), in order of the list, sharing the session; what they print comes out in list
 * order all the same.
 */

/**
 * Runs `run` on every item with at most `limit` running at once; items start in list order.
 * `run` returns false to stop starting new items (an interrupt); running ones still finish.
 * A run may give its place back early by calling `leave` (a small file waiting only for its
 * batch's flush, small-batch.ts): the next item starts then, and the run is still awaited
 * before runAtMost resolves. How many may wait that way is bounded by the caller.
 */
export async function runAtMost<T>(
  items: readonly T[],
  limit: number,
  run: (item: T, index: number, leave: () => void) => Promise<boolean>,
): Promise<void> {
  let next = 0;
  let stopped = false;
  const leftEarly = new Set<Promise<void>>();
  const worker = async (): Promise<void> => {
    while (!stopped && next < items.length) {
      const index = next++;
      let leave = (): void => {};
      const left = new Promise<'left'>((resolve) => (leave = () => resolve('left')));
      const done = run(items[index]!, index, leave).then((go) => {
        if (!go) stopped = true;
      });
      if ((await Promise.race([done, left])) === 'left') {
        leftEarly.add(done);
        void done.finally(() => leftEarly.delete(done));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  while (leftEarly.size > 0) await Promise.all([...leftEarly]);
}

/**
 * Runs each job's report (its summary, --json line or error) in list order although the jobs
 * finish in any order: a report waits only for those of the jobs before it, never holding up
 * a job. At most one closure per finished job is kept.
 */
export class InOrder {
  private next = 0;
  private readonly ready = new Map<number, () => void>();

  /** Job `index` finished: its report runs now, or once every earlier job's has. */
  done(index: number, report: () => void): void {
    this.ready.set(index, report);
    for (let r = this.ready.get(this.next); r !== undefined; r = this.ready.get(this.next)) {
      this.ready.delete(this.next++);
      r();
    }
  }

  /** Runs the reports still waiting (jobs before them never ran: an interrupt), in order. */
  flush(): void {
    for (const index of [...this.ready.keys()].sort((a, b) => a - b)) {
      const r = this.ready.get(index)!;
      this.ready.delete(index);
      r();
    }
  }
}
