/**
 * Interrupt Remapping Table Entries (VT-d 9.10 "Interrupt Remapping Table
 * Entry (IRTE) for Remapped Interrupts", 9.11 "... for Posted Interrupts"):
 * 128 bits read as four 32-bit words (word 0 = bits 31:0).
 */
import { bitFlag, bitRange, getField } from '@hvsim/core';
import { VTD_FAULT_REASON } from '../faults/fault-reason.js';

/** Size of one IRTE in bytes. */
export const IRTE_SIZE = 16;

/** IRTE fields by word. */
export const IRTE = {
  /** Word 0. */
  P: bitFlag(0),
  FPD: bitFlag(1),
  /** Remapped: destination mode (1 = logical). */
  DM: bitFlag(2),
  /** Remapped: redirection hint. */
  RH: bitFlag(3),
  /** Remapped: trigger mode (1 = level). */
  TM: bitFlag(4),
  /** Remapped: delivery mode. */
  DLM: bitRange(7, 5),
  AVAIL: bitRange(11, 8),
  /** Posted: urgent. */
  URG: bitFlag(14),
  /** IRTE mode: 0 remapped, 1 posted. */
  IM: bitFlag(15),
  /** Vector (remapped) or virtual vector (posted). */
  V: bitRange(23, 16),
  /** Word 1 (bits 63:32): destination ID; xAPIC mode uses bits 15:8 (bits 47:40). */
  DST_XAPIC: bitRange(15, 8),
  /** Word 1 of a posted IRTE: bits 31:6 = descriptor address bits 31:6 (IRTE bits 63:38). */
  PDA_LOW: bitRange(31, 6),
  /** Word 2 (bits 95:64). */
  SID: bitRange(15, 0),
  SQ: bitRange(17, 16),
  SVT: bitRange(19, 18),
} as const;

/** Source validation types (IRTE.SVT). */
export const SOURCE_VALIDATION = {
  NONE: 0,
  REQUESTER_ID: 1,
  BUS_RANGE: 2,
} as const;

/** Reserved bits, by word (VT-d 9.10, 9.11). */
const RESERVED = {
  REMAPPED_W0: 0xff00_7000,
  /** xAPIC destination: bits 39:32 and 63:48. */
  REMAPPED_W1_XAPIC: 0xffff_00ff,
  POSTED_W0: 0xff00_30fc,
  /** Bits 37:32. */
  POSTED_W1: 0x0000_003f,
  /** Bits 95:84. */
  W2: 0xfff0_0000,
  /** Posted descriptor address above the 48-bit host address width. */
  POSTED_W3: 0xffff_0000,
} as const;

/**
 * Checks an IRTE: 0 when usable, IR_ENTRY_NOT_PRESENT (0x22) or
 * IR_ENTRY_RESERVED (0x24). Reserved delivery modes (3, 6), SVT = 3 and
 * IM = 1 without CAP.PI count as reserved fields (documented choice: the
 * spec lists them as reserved encodings).
 */
export function checkIrte(w0: number, w1: number, w2: number, w3: number, eime: boolean, postedSupported: boolean): number {
  if (getField(w0, IRTE.P) === 0) return VTD_FAULT_REASON.IR_ENTRY_NOT_PRESENT;
  if ((w2 & RESERVED.W2) !== 0 || getField(w2, IRTE.SVT) === 3) return VTD_FAULT_REASON.IR_ENTRY_RESERVED;
  if (getField(w0, IRTE.IM) === 1) {
    if (!postedSupported) return VTD_FAULT_REASON.IR_ENTRY_RESERVED;
    if ((w0 & RESERVED.POSTED_W0) !== 0 || (w1 & RESERVED.POSTED_W1) !== 0 || (w3 & RESERVED.POSTED_W3) !== 0) {
      return VTD_FAULT_REASON.IR_ENTRY_RESERVED;
    }
    return 0;
  }
  const dlm = getField(w0, IRTE.DLM);
  if ((w0 & RESERVED.REMAPPED_W0) !== 0 || w3 !== 0 || dlm === 3 || dlm === 6) return VTD_FAULT_REASON.IR_ENTRY_RESERVED;
  if (!eime && (w1 & RESERVED.REMAPPED_W1_XAPIC) !== 0) return VTD_FAULT_REASON.IR_ENTRY_RESERVED;
  return 0;
}

/** Posted-interrupt descriptor address of a posted IRTE (PDA-H:PDA-L, 64-byte aligned). */
export function postedDescriptorAddress(w1: number, w3: number): number {
  return w3 * 0x1_0000_0000 + ((w1 & 0xffff_ffc0) >>> 0);
}
