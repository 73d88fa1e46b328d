/**
 * Runs every requested mode on the same workload and assembles the results
 * in the shape of issue 16's `--json`: `{ hvsim, config, runs: [...] }`.
 * Throughput is a percentage of `native`, which runs too (unreported) when
 * it was not asked for.
 */
import { readFileSync } from 'node:fs';
import { arm64ProfileAsFile, type Arm64SimProfile } from './arm64-profile.js';
import { runArm64 } from './arm64-run.js';
import type { Arm64Mode } from './host/arm64-modes.js';
import type { X86Mode } from './host/modes.js';
import type { SimMode, SimOptions } from './options.js';
import { SimUsageError } from './errors.js';
import { CPU_COST_FIELDS, type SimProfile } from './profiles.js';
import { runOne, type RunMeasurement } from './run.js';
import { MICRO_IN_RATE, MICRO_IPI_RATE, runMicro } from './workloads/micro.js';
import { NETPERF_RR } from './workloads/netperf-rr.js';
import { MICRO_REPS } from './workloads/workloads.js';
import { MICRO_PAPER_KVM_X86 } from './workloads/micro-samples.js';
import { runArm64Micro } from './workloads/arm64-micro.js';
import { MICRO_PAPER_KVM_ARM } from './workloads/arm64-micro-samples.js';

/** One run's results, as `--json` prints them. */
export interface RunResult {
  readonly arch: 'x86' | 'arm64';
  readonly mode: SimMode;
  readonly workload: string;
  readonly vcpus: number;
  readonly interrupts: RunMeasurement['interrupts'];
  readonly exits: { total: number; perInterrupt: number | null; perSecond: number; byReason: Record<string, number>; perThousandOperations?: number };
  readonly latencyCycles: { mean: number; p50: number; p99: number; samples: number } | null;
  readonly latencyMicros: { mean: number; p50: number; p99: number } | null;
  readonly guestTimeShare: number;
  readonly throughput: { value: number; unit: string; pctOfNative: number | null };
  /** netperf-rr: each transaction's round trip (cycles at the client) and every frame accounted for. */
  readonly transactionLatencyCycles?: RunMeasurement['transactionLatencyCycles'];
  readonly packets?: RunMeasurement['packets'];
  /** memory: the guest #PFs its handler served (the unmapped pages touched again), boot included. */
  readonly pageFaults?: number;
  /** micro: ISCA 2016 Table II's rows in cycles as the models measured them, and the paper's (KVM column; null natively). */
  readonly micro?: RunMeasurement['micro'];
  readonly microPaper?: Readonly<Record<string, number>> | null;
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
  return { name: p.name, arch: p.arch, description: p.description, clockHz: p.clockHz, cpu, host: p.host, device: p.device, sources: p.sources };
}

/** The app's version (package.json). */
export const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;

/** Runs the modes of `options` with `profile`; `progress` hears (mode index, fraction of that run). */
export function simulate(options: SimOptions, profile: SimProfile | Arm64SimProfile, progress?: (label: string, fraction: number) => void): SimResults {
  if (profile.arch !== options.arch) throw new SimUsageError(`--profile ${profile.name} is an ${profile.arch} profile, but --arch is ${options.arch}`);
  const durationCycles = options.duration.unit === 'cycles' ? options.duration.value : Math.round(options.duration.value * profile.clockHz);
  const measure = (mode: SimMode): RunMeasurement => {
    const spec = {
      workload: options.workload,
      vcpus: options.vcpus,
      seed: options.seed,
      durationCycles,
      rateHz: options.rateHz,
      busy: options.guest === 'busy',
      irqchip: options.irqchip,
      mmu: options.mmu,
      progress:
        progress &&
        ((f: number): void => {
          progress(mode, f);
        }),
    };
    // parseOptions gives each architecture's modes only.
    return profile.arch === 'arm64' ? (options.workload === 'micro' ? runArm64Micro : runArm64)({ ...spec, mode: mode as Arm64Mode, profile }) : (options.workload === 'micro' ? runMicro : runOne)({ ...spec, mode: mode as X86Mode, profile });
  };
  const measured = new Map<SimMode, RunMeasurement>();
  for (const mode of options.modes) measured.set(mode, measure(mode));
  const native = measured.get('native') ?? (options.guest === 'busy' || options.workload === 'netperf-rr' ? measure('native') : undefined);
  const round = (x: number, digits: number): number => Number(x.toFixed(digits));
  const runs = options.modes.map((mode): RunResult => {
    const m = measured.get(mode)!;
    const seconds = m.elapsedCycles / profile.clockHz;
    const micros = (c: number): number => round((c / profile.clockHz) * 1e6, 3);
    const rate = m.work / seconds;
    return {
      arch: options.arch,
      mode,
      workload: options.workload,
      vcpus: options.vcpus,
      interrupts: m.interrupts,
      exits: {
        total: m.exits.total,
        perInterrupt: m.interrupts.delivered > 0 ? round(m.exits.total / m.interrupts.delivered, 3) : null,
        perSecond: Math.round(m.exits.total / seconds),
        byReason: m.exits.byReason,
        ...(options.workload === 'memory' && { perThousandOperations: m.work > 0 ? round((1000 * m.exits.total) / m.work, 3) : 0 }),
      },
      latencyCycles: m.latencyCycles,
      latencyMicros: m.latencyCycles && { mean: micros(m.latencyCycles.mean), p50: micros(m.latencyCycles.p50), p99: micros(m.latencyCycles.p99) },
      guestTimeShare: round(m.guestCycles / (m.elapsedCycles * options.vcpus), 4),
      throughput: {
        value: Math.round(rate),
        unit: m.workUnit ?? 'work units/s',
        pctOfNative: native && native.work > 0 ? round((100 * (m.work / m.elapsedCycles)) / (native.work / native.elapsedCycles), 2) : null,
      },
      ...(m.pageFaults !== undefined && { pageFaults: m.pageFaults }),
      ...(m.packets && { transactionLatencyCycles: m.transactionLatencyCycles, packets: m.packets }),
      ...(m.micro && { micro: m.micro, microPaper: mode === 'native' ? null : options.arch === 'arm64' ? MICRO_PAPER_KVM_ARM : MICRO_PAPER_KVM_X86 }),
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
      ...(options.arch === 'x86' && { irqchip: options.irqchip, mmu: options.mmu }),
      seed: options.seed,
      duration: options.duration,
      durationCycles,
      ...(options.workload === 'netperf-rr' && { netperfRr: NETPERF_RR }),
      ...(options.workload === 'micro' && { micro: { reps: MICRO_REPS, ioInRateHz: MICRO_IN_RATE, ipiRateHz: MICRO_IPI_RATE } }),
      profile: profile.arch === 'arm64' ? arm64ProfileAsFile(profile) : profileAsFile(profile),
    },
    runs,
  };
}
