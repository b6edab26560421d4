/**
 * ftget --verbose: a process-wide sink for lines about what happens under the hood
 * (connections and the addresses tried). The library stays silent unless a sink is set.
 */

let sink: ((line: string) => void) | undefined;

/** Sets (or, with undefined, removes) where verbose lines go. */
export function setVerboseSink(write: ((line: string) => void) | undefined): void {
  sink = write;
}

/** Emits one verbose line; `make` is only called when someone listens. */
export function verbose(make: () => string): void {
  if (sink !== undefined) sink(make());
}
