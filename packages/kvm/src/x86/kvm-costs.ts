/**
 * What KVM's own work costs on x86, in cycles, beyond the VM exit and entry
 * that `@hvsim/cpu` charges from its cost profile (`x86CpuCosts`): the
 * in-kernel handling of each exit (x86.c vcpu_enter_guest after the exit,
 * vmx.c's handler), a KVM_RUN that returns to userspace and is called again
 * (the ioctl's return, the VMM's dispatch and its next KVM_RUN), and the
 * injection of an event at entry (kvm_check_and_inject_events writing the
 * VM-entry interruption information). Primitives only: a total per
 * interrupt comes out of the run loop doing the work. Zero by default.
 *
 * `exitHandlers` gives the handling cycles of particular exit reasons (by
 * their VMX names, as `perf kvm stat` and `vcpu.stats` show them: a WRMSR's
 * `MSR_WRITE` costs less than an `EPT_MISCONFIG` that walks the MMIO
 * path); a reason not listed costs `exitHandler`.
 */
import { EXIT_REASON } from '@hvsim/vmcs';
import { fail } from '../generic/errors.js';

/** Cycles of KVM's own work on x86 (`new Kvm({ x86KvmCosts })`; see the file comment). */
export interface X86KvmCosts {
  /** In-kernel handling per VM exit, charged after its handler (an exit that goes on to userspace pays it too). */
  readonly exitHandler: number;
  /** A KVM_RUN that returns an exit to userspace and the VMM's next KVM_RUN. */
  readonly userspaceExit: number;
  /** Injecting an event (an interrupt, NMI or exception) at VM entry. */
  readonly injection: number;
  /** In-kernel handling of particular exit reasons by VMX name (`MSR_WRITE: 600`); others cost `exitHandler`. */
  readonly exitHandlers?: Readonly<Partial<Record<X86ExitReasonName, number>>>;
}

/** A VMX basic exit reason's name (`EXIT_REASON`'s keys: `MSR_WRITE`, `EPT_MISCONFIG`...). */
export type X86ExitReasonName = keyof typeof EXIT_REASON;

/** The numeric fields of {@link X86KvmCosts}. */
export const X86_KVM_COST_FIELDS = ['exitHandler', 'userspaceExit', 'injection'] as const;

/** No cost for KVM's own work (the default: only the CPU's exit and entry are charged). */
export const X86_KVM_ZERO_COSTS: X86KvmCosts = Object.freeze({ exitHandler: 0, userspaceExit: 0, injection: 0 });

/** Basic exit reasons are 16 bits; the table covers the ones VMX defines (SDM 3C Appendix C). */
const REASON_TABLE_SIZE = 128;

/**
 * The handling cost of every basic exit reason, indexed by reason number
 * (`exitHandlers` over `exitHandler`): the run loop reads one element per
 * exit.
 */
export function exitCostTable(costs: X86KvmCosts): Float64Array {
  const table = new Float64Array(REASON_TABLE_SIZE).fill(costs.exitHandler);
  const by = costs.exitHandlers;
  if (by) for (const [name, cycles] of Object.entries(by)) table[EXIT_REASON[name as X86ExitReasonName]] = cycles;
  return table;
}

/**
 * Checks `x86KvmCosts` whole and returns a frozen copy (missing fields are
 * 0): EINVAL naming an unknown field or one that is not a finite,
 * non-negative number of cycles.
 */
export function x86KvmCosts(value: unknown): X86KvmCosts {
  if (value === undefined) return X86_KVM_ZERO_COSTS;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('EINVAL', `x86KvmCosts must be an object, got ${shown(value)}`);
  const given = value as Record<string, unknown>;
  const unknown = Object.keys(given).filter((k) => k !== 'exitHandlers' && !(X86_KVM_COST_FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) fail('EINVAL', `x86KvmCosts: unknown field${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}`);
  const out: Record<string, number> = {};
  for (const f of X86_KVM_COST_FIELDS) {
    const v = given[f] ?? 0;
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail('EINVAL', `x86KvmCosts.${f} must be a non-negative number of cycles, got ${shown(v)}`);
    out[f] = v;
  }
  const by = given.exitHandlers;
  if (by === undefined) return Object.freeze(out as unknown as X86KvmCosts);
  if (typeof by !== 'object' || by === null || Array.isArray(by)) fail('EINVAL', `x86KvmCosts.exitHandlers must be an object of exit-reason names, got ${shown(by)}`);
  const handlers: Record<string, number> = {};
  for (const [name, v] of Object.entries(by as Record<string, unknown>)) {
    const reason = Object.hasOwn(EXIT_REASON, name) ? EXIT_REASON[name as X86ExitReasonName] : -1;
    if (reason < 0 || reason >= REASON_TABLE_SIZE) fail('EINVAL', `x86KvmCosts.exitHandlers: ${name} is not a VMX exit reason name (EXIT_REASON: MSR_WRITE, EPT_MISCONFIG, ...)`);
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) fail('EINVAL', `x86KvmCosts.exitHandlers.${name} must be a non-negative number of cycles, got ${shown(v)}`);
    handlers[name] = v;
  }
  return Object.freeze({ ...out, exitHandlers: Object.freeze(handlers) } as unknown as X86KvmCosts);
}

/** A value for a message: numbers as they print (NaN, -1), a bigint with its n, a function by kind, anything else as JSON. */
function shown(v: unknown): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'bigint') return `${String(v)}n`;
  if (typeof v === 'function' || typeof v === 'symbol') return `a ${typeof v}`;
  return JSON.stringify(v);
}
