/**
 * Which registers exist in each interface and how software may access them
 * (SDM 3A Table 11-1 for the xAPIC page; Table 11-6 for the x2APIC MSRs).
 * One table per mode, indexed by offset >> 4, so each access is one lookup.
 */
import { APIC_REG } from './regs.js';

/** Access kinds. */
export const ACCESS = { NONE: 0, RO: 1, RW: 2, WO: 3 } as const;

function build(x2apic: boolean, hasCmci: boolean, xapicIdWritable: boolean): Uint8Array {
  const t = new Uint8Array(256);
  const set = (off: number, kind: number): void => {
    t[off >>> 4] = kind;
  };
  // The xAPIC ID is read-only since Nehalem (SDM 3A 11.4.1 note); the x2APIC ID always (11.12.5.1).
  set(APIC_REG.APIC_ID, !x2apic && xapicIdWritable ? ACCESS.RW : ACCESS.RO);
  set(APIC_REG.APIC_VERSION, ACCESS.RO);
  set(APIC_REG.APIC_TPR, ACCESS.RW);
  set(APIC_REG.APIC_PPR, ACCESS.RO);
  set(APIC_REG.APIC_EOI, ACCESS.WO);
  set(APIC_REG.APIC_LDR, x2apic ? ACCESS.RO : ACCESS.RW);
  set(APIC_REG.APIC_SVR, ACCESS.RW);
  for (let i = 0; i < 8; i++) {
    set(APIC_REG.APIC_ISR0 + i * 16, ACCESS.RO);
    set(APIC_REG.APIC_TMR0 + i * 16, ACCESS.RO);
    set(APIC_REG.APIC_IRR0 + i * 16, ACCESS.RO);
  }
  set(APIC_REG.APIC_ESR, ACCESS.RW);
  if (hasCmci) set(APIC_REG.APIC_LVT_CMCI, ACCESS.RW);
  set(APIC_REG.APIC_ICR_LOW, ACCESS.RW);
  for (const off of [
    APIC_REG.APIC_LVT_TIMER,
    APIC_REG.APIC_LVT_THERMAL,
    APIC_REG.APIC_LVT_PERF,
    APIC_REG.APIC_LVT_LINT0,
    APIC_REG.APIC_LVT_LINT1,
    APIC_REG.APIC_LVT_ERROR,
    APIC_REG.APIC_TIMER_INITIAL_COUNT,
    APIC_REG.APIC_TIMER_DIVIDE_CONFIG,
  ]) {
    set(off, ACCESS.RW);
  }
  set(APIC_REG.APIC_TIMER_CURRENT_COUNT, ACCESS.RO);
  if (x2apic) {
    // x2APIC: APR, RRD, DFR and ICR_HIGH do not exist; SELF IPI does (SDM 3A 11.12.1.2).
    set(APIC_REG.APIC_SELF_IPI, ACCESS.WO);
  } else {
    set(APIC_REG.APIC_APR, ACCESS.RO);
    set(APIC_REG.APIC_RRD, ACCESS.RO);
    set(APIC_REG.APIC_DFR, ACCESS.RW);
    set(APIC_REG.APIC_ICR_HIGH, ACCESS.RW);
  }
  return t;
}

/** Access table of the xAPIC page, with or without the CMCI LVT and a writable ID. */
export function xapicAccessTable(hasCmci: boolean, xapicIdWritable: boolean): Uint8Array {
  return build(false, hasCmci, xapicIdWritable);
}

/** Access table of the x2APIC MSRs 0x800-0x8FF, with or without the CMCI LVT. */
export function x2apicAccessTable(hasCmci: boolean): Uint8Array {
  return build(true, hasCmci, false);
}
