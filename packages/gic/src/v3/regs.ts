/**
 * GICv3 register offsets and fields (IHI0069 chapter 12). Offsets are from
 * the frame base; the redistributor's SGI_base frame sits 64 KiB after its
 * RD_base frame.
 */
import { bitField, bitFlag, bitRange } from '@hvsim/core';
import { registerArray, type RegisterArray } from '../common/register-array.js';

/** Distributor frame size (IHI0069 12.8). */
export const GICD_FRAME_SIZE = 0x10000;
/** Redistributor size per PE: RD_base + SGI_base (IHI0069 12.10). */
export const GICR_STRIDE = 0x20000;
/** Offset of SGI_base within a redistributor. */
export const GICR_SGI_BASE = 0x10000;

/** GICD registers (IHI0069 12.9, Table 12-25). */
export const GICD = {
  CTLR: 0x0000,
  TYPER: 0x0004,
  IIDR: 0x0008,
  TYPER2: 0x000c,
  STATUSR: 0x0010,
  SETSPI_NSR: 0x0040,
  CLRSPI_NSR: 0x0048,
  SETSPI_SR: 0x0050,
  CLRSPI_SR: 0x0058,
  IGROUPR: 0x0080,
  ISENABLER: 0x0100,
  ICENABLER: 0x0180,
  ISPENDR: 0x0200,
  ICPENDR: 0x0280,
  ISACTIVER: 0x0300,
  ICACTIVER: 0x0380,
  IPRIORITYR: 0x0400,
  ITARGETSR: 0x0800,
  ICFGR: 0x0c00,
  IGRPMODR: 0x0d00,
  NSACR: 0x0e00,
  SGIR: 0x0f00,
  CPENDSGIR: 0x0f10,
  SPENDSGIR: 0x0f20,
  IROUTER: 0x6000,
  PIDR2: 0xffe8,
} as const;

/** GICD_CTLR with DS = 1 (IHI0069 12.9.4). */
export const GICD_CTLR = {
  EnableGrp0: bitFlag(0),
  EnableGrp1: bitFlag(1),
  ARE: bitFlag(4),
  DS: bitFlag(6),
  E1NWF: bitFlag(7),
  RWP: bitFlag(31),
} as const;

/** GICD_TYPER (IHI0069 12.9.38). */
export const GICD_TYPER = {
  ITLinesNumber: bitRange(4, 0),
  CPUNumber: bitRange(7, 5),
  ESPI: bitFlag(8),
  SecurityExtn: bitFlag(10),
  num_LPIs: bitRange(15, 11),
  MBIS: bitFlag(16),
  LPIS: bitFlag(17),
  DVIS: bitFlag(18),
  IDbits: bitRange(23, 19),
  A3V: bitFlag(24),
  No1N: bitFlag(25),
  RSS: bitFlag(26),
} as const;

/** GICD_IROUTER<n> (IHI0069 12.9.22); bits 63:40 and 30:24 are RES0. */
export const GICD_IROUTER = {
  Aff0: bitRange(7, 0),
  Aff1: bitRange(15, 8),
  Aff2: bitRange(23, 16),
  Interrupt_Routing_Mode: bitFlag(31),
  Aff3: bitRange(39, 32),
} as const;

/** Writable bits of GICD_IROUTER<n>, low and high words. */
export const GICD_IROUTER_MASK_LO = 0x80ff_ffff;
export const GICD_IROUTER_MASK_HI = 0xff;

/** Arm's JEP106 code in IIDR (IHI0069 12.9.17): implementer 0x43B, revision 0, product 0. */
export const GICD_IIDR_VALUE = 0x0000_043b;
/** PIDR2: ArchRev 3 (GICv3) in bits [7:4] and JEP106 bits (IHI0069 12.1.13). */
export const PIDR2_GICV3 = 0x3b;
/** PIDR2 with ArchRev 4 (GICv4). */
export const PIDR2_GICV4 = 0x4b;

/** Register arrays of the distributor (one SPI-wide copy) and of SGI_base (INTIDs 0-31). */
export const GICD_ARRAYS: readonly RegisterArray[] = [
  registerArray('IGROUPR', GICD.IGROUPR, 1),
  registerArray('ISENABLER', GICD.ISENABLER, 1),
  registerArray('ICENABLER', GICD.ICENABLER, 1),
  registerArray('ISPENDR', GICD.ISPENDR, 1),
  registerArray('ICPENDR', GICD.ICPENDR, 1),
  registerArray('ISACTIVER', GICD.ISACTIVER, 1),
  registerArray('ICACTIVER', GICD.ICACTIVER, 1),
  registerArray('IPRIORITYR', GICD.IPRIORITYR, 8),
  registerArray('ITARGETSR', GICD.ITARGETSR, 8),
  registerArray('ICFGR', GICD.ICFGR, 2),
  registerArray('IGRPMODR', GICD.IGRPMODR, 1),
  registerArray('NSACR', GICD.NSACR, 2),
];

/** GICR RD_base registers (IHI0069 12.10, Table 12-27). */
export const GICR = {
  CTLR: 0x0000,
  IIDR: 0x0004,
  TYPER: 0x0008,
  STATUSR: 0x0010,
  WAKER: 0x0014,
  SETLPIR: 0x0040,
  CLRLPIR: 0x0048,
  PROPBASER: 0x0070,
  PENDBASER: 0x0078,
  INVLPIR: 0x00a0,
  INVALLR: 0x00b0,
  SYNCR: 0x00c0,
  PIDR2: 0xffe8,
} as const;

