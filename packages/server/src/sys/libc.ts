/**
 * The C library, through koffi, for the few system calls Node 20 has no binding for (sendfile,
 * setsockopt options that `net` does not expose). Loaded on first use, once per process: koffi
 * costs ~8 ms of CPU and ~1 MiB of private memory to load, which a fork-per-connection child
 * serving a small file should not pay. When it cannot load (no prebuilt binary for this platform,
 * a C library of another name), `loadLibc()` resolves to undefined and callers keep their plain
 * Node path: nothing here is needed for correctness, only for speed.
 */
import type { KoffiFunc, LibraryHandle } from 'koffi';

/** A C function: its arguments and result are whatever its prototype declares. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type CFunction = KoffiFunc<(...args: any[]) => any>;

export interface Libc {
  /** A C function of the library, declared by its prototype (koffi's syntax); cached by prototype. */
  func(prototype: string): CFunction;
  /** errno after the last call made through koffi on this thread. */
  errno(): number;
  /** errno numbers of this platform by name (EAGAIN, EINTR…). */
  readonly codes: Readonly<Record<string, number>>;
}

/** Names tried in turn: glibc, then musl's. */
const LIBRARY_NAMES = ['libc.so.6', 'libc.so', 'libc.musl-x86_64.so.1', 'libc.musl-aarch64.so.1'];

let loading: Promise<Libc | undefined> | undefined;
let loaded: Libc | undefined;

/** The C library, or undefined when koffi or the library cannot be loaded here (never rejects). */
export function loadLibc(): Promise<Libc | undefined> {
  loading ??= open().catch(() => undefined);
  return loading;
}

/** The C library if an earlier loadLibc() has loaded it, else undefined (never loads it). */
export function loadedLibc(): Libc | undefined {
  return loaded;
}

async function open(): Promise<Libc | undefined> {
  if (process.platform !== 'linux') return undefined;
  const koffi = (await import('koffi')).default;
  let library: LibraryHandle | undefined;
  for (const name of LIBRARY_NAMES) {
    try {
      library = koffi.load(name);
      break;
    } catch {
      // Try the next name.
    }
  }
  if (library === undefined) return undefined;
  const handle = library;
  const functions = new Map<string, CFunction>();
  loaded = {
    func(prototype) {
      let f = functions.get(prototype);
      if (f === undefined) functions.set(prototype, (f = handle.func(prototype)));
      return f;
    },
    errno: () => koffi.errno(),
    codes: koffi.os.errno,
  };
  return loaded;
}
