/**
 * GICv2 register offsets and fields (IHI0048B chapter 4 and 5.3-5.4).
 */
import { bitFlag, bitRange } from '@hvsim/core';
import { intidArray, razWiArray, sharedDistributorArrays, type ArrayRegister, type IntidArray } from '../common/array-access.js';

/** Frame sizes: GICD 4 KiB, GICC 8 KiB (GICC_DIR at 0x1000), GICH 4 KiB, GICV 8 KiB (IHI0048B 4.1, 5.2). */
export const GICV2_FRAME_SIZE = {
  /** Distributor, 4 KiB. */
  GICD: 0x1000,
  /** CPU interface, 8 KiB (GICC_DIR at 0x1000). */
  GICC: 0x2000,
  /** Virtual interface control, 4 KiB. */
  GICH: 0x1000,
  /** Virtual CPU interface, 8 KiB. */
  GICV: 0x2000,
} as const;

/** Distributor registers (IHI0048B 4.1.2 Table 4-1). */
export const GICD = {
  /** `0x000` */
  CTLR: 0x000,
  /** `0x004` */
  TYPER: 0x004,
  /** `0x008` */
  IIDR: 0x008,
  /** `0x080` */
  IGROUPR: 0x080,
  /** `0x100` */
  ISENABLER: 0x100,
  /** `0x180` */
  ICENABLER: 0x180,
  /** `0x200` */
  ISPENDR: 0x200,
  /** `0x280` */
  ICPENDR: 0x280,
  /** `0x300` */
  ISACTIVER: 0x300,
  /** `0x380` */
  ICACTIVER: 0x380,
  /** `0x400` */
  IPRIORITYR: 0x400,
  /** `0x800` */
  ITARGETSR: 0x800,
  /** `0xc00` */
  ICFGR: 0xc00,
  /** `0xe00` */
  NSACR: 0xe00,
  /** `0xf00` */
  SGIR: 0xf00,
  /** `0xf10` */
  CPENDSGIR: 0xf10,
  /** `0xf20` */
  SPENDSGIR: 0xf20,
  /** `0xfe8` */
  PIDR2: 0xfe8,
} as const;

/** GICD_CTLR without the Security Extensions (IHI0048B 4.3.1). */
export const GICD_CTLR = {
  /** Bit 0: forwards Group 0 interrupts. */
  EnableGrp0: bitFlag(0),
  /** Bit 1: forwards Group 1 interrupts. */
  EnableGrp1: bitFlag(1),
} as const;

/** GICD_CTLR bits software writes: EnableGrp0 and EnableGrp1. */
export const GICD_CTLR_WRITABLE = 0x3;

/** GICD_TYPER (IHI0048B 4.3.2). */
export const GICD_TYPER = {
  ITLinesNumber: bitRange(4, 0),
  CPUNumber: bitRange(7, 5),
  SecurityExtn: bitFlag(10),
  LSPI: bitRange(15, 11),
} as const;

/** GICD_SGIR (IHI0048B 4.3.15). */
export const GICD_SGIR = {
  /** Bits [3:0]: the SGI number. */
  SGIINTID: bitRange(3, 0),
  /** Bit 15: forward only if the SGI is Group 1 (Security Extensions). */
  NSATT: bitFlag(15),
  /** Bits [23:16]: target CPU interfaces, one bit each. */
  CPUTargetList: bitRange(23, 16),
  /** Bits [25:24]: 0 = the list, 1 = all but the sender, 2 = the sender only. */
  TargetListFilter: bitRange(25, 24),
} as const;

/** GICD_SGIR bits software writes: all but NSATT, which is RES0 without the Security Extensions. */
export const GICD_SGIR_WRITABLE = 0x03ff_000f;

/** GICD_IIDR: Arm (0x43B), revision 0, ProductID 0. */
export const GICD_IIDR_VALUE = 0x0000_043b;
/** ICPIDR2 ArchRev 2 (GICv2) with Arm's JEP106 bits. */
export const PIDR2_GICV2 = 0x2b;
/** GICC_IIDR (IHI0048B 4.4.14): architecture version 2, Arm. */
export const GICC_IIDR_VALUE = 0x0002_043b;

/**
 * The distributor's per-interrupt register arrays (IHI0048B 4.3.4-4.3.12),
 * each with its behaviour; GICD_ITARGETSR's is GICv2's own (in
 * `distributor.ts`, where the frame's CPU is known). NSACR is RAZ/WI without
 * the Security Extensions.
 */
export function gicv2DistributorArrays(itargetsr: ArrayRegister): readonly IntidArray[] {
  return [...sharedDistributorArrays(GICD, itargetsr), intidArray('NSACR', GICD.NSACR, razWiArray(2))];
}

