/**
 * IOAPIC register layout (Intel 82093AA I/O APIC datasheet, 3.0 "Register
 * Descriptions"; the EOI register of version 0x20 IOAPICs as in ICH/PCH
 * datasheets and Linux io_apic.c).
 */
import { bitFlag, bitRange } from '@hvsim/core';

/** Memory-mapped registers, offsets from the IOAPIC base (default 0xFEC00000). */
export const IOAPIC_MMIO = {
  /** I/O register select (bits 7:0 pick the indirect register). */
  IOREGSEL: 0x00,
  /** I/O window: reads and writes the selected register. */
  IOWIN: 0x10,
  /** EOI register (version 0x20): writing a vector clears Remote IRR of matching entries. */
  EOI: 0x40,
} as const;

/** Indirect registers reached through IOREGSEL/IOWIN (82093AA 3.2). */
export const IOAPIC_REG = {
  IOAPICID: 0x00,
  IOAPICVER: 0x01,
  IOAPICARB: 0x02,
  /** Redirection entry n: low dword at 0x10 + 2n, high dword at 0x11 + 2n. */
  IOREDTBL0: 0x10,
} as const;

/** Default physical base of the IOAPIC. */
export const IOAPIC_DEFAULT_BASE = 0xfec0_0000;
/** Size of the IOAPIC's MMIO window. */
export const IOAPIC_MMIO_SIZE = 0x1000;
/** Redirection entries of an 82093AA-compatible IOAPIC. */
export const IOAPIC_PINS = 24;

/** IOAPICID: the 4-bit ID in bits 27:24 (82093AA 3.2.1). */
export const IOAPIC_ID_FIELD = bitRange(27, 24);
/** IOAPICVER fields (82093AA 3.2.2). */
export const IOAPIC_VERSION_FIELD = { VERSION: bitRange(7, 0), MAX_REDIRECTION_ENTRY: bitRange(23, 16) } as const;

/** Fields of a redirection-table entry's low dword (82093AA 3.2.4). */
export const RTE_FIELD = {
  VECTOR: bitRange(7, 0),
  DELIVERY_MODE: bitRange(10, 8),
  DESTINATION_MODE: bitFlag(11),
  DELIVERY_STATUS: bitFlag(12),
  POLARITY: bitFlag(13),
  REMOTE_IRR: bitFlag(14),
  TRIGGER: bitFlag(15),
  MASK: bitFlag(16),
} as const;
/** Destination field of the high dword, bits 63:56 of the entry (82093AA 3.2.4). */
export const RTE_DESTINATION_FIELD = bitRange(31, 24);

/** Writable bits of the low dword: all but delivery status (12) and remote IRR (14). */
export const RTE_LOW_WRITABLE = 0x0001_afff;
/** Writable bits of the high dword: the destination. */
export const RTE_HIGH_WRITABLE = 0xff00_0000;
/** Reset value of an entry's low dword: masked. */
export const RTE_LOW_RESET = 0x0001_0000;
