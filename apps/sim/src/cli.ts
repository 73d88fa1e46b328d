/**
 * `pnpm sim`: parses the options, loads the profile, runs the modes and
 * prints the table (or `--json`). Usage errors exit with 2; progress goes to
 * stderr only on a terminal and never with --json.
 */
import { SimUsageError } from './errors.js';
import { helpText, parseOptions } from './options.js';
import { loadArm64Profile } from './arm64-profile.js';
import { ARM64_MODES } from './host/arm64-modes.js';
import { DEFAULT_PROFILE, loadProfile } from './profiles.js';
import { ARM64_WORKLOADS } from './workloads/arm64-workloads.js';
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
    const profile = options.arch === 'arm64' ? loadArm64Profile(options.profile) : loadProfile(options.profile);
    const progress = tty && !options.json ? (mode: string, f: number): void => err(`\r${mode.padEnd(9)} ${(f * 100).toFixed(0).padStart(3)}%`) : undefined;
    const results = simulate(options, profile, progress);
    // The default run: netperf-rr, then the micro table (issue 16's "Outputs"); with no architecture asked for,
    // x86's modes and then arm64's on netperf-rr, then the micro tables (arm64's when it runs micro).
    const hasMicro = options.arch === 'x86' || (ARM64_WORKLOADS as readonly string[]).includes('micro');
    const micro = options.defaultRun && hasMicro ? simulate({ ...options, workload: 'micro', rateHz: 0 }, profile, progress) : undefined;
    const armOptions = { ...options, arch: 'arm64', modes: ARM64_MODES, profile: DEFAULT_PROFILE.arm64 } as const;
    const armProfile = options.bothArches ? loadArm64Profile(armOptions.profile) : undefined;
    const arm = armProfile && simulate(armOptions, armProfile, progress);
    const armMicro = armProfile && (ARM64_WORKLOADS as readonly string[]).includes('micro') ? simulate({ ...armOptions, workload: 'micro', rateHz: 0 }, armProfile, progress) : undefined;
    if (progress) err('\r' + ' '.repeat(20) + '\r');
    const sets = [results, arm, micro, armMicro].filter((s) => s !== undefined);
    const all =
      sets.length === 1
        ? results
        : {
            ...results,
            config: { ...results.config, workload: micro ? ['netperf-rr', 'micro'] : 'netperf-rr', ...(micro && { micro: micro.config.micro }), ...(arm && { arm64: arm.config }) },
            runs: sets.flatMap((s) => s.runs),
          };
    out(options.json ? JSON.stringify(all, null, 2) + '\n' : sets.map((s) => renderTable(s)).join('\n'));
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
