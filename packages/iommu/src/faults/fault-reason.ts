/**
 * VT-d fault reasons (VT-d 7.1.3 "Fault Conditions and Remapping Hardware
 * Behavior for Various Requests": the legacy-mode DMA conditions
 * LRT/LCT/LSL/LGN and interrupt-remapping conditions). The number is what
 * hardware writes to FRCD.FR.
 */

/** Fault reason codes recorded in FRCD.FR. */
export const VTD_FAULT_REASON = {
  /** LRT.2: root entry Present clear. Value `0x1`. */
  ROOT_ENTRY_NOT_PRESENT: 0x1,
  /** LCT.2: context entry Present clear. Value `0x2`. */
  CONTEXT_ENTRY_NOT_PRESENT: 0x2,
  /** LCT.4: invalid programming of a context entry (AW not in SAGAW, TT reserved or unsupported). Value `0x3`. */
  CONTEXT_ENTRY_INVALID: 0x3,
  /** LGN.1: input address above 2^min(MGAW, AGAW) - 1. Value `0x4`. */
  ADDRESS_BEYOND_MGAW: 0x4,
  /** LGN.2: write to a page without write permission. Value `0x5`. */
  WRITE_NOT_PERMITTED: 0x5,
  /** LGN.3: read from a page without read permission (or not present). Value `0x6`. */
  READ_NOT_PERMITTED: 0x6,
  /** LSL.1: error accessing a second-level paging entry. Value `0x7`. */
  PAGING_ENTRY_ACCESS: 0x7,
  /** LRT.1: error accessing the root entry. Value `0x8`. */
  ROOT_ENTRY_ACCESS: 0x8,
  /** LCT.1: error accessing the context entry. Value `0x9`. */
  CONTEXT_ENTRY_ACCESS: 0x9,
  /** LRT.3: reserved field set in a present root entry. Value `0xa`. */
  ROOT_ENTRY_RESERVED: 0xa,
  /** LCT.3: reserved field set in a present context entry. Value `0xb`. */
  CONTEXT_ENTRY_RESERVED: 0xb,
  /** LSL.2: reserved field set in a second-level paging entry with R or W set. Value `0xc`. */
  PAGING_ENTRY_RESERVED: 0xc,
  /** LCT.5: request blocked by the context entry's Translation Type. Value `0xd`. */
  CONTEXT_ENTRY_TT: 0xd,
  /** LGN.4: translated address falls in the interrupt address range 0xFEEx_xxxx (VT-d 3.15). Value `0xe`. */
  INTERRUPT_ADDRESS_RANGE: 0xe,
  /** RTA.1: RTADDR_REG.TTM holds a value this unit does not support. Value `0x30`. */
  ROOT_TABLE_MODE_INVALID: 0x30,
  /** Reserved field set in a remappable interrupt request (address high, data 31:16 with SHV). Value `0x20`. */
  IR_REQUEST_RESERVED: 0x20,
  /** interrupt_index beyond the table size in IRTA.S. Value `0x21`. */
  IR_INDEX_OUT_OF_RANGE: 0x21,
  /** IRTE Present clear. Value `0x22`. */
  IR_ENTRY_NOT_PRESENT: 0x22,
  /** Error reading the IRTE through IRTA. Value `0x23`. */
  IR_TABLE_ACCESS: 0x23,
  /** Reserved field set in a present IRTE. Value `0x24`. */
  IR_ENTRY_RESERVED: 0x24,
  /** Compatibility-format interrupt blocked (CFIS = 0 or EIME = 1). Value `0x25`. */
  IR_COMPATIBILITY_BLOCKED: 0x25,
  /** Source-ID verification (SVT, SQ, SID) failed. Value `0x26`. */
  IR_SOURCE_ID_INVALID: 0x26,
  /** Error accessing the posted-interrupt descriptor. Value `0x27`. */
  IR_POSTED_DESCRIPTOR_ACCESS: 0x27,
  /** Reserved field set in the posted-interrupt descriptor. Value `0x28`. */
  IR_POSTED_DESCRIPTOR_RESERVED: 0x28,
} as const;

/** A fault reason number. */
export type VtdFaultReason = (typeof VTD_FAULT_REASON)[keyof typeof VTD_FAULT_REASON];

/**
 * Qualified faults are recorded only when the entry used (context entry or
 * IRTE) has FPD = 0 (VT-d 7.1.2 "Fault Processing Disable"). Faults found
 * before that entry is known valid (root entry, context entry access or
 * reserved bits, table access, index range, request format) are always recorded.
 */
const QUALIFIED = new Set<number>([0x2, 0x3, 0x4, 0x5, 0x6, 0x7, 0xc, 0xd, 0xe, 0x22, 0x24, 0x26, 0x27, 0x28]);

/** True when FPD = 1 in the entry used suppresses recording of `reason`. */
export function isQualifiedFault(reason: number): boolean {
  return QUALIFIED.has(reason);
}

/** True for interrupt-remapping fault reasons (0x20-0x2F): FI[63:48] holds the interrupt index. */
export function isInterruptFault(reason: number): boolean {
  return reason >= 0x20 && reason <= 0x2f;
}

const NAMES = new Map<number, string>(Object.entries(VTD_FAULT_REASON).map(([name, code]) => [code, name]));

/** Name of a fault reason, e.g. `'IR_SOURCE_ID_INVALID'`, or `'0x..'` when unknown. */
export function faultReasonName(reason: number): string {
  return NAMES.get(reason) ?? `0x${reason.toString(16)}`;
}
