/**
 * `@hvsim/gic/v2`: the GICv2 model alone.
 *
 * @packageDocumentation
 */
export {
  /** An Arm GICv2 with the virtualization extensions (IHI0048B). */
  GicV2,
} from './gic-v2.js';
export type {
  /** Construction options of GicV2. */
  GicV2Options,
  /** Saved state of GicV2. */
  GicV2State,
  /** A vCPU's virtual interface context. */
  GicV2VcpuState,
} from './gic-v2.js';
export type {
  /** The registers a GICC or GICV frame serves: what GicV2CpuInterface and GicV2VirtualCpuInterface both implement. */
  GicV2CpuFrame,
} from './cpu-frame.js';
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
  /** The GICv2 distributor frame as one CPU sees it. */
  GicV2Distributor,
} from './distributor.js';
export {
  /** The GICv2 CPU interface frame (GICC). */
  GicV2CpuInterface,
} from './cpu-interface.js';
export {
  /** The GICv2 virtual interface control frame (GICH). */
  GicV2HypervisorInterface,
  /** The GICv2 virtual CPU interface frame (GICV). */
  GicV2VirtualCpuInterface,
} from './virtual-interface.js';
export {
  /** GICv2 frame sizes. */
  GICV2_FRAME_SIZE,
  /** GICv2 distributor register offsets. */
  GICD as GICV2_GICD,
  /** GICv2 CPU interface (and GICV) register offsets. */
  GICC,
  /** GICv2 GICH register offsets. */
  GICH,
  /** GICD_SGIR fields. */
  GICD_SGIR,
  /** GICC_CTLR fields. */
  GICC_CTLR,
  /** GICV_CTLR fields. */
  GICV_CTLR,
  /** GICH_LR<n> fields. */
  GICH_LR,
  /** GICH_VMCR fields. */
  GICH_VMCR,
  /** GICH_VTR fields. */
  GICH_VTR,
} from './regs.js';
