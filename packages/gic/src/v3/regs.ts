/**
 * GICv3 register offsets and fields (IHI0069 chapter 12). Offsets are from
 * the frame base; the redistributor's SGI_base frame sits 64 KiB after its
 * RD_base frame.
 */
import { bitField, bitFlag, bitRange } from '@hvsim/core';
import { ARRAY_ACCESS, intidArray, razWiArray, sharedDistributorArrays, type IntidArray } from '../common/array-access.js';

/** Distributor frame size (IHI0069 12.8). */
export const GICD_FRAME_SIZE = 0x10000;
/** Redistributor size per PE: RD_base + SGI_base (IHI0069 12.10). */
export const GICR_STRIDE = 0x20000;
/** Offset of SGI_base within a redistributor. */
export const GICR_SGI_BASE = 0x10000;

/** GICD registers (IHI0069 12.9, Table 12-25). */
export const GICD = {
  /** `0x0000` */
  CTLR: 0x0000,
  /** `0x0004` */
  TYPER: 0x0004,
  /** `0x0008` */
  IIDR: 0x0008,
  /** `0x000c` */
  TYPER2: 0x000c,
  /** `0x0010` */
  STATUSR: 0x0010,
  /** `0x0040` */
  SETSPI_NSR: 0x0040,
  /** `0x0048` */
  CLRSPI_NSR: 0x0048,
  /** `0x0050` */
  SETSPI_SR: 0x0050,
  /** `0x0058` */
  CLRSPI_SR: 0x0058,
  /** `0x0080` */
  IGROUPR: 0x0080,
  /** `0x0100` */
  ISENABLER: 0x0100,
  /** `0x0180` */
  ICENABLER: 0x0180,
  /** `0x0200` */
  ISPENDR: 0x0200,
  /** `0x0280` */
  ICPENDR: 0x0280,
  /** `0x0300` */
  ISACTIVER: 0x0300,
  /** `0x0380` */
  ICACTIVER: 0x0380,
  /** `0x0400` */
  IPRIORITYR: 0x0400,
  /** `0x0800` */
  ITARGETSR: 0x0800,
  /** `0x0c00` */
  ICFGR: 0x0c00,
  /** `0x0d00` */
  IGRPMODR: 0x0d00,
  /** `0x0e00` */
  NSACR: 0x0e00,
  /** `0x0f00` */
  SGIR: 0x0f00,
  /** `0x0f10` */
  CPENDSGIR: 0x0f10,
  /** `0x0f20` */
  SPENDSGIR: 0x0f20,
  /** `0x6000` */
  IROUTER: 0x6000,
  /** `0xffe8` */
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

/** GICD_CTLR after reset: ARE and DS read as one (RAO/WI), both groups disabled. */
export const GICD_CTLR_RESET = 0x50;
/** GICD_CTLR bits software writes: EnableGrp0 and EnableGrp1. */
export const GICD_CTLR_WRITABLE = 0x3;

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

/**
 * Register arrays of the distributor (IHI0069 12.9), each with its behaviour.
 * GICD_ITARGETSR is RES0 with affinity routing (12.9.30); IGRPMODR and NSACR
 * are RAZ/WI with a single Security state.
 */
export const GICD_ARRAYS: readonly IntidArray[] = [
  ...sharedDistributorArrays(GICD, razWiArray(8)),
  intidArray('IGRPMODR', GICD.IGRPMODR, razWiArray(1)),
  intidArray('NSACR', GICD.NSACR, razWiArray(2)),
];

/** GICR RD_base registers (IHI0069 12.10, Table 12-27). */
export const GICR = {
  /** `0x0000` */
  CTLR: 0x0000,
  /** `0x0004` */
  IIDR: 0x0004,
  /** `0x0008` */
  TYPER: 0x0008,
  /** `0x0010` */
  STATUSR: 0x0010,
  /** `0x0014` */
  WAKER: 0x0014,
  /** `0x0040` */
  SETLPIR: 0x0040,
  /** `0x0048` */
  CLRLPIR: 0x0048,
  /** `0x0070` */
  PROPBASER: 0x0070,
  /** `0x0078` */
  PENDBASER: 0x0078,
  /** `0x00a0` */
  INVLPIR: 0x00a0,
  /** `0x00b0` */
  INVALLR: 0x00b0,
  /** `0x00c0` */
  SYNCR: 0x00c0,
  /** `0xffe8` */
  PIDR2: 0xffe8,
} as const;

/** GICR SGI_base registers (IHI0069 12.10, Table 12-28), offsets within SGI_base. */
export const GICR_SGI = {
  /** `0x0080` */
  IGROUPR0: 0x0080,
  /** `0x0100` */
  ISENABLER0: 0x0100,
  /** `0x0180` */
  ICENABLER0: 0x0180,
  /** `0x0200` */
  ISPENDR0: 0x0200,
  /** `0x0280` */
  ICPENDR0: 0x0280,
  /** `0x0300` */
  ISACTIVER0: 0x0300,
  /** `0x0380` */
  ICACTIVER0: 0x0380,
  /** `0x0400` */
  IPRIORITYR0: 0x0400,
  /** `0x0c00` */
  ICFGR0: 0x0c00,
  /** `0x0c04` */
  ICFGR1: 0x0c04,
  /** `0x0d00` */
  IGRPMODR0: 0x0d00,
  /** `0x0e00` */
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

/** The redistributor's INTID 0-31 arrays, in SGI_base (IHI0069 12.10), with the distributor arrays' behaviour. */
export const GICR_SGI_ARRAYS: readonly IntidArray[] = [
  intidArray('IGROUPR0', GICR_SGI.IGROUPR0, ARRAY_ACCESS.IGROUPR, 32),
  intidArray('ISENABLER0', GICR_SGI.ISENABLER0, ARRAY_ACCESS.ISENABLER, 32),
  intidArray('ICENABLER0', GICR_SGI.ICENABLER0, ARRAY_ACCESS.ICENABLER, 32),
  intidArray('ISPENDR0', GICR_SGI.ISPENDR0, ARRAY_ACCESS.ISPENDR, 32),
  intidArray('ICPENDR0', GICR_SGI.ICPENDR0, ARRAY_ACCESS.ICPENDR, 32),
  intidArray('ISACTIVER0', GICR_SGI.ISACTIVER0, ARRAY_ACCESS.ISACTIVER, 32),
  intidArray('ICACTIVER0', GICR_SGI.ICACTIVER0, ARRAY_ACCESS.ICACTIVER, 32),
  intidArray('IPRIORITYR', GICR_SGI.IPRIORITYR0, ARRAY_ACCESS.IPRIORITYR, 32),
  intidArray('ICFGR', GICR_SGI.ICFGR0, ARRAY_ACCESS.ICFGR, 32),
  intidArray('IGRPMODR0', GICR_SGI.IGRPMODR0, razWiArray(1), 32),
  intidArray('NSACR', GICR_SGI.NSACR, razWiArray(2), 32),
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
