/**
 * What each operation and transition of an arm64 CPU costs, in cycles (the
 * arm64 counterpart of `X86CostProfile`): primitive costs only; what an
 * interrupt costs in total comes out of the models doing their work.
 */
import { buildCostProfile, type CostProfileBase } from './profile.js';

/** Primitive costs of an arm64 CPU, in cycles (see each field). */
export interface Arm64CostProfile extends CostProfileBase {
  /** Added for MRS/MSR of a register the PE holds (and DAIFSet/DAIFClr). */
  readonly sysreg: number;
  /** Added for MRS/MSR of a GIC CPU-interface or generic-timer register. */
  readonly deviceSysreg: number;
  /** Added for a TLBI. */
  readonly tlbi: number;
  /** Added for an ISB. */
  readonly isb: number;
  /** Added for a DSB or DMB. */
  readonly barrier: number;
  /** Taking an exception to EL1 (vector, ELR/SPSR/ESR updates), beyond its memory accesses. */
  readonly exceptionEntry: number;
  /** ERET at EL1. */
  readonly eret: number;
  /** Leaving WFI/WFE when a wake-up event arrives. */
  readonly wfiWake: number;
  /** A trap from EL1/EL0 to EL2 (the host's exit). */
  readonly trapToEl2: number;
  /** The ERET from EL2 back into the guest (the host's entry). */
  readonly eretFromEl2: number;
}

const ASSUMED = 'assumed order of magnitude for a current Armv8 out-of-order core; override for a specific processor';
const NEVE = '/work/shared/specs/papers.md, row "NEVE, SOSP 2017 (Lim, Dall, Li, Nieh, Zyngier), X-Gene" [S]';

/**
 * Default arm64 profile: a 2.5 GHz core (the generic timer's default CPU
 * rate). Trap and ERET costs cite NEVE's X-Gene measurements; the others are
 * assumptions of the right order.
 */
export const ARM64_DEFAULT_COSTS: Arm64CostProfile = Object.freeze({
  name: 'arm64-default',
  clockHz: 2_500_000_000,
  op: 1,
  load: 4,
  store: 1,
  walkReference: 20,
  mmio: 150,
  sysreg: 10,
  deviceSysreg: 40,
  tlbi: 100,
  isb: 20,
  barrier: 30,
  exceptionEntry: 68,
  eret: 65,
  wfiWake: 100,
  trapToEl2: 72,
  eretFromEl2: 65,
  sources: Object.freeze({
    op: ASSUMED,
    load: 'L1 data-cache hit latency, 4 cycles on Cortex-A72/Neoverse-class cores (their software optimization guides)',
    store: ASSUMED,
    walkReference: 'a descriptor read that hits L2, about 12-20 cycles; ' + ASSUMED,
    mmio: ASSUMED,
    sysreg: ASSUMED,
    deviceSysreg: 'a GIC CPU-interface system register access is a few tens of cycles; ' + ASSUMED,
    tlbi: ASSUMED,
    isb: ASSUMED,
    barrier: ASSUMED,
    exceptionEntry: `no measurement of a same-EL exception entry at hand: taken as the EL1 to EL2 trap's low end, 68 cycles (${NEVE})`,
    eret: `ERET 65 cycles (${NEVE})`,
    wfiWake: ASSUMED,
    trapToEl2: `EL1 to EL2 trap 68-76 cycles, middle of the range (${NEVE})`,
    eretFromEl2: `ERET 65 cycles (${NEVE})`,
  }),
});

const NUMERIC: readonly (keyof Arm64CostProfile)[] = ['clockHz', 'op', 'load', 'store', 'walkReference', 'mmio', 'sysreg', 'deviceSysreg', 'tlbi', 'isb', 'barrier', 'exceptionEntry', 'eret', 'wfiWake', 'trapToEl2', 'eretFromEl2'];

/** Returns `base` with `overrides` applied, each checked to be a non-negative number. */
export function arm64CostProfile(overrides: Partial<Arm64CostProfile> = {}, base: Arm64CostProfile = ARM64_DEFAULT_COSTS): Arm64CostProfile {
  return buildCostProfile('arm64', NUMERIC, overrides, base);
}
