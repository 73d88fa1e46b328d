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
  /** Bit 0: forwards Group 0 interrupts. */
  EnableGrp0: bitFlag(0),
  /** Bit 1: forwards Group 1 interrupts. */
  EnableGrp1: bitFlag(1),
  /** Bit 4: affinity routing enable (RAO/WI here). */
  ARE: bitFlag(4),
  /** Bit 6: disable security, a single Security state (RAO/WI here). */
  DS: bitFlag(6),
  /** Bit 7: enable 1 of N wakeup. */
  E1NWF: bitFlag(7),
  /** Bit 31: register write pending. */
  RWP: bitFlag(31),
} as const;

/** GICD_CTLR after reset: ARE and DS read as one (RAO/WI), both groups disabled. */
export const GICD_CTLR_RESET = 0x50;
/** GICD_CTLR bits software writes: EnableGrp0 and EnableGrp1. */
export const GICD_CTLR_WRITABLE = 0x3;

/** GICD_TYPER (IHI0069 12.9.38). */
export const GICD_TYPER = {
  /** Bits [4:0]: SPI lines, 32 × (N + 1) INTIDs. */
  ITLinesNumber: bitRange(4, 0),
  /** Bits [7:5]: PEs minus one without affinity routing. */
  CPUNumber: bitRange(7, 5),
  /** Bit 8: extended SPI range supported. */
  ESPI: bitFlag(8),
  /** Bit 10: two Security states supported. */
  SecurityExtn: bitFlag(10),
  /** Bits [15:11]: LPIs supported, when less than IDbits allows. */
  num_LPIs: bitRange(15, 11),
  /** Bit 16: message-based SPIs supported. */
  MBIS: bitFlag(16),
  /** Bit 17: LPIs supported. */
  LPIS: bitFlag(17),
  /** Bit 18: direct virtual LPI injection supported. */
  DVIS: bitFlag(18),
  /** Bits [23:19]: INTID bits minus one. */
  IDbits: bitRange(23, 19),
  /** Bit 24: non-zero Aff3 supported. */
  A3V: bitFlag(24),
  /** Bit 25: 1 of N SPI routing not supported. */
  No1N: bitFlag(25),
  /** Bit 26: range selector for SGIs supported. */
  RSS: bitFlag(26),
} as const;

/** GICD_IROUTER<n> (IHI0069 12.9.22); bits 63:40 and 30:24 are RES0. */
export const GICD_IROUTER = {
  /** Bits [7:0]: affinity level 0 of the target PE. */
  Aff0: bitRange(7, 0),
  /** Bits [15:8]: affinity level 1. */
  Aff1: bitRange(15, 8),
  /** Bits [23:16]: affinity level 2. */
  Aff2: bitRange(23, 16),
  /** Bit 31: 1 of N routing to any participating PE. */
  Interrupt_Routing_Mode: bitFlag(31),
  /** Bits [39:32]: affinity level 3. */
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
  /** Bit 0: physical LPIs supported. */
  PLPIS: bitFlag(0),
  /** Bit 1: virtual LPIs supported. */
  VLPIS: bitFlag(1),
  /** Bit 2: GICR_VPENDBASER.Dirty supported. */
  Dirty: bitFlag(2),
  /** Bit 3: direct LPI injection registers supported. */
  DirectLPI: bitFlag(3),
  /** Bit 4: last redistributor of the series. */
  Last: bitFlag(4),
  /** Bit 5: GICR_CTLR.DPG* supported. */
  DPGS: bitFlag(5),
  /** Bits [23:8]: processor number of the PE. */
  Processor_Number: bitRange(23, 8),
  /** Bits [25:24]: affinity level that shares LPI tables. */
  CommonLPIAff: bitRange(25, 24),
  /** Bits [31:27]: extended PPI range. */
  PPInum: bitRange(31, 27),
  /** Bits [63:32]: Aff3.Aff2.Aff1.Aff0 of the PE. */
  Affinity_Value: bitRange(63, 32),
} as const;

/** GICR_WAKER (IHI0069 12.11.42). */
export const GICR_WAKER = {
  /** Bit 1: the PE is asleep; software writes it. */
  ProcessorSleep: bitFlag(1),
  /** Bit 2: the redistributor's interface is quiescent (read-only). */
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
  /** Bit 0: BPR0 controls preemption of both groups. */
  CBPR: bitFlag(0),
  /** Bit 1: EOI drops priority only; DIR deactivates. */
  EOImode: bitFlag(1),
  /** Bit 6: priority mask hint enable. */
  PMHE: bitFlag(6),
  /** Bits [10:8]: priority bits implemented minus one (read-only). */
  PRIbits: bitRange(10, 8),
  /** Bits [13:11]: INTID bits, 0 = 16 and 1 = 24 (read-only). */
  IDbits: bitRange(13, 11),
  /** Bit 14: local SEIs supported (read-only). */
  SEIS: bitFlag(14),
  /** Bit 15: non-zero Aff3 supported in SGI registers (read-only). */
  A3V: bitFlag(15),
  /** Bit 18: SGI range selector supported (read-only). */
  RSS: bitFlag(18),
  /** Bit 19: extended INTID range supported (read-only). */
  ExtRange: bitFlag(19),
} as const;

