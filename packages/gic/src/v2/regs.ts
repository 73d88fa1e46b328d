/**
 * GICv2 register offsets and fields (IHI0048B chapter 4 and 5.3-5.4).
 */
import { bitFlag, bitRange } from '@hvsim/core';
import { registerArray, type RegisterArray } from '../common/register-array.js';

/** Frame sizes: GICD 4 KiB, GICC 8 KiB (GICC_DIR at 0x1000), GICH 4 KiB, GICV 8 KiB (IHI0048B 4.1, 5.2). */
export const GICV2_FRAME_SIZE = { GICD: 0x1000, GICC: 0x2000, GICH: 0x1000, GICV: 0x2000 } as const;

/** Distributor registers (IHI0048B 4.1.2 Table 4-1). */
export const GICD = {
  CTLR: 0x000,
  TYPER: 0x004,
  IIDR: 0x008,
  IGROUPR: 0x080,
  ISENABLER: 0x100,
  ICENABLER: 0x180,
  ISPENDR: 0x200,
  ICPENDR: 0x280,
  ISACTIVER: 0x300,
  ICACTIVER: 0x380,
  IPRIORITYR: 0x400,
  ITARGETSR: 0x800,
  ICFGR: 0xc00,
  NSACR: 0xe00,
  SGIR: 0xf00,
  CPENDSGIR: 0xf10,
  SPENDSGIR: 0xf20,
  PIDR2: 0xfe8,
} as const;

/** GICD_CTLR without the Security Extensions (IHI0048B 4.3.1). */
export const GICD_CTLR = { EnableGrp0: bitFlag(0), EnableGrp1: bitFlag(1) } as const;

/** GICD_TYPER (IHI0048B 4.3.2). */
export const GICD_TYPER = {
  ITLinesNumber: bitRange(4, 0),
  CPUNumber: bitRange(7, 5),
  SecurityExtn: bitFlag(10),
  LSPI: bitRange(15, 11),
} as const;

/** GICD_SGIR (IHI0048B 4.3.15). */
export const GICD_SGIR = {
  SGIINTID: bitRange(3, 0),
  NSATT: bitFlag(15),
  CPUTargetList: bitRange(23, 16),
  TargetListFilter: bitRange(25, 24),
} as const;

/** GICD_IIDR: Arm (0x43B), revision 0, ProductID 0. */
export const GICD_IIDR_VALUE = 0x0000_043b;
/** ICPIDR2 ArchRev 2 (GICv2) with Arm's JEP106 bits. */
export const PIDR2_GICV2 = 0x2b;
/** GICC_IIDR (IHI0048B 4.4.14): architecture version 2, Arm. */
export const GICC_IIDR_VALUE = 0x0002_043b;

/** The distributor's per-interrupt register arrays. */
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
  registerArray('NSACR', GICD.NSACR, 2),
];

/** CPU interface registers (IHI0048B 4.1.3 Table 4-2); GICV uses the same layout (5.4). */
export const GICC = {
  CTLR: 0x00,
  PMR: 0x04,
  BPR: 0x08,
  IAR: 0x0c,
  EOIR: 0x10,
  RPR: 0x14,
  HPPIR: 0x18,
  ABPR: 0x1c,
  AIAR: 0x20,
  AEOIR: 0x24,
  AHPPIR: 0x28,
  APR0: 0xd0,
  NSAPR0: 0xe0,
  IIDR: 0xfc,
  DIR: 0x1000,
} as const;

/** GICC_CTLR without the Security Extensions (IHI0048B 4.4.1). */
export const GICC_CTLR = {
  EnableGrp0: bitFlag(0),
  EnableGrp1: bitFlag(1),
  AckCtl: bitFlag(2),
  FIQEn: bitFlag(3),
  CBPR: bitFlag(4),
  /** FIQBypDisGrp0, IRQBypDisGrp0, FIQBypDisGrp1, IRQBypDisGrp1: stored, no bypass is modelled. */
  BypassDisable: bitRange(8, 5),
  EOImodeS: bitFlag(9),
  EOImodeNS: bitFlag(10),
} as const;

/** GICV_CTLR (IHI0048B 5.4.1), also GICH_VMCR.VMCCtlr. */
export const GICV_CTLR = {
  EnableGrp0: bitFlag(0),
  EnableGrp1: bitFlag(1),
  AckCtl: bitFlag(2),
  FIQEn: bitFlag(3),
  CBPR: bitFlag(4),
  EOImode: bitFlag(9),
} as const;

/** Virtual interface control registers (IHI0048B 5.3, Table 5-1). */
export const GICH = {
  HCR: 0x000,
  VTR: 0x004,
  VMCR: 0x008,
  MISR: 0x010,
  EISR0: 0x020,
  EISR1: 0x024,
  ELRSR0: 0x030,
  ELRSR1: 0x034,
  APR: 0x0f0,
  LR0: 0x100,
} as const;

/** GICH_HCR (IHI0048B 5.3.1). */
export const GICH_HCR = { EOICount: bitRange(31, 27) } as const;

/** GICH_VTR (IHI0048B 5.3.2). */
export const GICH_VTR = { ListRegs: bitRange(5, 0), PREbits: bitRange(28, 26), PRIbits: bitRange(31, 29) } as const;

/** GICH_VMCR (IHI0048B 5.3.3). */
export const GICH_VMCR = {
  VMCCtlr: bitRange(9, 0),
  VMABP: bitRange(20, 18),
  VMBP: bitRange(23, 21),
  VMPriMask: bitRange(31, 27),
} as const;

/** GICH_LR<n> (IHI0048B 5.3.8). */
export const GICH_LR = {
  VirtualID: bitRange(9, 0),
  PhysicalID: bitRange(19, 10),
  Priority: bitRange(27, 23),
  State: bitRange(29, 28),
  Grp1: bitFlag(30),
  HW: bitFlag(31),
} as const;
