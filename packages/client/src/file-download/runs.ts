/** Consecutive runs in a sorted list of chunk indices. */
export function runsOf(chunks: readonly number[]): { first: number; count: number }[] {
  const runs: { first: number; count: number }[] = [];
  for (const i of chunks) {
    const last = runs[runs.length - 1];
    if (last !== undefined && last.first + last.count === i) last.count++;
    else runs.push({ first: i, count: 1 });
  }
  return runs;
}
