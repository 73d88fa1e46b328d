/**
 * Which accesses to the APIC-access page are virtualized (SDM 3C
 * "Virtualizing Reads from the APIC-Access Page", "Determining Whether a
 * Write Access is Virtualized"), by register (page offset bits 11:4).
 */
import { APIC, ICR_FIELD, ICR_SHORTHAND } from '@hvsim/lapic';
import { getField, testField } from '@hvsim/core';

/** Bit 0: reads virtualized under APIC-register virtualization; bit 1: writes. */
const TABLE = new Uint8Array(256);
const READ = 1;
const WRITE = 2;
function mark(offset: number, flags: number): void {
  TABLE[offset >>> 4] = flags;
}
mark(APIC.ID, READ | WRITE);
mark(APIC.VERSION, READ);
mark(APIC.TPR, READ | WRITE);
mark(APIC.EOI, READ | WRITE);
mark(APIC.LDR, READ | WRITE);
mark(APIC.DFR, READ | WRITE);
mark(APIC.SVR, READ | WRITE);
for (let i = 0; i < 8; i++) {
  mark(APIC.ISR0 + i * 16, READ);
  mark(APIC.TMR0 + i * 16, READ);
  mark(APIC.IRR0 + i * 16, READ);
}
mark(APIC.ESR, READ | WRITE);
mark(APIC.ICR_LOW, READ | WRITE);
mark(APIC.ICR_HIGH, READ | WRITE);
for (const lvt of [APIC.LVT_TIMER, APIC.LVT_THERMAL, APIC.LVT_PERF, APIC.LVT_LINT0, APIC.LVT_LINT1, APIC.LVT_ERROR]) {
  mark(lvt, READ | WRITE);
}
mark(APIC.TIMER_INITIAL_COUNT, READ | WRITE);
mark(APIC.TIMER_DIVIDE_CONFIG, READ | WRITE);

/** The access lies within bits 31:0 of one 16-byte register and is at most 32 bits. */
export function fitsLowDword(offset: number, size: number): boolean {
  return size <= 4 && (offset & 0xf) + size <= 4;
}

/** Controls that decide APIC-access virtualization. */
export interface ApicAccessControls {
  tprShadow: boolean;
  registerVirtualization: boolean;
  virtualInterruptDelivery: boolean;
}

/**
 * True when a data read of `size` bytes at page `offset` is virtualized (else
 * APIC-access VM exit). SDM 3C "Virtualizing Reads from the APIC-Access
 * Page": at most 32 bits within bits 31:0 of a 16-byte register; without
 * APIC-register virtualization only at page offset 080H.
 */
export function readVirtualized(c: ApicAccessControls, offset: number, size: number): boolean {
  if (!c.tprShadow || !fitsLowDword(offset, size)) return false;
  // Without APIC-register virtualization only an access at page offset 080H itself is virtualized.
  if (!c.registerVirtualization) return offset === APIC.TPR;
  return (TABLE[offset >>> 4]! & READ) !== 0;
}

/**
 * True when a write of `size` bytes at page `offset` is virtualized (else
 * APIC-access VM exit). SDM 3C "Determining Whether a Write Access is
 * Virtualized": without APIC-register virtualization only at page offset
 * 080H (and 0B0H, 300H with virtual-interrupt delivery).
 */
export function writeVirtualized(c: ApicAccessControls, offset: number, size: number): boolean {
  if (!c.tprShadow || !fitsLowDword(offset, size)) return false;
  if (c.registerVirtualization) return (TABLE[offset >>> 4]! & WRITE) !== 0;
  // Without it: page offset 080H, and with virtual-interrupt delivery also 0B0H and 300H (the access must start there).
  if (offset === APIC.TPR) return true;
  return c.virtualInterruptDelivery && (offset === APIC.EOI || offset === APIC.ICR_LOW);
}

/**
 * The ICR-low value qualifies for self-IPI virtualization (SDM 3C "APIC-Write
 * Emulation", offset 300H): reserved bits 31:20, 17:16, 13 and delivery
 * status (12) clear, shorthand self (01), edge, fixed, vector bits 7:4 non-zero.
 */
export function isVirtualizableSelfIpi(icrLow: number): boolean {
  return (
    (icrLow & ICR_LOW_RESERVED) === 0 &&
    !testField(icrLow, ICR_FIELD.DELIVERY_STATUS) &&
    getField(icrLow, ICR_FIELD.SHORTHAND) === ICR_SHORTHAND.SELF &&
    !testField(icrLow, ICR_FIELD.TRIGGER) &&
    getField(icrLow, ICR_FIELD.DELIVERY_MODE) === 0 &&
    getField(icrLow, ICR_FIELD.VECTOR) >= 16
  );
}

/** Reserved bits of ICR low: 31:20, 17:16 and 13 (SDM 3A Figure "Interrupt Command Register"). */
const ICR_LOW_RESERVED = 0xfff3_2000;

/** APIC-access exit-qualification access types (SDM 3C Table "Exit Qualification for APIC-Access VM Exits"). */
export const APIC_ACCESS_TYPE = {
  /** 0: linear access for a data read during instruction execution. */
  LINEAR_READ: 0,
  /** 1: linear access for a data write during instruction execution. */
  LINEAR_WRITE: 1,
  /** 2: linear access for an instruction fetch. */
  LINEAR_FETCH: 2,
  /** 3: linear access (read or write) during event delivery. */
  LINEAR_EVENT_DELIVERY: 3,
  /** 10: guest-physical access during event delivery. */
  GUEST_PHYSICAL_EVENT_DELIVERY: 10,
  /** 15: guest-physical access for an instruction fetch or during instruction execution. */
  GUEST_PHYSICAL_INSTRUCTION: 15,
} as const;
