/**
 * Command-line options: parsed and checked whole before anything runs; a
 * bad option or value is a SimUsageError naming it (the CLI exits with 2).
 */
import { SimUsageError } from './errors.js';
import { MAX_CPUS } from './guest/layout.js';
import { ARM64_MAX_CPUS } from './guest/arm64-layout.js';
import { ARM64_MODES, ARM64_MODE_HELP, type Arm64Mode } from './host/arm64-modes.js';
import { MODE_HELP, X86_MODES, type X86Mode } from './host/modes.js';
import { DEFAULT_PROFILE } from './profiles.js';
import { ARM64_WORKLOADS } from './workloads/arm64-workloads.js';
import { DEFAULT_RATE, WORKLOADS, WORKLOAD_HELP, type Workload } from './workloads/workloads.js';

/** A mode of either architecture. */
export type SimMode = X86Mode | Arm64Mode;

/** What the user asked for. */
export interface SimOptions {
  readonly arch: 'x86' | 'arm64';
  readonly modes: readonly SimMode[];
  readonly workload: Workload;
  readonly vcpus: number;
  /** A shipped profile's name or a file. */
  readonly profile: string;
  readonly seed: number;
  /** The measured window: a time (converted at the profile's clock) or cycles. */
  readonly duration: { readonly value: number; readonly unit: 's' | 'cycles' };
  /** Interrupts per second (the workload's default when not given). */
  readonly rateHz: number;
  readonly guest: 'busy' | 'idle';
  /** x86: KVM_CREATE_IRQCHIP (`kernel`) or KVM_CAP_SPLIT_IRQCHIP (`split`: the PIC and IOAPIC in the VMM). */
  readonly irqchip: 'kernel' | 'split';
  /** x86: the VMs' MMU, EPT or shadow paging (`vm.setMmu`). */
  readonly mmu: 'ept' | 'shadow';
  readonly json: boolean;
  readonly help: boolean;
  /** No --workload: the default run, `netperf-rr` and then the `micro` table. */
  readonly defaultRun: boolean;
  /** No --arch, --mode, --profile or --workload: the default run on x86 and then on arm64 (its default modes and profile). */
  readonly bothArches: boolean;
}

/** The defaults (also what `--help` prints). */
export const DEFAULTS = {
  arch: 'x86',
  modes: X86_MODES,
  workload: 'netperf-rr',
  vcpus: 1,
  profile: DEFAULT_PROFILE.x86,
  seed: 1,
  duration: '10ms',
  guest: 'busy',
  irqchip: 'kernel',
  mmu: 'ept',
} as const;

const VALUE_OPTIONS = ['arch', 'mode', 'workload', 'vcpus', 'profile', 'seed', 'duration', 'rate', 'guest', 'irqchip', 'mmu'] as const;
const FLAG_OPTIONS = ['json', 'help'] as const;
type ValueOption = (typeof VALUE_OPTIONS)[number];