/** ICC_SGI0R_EL1 / ICC_SGI1R_EL1 / ICC_ASGI1R_EL1 (IHI0069 12.2.21, 12.2.22, 12.2.3). */
export const ICC_SGIR = {
  /** Bits [15:0]: Aff0 values of the target PEs, one bit each. */
  TargetList: bitRange(15, 0),
  /** Bits [23:16]: affinity level 1 of the targets. */
  Aff1: bitRange(23, 16),
  /** Bits [27:24]: the SGI number. */
  INTID: bitRange(27, 24),
  /** Bits [39:32]: affinity level 2 of the targets. */
  Aff2: bitRange(39, 32),
  /** Bit 40: routing mode, 1 = every PE except the sender. */
  IRM: bitFlag(40),
  /** Bits [47:44]: range selector, TargetList covers Aff0 16 × RS to 16 × RS + 15. */
  RS: bitRange(47, 44),
  /** Bits [55:48]: affinity level 3 of the targets. */
  Aff3: bitRange(55, 48),
} as const;

/** ICH_HCR_EL2 (IHI0069 12.4.5). */
export const ICH_HCR = {
  /** Bit 0: enables the virtual CPU interface. */
  En: bitFlag(0),
  /** Bit 1: underflow maintenance interrupt enable. */
  UIE: bitFlag(1),
  /** Bit 2: List Register entry not present interrupt enable. */
  LRENPIE: bitFlag(2),
  /** Bit 3: no pending interrupt enable. */
  NPIE: bitFlag(3),
  /** Bit 4: maintenance interrupt when virtual Group 0 is enabled. */
  VGrp0EIE: bitFlag(4),
  /** Bit 5: maintenance interrupt when virtual Group 0 is disabled. */
  VGrp0DIE: bitFlag(5),
  /** Bit 6: maintenance interrupt when virtual Group 1 is enabled. */
  VGrp1EIE: bitFlag(6),
  /** Bit 7: maintenance interrupt when virtual Group 1 is disabled. */
  VGrp1DIE: bitFlag(7),
  /** Bit 10: traps common EL1 ICC_* accesses to EL2. */
  TC: bitFlag(10),
  /** Bit 11: traps EL1 Group 0 ICC_* accesses to EL2. */
  TALL0: bitFlag(11),
  /** Bit 12: traps EL1 Group 1 ICC_* accesses to EL2. */
  TALL1: bitFlag(12),
  /** Bit 13: traps locally generated SEIs to EL2. */
  TSEI: bitFlag(13),
  /** Bit 14: traps EL1 writes to ICC_DIR_EL1 to EL2. */
  TDIR: bitFlag(14),
  /** Bits [31:27]: EOIs with no matching List Register. */
  EOIcount: bitRange(31, 27),
} as const;

/** ICH_VTR_EL2 (IHI0069 12.4.9). */
export const ICH_VTR = {
  /** Bits [4:0]: List Registers implemented minus one. */
  ListRegs: bitRange(4, 0),
  /** Bit 19: ICH_HCR_EL2.TDIR supported. */
  TDS: bitFlag(19),
  /** Bit 20: direct injection of virtual interrupts not supported. */
  nV4: bitFlag(20),
  /** Bit 21: non-zero Aff3 supported for virtual SGIs. */
  A3V: bitFlag(21),
  /** Bit 22: virtual SEIs supported. */
  SEIS: bitFlag(22),
  /** Bits [25:23]: virtual INTID bits, 0 = 16 and 1 = 24. */
  IDbits: bitRange(25, 23),
  /** Bits [28:26]: virtual preemption bits minus one. */
  PREbits: bitRange(28, 26),
  /** Bits [31:29]: virtual priority bits minus one. */
  PRIbits: bitRange(31, 29),
} as const;

/** ICH_VMCR_EL2 (IHI0069 12.4.8). */
export const ICH_VMCR = {
  /** Bit 0: virtual Group 0 enable (ICV_IGRPEN0_EL1). */
  VENG0: bitFlag(0),
  /** Bit 1: virtual Group 1 enable (ICV_IGRPEN1_EL1). */
  VENG1: bitFlag(1),
  /** Bit 2: GICv2 AckCtl of the virtual interface. */
  VAckCtl: bitFlag(2),
  /** Bit 3: virtual Group 0 signalled as vFIQ. */
  VFIQEn: bitFlag(3),
  /** Bit 4: virtual BPR0 controls both groups. */
  VCBPR: bitFlag(4),
  /** Bit 9: virtual EOImode. */
  VEOIM: bitFlag(9),
  /** Bits [20:18]: virtual Group 1 binary point. */
  VBPR1: bitRange(20, 18),
  /** Bits [23:21]: virtual Group 0 binary point. */
  VBPR0: bitRange(23, 21),
  /** Bits [31:24]: virtual priority mask. */
  VPMR: bitRange(31, 24),
} as const;

/** ICH_LR<n>_EL2 (IHI0069 12.4.6). */
export const ICH_LR = {
  /** Bits [31:0]: virtual INTID. */
  vINTID: bitField(0, 32),
  /** Bits [44:32]: physical INTID deactivated with the virtual one when HW = 1. */
  pINTID: bitRange(44, 32),
  /** Bits [55:48]: virtual priority. */
  Priority: bitRange(55, 48),
  /** Bit 59: non-maskable (FEAT_GICv3_NMI). */
  NMI: bitFlag(59),
  /** Bit 60: virtual group, 1 = Group 1. */
  Group: bitFlag(60),
  /** Bit 61: a hardware interrupt linked to pINTID. */
  HW: bitFlag(61),
  /** Bits [63:62]: 0 invalid, 1 pending, 2 active, 3 pending and active. */
  State: bitRange(63, 62),
} as const;
