/**
 * @hvsim/gic: Arm GICv2 and GICv3 interrupt controllers with their
 * virtualization interfaces (IHI 0048B, IHI 0069), LPIs, the ITS and GICv4 /
 * GICv4.1 direct injection (also as the `@hvsim/gic/its` subpath).
 *
 * @packageDocumentation
 */
export {
  /** An Arm GICv2 with the virtualization extensions: GICD, GICC, GICH and GICV frames per CPU. */
  GicV2,
  /** The GICv2 distributor frame as one CPU sees it. */
  GicV2Distributor,
  /** The GICv2 CPU interface frame (GICC). */
  GicV2CpuInterface,
  /** The GICv2 virtual interface control frame (GICH). */
  GicV2HypervisorInterface,
  /** The GICv2 virtual CPU interface frame (GICV). */
  GicV2VirtualCpuInterface,
  /** GICv2 frame sizes. */
  GICV2_FRAME_SIZE,
  /** GICv2 distributor register offsets. */
  GICV2_GICD,
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
} from './v2/index.js';
export type {
  /** Construction options of GicV2. */
  GicV2Options,
  /** Saved state of GicV2. */
  GicV2State,
  /** A vCPU's GICv2 virtual interface context. */
  GicV2VcpuState,
  /** The registers a GICC or GICV frame serves: what GicV2CpuInterface and GicV2VirtualCpuInterface both implement. */
  GicV2CpuFrame,
  /** Saved interrupt state of the distributor and redistributors: enables, pending, active, groups, priorities, routing (as encoded strings). */
  IrqEngineState,
  /** Saved state of one CPU interface (GICC, or ICC_* registers): enables, PMR, binary points, EOI modes, active priorities. */
  GicCpuInterfaceState,
  /** Saved state of one virtual interface: list registers, HCR, VMCR and active priorities. */
  GicVirtualInterfaceState,
} from './v2/index.js';
export {
  /** An Arm GICv3: distributor, redistributors, ICC_* CPU interface and ICH_* and ICV_* virtual interface. */
  GicV3,
  /** The GICv3 distributor frame. */
  GicV3Distributor,
  /** One PE's GICv3 redistributor. */
  GicV3Redistributor,
  /** The contiguous redistributor region as one MMIO device. */
  GicV3RedistributorRegion,
  /** The ICC_* view of one PE's CPU interface. */
  GicV3CpuInterface,
  /** The ICH_* / ICV_* view of one PE's virtual interface. */
  GicV3VirtualInterface,
  /** Every GICv3 system register by name, with its encoding. */
  GICV3_SYSREGS,
  /** The register name of an MRS/MSR encoding. */
  gicv3SysregName,
  /** Packs op0, op1, CRn, CRm, op2 into the 16-bit encoding GicV3.readSysreg/writeSysreg take (Arm ARM C5.1.2 order). */
  sysregEncoding,
  /** The ICC_* or ICH_* register description of a 16-bit encoding, or undefined. */
  gicv3SysregByEncoding,
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
  /** GICD_CTLR fields (GICv3). */
  GICD_CTLR,
  /** GICD_TYPER fields (GICv3). */
  GICD_TYPER,
  /** GICD_IROUTER fields. */
  GICD_IROUTER,
  /** GICR_TYPER fields. */
  GICR_TYPER,
  /** GICR_WAKER fields. */
  GICR_WAKER,
} from './v3/index.js';
export type {
  /** Construction options of GicV3. */
  GicV3Options,
  /** LPI and GICv4 options of GicV3. */
  GicV3LpiOptions,
  /** Saved state of GicV3. */
  GicV3State,
  /** A vCPU's GICv3 virtual interface context. */
  GicV3VcpuState,
  /** Saved state of the GICv3 distributor beyond the shared interrupt state: the GICD_IROUTER<n> words. */
  GicV3DistributorState,
  /** Saved state of one GICv3 redistributor beyond the shared interrupt state: GICR_WAKER. */
  GicV3RedistributorState,
  /** Which ICC SGI register generated an SGI. */
  SgiRegister,
  /** The name of a GICv3 system register, as `GicV3.read`/`write` take it. */
  GicV3SysregName,
  /** One GICv3 system register. */
  SysregInfo,
  /** Access of a system register. */
  SysregAccess,
  /** Trap and routing class of a system register. */
  SysregClass,
} from './v3/index.js';
export {
  /** INTID 1023: nothing to acknowledge. */
  INTID_SPURIOUS,
  /** INTID 1022: GICv2 GICC_IAR found a Group 1 interrupt with AckCtl clear. */
  INTID_GROUP1_NOT_ACKED,
  /** First SPI INTID (32). */
  SPI_BASE,
  /** First PPI INTID (16). */
  PPI_BASE,
  /** First LPI INTID (8192). */
  LPI_BASE,
  /** Classifies an INTID as SGI, PPI, SPI, special, reserved or LPI. */
  intidKind,
} from './common/intid.js';
export type {
  /** Kinds of INTID. */
  IntidKind,
} from './common/intid.js';
export {
  /** List register states. */
  LR_STATE,
  /** HCR control bits shared by GICH_HCR and ICH_HCR_EL2. */
  HCR_BIT,
  /** MISR bits shared by GICH_MISR and ICH_MISR_EL2. */
  MISR_BIT,
} from './common/virtual-interface.js';
// Values come from their modules, not from './its/index.js': that index is an entry point of its own, and
// re-exporting values through it makes the bundler emit an empty shared chunk for it.
export {
  /** The Interrupt Translation Service (IHI0069 5.2, 12.19). */
  GicV3Its,
} from './its/its.js';
export {
  /** ITS command opcodes. */
  ITS_CMD,
  /** Decodes a 32-byte ITS command. */
  decodeItsCommand,
  /** Encodes an ITS command as a driver writes it into the queue. */
  encodeItsCommand,
} from './its/commands.js';
export {
  /** The architectural error code of an ITS command error. */
  itsErrorCode,
} from './its/errors.js';
export {
  /** ITS register offsets. */
  GITS,
} from './its/regs.js';
export {
  /** The LPI part of a GICv3 redistributor. */
  LpiRedistributor,
} from './lpi/lpi-redistributor.js';
export {
  /** The GICv4 part of a redistributor. */
  VpeRedistributor,
} from './v4/vpe-redistributor.js';
export {
  /** RD_base offsets of the LPI registers (deprecated: use GICR). */
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the deprecated alias stays exported for existing users
  GICR_LPI,
} from './lpi/regs.js';
export {
  /** VLPI_base register offsets. */
  GICR_VLPI,
  /** Offset of VLPI_base from RD_base. */
  GICR_VLPI_BASE,
} from './v4/regs.js';
export type {
  /** Construction options of GicV3Its. */
  GicV3ItsOptions,
  /** Saved state of GicV3Its. */
  GicV3ItsState,
  /** ITS architecture level. */
  ItsVersion,
  /** What GicV3Its.lookup finds for a (DeviceID, EventID), without making it pending. */
  ItsLookup,
  /** A decoded ITS command. */
  ItsCommand,
  /** Fields of an ITS command. */
  ItsCommandFields,
  /** Name of an ITS command. */
  ItsCommandName,
  /** A command error as the ITS reports it. */
  ItsCommandError,
  /** Kinds of ITS command error. */
  ItsErrorKind,
  /** Outcome of an ITS translation. */
  ItsTranslationResult,
  /** Why an ITS translation was dropped. */
  ItsDropReason,
  /** GICv4 version. */
  GicV4Version,
  /** What the ITS asks of a redistributor for LPIs. */
  LpiRedistributorPort,
  /** What the ITS asks of a redistributor for vLPIs. */
  VlpiRedistributorPort,
  /** GICv4.1 invalidation by vPEID (GICR_INVLPIR/GICR_INVALLR with V = 1) that an LpiRedistributor forwards; VpeRedistributor implements it. */
  VirtualInvalidationPort,
} from './its/index.js';

