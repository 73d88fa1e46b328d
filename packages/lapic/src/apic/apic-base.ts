/**
 * IA32_APIC_BASE and the APIC mode state machine (SDM 3A 11.4.4 Figure 11-5,
 * 11.12.5 Figure 11-27 "Local x2APIC State Transitions").
 */
import { CpuException } from '@hvsim/core';

/** The local APIC's global mode: IA32_APIC_BASE.EN and .EXTD. */
export type ApicMode = 'disabled' | 'xapic' | 'x2apic';

/** Mode from EN/EXTD, or undefined for the invalid state EN=0, EXTD=1. */
export function modeFromBits(en: boolean, extd: boolean): ApicMode | undefined {
  if (en) return extd ? 'x2apic' : 'xapic';
  return extd ? undefined : 'disabled';
}

/**
 * Checks a WRMSR to IA32_APIC_BASE that changes the mode from `from` to `to`
 * (undefined = the invalid state) and throws #GP for the transitions the SDM
 * forbids: to the invalid state; x2APIC to xAPIC; disabled to x2APIC.
 * Host-initiated writes (a VMM restoring state) may do anything except the
 * invalid state, as KVM allows.
 */
export function checkModeTransition(from: ApicMode, to: ApicMode | undefined, hostInitiated: boolean, detail: string): ApicMode {
  if (to === undefined) throw CpuException.gp(`${detail}: EXTD=1 with EN=0 is invalid (SDM 3A 11.12.5)`);
  if (hostInitiated || from === to) return to;
  if (from === 'x2apic' && to === 'xapic') throw CpuException.gp(`${detail}: x2APIC to xAPIC must go through disabled (SDM 3A 11.12.5)`);
  if (from === 'disabled' && to === 'x2apic') throw CpuException.gp(`${detail}: disabled to x2APIC must go through xAPIC (SDM 3A 11.12.5)`);
  return to;
}

/** Mask of the reserved bits of IA32_APIC_BASE: 7:0, 9, EXTD without x2APIC support, and bits at or above MAXPHYADDR. */
export function apicBaseReservedMask(maxPhysAddrBits: number, x2apicSupported: boolean): bigint {
  const above = ((1n << 64n) - 1n) ^ ((1n << BigInt(maxPhysAddrBits)) - 1n);
  return above | 0x2ffn | (x2apicSupported ? 0n : 0x400n);
}
