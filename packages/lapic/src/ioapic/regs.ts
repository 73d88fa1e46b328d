/**
 * IOAPIC register layout (Intel 82093AA I/O APIC datasheet, 3.0 "Register
 * Descriptions"; the EOI register of version 0x20 IOAPICs as in ICH/PCH
 * datasheets and Linux io_apic.c).
 */
import { bitFlag, bitRange } from '@hvsim/core';

/**
 * The IOAPIC's memory-mapped registers, offsets from its base (default
 * 0xFEC00000): IOREGSEL and IOWIN (82093AA 3.1), and the EOI register of
 * version 0x20 IOAPICs.
 */
export const IOAPIC = {
  /** I/O register select (bits 7:0 pick the indirect register). Value `0x00`. */
  IOREGSEL: 0x00,
  /** I/O window: reads and writes the selected register. Value `0x10`. */
  IOWIN: 0x10,
  /** EOI register (version 0x20): writing a vector clears Remote IRR of matching entries. Value `0x40`. */
  EOI: 0x40,
} as const;

/**
 * The indirect registers reached through IOREGSEL/IOWIN (82093AA 3.2),
 * named by the datasheet's mnemonics without the `IOAPIC` prefix: IOAPICID
 * is `ID`, IOAPICVER `VER`, IOAPICARB `ARB`; IOREDTBL0 keeps its name.
 */
export const IOAPIC_INDIRECT = {
  /** `0x00` */
  ID: 0x00,
  /** `0x01` */
  VER: 0x01,
  /** `0x02` */
  ARB: 0x02,
  /** Redirection entry n: low dword at 0x10 + 2n, high dword at 0x11 + 2n. */
  IOREDTBL0: 0x10,
} as const;

/**
 * Memory-mapped registers of the IOAPIC.
 * @deprecated Use {@link IOAPIC} (the same members).
 */
export const IOAPIC_MMIO = IOAPIC;

/**
 * Indirect registers with their full datasheet names.
 * @deprecated Use {@link IOAPIC_INDIRECT} (`IOAPIC_REG.IOAPICVER` is `IOAPIC_INDIRECT.VER`).
 */
export const IOAPIC_REG = {
  /** IOAPIC identification, index `0x00`. */
  IOAPICID: IOAPIC_INDIRECT.ID,
  /** IOAPIC version, index `0x01`. */
  IOAPICVER: IOAPIC_INDIRECT.VER,
  /** IOAPIC arbitration, index `0x02`. */
  IOAPICARB: IOAPIC_INDIRECT.ARB,
  /** Redirection table entry 0, index `0x10` (entry n at 0x10 + 2n). */
  IOREDTBL0: IOAPIC_INDIRECT.IOREDTBL0,
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
export const IOAPIC_VERSION_FIELD = {
  /** Bits 7:0: APIC version (0x11 for the 82093AA, 0x20 with the EOI register). */
  VERSION: bitRange(7,
  0),
  /** Bits 23:16: number of redirection entries minus 1. */
  MAX_REDIRECTION_ENTRY: bitRange(23,
  16),
} as const;

/** Fields of a redirection-table entry's low dword (82093AA 3.2.4). */
export const RTE_FIELD = {
  /** Bits 7:0, INTVEC: interrupt vector. */
  VECTOR: bitRange(7, 0),
  /** Bits 10:8, DELMOD: delivery mode (000 fixed, 001 lowest priority, 010 SMI, 100 NMI, 101 INIT, 111 ExtINT). */
  DELIVERY_MODE: bitRange(10, 8),
  /** Bit 11, DESTMOD: 0 physical, 1 logical. */
  DESTINATION_MODE: bitFlag(11),
  /** Bit 12, DELIVS: send pending (read-only). */
  DELIVERY_STATUS: bitFlag(12),
  /** Bit 13, INTPOL: 1 active low. */
  POLARITY: bitFlag(13),
  /** Bit 14: level interrupt accepted, EOI not yet received (read-only). */
  REMOTE_IRR: bitFlag(14),
  /** Bit 15: trigger mode (0 edge, 1 level). */
  TRIGGER: bitFlag(15),
  /** Bit 16: interrupt mask. */
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
