/**
 * Stage 1 access permissions of the EL1&0 regime (Arm ARM D8.4 "Memory
 * access control": D8.4.1 data access permissions AP[2:1], D8.4.2
 * execute-never UXN/PXN, hierarchical APTable/UXNTable/PXNTable, SCTLR_EL1.WXN
 * and PSTATE.PAN). One function computes what a descriptor grants; another
 * checks an access against it, so a TLB hit checks exactly as a walk does.
 */
import { S1_ACCESS, S1_HI, S1_LO, S1_PERM } from './stage1-regs.js';

const { PR, PW, PX, UR, UW, UX } = S1_PERM;

/** The table-descriptor bits that restrict later levels (accumulated by OR over the walk). */
export const S1_TABLE_LIMITS = S1_HI.PXN_TABLE | S1_HI.UXN_TABLE | S1_HI.AP_TABLE_NO_EL0 | S1_HI.AP_TABLE_RO;

/**
 * The {@link S1_PERM} bits a leaf grants: `lo`/`hi` are its halves, `limits`
 * the OR of the table descriptors' {@link S1_TABLE_LIMITS} above it (0 with
 * TCR_EL1.HPDn = 1), `wxn` SCTLR_EL1.WXN.
 */
export function stage1Permissions(lo: number, hi: number, limits: number, wxn: boolean): number {
  // AP[1] = 1: EL0 has data access unless APTable[0]; AP[2] = 1 or APTable[1]: read-only at both ELs.
  const el0 = (lo & S1_LO.AP_EL0) !== 0 && (limits & S1_HI.AP_TABLE_NO_EL0) === 0;
  const ro = (lo & S1_LO.AP_RO) !== 0 || (limits & S1_HI.AP_TABLE_RO) !== 0;
  let perm = PR;
  if (!ro) perm |= PW;
  if (el0) perm |= ro ? UR : UR | UW;
  const uxn = (hi & S1_HI.UXN) !== 0 || (limits & S1_HI.UXN_TABLE) !== 0;
  const pxn = (hi & S1_HI.PXN) !== 0 || (limits & S1_HI.PXN_TABLE) !== 0;
  if (!uxn) perm |= UX;
  // Memory writable at EL0 is never executable at EL1.
  if (!pxn && (perm & UW) === 0) perm |= PX;
  if (wxn) {
    if ((perm & UW) !== 0) perm &= ~UX;
    if ((perm & PW) !== 0) perm &= ~PX;
  }
  return perm;
}

/** True when `perm` ({@link S1_PERM}) allows `access` ({@link S1_ACCESS} flags). */
export function stage1Allows(perm: number, access: number): boolean {
  if ((access & S1_ACCESS.EXECUTE) !== 0) return (perm & ((access & S1_ACCESS.EL0) !== 0 ? UX : PX)) !== 0;
  if ((access & S1_ACCESS.EL0) !== 0) {
    if ((access & S1_ACCESS.READ) !== 0 && (perm & UR) === 0) return false;
    return (access & S1_ACCESS.WRITE) === 0 || (perm & UW) !== 0;
  }
  // PAN: a privileged data access to memory EL0 can access faults.
  if ((access & S1_ACCESS.PAN) !== 0 && (perm & UR) !== 0) return false;
  return (access & S1_ACCESS.WRITE) === 0 || (perm & PW) !== 0;
}