/** CPU interface registers (IHI0048B 4.1.3 Table 4-2); GICV uses the same layout (5.4). */
export const GICC = {
  /** `0x00` */
  CTLR: 0x00,
  /** `0x04` */
  PMR: 0x04,
  /** `0x08` */
  BPR: 0x08,
  /** `0x0c` */
  IAR: 0x0c,
  /** `0x10` */
  EOIR: 0x10,
  /** `0x14` */
  RPR: 0x14,
  /** `0x18` */
  HPPIR: 0x18,
  /** `0x1c` */
  ABPR: 0x1c,
  /** `0x20` */
  AIAR: 0x20,
  /** `0x24` */
  AEOIR: 0x24,
  /** `0x28` */
  AHPPIR: 0x28,
  /** `0xd0` */
  APR0: 0xd0,
  /** `0xe0` */
  NSAPR0: 0xe0,
  /** `0xfc` */
  IIDR: 0xfc,
  /** `0x1000` */
  DIR: 0x1000,
} as const;

/** GICC_CTLR without the Security Extensions (IHI0048B 4.4.1). */
export const GICC_CTLR = {
  /** Bit 0: signals Group 0 interrupts. */
  EnableGrp0: bitFlag(0),
  /** Bit 1: signals Group 1 interrupts. */
  EnableGrp1: bitFlag(1),
  /** Bit 2: GICC_IAR may acknowledge Group 1 interrupts. */
  AckCtl: bitFlag(2),
  /** Bit 3: Group 0 interrupts signalled as FIQ. */
  FIQEn: bitFlag(3),
  /** Bit 4: GICC_BPR controls both groups. */
  CBPR: bitFlag(4),
  /** FIQBypDisGrp0, IRQBypDisGrp0, FIQBypDisGrp1, IRQBypDisGrp1: stored, no bypass is modelled. */
  BypassDisable: bitRange(8, 5),
  /** Bit 9: EOI of Group 0 drops priority only; GICC_DIR deactivates. */
  EOImodeS: bitFlag(9),
  /** Bit 10: EOI of Group 1 drops priority only; GICC_DIR deactivates. */
  EOImodeNS: bitFlag(10),
} as const;

/** GICV_CTLR (IHI0048B 5.4.1), also GICH_VMCR.VMCCtlr. */
export const GICV_CTLR = {
  /** Bit 0: signals virtual Group 0 interrupts. */
  EnableGrp0: bitFlag(0),
  /** Bit 1: signals virtual Group 1 interrupts. */
  EnableGrp1: bitFlag(1),
  /** Bit 2: GICV_IAR may acknowledge Group 1 interrupts. */
  AckCtl: bitFlag(2),
  /** Bit 3: virtual Group 0 signalled as vFIQ. */
  FIQEn: bitFlag(3),
  /** Bit 4: GICV_BPR controls both groups. */
  CBPR: bitFlag(4),
  /** Bit 9: EOI drops priority only; GICV_DIR deactivates. */
  EOImode: bitFlag(9),
} as const;

/** Virtual interface control registers (IHI0048B 5.3, Table 5-1). */
export const GICH = {
  /** `0x000` */
  HCR: 0x000,
  /** `0x004` */
  VTR: 0x004,
  /** `0x008` */
  VMCR: 0x008,
  /** `0x010` */
  MISR: 0x010,
  /** `0x020` */
  EISR0: 0x020,
  /** `0x024` */
  EISR1: 0x024,
  /** `0x030` */
  ELRSR0: 0x030,
  /** `0x034` */
  ELRSR1: 0x034,
  /** `0x0f0` */
  APR: 0x0f0,
  /** `0x100` */
  LR0: 0x100,
} as const;

/** GICH_HCR (IHI0048B 5.3.1). */
export const GICH_HCR = { EOICount: bitRange(31, 27) } as const;

/** GICH_VTR (IHI0048B 5.3.2). */
export const GICH_VTR = {
  /** Bits [5:0]: List Registers implemented minus one. */
  ListRegs: bitRange(5, 0),
  /** Bits [28:26]: preemption bits minus one. */
  PREbits: bitRange(28, 26),
  /** Bits [31:29]: priority bits minus one. */
  PRIbits: bitRange(31, 29),
} as const;

/** GICH_VMCR (IHI0048B 5.3.3). */
export const GICH_VMCR = {
  /** Bits [9:0]: the GICV_CTLR alias. */
  VMCCtlr: bitRange(9, 0),
  /** Bits [20:18]: the GICV_ABPR alias. */
  VMABP: bitRange(20, 18),
  /** Bits [23:21]: the GICV_BPR alias. */
  VMBP: bitRange(23, 21),
  /** Bits [31:27]: GICV_PMR bits [7:3]. */
  VMPriMask: bitRange(31, 27),
} as const;

/** GICH_LR<n> (IHI0048B 5.3.8). */
export const GICH_LR = {
  /** Bits [9:0]: virtual interrupt ID. */
  VirtualID: bitRange(9, 0),
  /** Bits [19:10]: physical ID when HW = 1; else EOI (bit 19) and source CPUID (bits [12:10]). */
  PhysicalID: bitRange(19, 10),
  /** Bits [27:23]: priority bits [7:3]. */
  Priority: bitRange(27, 23),
  /** Bits [29:28]: 0 invalid, 1 pending, 2 active, 3 pending and active. */
  State: bitRange(29, 28),
  /** Bit 30: a Group 1 virtual interrupt. */
  Grp1: bitFlag(30),
  /** Bit 31: a hardware interrupt linked to PhysicalID. */
  HW: bitFlag(31),
} as const;
