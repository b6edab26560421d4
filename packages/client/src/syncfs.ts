/**
 * syncfs(2) for Node, which has no binding for it: libc's `int syncfs(int fd)` through koffi
 * (a C FFI with a prebuilt binary, a dependency of @ft/client), called asynchronously on one of
 * koffi's worker threads so that the main thread keeps receiving while the file system flushes.
 * It runs on our own open directory descriptor, so it checks the writeback-error sample taken
 * when *we* opened it (see small-batch.ts). Loaded on first use, once per process (~8 ms of CPU,
 * ~1 MiB): only a batch of small files asks for it. The client keeps its own loader (the
 * server's, packages/server/src/sys/libc.ts, is not imported by the client).
 *
 * `loadSyncfs()` resolves to undefined where syncfs cannot be trusted or called: not Linux,
 * Linux before 5.8 (syncfs reported no writeback errors then), koffi or libc not loadable. The
 * caller then fsyncs each file. It never rejects.
 */
import { createRequire } from 'node:module';
import { release } from 'node:os';
import { verbose } from './verbose-log.js';

/** One syncfs of the file system of `fd`: rejects when it returns -1 (or cannot be called). */
export type Syncfs = (fd: number) => Promise<void>;

/** Whether this kernel's syncfs() reports writeback errors (Linux ≥ 5.8, commit 735e4ae5ba28). */
export function syncfsReportsErrors(osRelease = release()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(osRelease);
  if (m === null) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 5 || (major === 5 && minor >= 8);
}

/** glibc, then musl's names. */
const LIBRARY_NAMES = ['libc.so.6', 'libc.so', 'libc.musl-x86_64.so.1', 'libc.musl-aarch64.so.1'];

let loading: Promise<Syncfs | undefined> | undefined;

export function loadSyncfs(): Promise<Syncfs | undefined> {
  loading ??= open().catch((error: unknown) => {
    verbose(() => `syncfs: ${(error as Error).message}`);
    return undefined;
  });
  return loading;
}

/**
 * Test hook (test/client-small-batch.test.ts), FTGET_TEST_SYNCFS: `unavailable` acts as if
 * koffi could not load; `fail-after:N` makes every syncfs after the first N report failure
 * (the call is still made), as a write-back error would.
 */
function testMode(): { unavailable: boolean; okCalls: number } {
  const mode = process.env.FTGET_TEST_SYNCFS ?? '';
  const after = /^fail-after:(\d+)$/.exec(mode);
  return { unavailable: mode === 'unavailable', okCalls: after ? Number(after[1]) : Infinity };
}

async function open(): Promise<Syncfs | undefined> {
  const test = testMode();
  if (process.platform !== 'linux' || !syncfsReportsErrors() || test.unavailable) return undefined;
  // require, not import(): the bundles run from a code cache, where V8 drops the dynamic-import
  // callback (scripts/bundle-cli.mjs). In a bundle import.meta.url is another file of dist/src.
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  for (const name of LIBRARY_NAMES) {
    let call;
    try {
      call = koffi.load(name).func('int syncfs(int fd)');
    } catch {
      continue;
    }
    let calls = 0;
    return (fd) =>
      new Promise<void>((resolve, reject) =>
        call.async(fd, (error: unknown, result: number) => {
          if (error !== null && error !== undefined) reject(error as Error);
          else if (result !== 0 || ++calls > test.okCalls) reject(new Error('syncfs failed'));
          else resolve();
        }),
      );
  }
  return undefined;
}
