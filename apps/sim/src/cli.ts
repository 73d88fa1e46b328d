/**
 * `pnpm sim`: parses the options, loads the profile, runs the modes and
 * prints the table (or `--json`). Usage errors exit with 2; progress goes to
 * stderr only on a terminal and never with --json.
 */
import { SimUsageError } from './errors.js';
import { helpText, parseOptions } from './options.js';
import { loadProfile } from './profiles.js';
import { renderTable } from './report/table.js';
import { simulate } from './simulate.js';

/** Runs the CLI with `argv`; returns the exit code. */
export function main(argv: readonly string[], out: (text: string) => void, err: (text: string) => void, tty: boolean): number {
  try {
    const options = parseOptions(argv);
    if (options.help) {
      out(helpText());
      return 0;
    }
    const profile = loadProfile(options.profile);
    const progress = tty && !options.json ? (mode: string, f: number): void => err(`\r${mode.padEnd(9)} ${(f * 100).toFixed(0).padStart(3)}%`) : undefined;
    const results = simulate(options, profile, progress);
    if (progress) err('\r' + ' '.repeat(20) + '\r');
    out(options.json ? JSON.stringify(results, null, 2) + '\n' : renderTable(results));
    return 0;
  } catch (e) {
    if (e instanceof SimUsageError) {
      err(`sim: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}

if (process.argv[1] !== undefined && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/').split('/').pop() ?? '')) {
  process.exitCode = main(
    process.argv.slice(2),
    (t) => process.stdout.write(t),
    (t) => process.stderr.write(t),
    process.stderr.isTTY,
  );
}
