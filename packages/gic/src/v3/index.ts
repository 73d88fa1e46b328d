/**
 * `@hvsim/gic/v3`: the GICv3 model alone.
 *
 * @packageDocumentation
 */
export {
  /** An Arm GICv3 with its virtualization interface (IHI0069). */
  GicV3,
} from './gic-v3.js';
export type {
  /** Construction options of GicV3. */
  GicV3Options,
  /** LPI and GICv4 options of GicV3. */
  GicV3LpiOptions,
  /** Saved state of GicV3. */
  GicV3State,
  /** A vCPU's virtual interface context. */
  GicV3VcpuState,
} from './gic-v3.js';
export {
  /** The GICv3 distributor frame. */
  GicV3Distributor,
} from './distributor.js';
export type {
  /** Saved state of the GICv3 distributor beyond the shared interrupt state: the GICD_IROUTER<n> words. */
  GicV3DistributorState,
} from './distributor.js';
export type {
  /** Saved state of one GICv3 redistributor beyond the shared interrupt state: GICR_WAKER. */
  GicV3RedistributorState,
} from './redistributor.js';
export type {
  /** Saved interrupt state of the distributor and redistributors: enables, pending, active, groups, priorities, routing (as encoded strings). */
  IrqEngineState,
} from '../common/irq-state.js';
export type {
  /** Saved state of one CPU interface (GICC, or ICC_* registers): enables, PMR, binary points, EOI modes, active priorities. */
  CpuInterfaceState as GicCpuInterfaceState,
} from '../common/cpu-interface.js';
export type {
  /** Saved state of one virtual interface: list registers, HCR, VMCR and active priorities. */
  VirtualInterfaceState as GicVirtualInterfaceState,
} from '../common/virtual-interface.js';
export {
  /** One PE's GICv3 redistributor. */
  GicV3Redistributor,
  /** The contiguous redistributor region as one MMIO device. */
  GicV3RedistributorRegion,
} from './redistributor.js';
export {
  /** The ICC_* view of one PE's CPU interface. */
  GicV3CpuInterface,
} from './cpu-interface.js';
export type {
  /** Which ICC SGI register generated an SGI. */
  SgiRegister,
} from './cpu-interface.js';
export {
  /** The ICH_* / ICV_* view of one PE's virtual interface. */
  GicV3VirtualInterface,
} from './virtual-interface.js';
export {
  /** Every GICv3 system register by name, with its encoding. */
  GICV3_SYSREGS,
  /** The register name of an MRS/MSR encoding. */
  gicv3SysregName,
  /** Packs op0, op1, CRn, CRm, op2 into the 16-bit encoding `readSysreg`/`writeSysreg` take. */
  sysregEncoding,
  /** The ICC_* or ICH_* register description of a 16-bit encoding. */
  gicv3SysregByEncoding,
} from './sysregs.js';
export type {
  /** The name of a GICv3 system register, as `GicV3.read`/`write` take it. */
  GicV3SysregName,
  /** One GICv3 system register. */
  SysregInfo,
  /** Access of a system register. */
  SysregAccess,
  /** Trap and routing class of a system register. */
  SysregClass,
} from './sysregs.js';
export {
  /** GICv3 distributor register offsets. */
  GICD,
  /** GICv3 redistributor RD_base offsets. */
  GICR,
  /** GICv3 redistributor SGI_base offsets. */
  GICR_SGI,
  /** Distributor frame size. */
  GICD_FRAME_SIZE,
  /** Redistributor stride per PE. */
  GICR_STRIDE,
  /** Offset of SGI_base in a redistributor. */
  GICR_SGI_BASE,
  /** ICH_LR<n>_EL2 fields. */
  ICH_LR,
  /** ICH_HCR_EL2 fields. */
  ICH_HCR,
  /** ICH_VMCR_EL2 fields. */
  ICH_VMCR,
  /** ICH_VTR_EL2 fields. */
  ICH_VTR,
  /** ICC_CTLR_EL1 fields. */
  ICC_CTLR,
  /** ICC_SGI0R/SGI1R/ASGI1R_EL1 fields. */
  ICC_SGIR,
  /** GICD_CTLR fields. */
  GICD_CTLR,
  /** GICD_TYPER fields. */
  GICD_TYPER,
  /** GICD_IROUTER fields. */
  GICD_IROUTER,
  /** GICR_TYPER fields. */
  GICR_TYPER,
  /** GICR_WAKER fields. */
  GICR_WAKER,
} from './regs.js';
