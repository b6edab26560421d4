/** `ftget get --parallel N`: up to N jobs at a time, in order of the list, sharing the session. */

/**
 * Runs `run` on every item with at most `limit` running at once; items start in list order.
 * `run` returns false to stop starting new items (an interrupt); running ones still finish.
 */
export async function runAtMost<T>(
  items: readonly T[],
  limit: number,
  run: (item: T) => Promise<boolean>,
): Promise<void> {
  let next = 0;
  let stopped = false;
  const worker = async (): Promise<void> => {
    while (!stopped && next < items.length) {
      const item = items[next++]!;
      if (!(await run(item))) stopped = true;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
