/**
 * Runs every requested mode on the same workload and assembles the results
 * in the shape of issue 16's `--json`: `{ hvsim, config, runs: [...] }`.
 * Throughput is a percentage of `native`, which runs too (unreported) when
 * it was not asked for.
 */
import { readFileSync } from 'node:fs';
import type { X86Mode } from './host/modes.js';
import type { SimOptions } from './options.js';
import { CPU_COST_FIELDS, type SimProfile } from './profiles.js';
import { runOne, type RunMeasurement } from './run.js';

/** One run's results, as `--json` prints them. */
export interface RunResult {
  readonly arch: 'x86';
  readonly mode: X86Mode;
  readonly workload: string;
  readonly vcpus: number;
  readonly interrupts: RunMeasurement['interrupts'];
  readonly exits: { total: number; perInterrupt: number | null; perSecond: number; byReason: Record<string, number> };
  readonly latencyCycles: { mean: number; p50: number; p99: number; samples: number } | null;
  readonly latencyMicros: { mean: number; p50: number; p99: number } | null;
  readonly guestTimeShare: number;
  readonly throughput: { value: number; unit: string; pctOfNative: number | null };
}

/** Everything `--json` prints. */
export interface SimResults {
  readonly hvsim: string;
  readonly config: Record<string, unknown>;
  readonly runs: RunResult[];
}

/** The profile as its JSON file has it (the CPU's costs without the copy of name, clock and sources). */
function profileAsFile(p: SimProfile): Record<string, unknown> {
  const cpu = Object.fromEntries(CPU_COST_FIELDS.map((f) => [f, p.cpu[f]]));
  return { name: p.name, arch: p.arch, description: p.description, clockHz: p.clockHz, cpu, host: p.host, sources: p.sources };
}

/** The app's version (package.json). */
export const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Runs the modes of `options` with `profile`; `progress` hears (mode index, fraction of that run). */
export function simulate(options: SimOptions, profile: SimProfile, progress?: (label: string, fraction: number) => void): SimResults {
  const durationCycles = options.duration.unit === 'cycles' ? options.duration.value : Math.round(options.duration.value * profile.clockHz);
  const measure = (mode: X86Mode): RunMeasurement =>
    runOne({
      mode,
      workload: options.workload,
      vcpus: options.vcpus,
      profile,
      seed: options.seed,
      durationCycles,
      rateHz: options.rateHz,
      busy: options.guest === 'busy',
      progress: progress && ((f) => progress(mode, f)),
    });
  const measured = new Map<X86Mode, RunMeasurement>();
  for (const mode of options.modes) measured.set(mode, measure(mode));
  const native = measured.get('native') ?? (options.guest === 'busy' ? measure('native') : undefined);
  const round = (x: number, digits: number): number => Number(x.toFixed(digits));
  const runs = options.modes.map((mode): RunResult => {
    const m = measured.get(mode)!;
    const seconds = m.elapsedCycles / profile.clockHz;
    const micros = (c: number): number => round((c / profile.clockHz) * 1e6, 3);
    const rate = m.work / seconds;
    return {
      arch: 'x86',
      mode,
      workload: options.workload,
      vcpus: options.vcpus,
      interrupts: m.interrupts,
      exits: {
        total: m.exits.total,
        perInterrupt: m.interrupts.delivered > 0 ? round(m.exits.total / m.interrupts.delivered, 3) : null,
        perSecond: Math.round(m.exits.total / seconds),
        byReason: m.exits.byReason,
      },
      latencyCycles: m.latencyCycles,
      latencyMicros: m.latencyCycles && { mean: micros(m.latencyCycles.mean), p50: micros(m.latencyCycles.p50), p99: micros(m.latencyCycles.p99) },
      guestTimeShare: round(m.guestCycles / (m.elapsedCycles * options.vcpus), 4),
      throughput: {
        value: Math.round(rate),
        unit: 'work units/s',
        pctOfNative: native && native.work > 0 ? round((100 * (m.work / m.elapsedCycles)) / (native.work / native.elapsedCycles), 2) : null,
      },
    };
  });
  return {
    hvsim: VERSION,
    config: {
      arch: options.arch,
      modes: options.modes,
      workload: options.workload,
      rateHz: options.rateHz,
      vcpus: options.vcpus,
      guest: options.guest,
      seed: options.seed,
      duration: options.duration,
      durationCycles,
      profile: profileAsFile(profile),
    },
    runs,
  };
}
