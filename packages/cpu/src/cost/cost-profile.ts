/**
 * What each operation and transition of a CPU costs, in cycles. A profile
 * holds primitive costs only: what an interrupt costs in total comes out of
 * the models doing their work (a delivery reads a gate, pushes a frame, runs
 * a handler whose operations each cost something).
 */
import { buildCostProfile, type CostProfileBase } from './profile.js';

/** Primitive costs of an x86 CPU, in cycles (see each field). */
export interface X86CostProfile extends CostProfileBase {
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
  return buildCostProfile('x86', NUMERIC, overrides, base);
}
