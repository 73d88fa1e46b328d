/**
 * `@hvsim/gic/its`: LPIs, the ITS and GICv4/v4.1 direct injection (IHI0069
 * chapter 5, 12.11, 12.19). `GicV3` (with its `lpis` option) builds and
 * wires these; this entry also exposes them for use with other redistributor
 * models through the port interfaces.
 *
 * @packageDocumentation
 */
export {
  /** The Interrupt Translation Service: register frames, command queue, tables and translation. */
  GicV3Its,
} from './its.js';
export type {
  /** Construction options of GicV3Its. */
  GicV3ItsOptions,
  /** Saved state of GicV3Its (the tables are in memory). */
  GicV3ItsState,
  /** ITS architecture level: physical only, GICv4.0 or GICv4.1. */
  ItsVersion,
  /** What GicV3Its.lookup finds for a (DeviceID, EventID), without making it pending. */
  ItsLookup,
} from './its.js';
export {
  /** ITS command opcodes. */
  ITS_CMD,
  /** Where each command keeps each field. */
  ITS_COMMAND_LAYOUT,
  /** Decodes a 32-byte command from eight 32-bit words. */
  decodeItsCommand,
  /** Encodes a command into eight 32-bit words, as a driver writes it into the queue. */
  encodeItsCommand,
} from './commands.js';
export type {
  /** A decoded ITS command. */
  ItsCommand,
  /** Every field an ITS command can carry. */
  ItsCommandFields,
  /** Name of an ITS command. */
  ItsCommandName,
  /** Where one field of a command sits in its eight words (the values of ITS_COMMAND_LAYOUT). */
  ItsCommandFieldCodec,
} from './commands.js';
export {
  /** Reason byte of each command error kind. */
  ITS_ERROR_REASON,
  /** Every reason a translation can be dropped. */
  ITS_DROP_REASONS,
  /** The architectural error code of a command error. */
  itsErrorCode,
} from './errors.js';
export type {
  /** A command error as the ITS reports it. */
  ItsCommandError,
  /** Kinds of command error. */
  ItsErrorKind,
  /** Outcome of a translation request. */
  ItsTranslationResult,
  /** Why a translation request was dropped. */
  ItsDropReason,
} from './errors.js';
export {
  /** ITS register offsets. */
  GITS,
  /** GITS_CTLR fields. */
  GITS_CTLR,
  /** GITS_TYPER low-word fields. */
  GITS_TYPER_LO,
  /** GITS_TYPER high-word fields. */
  GITS_TYPER_HI,
  /** GITS_CBASER low-word fields. */
  GITS_CBASER_LO,
  /** GITS_CBASER high-word fields. */
  GITS_CBASER_HI,
  /** GITS_CWRITER fields. */
  GITS_CWRITER,
  /** GITS_CREADR fields. */
  GITS_CREADR,
  /** GITS_BASER<n> low-word fields. */
  GITS_BASER_LO,
  /** GITS_BASER<n> high-word fields. */
  GITS_BASER_HI,
  /** GITS_BASER<n>.Type values. */
  GITS_BASER_TYPE,
  /** Size of each ITS frame. */
  GITS_FRAME_SIZE,
  /** Entry sizes of this model's tables. */
  ITS_ENTRY_BYTES,
  /** The "no doorbell" pINTID, 1023. */
  NO_DOORBELL,
} from './regs.js';
export type {
  /** What the ITS asks of a redistributor for physical LPIs. */
  LpiRedistributorPort,
  /** What the ITS asks of a redistributor for vLPIs and vSGIs. */
  VlpiRedistributorPort,
  /** vSGI configuration carried by VSGI. */
  VsgiConfig,
} from './ports.js';
export type {
  /** A decoded vPE table entry. */
  VpeEntry,
  /** Where a table is and how it is laid out. */
  TableGeometry,
} from './tables.js';
export {
  /** The LPI part of a redistributor: configuration cache, pending bits, candidates. */
  LpiRedistributor,
} from '../lpi/lpi-redistributor.js';
export {
  /** A CPU's candidate set bucketed by group and priority (what LpiRedistributor fills). */
  PendingSet,
} from '../common/pending-set.js';
export type {
  /** Construction options of LpiRedistributor. */
  LpiRedistributorOptions,
  /** Saved LPI state of a redistributor. */
  LpiRedistributorState,
  /** GICv4.1 invalidation by vPEID (GICR_INVLPIR/GICR_INVALLR with V = 1) that an LpiRedistributor forwards; VpeRedistributor implements it. */
  VirtualInvalidationPort,
} from '../lpi/lpi-redistributor.js';
export {
  /** First LPI INTID. */
  LPI_FIRST,
  /** LPI configuration table entry fields. */
  LPI_CONFIG,
  /** RD_base offsets of the LPI registers (deprecated: use GICR). */
  // eslint-disable-next-line @typescript-eslint/no-deprecated -- the deprecated alias stays exported for existing users
  GICR_LPI,
  /** GICR_CTLR fields. */
  GICR_CTLR,
  /** GICR_PROPBASER low-word fields. */
  GICR_PROPBASER_LO,
  /** GICR_PENDBASER high-word fields. */
  GICR_PENDBASER_HI,
} from '../lpi/regs.js';
export {
  /** The GICv4 part of a redistributor: residency, resident vLPIs, VPTs and doorbells. */
  VpeRedistributor,
} from '../v4/vpe-redistributor.js';
export type {
  /** GICv4 version. */
  GicV4Version,
  /** Seam to a PE's virtual CPU interface. */
  VlpiCpuPort,
  /** Directly injected interrupts as the virtual CPU interface sees them. */
  DirectVirtualSource,
  /** Construction options of VpeRedistributor. */
  VpeRedistributorOptions,
  /** Saved GICv4 state of a redistributor. */
  VpeRedistributorState,
} from '../v4/vpe-redistributor.js';
export {
  /** VLPI_base register offsets. */
  GICR_VLPI,
  /** Offset of VLPI_base from RD_base. */
  GICR_VLPI_BASE,
  /** Redistributor stride with GICv4. */
  GICR_V4_STRIDE,
  /** GICR_VPENDBASER high-word fields. */
  GICR_VPENDBASER_HI,
  /** GICv4.1 GICR_VPROPBASER high-word fields. */
  GICR_VPROPBASER_V41_HI,
} from '../v4/regs.js';
