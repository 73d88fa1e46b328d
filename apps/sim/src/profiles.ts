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
const TOP_FIELDS = ['name', 'arch', 'description', 'clockHz', 'cpu', 'host', 'sources'] as const;

/** The profiles shipped in `apps/sim/profiles/`. */
export const PROFILES_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'profiles');
/** The default profile of each architecture. */
export const DEFAULT_PROFILE = { x86: 'x86-sandybridge' } as const;

/** Loads a profile by shipped name or by file path, and validates it. */
export function loadProfile(nameOrFile: string): SimProfile {
  const shipped = join(PROFILES_DIR, `${nameOrFile}.json`);
  const file = /^[\w.-]+$/.test(nameOrFile) && existsSync(shipped) ? shipped : nameOrFile;
  if (!existsSync(file)) throw new SimUsageError(`--profile: no shipped profile or file named '${nameOrFile}'`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new SimUsageError(`--profile: ${file} is not valid JSON (${(e as Error).message})`);
  }
  return validateProfile(json, file);
}

/** Checks a parsed profile whole: unknown, missing and bad fields are named (`where` names the file). */
export function validateProfile(json: unknown, where = 'profile'): SimProfile {
  const bad = (what: string): never => {
    throw new SimUsageError(`--profile ${where}: ${what}`);
  };
  if (!isRecord(json)) return bad('must be a JSON object');
  checkKeys(json, TOP_FIELDS, '', bad);
  const { name, arch, description, clockHz, cpu, host, sources } = json;
  if (typeof name !== 'string' || name === '') bad(`name must be a non-empty string, got ${JSON.stringify(name)}`);
  if (arch !== 'x86') bad(`arch ${JSON.stringify(arch)} is not supported (only 'x86' so far)`);
  if (typeof description !== 'string') bad('description must be a string');
  if (!isCost(clockHz) || clockHz === 0) bad(`clockHz must be a positive number, got ${JSON.stringify(clockHz)}`);
  if (!isRecord(cpu)) return bad('cpu must be an object');
  if (!isRecord(host)) return bad('host must be an object');
  if (!isRecord(sources)) return bad('sources must be an object');
  checkKeys(cpu, CPU_COST_FIELDS, 'cpu.', bad);
  checkKeys(host, HOST_COST_FIELDS, 'host.', bad);
  const numbered = ['clockHz', ...CPU_COST_FIELDS.map((f) => `cpu.${f}`), ...HOST_COST_FIELDS.map((f) => `host.${f}`)];
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
    sources: Object.freeze({ ...(sources as Record<string, string>) }),
  });
}

function checkKeys(obj: Record<string, unknown>, known: readonly string[], prefix: string, bad: (what: string) => never): void {
  const unknown = Object.keys(obj).filter((k) => !known.includes(k));
  if (unknown.length > 0) bad(`unknown field${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => prefix + k).join(', ')}`);
  const missing = known.filter((k) => !(k in obj));
  if (missing.length > 0) bad(`missing field${missing.length > 1 ? 's' : ''} ${missing.map((k) => prefix + k).join(', ')}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isCost(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}
