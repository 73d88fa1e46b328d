/**
 * Interrupt Remapping Table Entries (VT-d 9.10 "Interrupt Remapping Table
 * Entry (IRTE) for Remapped Interrupts", 9.11 "... for Posted Interrupts"):
 * 128 bits read as four 32-bit words (word 0 = bits 31:0).
 */
import { UsageError, assertAddress, assertInteger, bitFlag, bitRange, getField, hi32, joinU53, lo32, setField } from '@hvsim/core';
import { VTD_FAULT_REASON } from '../faults/fault-reason.js';

/** Size of one IRTE in bytes. */
export const IRTE_SIZE = 16;

/** IRTE fields by word. */
export const IRTE = {
  /** Word 0. */
  P: bitFlag(0),
  /** Bit 1, FPD: fault processing disable. */
  FPD: bitFlag(1),
  /** Remapped: destination mode (1 = logical). */
  DM: bitFlag(2),
  /** Remapped: redirection hint. */
  RH: bitFlag(3),
  /** Remapped: trigger mode (1 = level). */
  TM: bitFlag(4),
  /** Remapped: delivery mode. */
  DLM: bitRange(7, 5),
  /** Bits 11:8: available to software. */
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
  /** Word 2 bits 17:16 (bits 81:80), SQ: source-ID qualifier (SID bits ignored). */
  SQ: bitRange(17, 16),
  /** Word 2 bits 19:18 (bits 83:82), SVT: source validation type, one of {@link SOURCE_VALIDATION}. */
  SVT: bitRange(19, 18),
} as const;

/** Source validation types (IRTE.SVT). */
export const SOURCE_VALIDATION = {
  /** 00b: no requester-ID verification. */
  NONE: 0,
  /** 01b: the requester ID must match SID under the SQ mask. */
  REQUESTER_ID: 1,
  /** 10b: the requester's bus must be in SID's range (startbus 15:8, endbus 7:0). */
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
  return joinU53(w1 & 0xffff_ffc0, w3);
}

/** The four 32-bit words of a 128-bit table entry or descriptor (word 0 = bits 31:0). */
export type Words128 = [w0: number, w1: number, w2: number, w3: number];

/** Source-ID verification fields shared by both IRTE formats (VT-d 9.10 SVT, SQ, SID). */
export interface IrteSourceValidation {
  /** SVT: 0 none (default), 1 requester ID with SQ, 2 bus range SID[15:8]..SID[7:0]. */
  svt?: number;
  /** SQ: function bits ignored with SVT 1 (0 none, 1 bit 2, 2 bits 2:1, 3 bits 2:0). */
  sq?: number;
  /** SID: the expected requester ID, or the bus range for SVT 2. */
  sid?: number;
  /** FPD: do not record qualified faults caused by this entry. */
  fpd?: boolean;
}

/** Fields of a remapped-format IRTE (VT-d 9.10). */
export interface RemappedIrteFields extends IrteSourceValidation {
  /** Vector, IRTE bits 23:16. */
  vector: number;
  /** APIC ID (xAPIC, 8 bits) or x2APIC ID (32 bits, needs IRTA.EIME = 1); logical destination when `logical`. */
  destination: number;
  /** Encode the destination as a 32-bit x2APIC ID (IRTA.EIME = 1) rather than in bits 47:40. */
  x2apic?: boolean;
  /** DM: logical destination mode. */
  logical?: boolean;
  /** RH: redirection hint. */
  redirectionHint?: boolean;
  /** TM: level-triggered. */
  level?: boolean;
  /** DLM: delivery mode (core's DELIVERY_MODE; 3 and 6 are reserved). Default fixed. */
  deliveryMode?: number;
}

/** Fields of a posted-format IRTE (VT-d 9.11). */
export interface PostedIrteFields extends IrteSourceValidation {
  /** The virtual vector posted into the descriptor's PIR. */
  vector: number;
  /** Posted-interrupt descriptor address (64-byte aligned). */
  descriptorAddress: number;
  /** URG: notify even while SN = 1. */
  urgent?: boolean;
}

function sourceWords(f: IrteSourceValidation): number {
  return ((f.sid ?? 0) | ((f.sq ?? 0) << 16) | ((f.svt ?? 0) << 18)) >>> 0;
}

function checkCommon(f: IrteSourceValidation & { vector: number }): void {
  assertInteger(f.vector, 'IRTE vector', 0, 255);
  assertInteger(f.svt ?? 0, 'IRTE SVT', 0, 3);
  assertInteger(f.sq ?? 0, 'IRTE SQ', 0, 3);
  assertInteger(f.sid ?? 0, 'IRTE SID', 0, 0xffff);
}

/** Encodes a present remapped-format IRTE (VT-d 9.10) as four words, for software writing the interrupt remapping table. */
export function encodeRemappedIrte(f: RemappedIrteFields): Words128 {
  checkCommon(f);
  assertInteger(f.deliveryMode ?? 0, 'IRTE delivery mode', 0, 7);
  const x2apic = f.x2apic === true;
  assertInteger(f.destination, 'IRTE destination', 0, x2apic ? 0xffff_ffff : 0xff);
  let w0 = setField(0, IRTE.P, 1);
  w0 = setField(w0, IRTE.FPD, f.fpd === true ? 1 : 0);
  w0 = setField(w0, IRTE.DM, f.logical === true ? 1 : 0);
  w0 = setField(w0, IRTE.RH, f.redirectionHint === true ? 1 : 0);
  w0 = setField(w0, IRTE.TM, f.level === true ? 1 : 0);
  w0 = setField(w0, IRTE.DLM, f.deliveryMode ?? 0);
  w0 = setField(w0, IRTE.V, f.vector);
  const w1 = x2apic ? f.destination >>> 0 : setField(0, IRTE.DST_XAPIC, f.destination);
  return [w0 >>> 0, w1, sourceWords(f), 0];
}

/** Encodes a present posted-format IRTE (IM = 1, VT-d 9.11) as four words. */
export function encodePostedIrte(f: PostedIrteFields): Words128 {
  checkCommon(f);
  assertAddress(f.descriptorAddress, 'posted-interrupt descriptor address');
  if (f.descriptorAddress % 64 !== 0) throw new UsageError('bad-argument', `posted-interrupt descriptor address must be 64-byte aligned, got 0x${f.descriptorAddress.toString(16)}`);
  let w0 = setField(0, IRTE.P, 1);
  w0 = setField(w0, IRTE.FPD, f.fpd === true ? 1 : 0);
  w0 = setField(w0, IRTE.URG, f.urgent === true ? 1 : 0);
  w0 = setField(w0, IRTE.IM, 1);
  w0 = setField(w0, IRTE.V, f.vector);
  return [w0 >>> 0, lo32(f.descriptorAddress) & 0xffff_ffc0, sourceWords(f), hi32(f.descriptorAddress)];
}