/** GICR SGI_base registers (IHI0069 12.10, Table 12-28), offsets within SGI_base. */
export const GICR_SGI = {
  IGROUPR0: 0x0080,
  ISENABLER0: 0x0100,
  ICENABLER0: 0x0180,
  ISPENDR0: 0x0200,
  ICPENDR0: 0x0280,
  ISACTIVER0: 0x0300,
  ICACTIVER0: 0x0380,
  IPRIORITYR0: 0x0400,
  ICFGR0: 0x0c00,
  ICFGR1: 0x0c04,
  IGRPMODR0: 0x0d00,
  NSACR: 0x0e00,
} as const;

/** GICR_TYPER (IHI0069 12.11.37). */
export const GICR_TYPER = {
  PLPIS: bitFlag(0),
  VLPIS: bitFlag(1),
  Dirty: bitFlag(2),
  DirectLPI: bitFlag(3),
  Last: bitFlag(4),
  DPGS: bitFlag(5),
  Processor_Number: bitRange(23, 8),
  CommonLPIAff: bitRange(25, 24),
  PPInum: bitRange(31, 27),
  Affinity_Value: bitRange(63, 32),
} as const;

/** GICR_WAKER (IHI0069 12.11.42). */
export const GICR_WAKER = {
  ProcessorSleep: bitFlag(1),
  ChildrenAsleep: bitFlag(2),
} as const;
/** Reset value of GICR_WAKER: asleep. */
export const GICR_WAKER_RESET = 0x6;

/** The redistributor's INTID 0-31 arrays, in SGI_base. */
export const GICR_SGI_ARRAYS: readonly RegisterArray[] = [
  registerArray('IGROUPR0', GICR_SGI.IGROUPR0, 1, 32),
  registerArray('ISENABLER0', GICR_SGI.ISENABLER0, 1, 32),
  registerArray('ICENABLER0', GICR_SGI.ICENABLER0, 1, 32),
  registerArray('ISPENDR0', GICR_SGI.ISPENDR0, 1, 32),
  registerArray('ICPENDR0', GICR_SGI.ICPENDR0, 1, 32),
  registerArray('ISACTIVER0', GICR_SGI.ISACTIVER0, 1, 32),
  registerArray('ICACTIVER0', GICR_SGI.ICACTIVER0, 1, 32),
  registerArray('IPRIORITYR', GICR_SGI.IPRIORITYR0, 8, 32),
  registerArray('ICFGR', GICR_SGI.ICFGR0, 2, 32),
  registerArray('IGRPMODR0', GICR_SGI.IGRPMODR0, 1, 32),
  registerArray('NSACR', GICR_SGI.NSACR, 2, 32),
];

/** ICC_CTLR_EL1 (IHI0069 12.2.6). */
export const ICC_CTLR = {
  CBPR: bitFlag(0),
  EOImode: bitFlag(1),
  PMHE: bitFlag(6),
  PRIbits: bitRange(10, 8),
  IDbits: bitRange(13, 11),
  SEIS: bitFlag(14),
  A3V: bitFlag(15),
  RSS: bitFlag(18),
  ExtRange: bitFlag(19),
} as const;

/** ICC_SGI0R_EL1 / ICC_SGI1R_EL1 / ICC_ASGI1R_EL1 (IHI0069 12.2.21, 12.2.22, 12.2.3). */
export const ICC_SGIR = {
  TargetList: bitRange(15, 0),
  Aff1: bitRange(23, 16),
  INTID: bitRange(27, 24),
  Aff2: bitRange(39, 32),
  IRM: bitFlag(40),
  RS: bitRange(47, 44),
  Aff3: bitRange(55, 48),
} as const;

/** ICH_HCR_EL2 (IHI0069 12.4.5). */
export const ICH_HCR = {
  En: bitFlag(0),
  UIE: bitFlag(1),
  LRENPIE: bitFlag(2),
  NPIE: bitFlag(3),
  VGrp0EIE: bitFlag(4),
  VGrp0DIE: bitFlag(5),
  VGrp1EIE: bitFlag(6),
  VGrp1DIE: bitFlag(7),
  TC: bitFlag(10),
  TALL0: bitFlag(11),
  TALL1: bitFlag(12),
  TSEI: bitFlag(13),
  TDIR: bitFlag(14),
  EOIcount: bitRange(31, 27),
} as const;

/** ICH_VTR_EL2 (IHI0069 12.4.9). */
export const ICH_VTR = {
  ListRegs: bitRange(4, 0),
  TDS: bitFlag(19),
  nV4: bitFlag(20),
  A3V: bitFlag(21),
  SEIS: bitFlag(22),
  IDbits: bitRange(25, 23),
  PREbits: bitRange(28, 26),
  PRIbits: bitRange(31, 29),
} as const;

/** ICH_VMCR_EL2 (IHI0069 12.4.8). */
export const ICH_VMCR = {
  VENG0: bitFlag(0),
  VENG1: bitFlag(1),
  VAckCtl: bitFlag(2),
  VFIQEn: bitFlag(3),
  VCBPR: bitFlag(4),
  VEOIM: bitFlag(9),
  VBPR1: bitRange(20, 18),
  VBPR0: bitRange(23, 21),
  VPMR: bitRange(31, 24),
} as const;

/** ICH_LR<n>_EL2 (IHI0069 12.4.6). */
export const ICH_LR = {
  vINTID: bitField(0, 32),
  pINTID: bitRange(44, 32),
  Priority: bitRange(55, 48),
  NMI: bitFlag(59),
  Group: bitFlag(60),
  HW: bitFlag(61),
  State: bitRange(63, 62),
} as const;
