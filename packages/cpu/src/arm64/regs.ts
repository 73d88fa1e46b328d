/**
 * AArch64 register layouts the processor model uses (Arm ARM DDI 0487):
 * PSTATE and SPSR_ELx (C5.2.18 "SPSR_EL1", D1.4 "Process state"), DAIF,
 * HCR_EL2 (D19 register page), ESR_ELx (D19 "ESR_EL1" with the ISS
 * encodings per exception class), HPFAR_EL2, and the Exception levels.
 */

/** PSTATE / SPSR_ELx bits (AArch64 state; SPSR_ELx.M[4] = 0). */
export const PSTATE = {
  /** M[3:0]: the Exception level and stack pointer (EL0t 0b0000, EL1t 0b0100, EL1h 0b0101, EL2t 0b1000, EL2h 0b1001). Value `0xf`. */
  M: 0xf,
  /** M[0]: SP_ELx selected (the "h" modes); 0: SP_EL0 (the "t" modes). Value `0x1`. */
  SP: 0x1,
  /** FIQ mask. */
  F: 1 << 6,
  /** IRQ mask. */
  I: 1 << 7,
  /** SError mask. */
  A: 1 << 8,
  /** Debug exception mask. */
  D: 1 << 9,
} as const;

/** SPSR_ELx.M[3:0] values (Arm ARM C5.2.18). */
export const PSTATE_MODE = {
  /** EL0 (always SP_EL0). */
  EL0t: 0b0000,
  /** EL1 with SP_EL0. */
  EL1t: 0b0100,
  /** EL1 with SP_EL1. */
  EL1h: 0b0101,
  /** EL2 with SP_EL0. */
  EL2t: 0b1000,
  /** EL2 with SP_EL2. */
  EL2h: 0b1001,
} as const;

/** D, A, I and F together (PSTATE bits 9:6; the DAIF register and SPSR layout). */
export const DAIF_MASK = PSTATE.D | PSTATE.A | PSTATE.I | PSTATE.F;

/** HCR_EL2 bits the model implements (Arm ARM D19, "HCR_EL2"). */
export const HCR_EL2 = {
  /** Stage 2 translation of EL1&0 accesses enabled. */
  VM: 1 << 0,
  /** Physical FIQ routed to EL2; ICC_* Group 0 accesses at EL1 go to ICV_*. */
  FMO: 1 << 3,
  /** Physical IRQ routed to EL2; ICC_* Group 1 accesses at EL1 go to ICV_*. */
  IMO: 1 << 4,
  /** Physical SError routed to EL2. */
  AMO: 1 << 5,
  /** Virtual FIQ pending (with FMO). */
  VF: 1 << 6,
  /** Virtual IRQ pending (with IMO). */
  VI: 1 << 7,
  /** WFI at EL0/EL1 traps to EL2 (when it would wait). */
  TWI: 1 << 13,
  /** WFE at EL0/EL1 traps to EL2 (when it would wait). */
  TWE: 1 << 14,
  /** SMC at EL1 traps to EL2. */
  TSC: 1 << 19,
  /** EL1 is AArch64. */
  RW: 2 ** 31,
} as const;

/** ESR_ELx fields (Arm ARM D19 "ESR_EL1"): EC bits 31:26, IL bit 25, ISS bits 24:0. */
export const ESR = {
  /** EC (exception class) starts at bit 26 (bits 31:26). */
  EC_SHIFT: 26,
  /** Bit 25, instruction length: 1 for a 32-bit instruction. */
  IL: 1 << 25,
  /** `0x1ffffff` */
  ISS_MASK: 0x1ff_ffff,
} as const;

/** ISS bits of a Data Abort (EC 0x24/0x25): ISV, SAS, SSE, SRT, SF, S1PTW, WnR, DFSC. */
export const DATA_ABORT_ISS = {
  /** Instruction syndrome valid: SAS, SSE, SRT, SF and AR hold. */
  ISV: 1 << 24,
  /** Access size: log2(bytes), bits 23:22. */
  SAS_SHIFT: 22,
  /** Register number Rt, bits 20:16. */
  SRT_SHIFT: 16,
  /** The register is 64-bit (X, not W). */
  SF: 1 << 15,
  /** Stage 2 fault on a stage 1 table walk. */
  S1PTW: 1 << 7,
  /** Write not Read. */
  WNR: 1 << 6,
  /** Fault status code, bits 5:0. Value `0x3f`. */
  DFSC: 0x3f,
} as const;

/** ISS of a trapped WFI/WFE (EC 0x01): CV = 1, COND = 0b1110 for AArch64, TI bit 0 (1 = WFE). */
export const WFX_ISS = {
  /** A trapped WFI: CV 1, COND 0b1110, TI 0. */
  WFI: (1 << 24) | (0b1110 << 20),
  /** A trapped WFE: CV 1, COND 0b1110, TI 1. */
  WFE: (1 << 24) | (0b1110 << 20) | 1,
} as const;

/**
 * Builds an ESR_ELx value (a number below 2^32) from an exception class,
 * its ISS and IL = 1 (every A64 instruction is 32 bits).
 */
export function esrValue(ec: number, iss: number): number {
  return (((ec & 0x3f) << 26) >>> 0) + ESR.IL + (iss & ESR.ISS_MASK);
}

/**
 * ISS of a trapped MSR/MRS/system instruction (EC 0x18; Arm ARM D19,
 * "ISS encoding for an exception from MSR, MRS, or System instruction
 * execution in AArch64 state"): Op0 21:20, Op2 19:17, Op1 16:14, CRn 13:10,
 * Rt 9:5, CRm 4:1, Direction bit 0 (1 = MRS, a read).
 */
export function sysregIss(encoding: number, rt: number, read: boolean): number {
  const op0 = (encoding >>> 14) & 3;
  const op1 = (encoding >>> 11) & 7;
  const crn = (encoding >>> 7) & 15;
  const crm = (encoding >>> 3) & 15;
  const op2 = encoding & 7;
  return (op0 << 20) | (op2 << 17) | (op1 << 14) | (crn << 10) | ((rt & 31) << 5) | (crm << 1) | (read ? 1 : 0);
}

/** SCTLR_EL1 bits the CPU uses (M is also the MMU's; the rest are kept). */
export const SCTLR_EL1_BITS = {
  M: 1 << 0,
} as const;

/** Reset value of SCTLR_EL1 in this model: MMU off (M = 0), the RES1 bits of Armv8.0 set (0x30d00800). */
export const SCTLR_EL1_RESET = 0x30d0_0800;
