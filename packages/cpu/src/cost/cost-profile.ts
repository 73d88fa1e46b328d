/**
 * What each operation and transition of a CPU costs, in cycles. A profile
 * holds primitive costs only: what an interrupt costs in total comes out of
 * the models doing their work (a delivery reads a gate, pushes a frame, runs
 * a handler whose operations each cost something).
 */
import { UsageError, describeValue } from '@hvsim/core';

/** Primitive costs of an x86 CPU, in cycles (see each field). */
export interface X86CostProfile {
  /** Name shown in reports. */
  readonly name: string;
  /** Core clock rate, for converting cycles to time in reports. */
  readonly clockHz: number;
  /** Every operation's base cost (issue and retire). */
  readonly op: number;
  /** Added for a load that hits the TLB. */
  readonly load: number;
  /** Added for a store that hits the TLB. */
  readonly store: number;
  /** Per paging-structure reference of a page walk after a TLB miss. */
  readonly walkReference: number;
  /** Added for an access that reaches a device register (uncached MMIO). */
  readonly mmio: number;
  /** Added for IN/OUT. */
  readonly pio: number;
  /** Added for RDMSR/WRMSR. */
  readonly msr: number;
  /** Added for CPUID. */
  readonly cpuid: number;
  /** Added for MOV to CR0/CR3/CR4. */
  readonly crWrite: number;
  /** Added for INVLPG. */
  readonly invlpg: number;
  /** Delivery of an interrupt or exception through the IDT (gate read, frame push, control transfer), beyond its memory accesses. */
  readonly eventDelivery: number;
  /** IRET, beyond its memory accesses. */
  readonly iret: number;
  /** Leaving the HLT state when an event arrives. */
  readonly hltWake: number;
  /** A VM exit: the hardware world switch from the guest to the host (VMX). */
  readonly vmExit: number;
  /** A VM entry (VMLAUNCH/VMRESUME) into the guest. */
  readonly vmEntry: number;
  /** Where each number comes from. */
  readonly sources: Readonly<Record<string, string>>;
}

const ASSUMED = 'assumed order of magnitude for a current out-of-order core; override for a specific processor';

/**
 * Default x86 profile: a 2.5 GHz core. The values are assumptions of the
 * right order (L1-hit load latency of a few cycles, serializing instructions
 * and uncached device accesses of one to a few hundred); reports that
 * compare modes depend on ratios between these and the VM-transition costs
 * of the hypervisor profiles, which cite measurements.
 */
export const X86_DEFAULT_COSTS: X86CostProfile = Object.freeze({
  name: 'x86-default',
  clockHz: 2_500_000_000,
  op: 1,
  load: 4,
  store: 1,
  walkReference: 20,
  mmio: 150,
  pio: 150,
  msr: 100,
  cpuid: 100,
  crWrite: 50,
  invlpg: 100,
  eventDelivery: 150,
  iret: 50,
  hltWake: 100,
  vmExit: 600,
  vmEntry: 600,
  sources: Object.freeze({
    op: ASSUMED,
    load: 'L1 data-cache hit latency, 4-5 cycles on recent Intel cores (Intel optimization reference manual)',
    store: ASSUMED,
    walkReference: 'a paging-structure read that hits L2, about 12-20 cycles; ' + ASSUMED,
    mmio: ASSUMED,
    pio: ASSUMED,
    msr: ASSUMED,
    cpuid: ASSUMED,
    crWrite: ASSUMED,
    invlpg: ASSUMED,
    eventDelivery: ASSUMED,
    iret: ASSUMED,
    hltWake: ASSUMED,
    vmExit: 'KVM x86 hypercall round trip 1,300 cycles on a Xeon E5-2450 (Dall et al., ISCA 2016, Table II), less about 100 for the handler, split evenly between exit and entry (the split is assumed)',
    vmEntry: 'see vmExit',
  }),
});

const NUMERIC: readonly (keyof X86CostProfile)[] = ['clockHz', 'op', 'load', 'store', 'walkReference', 'mmio', 'pio', 'msr', 'cpuid', 'crWrite', 'invlpg', 'eventDelivery', 'iret', 'hltWake', 'vmExit', 'vmEntry'];

/** Returns `base` with `overrides` applied, each checked to be a non-negative number. */
export function x86CostProfile(overrides: Partial<X86CostProfile> = {}, base: X86CostProfile = X86_DEFAULT_COSTS): X86CostProfile {
  const known = new Set<string>([...NUMERIC, 'name', 'sources']);
  for (const key of Object.keys(overrides)) if (!known.has(key)) throw new UsageError('unknown-name', `unknown x86 cost ${describeValue(key)}`);
  const profile = { ...base, ...overrides };
  for (const key of NUMERIC) {
    const v = profile[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new UsageError('bad-argument', `x86 cost ${key} must be a non-negative number, got ${describeValue(v)}`);
  }
  if (profile.clockHz <= 0) throw new UsageError('bad-argument', `clockHz must be positive, got ${profile.clockHz}`);
  return Object.freeze(profile);
}
