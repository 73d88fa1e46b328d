/**
 * Cost profiles: JSON files (`profiles/NAME.json`, or any file a user
 * passes with `--profile FILE`) holding primitive costs in cycles — the
 * CPU's operations and VM transitions (`@hvsim/cpu`'s X86CostProfile) and
 * KVM's own work (`@hvsim/kvm`'s X86KvmCosts: in-kernel exit handling, a
 * return to the userspace VMM, event injection) — each with a `sources`
 * entry. Per-interrupt totals are never in a profile: they come out of the
 * models doing the work.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { x86CostProfile, type X86CostProfile } from '@hvsim/cpu';
import { x86KvmCosts, type X86KvmCosts } from '@hvsim/kvm';
import { SimUsageError } from './errors.js';

/** A validated cost profile. */
export interface SimProfile {
  readonly name: string;
  readonly arch: 'x86';
  readonly description: string;
  readonly clockHz: number;
  /** The CPU's primitive costs, ready for `X86Cpu` (its `sources` keyed by field name). */
  readonly cpu: X86CostProfile;
  /** KVM's own costs, ready for `new Kvm({ x86KvmCosts })`. */
  readonly host: HostCosts;
  /** The assigned NIC and its wire: a DMA round trip and the one-way latency in cycles, the line rate in bits per second. */
  readonly device: DeviceCosts;
  /** Where each number comes from, keyed `clockHz`, `cpu.FIELD`, `host.FIELD`. */
  readonly sources: Readonly<Record<string, string>>;
}

/**
 * Costs of the host outside the CPU model, in cycles: KVM's own work, which
 * its run loop charges to the vCPU (`exitHandler` per exit, `userspaceExit`
 * per KVM_RUN returning to the VMM and the next KVM_RUN, `injection` per
 * event injected at entry), beyond the exit and entry themselves.
 */
export type HostCosts = X86KvmCosts;

/** The CPU cost fields a profile must give (X86CostProfile's numbers but the clock). */
export const CPU_COST_FIELDS = ['op', 'load', 'store', 'walkReference', 'mmio', 'pio', 'msr', 'cpuid', 'crWrite', 'invlpg', 'eventDelivery', 'iret', 'hltWake', 'vmExit', 'vmEntry'] as const;
/** The host cost fields a profile must give. */
export const HOST_COST_FIELDS = ['exitHandler', 'userspaceExit', 'injection'] as const satisfies readonly (keyof X86KvmCosts)[];
/** The device cost fields a profile must give. */
export const DEVICE_COST_FIELDS = ['nicDmaRoundTrip', 'wireLatency', 'lineRateBitsPerSecond'] as const;
/** The assigned NIC's and the wire's costs. */
export type DeviceCosts = Readonly<Record<(typeof DEVICE_COST_FIELDS)[number], number>>;
const TOP_FIELDS = ['name', 'arch', 'description', 'clockHz', 'cpu', 'host', 'device', 'sources'] as const;

/** The profiles shipped in `apps/sim/profiles/`. */
export const PROFILES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'profiles');
/** The default profile of each architecture. */
export const DEFAULT_PROFILE = { x86: 'x86-sandybridge', arm64: 'arm64-xgene' } as const;

/** Loads a profile by shipped name or by file path, and validates it. */
export function loadProfile(nameOrFile: string): SimProfile {
  const { json, file } = readProfileFile(nameOrFile);
  return validateProfile(json, file);
}

/** Reads a profile's JSON by shipped name or by file path (any architecture; not validated). */
export function readProfileFile(nameOrFile: string): { json: unknown; file: string } {
  const shipped = join(PROFILES_DIR, `${nameOrFile}.json`);
  const file = /^[\w.-]+$/.test(nameOrFile) && existsSync(shipped) ? shipped : nameOrFile;
  if (!existsSync(file)) throw new SimUsageError(`--profile: no shipped profile or file named '${nameOrFile}'`);
  try {
    return { json: JSON.parse(readFileSync(file, 'utf8')) as unknown, file };
  } catch (e) {
    throw new SimUsageError(`--profile: ${file} is not valid JSON (${(e as Error).message})`);
  }
}