// The Arm generic timer (Arm ARM DDI 0487 chapter D11); also the subpath `@hvsim/gic/timer`.
export {
  /** Per-PE generic timers (CNTP, CNTV, CNTHP) on one system counter derived from the core Clock. */
  GenericTimer,
  /** Timer indices: CNTP 0, CNTV 1, CNTHP 2. */
  TIMER,
  /** Timer names indexed by timer index. */
  TIMER_NAMES,
  /** Default PPI of each timer (Arm BSA): CNTP 30, CNTV 27, CNTHP 26. */
  TIMER_PPI,
  /** CNTP_CTL_EL0 / CNTV_CTL_EL0 / CNTHP_CTL_EL2 fields. */
  CNT_CTL,
  /** CNTKCTL_EL1 fields. */
  CNTKCTL,
  /** CNTHCTL_EL2 fields with HCR_EL2.E2H 0. */
  CNTHCTL,
  /** CNTHCTL_EL2 fields with HCR_EL2.E2H 1. */
  CNTHCTL_E2H,
  /** The model's reset values of the timer registers. */
  TIMER_RESET,
  /** Default system counter frequency: 62.5 MHz. */
  DEFAULT_COUNTER_FREQUENCY_HZ,
  /** Default CPU clock rate of the generic timer: 2.5 GHz. */
  DEFAULT_CPU_FREQUENCY_HZ,
  /** Numeric ids of the timer system registers (the number path). */
  TIMER_SYSREG,
  /** Every timer system register by name, with its encoding. */
  TIMER_SYSREGS,
  /** The timer system register id of an MRS/MSR encoding, or -1. */
  timerSysregId,
  /** The timer system register name of an MRS/MSR encoding, or undefined. */
  timerSysregName,
  /** Outcomes of a timer register access check. */
  TIMER_ACCESS,
  /** Decides whether a guest MRS/MSR of a timer register at an EL is allowed, trapped or UNDEFINED. */
  checkTimerAccess,
  /** The ESR ISS of a trapped timer register access (EC 0x18). */
  sysregTrapIss,
} from './timer/index.js';
export type {
  /** Construction options of GenericTimer. */
  GenericTimerOptions,
  /** Where a timer's output goes: `(cpu, intid, level)`. */
  TimerOutput,
  /** Exception level of a checked guest access, or undefined for the host. */
  TimerAccessLevel,
  /** One PE's EL1 timer context for a hypervisor's vcpu_put / vcpu_load. */
  GenericTimerContext,
  /** Saved state of GenericTimer. */
  GenericTimerState,
  /** Saved state of one PE's timer registers. */
  GenericTimerCpuState,
  /** Saved state of one timer. */
  GenericTimerTimerState,
  /** A timer index. */
  TimerId,
  /** A timer name: 'CNTP', 'CNTV' or 'CNTHP'. */
  TimerName,
  /** A timer system register name. */
  TimerSysregName,
  /** A timer system register id. */
  TimerSysregId,
  /** One timer system register with its encoding. */
  TimerSysregInfo,
  /** An outcome of checkTimerAccess. */
  TimerAccessOutcome,
} from './timer/index.js';
