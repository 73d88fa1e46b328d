/**
 * The GICv3 system registers by architectural name and encoding (IHI0069
 * 12.1.6 Table 12-1 and 12.2-12.4): the ICC_* CPU interface registers, the
 * ICV_* virtual CPU interface registers (same encodings as ICC_*, reached at
 * EL1 when HCR_EL2.IMO/FMO route them), and the ICH_* hypervisor registers.
 */

/** How a register may be accessed. */
export type SysregAccess = 'RW' | 'RO' | 'WO';

/**
 * Which trap and routing control covers a register: Group 0 or Group 1
 * registers (virtualised by FMO / IMO, trapped by TALL0 / TALL1), common
 * registers (virtualised by either, trapped by TC), DIR (also TDIR), SGI
 * generation (trapped to EL2 when routed), or an EL2 register.
 */
export type SysregClass = 'group0' | 'group1' | 'common' | 'dir' | 'sgi' | 'sre' | 'el2';

/**
 * The architectural name of every GICv3 system register this model
 * implements (IHI0069 12.1.6 Table 12-1), as the by-name API (`GicV3.read`,
 * `GicV3.write`) takes it: a misspelt name is a type error.
 */
export type GicV3SysregName =
  | `${'ICC' | 'ICV'}_${'PMR' | 'IAR0' | 'EOIR0' | 'HPPIR0' | 'BPR0' | 'DIR' | 'RPR' | 'IAR1' | 'EOIR1' | 'HPPIR1' | 'BPR1' | 'CTLR' | 'IGRPEN0' | 'IGRPEN1'}_EL1`
  | `${'ICC' | 'ICV'}_AP${0 | 1}R${0 | 1 | 2 | 3}_EL1`
  | 'ICC_SGI1R_EL1'
  | 'ICC_ASGI1R_EL1'
  | 'ICC_SGI0R_EL1'
  | 'ICC_SRE_EL1'
  | 'ICC_SRE_EL2'
  | `ICH_AP${0 | 1}R${0 | 1 | 2 | 3}_EL2`
  | `ICH_${'HCR' | 'VTR' | 'MISR' | 'EISR' | 'ELRSR' | 'VMCR'}_EL2`
  | `ICH_LR${0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9 | 10 | 11 | 12 | 13 | 14 | 15}_EL2`;

/** One system register. */
export interface SysregInfo {
  /** Architectural name, such as `ICC_PMR_EL1`. */
  readonly name: string;
  /** MRS/MSR op0 (3). */
  readonly op0: number;
  /** MRS/MSR op1. */
  readonly op1: number;
  /** MRS/MSR CRn. */
  readonly crn: number;
  /** MRS/MSR CRm. */
  readonly crm: number;
  /** MRS/MSR op2. */
  readonly op2: number;
  /** Read/write, read-only or write-only. */
  readonly access: SysregAccess;
  /** Trap class, for ICH_HCR_EL2.TC, TALL0 and TALL1. */
  readonly cls: SysregClass;
  /** Index `n` for the AP0R<n>, AP1R<n> and LR<n> families. */
  readonly index: number;
  /** The encoding as one number, see {@link sysregEncoding}. */
  readonly encoding: number;
}

/**
 * An MRS/MSR system-register encoding as one 16-bit number,
 * `op0 << 14 | op1 << 11 | CRn << 7 | CRm << 3 | op2` (the order of the
 * fields in the instruction, Arm ARM C5.1.2; Linux's `sys_reg()` packs them
 * the same way). ICC_IAR1_EL1 (3, 0, 12, 12, 0) is 0xc660.
 */
export function sysregEncoding(op0: number, op1: number, crn: number, crm: number, op2: number): number {
  return ((op0 & 3) << 14) | ((op1 & 7) << 11) | ((crn & 15) << 7) | ((crm & 15) << 3) | (op2 & 7);
}

function reg(name: string, op1: number, crn: number, crm: number, op2: number, access: SysregAccess, cls: SysregClass, index = 0): SysregInfo {
  return Object.freeze({ name, op0: 3, op1, crn, crm, op2, access, cls, index, encoding: sysregEncoding(3, op1, crn, crm, op2) });
}