/** Parses `argv` (without node and the script). */
export function parseOptions(argv: readonly string[]): SimOptions {
  const values: Partial<Record<ValueOption, string>> = {};
  const flags = { json: false, help: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (!arg.startsWith('--')) throw new SimUsageError(`unexpected argument '${arg}' (options start with --; see --help)`);
    const eq = arg.indexOf('=');
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    if ((FLAG_OPTIONS as readonly string[]).includes(name)) {
      if (eq >= 0) throw new SimUsageError(`--${name} takes no value`);
      flags[name as 'json' | 'help'] = true;
      continue;
    }
    if (!(VALUE_OPTIONS as readonly string[]).includes(name)) throw new SimUsageError(`unknown option --${name} (see --help)`);
    const value = eq >= 0 ? arg.slice(eq + 1) : argv[++i];
    if (value === undefined || value === '') throw new SimUsageError(`--${name} needs a value`);
    values[name as ValueOption] = value;
  }
  const arch = values.arch ?? DEFAULTS.arch;
  if (arch !== 'x86' && arch !== 'arm64') throw new SimUsageError(`--arch must be x86 or arm64, got '${arch}'`);
  // With --mmu and no --mode: the VM modes (native, the baseline of % of native, has no MMU to choose).
  const defaultModes = arch === 'arm64' ? ARM64_MODES : values.mmu === undefined ? DEFAULTS.modes : X86_MODES.filter((m) => m !== 'native');
  const modes = values.mode === undefined ? defaultModes : parseModes(values.mode, arch);
  const workload = values.workload ?? DEFAULTS.workload;
  if (!(WORKLOADS as readonly string[]).includes(workload)) throw new SimUsageError(`--workload must be one of ${WORKLOADS.join(', ')}, got '${workload}'`);
  if (arch === 'arm64' && !(ARM64_WORKLOADS as readonly string[]).includes(workload)) throw new SimUsageError(`--workload ${workload} does not run on arm64 yet (arm64 workloads: ${ARM64_WORKLOADS.join(', ')})`);
  const guest = values.guest ?? DEFAULTS.guest;
  if (guest !== 'busy' && guest !== 'idle') throw new SimUsageError(`--guest must be busy or idle, got '${guest}'`);
  const irqchip = values.irqchip ?? DEFAULTS.irqchip;
  if (irqchip !== 'kernel' && irqchip !== 'split') throw new SimUsageError(`--irqchip must be kernel or split, got '${irqchip}'`);
  if (arch === 'arm64' && values.irqchip !== undefined) throw new SimUsageError('--irqchip is for --arch x86 (the vGIC is always in the kernel)');
  const mmu = values.mmu ?? DEFAULTS.mmu;
  if (mmu !== 'ept' && mmu !== 'shadow') throw new SimUsageError(`--mmu must be ept or shadow, got '${mmu}'`);
  if (values.mmu !== undefined && arch === 'arm64') throw new SimUsageError('--mmu is for --arch x86 (arm64 runs stage 2; no shadow paging)');
  if (values.mmu !== undefined && (modes as readonly string[]).includes('native')) throw new SimUsageError(`--mmu ${mmu} with --mode native: native runs without a VM, it has no MMU to choose (drop native from --mode; % of native is still computed)`);
  const vcpus = values.vcpus === undefined ? (workload === 'ipi' ? 2 : DEFAULTS.vcpus) : integer('vcpus', values.vcpus, 1, arch === 'arm64' ? ARM64_MAX_CPUS : MAX_CPUS);
  if (workload === 'ipi' && vcpus < 2) throw new SimUsageError(`--workload ipi needs --vcpus 2 or more, got ${vcpus}`);
  if (workload === 'memory' && guest === 'idle') throw new SimUsageError('--workload memory needs --guest busy (its processes are the work loop)');
  if (workload === 'memory' && vcpus !== 1) throw new SimUsageError(`--workload memory runs on one CPU (its processes on CPU 0), got --vcpus ${vcpus}`);
  if (workload === 'ipi' && guest === 'idle') throw new SimUsageError('--workload ipi needs --guest busy (CPU 0 sends its pings from the work loop)');
  return {
    arch,
    modes,
    workload: workload as Workload,
    vcpus,
    profile: values.profile ?? DEFAULT_PROFILE[arch],
    seed: values.seed === undefined ? DEFAULTS.seed : integer('seed', values.seed, 0, 2 ** 32 - 1),
    duration: parseDuration(values.duration ?? DEFAULTS.duration),
    rateHz: values.rate === undefined ? DEFAULT_RATE[workload as Workload] : positive('rate', values.rate),
    guest,
    irqchip,
    mmu,
    json: flags.json,
    help: flags.help,
    defaultRun: values.workload === undefined,
    bothArches: values.workload === undefined && values.arch === undefined && values.mode === undefined && values.profile === undefined,
  };
}

function parseModes(list: string, arch: 'x86' | 'arm64'): SimMode[] {
  const modes = list.split(',').map((m) => m.trim());
  const known: readonly string[] = arch === 'arm64' ? ARM64_MODES : X86_MODES;
  for (const m of modes) {
    if (!known.includes(m)) throw new SimUsageError(`--mode: unknown mode '${m}' (${arch} modes: ${known.join(', ')})`);
  }
  if (new Set(modes).size !== modes.length) throw new SimUsageError(`--mode: '${list}' names a mode twice`);
  return modes as SimMode[];
}

