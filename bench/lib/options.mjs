/**
 * Command-line options of `pnpm bench` and the two size profiles. The full profile follows the
 * issue (1 GiB, 1,000 × 4 KiB, 100 × 64 MiB, 256 MiB, ≥ 5 runs after one warm-up); --quick
 * shrinks every size so CI can smoke-run the whole harness in well under two minutes.
 */
import process from 'node:process';

const MiB = 1024 * 1024;

const FULL = {
  bigSize: 1024 * MiB,
  smallCount: 1000,
  smallSize: 4096,
  concurrentSize: 64 * MiB,
  concurrentCount: 100,
  udpSize: 256 * MiB,
  lossPercents: [0, 1, 5],
  rpsConcurrency: [1, 50, 200],
  rpsDurationS: 5,
  warmup: 1,
  runs: 5,
  cliRuns: 10,
  /** Per-row budget: stop measuring a row after this many seconds (at least one run is kept). */
  rowBudgetS: 240,
  /** Longest single transfer under loss; slower ones are cut and reported as a lower bound. */
  lossCapS: 30,
  tftpCapS: 10,
  /** Per-row budget in the loss section, where every lossy row may hit its cap. */
  lossRowBudgetS: 60,
  rpsWarmup: 1,
  /** Section multi: the file fetched through the shaping proxy (one connection: ~17 s at 8 MB/s). */
  multiSize: 128 * MiB,
  /** Section tls: concurrent clients of the new-TLS-connection-per-request rows. */
  tlsRpsConcurrency: [1, 50],
};

const QUICK = {
  bigSize: 16 * MiB,
  smallCount: 20,
  smallSize: 4096,
  concurrentSize: 2 * MiB,
  concurrentCount: 10,
  udpSize: 4 * MiB,
  lossPercents: [0, 5],
  rpsConcurrency: [1, 10],
  rpsDurationS: 1,
  warmup: 1,
  runs: 1,
  cliRuns: 2,
  rowBudgetS: 20,
  lossCapS: 8,
  tftpCapS: 2,
  lossRowBudgetS: 10,
  /** Warm-up runs of the timed-duration sections (rps); 0 keeps the smoke run short. */
  rpsWarmup: 0,
  multiSize: 8 * MiB,
  tlsRpsConcurrency: [1, 10],
};

const HELP = `Usage: pnpm bench [--quick] [--only LIST] [--no-install] [--write-docs] [--keep]

  --quick        small sizes, one run after one warm-up (CI smoke run; never asserts timings)
  --only LIST    comma-separated sections: single,resume,small,rps,concurrent,loss,cli,
                 multi,tls,ttfb
  --no-install   do not apt-get install missing peers (they are skipped with a note)
  --write-docs   regenerate the marked results block in docs/BENCHMARKS.md
  --keep         keep the temporary data directory (its path is printed)
  --tmp DIR      parent directory for the temporary data (default: the OS temp dir)
  --runs N       measured runs per row (default 5, quick 1)
  --from-json F  measure nothing: re-render the tables, plot and docs block from a saved
                 latest.json (e.g. after changing the report format); F,G,… merges runs of
                 different sections (bench/results/partial/latest-<sections>.json) into one
`;

export const SECTIONS = [
  'single',
  'resume',
  'small',
  'rps',
  'concurrent',
  'loss',
  'cli',
  'multi',
  'tls',
  'ttfb',
];

/** Parses argv (pnpm passes extra arguments through, sometimes after a lone "--"). */
export function parseOptions(argv = process.argv.slice(2)) {
  const o = {
    quick: false,
    only: new Set(SECTIONS),
    install: true,
    writeDocs: false,
    keep: false,
    tmp: undefined,
    runs: undefined,
    fromJson: undefined,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--') continue;
    else if (a === '--quick') o.quick = true;
    else if (a === '--no-install') o.install = false;
    else if (a === '--write-docs') o.writeDocs = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--tmp') o.tmp = value();
    else if (a === '--runs') o.runs = Number(value());
    else if (a === '--from-json') o.fromJson = value();
    else if (a === '--only') {
      const list = value().split(',');
      for (const s of list) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s}`);
      o.only = new Set(list);
    } else if (a === '--help' || a === '-h') {
      process.stdout.write(HELP);
      process.exit(0);
    } else throw new Error(`unknown option ${a}\n${HELP}`);
  }
  const profile = { ...(o.quick ? QUICK : FULL) };
  if (o.runs !== undefined) {
    if (!Number.isInteger(o.runs) || o.runs < 1 || o.runs > 100)
      throw new Error('--runs must be 1..100');
    profile.runs = o.runs;
  }
  return { ...o, profile };
}