function build(): SysregInfo[] {
  const r: SysregInfo[] = [];
  for (const p of ['ICC', 'ICV'] as const) {
    r.push(reg(`${p}_PMR_EL1`, 0, 4, 6, 0, 'RW', 'common'));
    r.push(reg(`${p}_IAR0_EL1`, 0, 12, 8, 0, 'RO', 'group0'));
    r.push(reg(`${p}_EOIR0_EL1`, 0, 12, 8, 1, 'WO', 'group0'));
    r.push(reg(`${p}_HPPIR0_EL1`, 0, 12, 8, 2, 'RO', 'group0'));
    r.push(reg(`${p}_BPR0_EL1`, 0, 12, 8, 3, 'RW', 'group0'));
    for (let n = 0; n < 4; n++) r.push(reg(`${p}_AP0R${n}_EL1`, 0, 12, 8, 4 + n, 'RW', 'group0', n));
    for (let n = 0; n < 4; n++) r.push(reg(`${p}_AP1R${n}_EL1`, 0, 12, 9, n, 'RW', 'group1', n));
    r.push(reg(`${p}_DIR_EL1`, 0, 12, 11, 1, 'WO', 'dir'));
    r.push(reg(`${p}_RPR_EL1`, 0, 12, 11, 3, 'RO', 'common'));
    r.push(reg(`${p}_IAR1_EL1`, 0, 12, 12, 0, 'RO', 'group1'));
    r.push(reg(`${p}_EOIR1_EL1`, 0, 12, 12, 1, 'WO', 'group1'));
    r.push(reg(`${p}_HPPIR1_EL1`, 0, 12, 12, 2, 'RO', 'group1'));
    r.push(reg(`${p}_BPR1_EL1`, 0, 12, 12, 3, 'RW', 'group1'));
    r.push(reg(`${p}_CTLR_EL1`, 0, 12, 12, 4, 'RW', 'common'));
    r.push(reg(`${p}_IGRPEN0_EL1`, 0, 12, 12, 6, 'RW', 'group0'));
    r.push(reg(`${p}_IGRPEN1_EL1`, 0, 12, 12, 7, 'RW', 'group1'));
  }
  r.push(reg('ICC_SGI1R_EL1', 0, 12, 11, 5, 'WO', 'sgi'));
  r.push(reg('ICC_ASGI1R_EL1', 0, 12, 11, 6, 'WO', 'sgi'));
  r.push(reg('ICC_SGI0R_EL1', 0, 12, 11, 7, 'WO', 'sgi'));
  r.push(reg('ICC_SRE_EL1', 0, 12, 12, 5, 'RW', 'sre'));
  r.push(reg('ICC_SRE_EL2', 4, 12, 9, 5, 'RW', 'el2'));
  for (let n = 0; n < 4; n++) r.push(reg(`ICH_AP0R${n}_EL2`, 4, 12, 8, n, 'RW', 'el2', n));
  for (let n = 0; n < 4; n++) r.push(reg(`ICH_AP1R${n}_EL2`, 4, 12, 9, n, 'RW', 'el2', n));
  r.push(reg('ICH_HCR_EL2', 4, 12, 11, 0, 'RW', 'el2'));
  r.push(reg('ICH_VTR_EL2', 4, 12, 11, 1, 'RO', 'el2'));
  r.push(reg('ICH_MISR_EL2', 4, 12, 11, 2, 'RO', 'el2'));
  r.push(reg('ICH_EISR_EL2', 4, 12, 11, 3, 'RO', 'el2'));
  r.push(reg('ICH_ELRSR_EL2', 4, 12, 11, 5, 'RO', 'el2'));
  r.push(reg('ICH_VMCR_EL2', 4, 12, 11, 7, 'RW', 'el2'));
  for (let n = 0; n < 16; n++) r.push(reg(`ICH_LR${n}_EL2`, 4, 12, 12 + (n >>> 3), n & 7, 'RW', 'el2', n));
  return r;
}

/** Every GICv3 system register this model implements, by name. */
export const GICV3_SYSREGS: ReadonlyMap<string, SysregInfo> = new Map(build().map((i) => [i.name, i]));

/**
 * The ICC_* or ICH_* name of the register with an MRS/MSR encoding, or
 * undefined (ICV_* share the ICC_* encodings; routing picks between them).
 */
export function gicv3SysregName(op0: number, op1: number, crn: number, crm: number, op2: number): string | undefined {
  if (op0 >>> 0 !== op0 || op1 >>> 0 !== op1 || crn >>> 0 !== crn || crm >>> 0 !== crm || op2 >>> 0 !== op2) return undefined;
  if (op0 > 3 || op1 > 7 || crn > 15 || crm > 15 || op2 > 7) return undefined;
  return BY_ENCODING.get(sysregEncoding(op0, op1, crn, crm, op2))?.name;
}

/** ICC_* and ICH_* registers by encoding (ICV_* share the ICC_* encodings). */
const BY_ENCODING: ReadonlyMap<number, SysregInfo> = new Map(
  [...GICV3_SYSREGS.values()].filter((i) => !i.name.startsWith('ICV_')).map((i) => [i.encoding, i]),
);

/** The ICC_* or ICH_* register with encoding `encoding` ({@link sysregEncoding}), or undefined. */
export function gicv3SysregByEncoding(encoding: number): SysregInfo | undefined {
  return BY_ENCODING.get(encoding);
}
