/**
 * Destination matching: does an APIC accept a message addressed to `mda`?
 * Physical mode compares APIC IDs; logical mode uses the receiver's LDR and
 * DFR (flat or cluster) in xAPIC mode and the x2APIC cluster/bit LDR in
 * x2APIC mode (SDM 3A 11.6.2, 11.12.10). The broadcast address is 0xFF for
 * 8-bit destinations and 0xFFFFFFFF for x2APIC destinations.
 */
import { DFR_MODEL } from '../apic/regs.js';

/** What a receiver contributes to matching. */
export interface DestinationIdentity {
  /** Physical APIC ID in effect: the 32-bit x2APIC ID in x2APIC mode, the 8-bit xAPIC ID otherwise. */
  readonly apicId: number;
  /** LDR value. */
  readonly ldr: number;
  /** DFR value (xAPIC). */
  readonly dfr: number;
  /** True in x2APIC mode. */
  readonly isX2apic: boolean;
}

/** The broadcast MDA for the destination width. */
export function broadcastAddress(x2apicDestination: boolean): number {
  return x2apicDestination ? 0xffff_ffff : 0xff;
}

/** Physical destination: broadcast or the receiver's APIC ID (SDM 3A 11.6.2.1). */
export function matchesPhysical(target: DestinationIdentity, mda: number, x2apicDestination: boolean): boolean {
  return mda === broadcastAddress(x2apicDestination) || mda === target.apicId;
}

/** Logical destination (SDM 3A 11.6.2.2 flat and cluster; 11.12.10.2 x2APIC cluster). */
export function matchesLogical(target: DestinationIdentity, mda: number, x2apicDestination: boolean): boolean {
  if (mda === broadcastAddress(x2apicDestination)) return true;
  const ldr = target.ldr;
  if (target.isX2apic) {
    // Cluster ID in 31:16 must be equal; the 16-bit logical IDs must share a bit.
    return mda >>> 16 === ldr >>> 16 && (ldr & mda & 0xffff) !== 0;
  }
  const logicalId = ldr >>> 24;
  if (target.dfr >>> 28 === DFR_MODEL.FLAT) return (logicalId & mda & 0xff) !== 0;
  // Cluster model: cluster in MDA/LDR bits 7:4, member bits 3:0.
  return ((mda >>> 4) & 0xf) === logicalId >>> 4 && (logicalId & mda & 0xf) !== 0;
}

/** Either mode. */
export function matchesDestination(target: DestinationIdentity, mda: number, logical: boolean, x2apicDestination: boolean): boolean {
  return logical ? matchesLogical(target, mda, x2apicDestination) : matchesPhysical(target, mda, x2apicDestination);
}