const TIME_UNITS: Record<string, number> = { s: 1, ms: 1e-3, us: 1e-6, µs: 1e-6, ns: 1e-9 };

/** `10ms`, `250us`, `0.5s`, `1e6` or `1000000cycles` (cycles without a unit). */
export function parseDuration(text: string): { value: number; unit: 's' | 'cycles' } {
  const m = /^(\d+(?:\.\d+)?(?:e\d+)?)\s*(s|ms|us|µs|ns|cycles)?$/.exec(text.trim());
  const bad = (): never => {
    throw new SimUsageError(`--duration must be a positive time (10ms, 250us, 0.5s) or cycles (2000000), got '${text}'`);
  };
  if (!m) return bad();
  const n = Number(m[1]);
  const unit = m[2] ?? 'cycles';
  if (!(n > 0)) bad();
  if (unit === 'cycles') return Number.isSafeInteger(n) ? { value: n, unit: 'cycles' } : bad();
  return { value: n * TIME_UNITS[unit]!, unit: 's' };
}

function integer(name: string, text: string, min: number, max: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) throw new SimUsageError(`--${name} must be an integer in [${min}, ${max}], got '${text}'`);
  return n;
}

function positive(name: string, text: string): number {
  const n = Number(text);
  if (!/^\d+(\.\d+)?(e\d+)?$/.test(text) || !(n > 0)) throw new SimUsageError(`--${name} must be a positive number, got '${text}'`);
  return n;
}

/** The `--help` text: every option with its default. */
export function helpText(): string {
  const modes = X86_MODES.map((m) => `      ${m.padEnd(9)} ${MODE_HELP[m]}`).join('\n');
  const arm64Modes = ARM64_MODES.map((m) => `      ${m.padEnd(9)} ${ARM64_MODE_HELP[m]}`).join('\n');
  const workloads = WORKLOADS.map((w) => `      ${w.padEnd(10)} ${WORKLOAD_HELP[w]}${DEFAULT_RATE[w] > 0 ? ` (default rate ${DEFAULT_RATE[w]})` : ''}`).join('\n');
  return `Usage: pnpm sim [options]

Runs the guest kernel on a simulated host in each interrupt-delivery mode and
prints what each costs: exits per interrupt by reason, exits per second,
interrupt latency, time in the guest and throughput as a percentage of native.

Options:
  --arch x86|arm64         architecture (default: x86 then arm64 when no --arch, --mode, --profile or --workload is given, else ${DEFAULTS.arch}; arm64 runs ${ARM64_WORKLOADS.join(', ')} on 1-${ARM64_MAX_CPUS} CPUs)
  --mode LIST              one mode or a comma-separated list (default ${DEFAULTS.modes.join(',')}; arm64 ${ARM64_MODES.join(',')})
    x86:
${modes}
    arm64:
${arm64Modes}
  --workload NAME          the workload (default: ${DEFAULTS.workload}, then the micro table)
${workloads}
  --rate N                 interrupts per second (default: the workload's)
  --vcpus N                CPUs of the guest, 1-${MAX_CPUS} (default ${DEFAULTS.vcpus}; 2 for ipi)
  --guest busy|idle        the kernel computes between interrupts, or idles in HLT (default ${DEFAULTS.guest})
  --irqchip kernel|split   x86: the in-kernel irqchip, or split (LAPICs in KVM, PIC and IOAPIC in the VMM) (default ${DEFAULTS.irqchip})
  --mmu ept|shadow         x86: the VMs' MMU, EPT or shadow paging (KVM with ept=0); not with mode native (default ${DEFAULTS.mmu})
  --profile NAME|FILE      cost profile: a shipped name (apps/sim/profiles/) or a JSON file (default ${DEFAULTS.profile}; arm64 ${DEFAULT_PROFILE.arm64})
  --seed N                 seed of the workload's random arrivals, 0-4294967295 (default ${DEFAULTS.seed})
  --duration D             simulated time measured: 10ms, 250us, 0.5s, or cycles (default ${DEFAULTS.duration})
  --json                   print the results as JSON on stdout, nothing else
  --help                   print this help

A bad option or value exits with code 2.
`;
}
