/**
 * arm64 cost profiles: JSON files of the shape of the x86 ones (`name`,
 * `arch: "arm64"`, `description`, `clockHz`, `cpu`, `host`, `sources`)
 * holding primitive costs in cycles — the CPU's operations, exception entry,
 * ERET, the trap to EL2 and the ERET back (`@hvsim/cpu`'s Arm64CostProfile)
 * and KVM's world switch (`@hvsim/kvm`'s Arm64WorldSwitchCosts: per exit
 * handled in the kernel, and the extra of a return to userspace), each with
 * a `sources` entry. Per-interrupt totals are never in a profile.
 */
import { arm64CostProfile, type Arm64CostProfile } from '@hvsim/cpu';
import type { Arm64WorldSwitchCosts } from '@hvsim/kvm';
import { SimUsageError } from './errors.js';
import { DEVICE_COST_FIELDS, checkKeys, isCost, isRecord, readProfileFile, type DeviceCosts } from './profiles.js';

/** A validated arm64 cost profile. */
export interface Arm64SimProfile {
  readonly name: string;
  readonly arch: 'arm64';
  readonly description: string;
  readonly clockHz: number;
  /** The CPU's primitive costs, ready for `Arm64Cpu` (its `sources` keyed by field name). */
  readonly cpu: Arm64CostProfile;
  /** KVM's world switch, ready for `new Kvm({ arch: 'arm64', arm64Costs })`. */
  readonly host: Arm64WorldSwitchCosts;
  /** The assigned NIC's and the wire's costs (the x86 profiles' `device`). */
  readonly device: DeviceCosts;
  /** Where each number comes from, keyed `clockHz`, `cpu.FIELD`, `host.FIELD`, `device.FIELD`. */
  readonly sources: Readonly<Record<string, string>>;
}

/** The CPU cost fields an arm64 profile must give (Arm64CostProfile's numbers but the clock). */
export const ARM64_CPU_COST_FIELDS = ['op', 'load', 'store', 'walkReference', 'mmio', 'sysreg', 'deviceSysreg', 'tlbi', 'isb', 'barrier', 'exceptionEntry', 'eret', 'wfiWake', 'trapToEl2', 'eretFromEl2'] as const satisfies readonly (keyof Arm64CostProfile)[];
/** The numeric host cost fields an arm64 profile must give (with `host.mode`, 'nvhe' or 'vhe'). */
export const ARM64_HOST_COST_FIELDS = ['exit', 'userspace'] as const satisfies readonly (keyof Arm64WorldSwitchCosts)[];
const HOST_FIELDS = ['mode', ...ARM64_HOST_COST_FIELDS] as const;
const TOP_FIELDS = ['name', 'arch', 'description', 'clockHz', 'cpu', 'host', 'device', 'sources'] as const;

/** Loads an arm64 profile by shipped name or by file path, and validates it. */
export function loadArm64Profile(nameOrFile: string): Arm64SimProfile {
  const { json, file } = readProfileFile(nameOrFile);
  return validateArm64Profile(json, file);
}

/** Checks a parsed arm64 profile whole: unknown, missing and bad fields are named (`where` names the file). */
export function validateArm64Profile(json: unknown, where = 'profile'): Arm64SimProfile {
  const bad = (what: string): never => {
    throw new SimUsageError(`--profile ${where}: ${what}`);
  };
  if (!isRecord(json)) return bad('must be a JSON object');
  // The architecture first: another architecture's profile has other fields.
  if (json.arch !== 'arm64') bad(`arch ${JSON.stringify(json.arch)} is not arm64: this run is --arch arm64`);
  checkKeys(json, TOP_FIELDS, '', bad);
  const { name, description, clockHz, cpu, host, device, sources } = json;
  if (typeof name !== 'string' || name === '') bad(`name must be a non-empty string, got ${JSON.stringify(name)}`);
  if (typeof description !== 'string') bad('description must be a string');
  if (!isCost(clockHz) || clockHz === 0) bad(`clockHz must be a positive number, got ${JSON.stringify(clockHz)}`);
  if (!isRecord(cpu)) return bad('cpu must be an object');
  if (!isRecord(host)) return bad('host must be an object');
  if (!isRecord(device)) return bad('device must be an object');
  if (!isRecord(sources)) return bad('sources must be an object');
  checkKeys(cpu, ARM64_CPU_COST_FIELDS, 'cpu.', bad);
  checkKeys(host, HOST_FIELDS, 'host.', bad);
  checkKeys(device, DEVICE_COST_FIELDS, 'device.', bad);
  if (host.mode !== 'nvhe' && host.mode !== 'vhe') bad(`host.mode must be "nvhe" (split mode) or "vhe", got ${JSON.stringify(host.mode)}`);
  const numbers = [
    ...ARM64_CPU_COST_FIELDS.map((k) => ['cpu.' + k, cpu[k]] as const),
    ...ARM64_HOST_COST_FIELDS.map((k) => ['host.' + k, host[k]] as const),
    ...DEVICE_COST_FIELDS.map((k) => ['device.' + k, device[k]] as const),
  ];
  for (const [field, value] of numbers) if (!isCost(value)) bad(`${field} must be a non-negative number${field.startsWith('device.') ? '' : ' of cycles'}, got ${JSON.stringify(value)}`);
  if (device.lineRateBitsPerSecond === 0) bad('device.lineRateBitsPerSecond must be positive');
  checkKeys(sources, ['clockHz', ...numbers.map(([field]) => field)], 'sources.', bad);
  for (const [k, v] of Object.entries(sources)) if (typeof v !== 'string' || v.trim() === '') bad(`sources.${k} must cite a source or say "assumption"`);
  const src = sources as Record<string, string>;
  const cpuCosts = arm64CostProfile({
    ...(Object.fromEntries(ARM64_CPU_COST_FIELDS.map((f) => [f, cpu[f]])) as Record<(typeof ARM64_CPU_COST_FIELDS)[number], number>),
    name: name as string,
    clockHz: clockHz as number,
    sources: { ...Object.fromEntries(ARM64_CPU_COST_FIELDS.map((f) => [f, src[`cpu.${f}`]!])), clockHz: src.clockHz! },
  });
  const worldSwitch: Arm64WorldSwitchCosts = Object.freeze({
    mode: host.mode as 'nvhe' | 'vhe',
    exit: host.exit as number,
    userspace: host.userspace as number,
    sources: Object.freeze({ exit: src['host.exit']!, userspace: src['host.userspace']! }),
  });
  const deviceCosts = Object.freeze(Object.fromEntries(DEVICE_COST_FIELDS.map((f) => [f, device[f] as number])) as DeviceCosts);
  return Object.freeze({ name: name as string, arch: 'arm64', description: description as string, clockHz: clockHz as number, cpu: cpuCosts, host: worldSwitch, device: deviceCosts, sources: Object.freeze({ ...src }) });
}

/** The profile as its JSON file has it (for `--json`'s config). */
export function arm64ProfileAsFile(p: Arm64SimProfile): Record<string, unknown> {
  const cpu = Object.fromEntries(ARM64_CPU_COST_FIELDS.map((f) => [f, p.cpu[f]]));
  return { name: p.name, arch: p.arch, description: p.description, clockHz: p.clockHz, cpu, host: { mode: p.host.mode, exit: p.host.exit, userspace: p.host.userspace }, device: { ...p.device }, sources: p.sources };
}