/** Checks a parsed profile whole: unknown, missing and bad fields are named (`where` names the file). */
export function validateProfile(json: unknown, where = 'profile'): SimProfile {
  const bad = (what: string): never => {
    throw new SimUsageError(`--profile ${where}: ${what}`);
  };
  if (!isRecord(json)) return bad('must be a JSON object');
  // The architecture first: another architecture's profile has other fields.
  if (json.arch !== 'x86') bad(`arch ${JSON.stringify(json.arch)} is not x86: an arm64 profile needs --arch arm64`);
  checkKeys(json, TOP_FIELDS, '', bad);
  const { name, description, clockHz, cpu, host, device, sources } = json;
  if (typeof name !== 'string' || name === '') bad(`name must be a non-empty string, got ${JSON.stringify(name)}`);
  if (typeof description !== 'string') bad('description must be a string');
  if (!isCost(clockHz) || clockHz === 0) bad(`clockHz must be a positive number, got ${JSON.stringify(clockHz)}`);
  if (!isRecord(cpu)) return bad('cpu must be an object');
  if (!isRecord(host)) return bad('host must be an object');
  if (!isRecord(device)) return bad('device must be an object');
  checkKeys(device, DEVICE_COST_FIELDS, 'device.', bad);
  for (const f of DEVICE_COST_FIELDS) if (!isCost(device[f])) bad(`device.${f} must be a non-negative number, got ${JSON.stringify(device[f])}`);
  if (device.lineRateBitsPerSecond === 0) bad('device.lineRateBitsPerSecond must be positive');
  if (!isRecord(sources)) return bad('sources must be an object');
  checkKeys(cpu, CPU_COST_FIELDS, 'cpu.', bad);
  checkKeys(host, HOST_COST_FIELDS, 'host.', bad);
  const numbered = ['clockHz', ...CPU_COST_FIELDS.map((f) => `cpu.${f}`), ...HOST_COST_FIELDS.map((f) => `host.${f}`), ...DEVICE_COST_FIELDS.map((f) => `device.${f}`)];
  for (const f of [...CPU_COST_FIELDS.map((k) => ['cpu.' + k, cpu[k]] as const), ...HOST_COST_FIELDS.map((k) => ['host.' + k, host[k]] as const)]) {
    if (!isCost(f[1])) bad(`${f[0]} must be a non-negative number of cycles, got ${JSON.stringify(f[1])}`);
  }
  checkKeys(sources, numbered, 'sources.', bad);
  for (const [k, v] of Object.entries(sources)) if (typeof v !== 'string' || v.trim() === '') bad(`sources.${k} must cite a source or say "assumption"`);
  const cpuSources = Object.fromEntries(CPU_COST_FIELDS.map((f) => [f, sources[`cpu.${f}`] as string]));
  const cpuCosts = x86CostProfile({ ...(cpu as Record<string, number>), name: name as string, clockHz: clockHz as number, sources: { ...cpuSources, clockHz: sources.clockHz as string } });
  return Object.freeze({
    name: name as string,
    arch: 'x86',
    description: description as string,
    clockHz: clockHz as number,
    cpu: cpuCosts,
    host: x86KvmCosts(Object.fromEntries(HOST_COST_FIELDS.map((f) => [f, host[f]]))), // checked above: kvm's own check cannot fail
    device: Object.freeze(Object.fromEntries(DEVICE_COST_FIELDS.map((f) => [f, device[f] as number])) as DeviceCosts),
    sources: Object.freeze({ ...(sources as Record<string, string>) }),
  });
}

/** Names the unknown and missing fields of `obj` (prefixed `prefix`) through `bad` (also for arm64 profiles). */
export function checkKeys(obj: Record<string, unknown>, known: readonly string[], prefix: string, bad: (what: string) => never): void {
  const unknown = Object.keys(obj).filter((k) => !known.includes(k));
  if (unknown.length > 0) bad(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => prefix + k).join(', ')}`);
  const missing = known.filter((k) => !(k in obj));
  if (missing.length > 0) bad(`missing field${missing.length > 1 ? 's' : ''} ${missing.map((k) => prefix + k).join(', ')}`);
}

/** Whether `v` is a plain JSON object. */
export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether `v` is a non-negative finite number (a cost in cycles). */
export function isCost(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}
