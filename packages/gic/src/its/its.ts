/**
 * GicV3Its: the Interrupt Translation Service of a GICv3/GICv4 (IHI0069
 * chapter 5 "Locality-specific Peripheral Interrupts and the ITS", 12.19
 * "ITS registers"). Devices write an EventID to GITS_TRANSLATER with their
 * DeviceID on the side band; the ITS translates (DeviceID, EventID) through
 * the device table, the device's interrupt translation table and the
 * collection table to (LPI, redistributor), or, for GICv4, through the vPE
 * table to (vLPI, vPE). Software drives it through a command queue in
 * memory, processed from GITS_CREADR to GITS_CWRITER as soon as CWRITER is
 * written (the model completes every command at once, as KVM's vITS does).
 *
 * Tables live in memory and are written through by the commands; the ITS
 * keeps decoded copies of what translations read (device, ITT, collection
 * and vPE entries) and refreshes them when a command changes them, so a
 * cached translation reads no memory. Software must not write the tables
 * itself while the ITS owns them (IHI0069 5.2: UNPREDICTABLE).
 *
 * Command errors (IHI0069 5.3, "Command errors") are CONSTRAINED
 * UNPREDICTABLE between "ignore and continue" and "stall"; the default here
 * is to stall: GITS_CREADR.Stalled = 1, CREADR left at the failing command,
 * the error recorded in {@link GicV3Its.commandError} and, when the
 * `onSystemError` output is given (GITS_TYPER.SEIS = 1), reported as a
 * system error. Writing GITS_CWRITER with Retry = 1 retries the command.
 */
import {
  UsageError,
  assertInteger,
  describeValue,
  readState,
  type AccessSize,
  type Clock,
  type MmioDevice,
  type MsiTarget,
  type PhysicalMemory,
  type Tracer,
  MemoryError,
  getField,
  setField,
} from '@hvsim/core';
import { accessAbort } from '../common/mmio.js';
import { decodeItsCommand, type ItsCommand } from './commands.js';
import { ITS_DROP_REASONS, ITS_ERROR_REASON, itsErrorCode, type ItsCommandError, type ItsDropReason, type ItsErrorKind, type ItsTranslationResult } from './errors.js';
import type { LpiRedistributorPort, VlpiRedistributorPort } from './ports.js';
import {
  GITS,
  GITS_BASER_HI,
  GITS_BASER_LO,
  GITS_BASER_TYPE,
  GITS_CBASER_HI,
  GITS_CBASER_LO,
  GITS_CBASER_MASK,
  GITS_CTLR,
  GITS_CWRITER,
  GITS_FRAME_SIZE,
  GITS_IIDR_VALUE,
  GITS_PAGE_BYTES,
  GITS_PIDR2_V3,
  GITS_PIDR2_V4,
  GITS_SGI_FRAME,
  GITS_TYPER_HI,
  GITS_TYPER_LO,
  ITS_DEVICE_ID_BITS,
  ITS_ENTRY_BYTES,
  ITS_EVENT_ID_BITS,
  ITS_ICID_BITS,
  ITS_VPE_ID_BITS,
  NO_DOORBELL,
} from './regs.js';
import {
  ITE_INVALID,
  ITE_PHYSICAL,
  ITE_VIRTUAL,
  TABLE_L2_INVALID,
  readCollectionEntry,
  readDeviceEntry,
  readIte,
  readVpeEntry,
  tableEntryAddress,
  writeCollectionEntry,
  writeDeviceEntry,
  writeIte,
  writeVpeEntry,
  type TableGeometry,
  type VpeEntry,
} from './tables.js';

/** Which architecture version the ITS implements: physical LPIs only, GICv4.0 or GICv4.1 virtual LPIs. */
export type ItsVersion = 'v3' | 'v4.0' | 'v4.1';

/** Construction options of {@link GicV3Its}. */
export interface GicV3ItsOptions {
  /** Memory holding the command queue and the tables. */
  memory: PhysicalMemory;
  /** One port per redistributor, by processor number (GITS_TYPER.PTA = 0). */
  lpiPorts: readonly LpiRedistributorPort[];
  /** GICv4: one port per redistributor for vLPIs. Required unless `version` is 'v3'. */
  vlpiPorts?: readonly VlpiRedistributorPort[];
  /** Default 'v4.1' when `vlpiPorts` is given, else 'v3'. */
  version?: ItsVersion;
  /** INTID bits the redistributors implement (GICD_TYPER.IDbits + 1), 14-24; bounds pINTIDs, vINTIDs and doorbells. Default 16. */
  idBits?: number;
  /** What a command error does: 'stall' (default) or 'ignore' (skip the command, as KVM's vITS does). */
  commandErrors?: 'stall' | 'ignore';
  /** System error output (GITS_TYPER.SEIS = 1 when given): called for each command error. */
  onSystemError?: (error: ItsCommandError) => void;
  /** Physical address of ITS_base, for {@link GicV3Its.deliverMsi} to check the doorbell address. */
  baseAddress?: number;
  /** DeviceID the ITS sees for writes to GITS_TRANSLATER through {@link GicV3Its.mmioWrite} (a PE's write; IMPLEMENTATION DEFINED). */
  cpuDeviceId?: number;
  tracer?: Tracer;
  clock?: Clock;
}

/** Saved state of a {@link GicV3Its}. The tables are in memory, which is saved separately. */
export interface GicV3ItsState {
  type: 'hvsim.gic-its';
  version: 1;
  enabled: boolean;
  cbaser: [number, number];
  cwriter: number;
  creadr: number;
  stalled: boolean;
  baser: number[];
  commandError: ItsCommandError | null;
  commandErrorCount: number;
  drops: Record<string, number>;
}

/** Decoded copy of one device's table entry and the ITT entries read so far. */
class DeviceCache {
  readonly events: number;
  /** Per EventID: 0 not read yet, else ITE_* + 1. */
  readonly kind: Uint8Array;
  readonly intid: Int32Array;
  readonly target: Int32Array;
  readonly doorbell: Int32Array;
  constructor(
    readonly size: number,
    readonly ittAddress: number,
  ) {
    this.events = 2 ** (size + 1);
    this.kind = new Uint8Array(this.events);
    this.intid = new Int32Array(this.events);
    this.target = new Int32Array(this.events);
    this.doorbell = new Int32Array(this.events);
  }
}

const KIND_UNREAD = 0;
const KIND_INVALID = ITE_INVALID + 1;
const KIND_PHYSICAL = ITE_PHYSICAL + 1;
const KIND_VIRTUAL = ITE_VIRTUAL + 1;
const COLLECTION_UNREAD = -2;

/** Thrown inside command execution to stop it with an error kind. */
class CommandFailure {
  constructor(readonly kind: ItsErrorKind) {}
}

/** The ITS: control frame, translation frame and (GICv4.1) vSGI frame, as one MMIO device. */
export class GicV3Its implements MmioDevice, MsiTarget {
  readonly version: ItsVersion;
  readonly idBits: number;
  private readonly memory: PhysicalMemory;
  private readonly lpiPorts: readonly LpiRedistributorPort[];
  private readonly vlpiPorts: readonly VlpiRedistributorPort[];
  private readonly stallOnError: boolean;
  private readonly onSystemError: ((error: ItsCommandError) => void) | undefined;
  private readonly baseAddress: number | undefined;
  private readonly cpuDeviceId: number | undefined;
  private readonly tracer: Tracer | undefined;
  private readonly clock: Clock | undefined;

  private enabled = false;
  private cbaserLo = 0;
  private cbaserHi = 0;
  private cwriter = 0;
  private creadr = 0;
  private stalled = false;
  private readonly baserLo = new Uint32Array(8);
  private readonly baserHi = new Uint32Array(8);
  private readonly geometry: TableGeometry[] = [];
  private error: ItsCommandError | undefined = undefined;
  private errorCount = 0;
  private readonly dropCounts = new Map<ItsDropReason, number>();

  private readonly devices = new Map<number, DeviceCache | null>();
  private readonly collections: Int32Array;
  private readonly vpes = new Map<number, VpeEntry>();
  private readonly cmdWords = new Uint32Array(8);

  constructor(options: GicV3ItsOptions) {
    this.memory = options.memory;
    this.lpiPorts = options.lpiPorts;
    this.vlpiPorts = options.vlpiPorts ?? [];
    this.version = options.version ?? (options.vlpiPorts === undefined ? 'v3' : 'v4.1');
    if (this.version !== 'v3' && this.vlpiPorts.length !== this.lpiPorts.length) {
      throw new UsageError('bad-argument', `GicV3Its ${this.version} needs one vlpiPort per redistributor (${this.lpiPorts.length}), got ${this.vlpiPorts.length}`);
    }
    if (this.lpiPorts.length === 0) throw new UsageError('bad-argument', 'GicV3Its needs at least one redistributor port');
    this.idBits = options.idBits ?? 16;
    assertInteger(this.idBits, 'GicV3Its idBits', 14, 24);
    this.stallOnError = (options.commandErrors ?? 'stall') === 'stall';
    this.onSystemError = options.onSystemError;
    this.baseAddress = options.baseAddress;
    this.cpuDeviceId = options.cpuDeviceId;
    this.tracer = options.tracer;
    this.clock = options.clock;
    this.collections = new Int32Array(2 ** ITS_ICID_BITS).fill(COLLECTION_UNREAD);
    this.reset();
  }

  /** Size of the ITS's MMIO region: control and translation frames, plus the vSGI frame in GICv4.1. */
  get size(): number {
    return this.version === 'v4.1' ? 3 * GITS_FRAME_SIZE : 2 * GITS_FRAME_SIZE;
  }

  private get virtual(): boolean {
    return this.version !== 'v3';
  }

  /** Reset (IHI0069 12.19): disabled, no queue, no tables; the BASER types and entry sizes are fixed. */
  reset(): void {
    this.enabled = false;
    this.cbaserLo = this.cbaserHi = 0;
    this.cwriter = this.creadr = 0;
    this.stalled = false;
    this.error = undefined;
    this.errorCount = 0;
    this.dropCounts.clear();
    for (let n = 0; n < 8; n++) {
      this.baserLo[n] = 0;
      this.baserHi[n] = this.baserFixedHi(n);
    }
    this.recomputeGeometry();
    this.flushCaches();
  }

  /** Type and Entry_Size of GITS_BASER<n>: 0 devices, 1 collections, 2 vPEs (GICv4), others unimplemented. */
  private baserFixedHi(n: number): number {
    const entry = (type: number, bytes: number): number => setField(setField(0, GITS_BASER_HI.Type, type), GITS_BASER_HI.Entry_Size, bytes - 1);
    if (n === 0) return entry(GITS_BASER_TYPE.DEVICES, ITS_ENTRY_BYTES.device);
    if (n === 1) return entry(GITS_BASER_TYPE.COLLECTIONS, ITS_ENTRY_BYTES.collection);
    if (n === 2 && this.virtual) return entry(GITS_BASER_TYPE.VPES, ITS_ENTRY_BYTES.vpe);
    return 0;
  }

  private recomputeGeometry(): void {
    this.geometry.length = 0;
    for (let n = 0; n < 8; n++) {
      const lo = this.baserLo[n]!;
      const hi = this.baserHi[n]!;
      const ps = Math.min(getField(lo, GITS_BASER_LO.Page_Size), 2);
      const pageBytes = GITS_PAGE_BYTES[ps]!;
      let base = (hi & 0xffff) * 0x1_0000_0000 + ((lo & ~(pageBytes - 1)) >>> 0);
      if (ps === 2) base += ((lo >>> 12) & 0xf) * 2 ** 48;
      this.geometry.push({
        valid: getField(hi, GITS_BASER_HI.Valid) === 1,
        base,
        pageBytes,
        pages: getField(lo, GITS_BASER_LO.Size) + 1,
        entryBytes: getField(hi, GITS_BASER_HI.Entry_Size) + 1,
        indirect: getField(hi, GITS_BASER_HI.Indirect) === 1,
      });
    }
  }

  private flushCaches(): void {
    this.devices.clear();
    this.collections.fill(COLLECTION_UNREAD);
    this.vpes.clear();
  }

  // --- registers ----------------------------------------------------------

  /** GITS_TYPER low word (IHI0069 12.19.20). */
  typerLow(): number {
    let v = setField(0, GITS_TYPER_LO.Physical, 1);
    if (this.virtual) v = setField(v, GITS_TYPER_LO.Virtual, 1);
    v = setField(v, GITS_TYPER_LO.ITT_entry_size, ITS_ENTRY_BYTES.ite - 1);
    v = setField(v, GITS_TYPER_LO.ID_bits, ITS_EVENT_ID_BITS - 1);
    v = setField(v, GITS_TYPER_LO.Devbits, ITS_DEVICE_ID_BITS - 1);
    if (this.onSystemError !== undefined) v = setField(v, GITS_TYPER_LO.SEIS, 1);
    // PTA = 0: RDbase is a processor number. HCC = 0: collections live in memory.
    return v >>> 0;
  }

  /** GITS_TYPER high word: 16-bit ICIDs (CIL = 0), VMOVP without ITSList, GICv4.1 VSGI/VMAPP/SVPET. */
  typerHigh(): number {
    let v = 0;
    if (this.virtual) v = setField(v, GITS_TYPER_HI.VMOVP, 1);
    if (this.version === 'v4.1') {
      v = setField(v, GITS_TYPER_HI.VSGI, 1);
      v = setField(v, GITS_TYPER_HI.VMAPP, 1);
      v = setField(v, GITS_TYPER_HI.SVPET, 1);
    }
    return v >>> 0;
  }

  private queueBytes(): number {
    return (getField(this.cbaserLo, GITS_CBASER_LO.Size) + 1) * 0x1000;
  }

  private queueBase(): number {
    return (this.cbaserHi & 0xf_ffff) * 0x1_0000_0000 + ((this.cbaserLo & 0xffff_f000) >>> 0);
  }

  mmioRead(offset: number, size: AccessSize): number {
    if (offset >= GITS_FRAME_SIZE) {
      // GITS_TRANSLATER and GITS_SGIR are write-only: reads of the translation and vSGI frames are RAZ.
      if (offset >= this.size || (size !== 4 && size !== 2) || offset % size !== 0) throw accessAbort('GITS', offset, size, false);
      return 0;
    }
    if (size !== 4 || (offset & 3) !== 0) throw accessAbort('GITS', offset, size, false);
    switch (offset) {
      case GITS.CTLR:
        return (this.enabled ? setField(0, GITS_CTLR.Enabled, 1) : setField(0, GITS_CTLR.Quiescent, 1)) >>> 0;
      case GITS.IIDR:
        return GITS_IIDR_VALUE;
      case GITS.TYPER:
        return this.typerLow();
      case GITS.TYPER + 4:
        return this.typerHigh();
      case GITS.CBASER:
        return this.cbaserLo;
      case GITS.CBASER + 4:
        return this.cbaserHi;
      case GITS.CWRITER:
        return this.cwriter;
      case GITS.CREADR:
        return (this.creadr | (this.stalled ? 1 : 0)) >>> 0;
      case GITS.PIDR2:
        return this.virtual ? GITS_PIDR2_V4 : GITS_PIDR2_V3;
      default:
        if (offset >= GITS.BASER && offset < GITS.BASER + 64) {
          const n = (offset - GITS.BASER) >>> 3;
          return (offset & 4) === 0 ? this.baserLo[n]! : this.baserHi[n]!;
        }
        // GITS_MPIDR, GITS_STATUSR, GITS_UMSIR, the high words of CWRITER/CREADR and reserved offsets read as zero.
        return 0;
    }
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (offset >= GITS_FRAME_SIZE) {
      this.writeOtherFrame(offset, size, value);
      return;
    }
    if (size !== 4 || (offset & 3) !== 0) throw accessAbort('GITS', offset, size, true);
    switch (offset) {
      case GITS.CTLR:
        this.writeCtlr(value);
        return;
      case GITS.CBASER:
      case GITS.CBASER + 4:
        this.writeCbaser(offset === GITS.CBASER ? 0 : 1, value);
        return;
      case GITS.CWRITER:
        this.writeCwriter(value);
        return;
      default:
        if (offset >= GITS.BASER && offset < GITS.BASER + 64) this.writeBaser((offset - GITS.BASER) >>> 3, (offset & 4) >>> 2, value);
      // GITS_TYPER, IIDR, CREADR and ID registers are read-only; reserved offsets are WI.
    }
  }

  /** 64-bit access to GITS_TYPER, CBASER, CWRITER, CREADR, BASER<n> and (GICv4.1) GITS_SGIR (IHI0069 12.19). */
  mmioRead64(offset: number): bigint {
    if (offset >= GITS_FRAME_SIZE || (offset & 7) !== 0) {
      if (offset === GITS_SGI_FRAME + 0x20 && this.version === 'v4.1') return 0n;
      throw accessAbort('GITS', offset, 8, false);
    }
    return (BigInt(this.mmioRead(offset + 4, 4)) << 32n) | BigInt(this.mmioRead(offset, 4));
  }

  mmioWrite64(offset: number, value: bigint): void {
    const lo = Number(value & 0xffff_ffffn);
    const hi = Number((value >> 32n) & 0xffff_ffffn);
    if (offset === GITS.SGIR) {
      if (this.version !== 'v4.1') throw accessAbort('GITS', offset, 8, true);
      this.writeSgir(lo, hi);
      return;
    }
    if (offset >= GITS_FRAME_SIZE || (offset & 7) !== 0) throw accessAbort('GITS', offset, 8, true);
    if (offset === GITS.CBASER) {
      this.writeCbaser(2, lo, hi);
      return;
    }
    if (offset >= GITS.BASER && offset < GITS.BASER + 64) {
      const n = (offset - GITS.BASER) >>> 3;
      this.writeBaser(n, 0, lo, false);
      this.writeBaser(n, 1, hi);
      return;
    }
    this.mmioWrite(offset, 4, lo);
    if (offset !== GITS.CWRITER) this.mmioWrite(offset + 4, 4, hi);
  }

  private writeOtherFrame(offset: number, size: AccessSize, value: number): void {
    if (offset === GITS.TRANSLATER && (size === 4 || size === 2)) {
      if (this.cpuDeviceId === undefined) {
        throw new UsageError('bad-state', 'a PE write to GITS_TRANSLATER has no DeviceID: pass cpuDeviceId, or use translate(deviceId, eventId) / deliverMsi(address, data, deviceId)');
      }
      this.translate(this.cpuDeviceId, size === 2 ? value & 0xffff : value >>> 0);
      return;
    }
    if (offset < this.size && (size === 4 || size === 2) && offset % size === 0) return;
    throw accessAbort('GITS', offset, size, true);
  }

  /** GITS_CTLR: Enabled starts command processing and translation (IHI0069 12.19.5). */
  private writeCtlr(value: number): void {
    const en = getField(value, GITS_CTLR.Enabled) === 1;
    if (en === this.enabled) return;
    this.enabled = en;
    if (en) this.processQueue();
  }

  /**
   * GITS_CBASER (IHI0069 12.19.3): writing it resets GITS_CREADR to 0. Writes
   * while the ITS is enabled are UNPREDICTABLE; this model ignores them.
   * `word` 0/1 writes one half, 2 writes both (lo, hi).
   */
  private writeCbaser(word: number, lo: number, hi = 0): void {
    if (this.enabled) return;
    if (word !== 1) this.cbaserLo = (lo & GITS_CBASER_MASK[0]) >>> 0;
    if (word === 1) this.cbaserHi = (lo & GITS_CBASER_MASK[1]) >>> 0;
    if (word === 2) this.cbaserHi = (hi & GITS_CBASER_MASK[1]) >>> 0;
    this.creadr = 0;
    this.stalled = false;
  }

  /** GITS_CWRITER (IHI0069 12.19.6): new write pointer; Retry = 1 restarts a stalled queue. */
  private writeCwriter(value: number): void {
    this.cwriter = value & 0xf_ffe0;
    if (getField(value, GITS_CWRITER.Retry) === 1 && this.stalled) this.stalled = false;
    this.processQueue();
  }

  /**
   * GITS_BASER<n> (IHI0069 12.19.1): Type and Entry_Size are read-only; an
   * unimplemented register is RAZ/WI; writes while the ITS is enabled are
   * UNPREDICTABLE and ignored here. Page_Size 0b11 is reserved; it is kept
   * as 64 KiB.
   */
  private writeBaser(n: number, word: number, value: number, recompute = true): void {
    const fixed = this.baserFixedHi(n);
    if (fixed === 0 || this.enabled) return;
    if (word === 0) {
      let v = value >>> 0;
      if (getField(v, GITS_BASER_LO.Page_Size) === 3) v = setField(v, GITS_BASER_LO.Page_Size, 2);
      this.baserLo[n] = v;
    } else {
      const keep = (GITS_BASER_HI_WRITABLE & value) >>> 0;
      this.baserHi[n] = (keep | fixed) >>> 0;
    }
    if (recompute) {
      this.recomputeGeometry();
      this.flushCaches();
    }
  }

  /** GICv4.1 GITS_SGIR (IHI0069 12.19.17): makes vSGI vINTID pending for vPEID. */
  private writeSgir(lo: number, hi: number): void {
    const vpe = this.vpeEntryOrNull(hi & 0xffff);
    if (vpe === null) {
      this.countDrop('unmapped-vpe');
      return;
    }
    this.vlpiPorts[vpe.rd]!.setVsgiPending(vpe, lo & 0xf);
  }

  // --- command queue ------------------------------------------------------

  /** Processes commands from CREADR to CWRITER while enabled and not stalled (IHI0069 5.3). */
  private processQueue(): void {
    if (!this.enabled || this.stalled || getField(this.cbaserHi, GITS_CBASER_HI.Valid) === 0) return;
    const bytes = this.queueBytes();
    if (this.cwriter >= bytes) {
      this.fail({ code: itsErrorCode(0, 'cwriter-out-of-range'), kind: 'cwriter-out-of-range', opcode: 0, offset: this.creadr }, true);
      return;
    }
    const base = this.queueBase();
    while (this.creadr !== this.cwriter) {
      let cmd: ItsCommand;
      try {
        for (let i = 0; i < 8; i++) this.cmdWords[i] = this.memory.read32(base + this.creadr + 4 * i);
        cmd = decodeItsCommand(this.cmdWords);
      } catch (e) {
        if (!(e instanceof MemoryError)) throw e;
        this.fail({ code: itsErrorCode(0, 'memory-fault'), kind: 'memory-fault', opcode: 0, offset: this.creadr }, true);
        return;
      }
      const kind = this.execute(cmd);
      if (kind !== undefined) {
        const stall = this.stallOnError;
        this.fail({ code: itsErrorCode(cmd.opcode, kind), kind, opcode: cmd.opcode, offset: this.creadr }, stall);
        if (stall) return;
      }
      this.creadr = (this.creadr + 32) % bytes;
    }
  }

  private fail(error: ItsCommandError, stall: boolean): void {
    this.error = error;
    this.errorCount++;
    if (stall) this.stalled = true;
    this.tracer?.emit({ kind: 'fault', cycle: this.clock?.now() ?? 0, source: 'gic-its', what: `ITS command error ${error.kind}`, code: error.code });
    this.onSystemError?.(error);
  }

  /** Runs one command; returns the error kind, or undefined when it succeeded. */
  private execute(cmd: ItsCommand): ItsErrorKind | undefined {
    try {
      this.run(cmd);
      return undefined;
    } catch (e) {
      if (e instanceof CommandFailure) return e.kind;
      if (e instanceof MemoryError) return 'memory-fault';
      throw e;
    }
  }

  private run(c: ItsCommand): void {
    switch (c.name) {
      case 'MAPD':
        return this.mapd(c);
      case 'MAPC':
        return this.mapc(c);
      case 'MAPTI':
      case 'MAPI':
        return this.mapti(c, c.name === 'MAPI' ? c.eventId : c.intid);
      case 'INT':
      case 'CLEAR':
      case 'INV':
      case 'DISCARD':
        return this.eventCommand(c);
      case 'MOVI':
        return this.movi(c);
      case 'INVALL':
        this.lpiPorts[this.mappedCollection(c.icid)]!.invalidateAll();
        return;
      case 'MOVALL':
        return this.movall(c);
      case 'SYNC':
        // Every effect is complete when a command returns; SYNC only checks its target (IHI0069 5.3.x SYNC).
        this.checkProcessor(c.rdbase);
        return;
      default:
        if (!this.virtual || c.name === undefined) throw new CommandFailure('unknown-command');
        return this.runVirtual(c);
    }
  }

  private runVirtual(c: ItsCommand): void {
    const v41 = this.version === 'v4.1';
    switch (c.name) {
      case 'VMAPP':
        return this.vmapp(c);
      case 'VMAPTI':
      case 'VMAPI':
        return this.vmapti(c, c.name === 'VMAPI' ? c.eventId : c.vintid);
      case 'VMOVI':
        return this.vmovi(c);
      case 'VMOVP':
        return this.vmovp(c);
      case 'VSYNC':
        this.mappedVpe(c.vpeId);
        return;
      case 'VINVALL': {
        const vpe = this.mappedVpe(c.vpeId);
        this.vlpiPorts[vpe.rd]!.invalidateAllVlpis(vpe);
        return;
      }
      case 'VSGI': {
        if (!v41) throw new CommandFailure('unknown-command');
        const vpe = this.mappedVpe(c.vpeId);
        this.vlpiPorts[vpe.rd]!.configureVsgi(vpe, c.vintid, c.clear === 1 ? 'clear-pending' : { priority: c.priority << 4, group: c.group, enable: c.enable === 1 });
        return;
      }
      case 'INVDB': {
        if (!v41) throw new CommandFailure('unknown-command');
        const vpe = this.mappedVpe(c.vpeId);
        this.vlpiPorts[vpe.rd]!.invalidateDoorbell(vpe);
        return;
      }
      default:
        throw new CommandFailure('unknown-command');
    }
  }

  private checkProcessor(rd: number): void {
    if (rd >= this.lpiPorts.length) throw new CommandFailure('processor-out-of-range');
  }

  private lpiInRange(intid: number): boolean {
    return intid >= 8192 && intid < 2 ** this.idBits;
  }

  /** Address of `id`'s entry in table `n`, or a command failure (`oor` when it cannot be there). */
  private entryAddress(n: number, id: number, oor: ItsErrorKind, unmapped: ItsErrorKind): number {
    const a = tableEntryAddress(this.memory, this.geometry[n]!, id);
    if (a === TABLE_L2_INVALID) throw new CommandFailure(unmapped);
    if (a < 0) throw new CommandFailure(oor);
    return a;
  }

  /** MAPD (IHI0069 5.3.x): map DeviceID to an ITT of 2^(Size+1) entries, or unmap it. */
  private mapd(c: ItsCommand): void {
    if (c.deviceId >= 2 ** ITS_DEVICE_ID_BITS) throw new CommandFailure('device-out-of-range');
    if (c.valid === 1 && c.size + 1 > ITS_EVENT_ID_BITS) throw new CommandFailure('itt-size-out-of-range');
    const a = this.entryAddress(0, c.deviceId, 'device-out-of-range', 'device-out-of-range');
    writeDeviceEntry(this.memory, a, { valid: c.valid === 1, size: c.size, ittAddress: c.ittAddress });
    this.devices.delete(c.deviceId);
  }

  /** MAPC (IHI0069 5.3.x): map ICID to a redistributor, or unmap it. */
  private mapc(c: ItsCommand): void {
    if (c.valid === 1) this.checkProcessor(c.rdbase);
    const a = this.entryAddress(1, c.icid, 'collection-out-of-range', 'collection-out-of-range');
    writeCollectionEntry(this.memory, a, c.valid === 1 ? c.rdbase : -1);
    this.collections[c.icid] = c.valid === 1 ? c.rdbase : -1;
  }

  /** MAPTI / MAPI (IHI0069 5.3.x): EventID of a mapped device -> (pINTID, ICID). */
  private mapti(c: ItsCommand, intid: number): void {
    const dev = this.mappedDevice(c.deviceId);
    if (c.eventId >= dev.events) throw new CommandFailure('event-out-of-range');
    if (!this.lpiInRange(intid)) throw new CommandFailure('intid-out-of-range');
    this.writeEvent(dev, c.eventId, ITE_PHYSICAL, intid, c.icid, 0);
  }

  private writeEvent(dev: DeviceCache, event: number, kind: number, intid: number, target: number, doorbell: number): void {
    writeIte(this.memory, dev.ittAddress + event * ITS_ENTRY_BYTES.ite, { kind, intid, target, doorbell });
    dev.kind[event] = kind + 1;
    dev.intid[event] = intid;
    dev.target[event] = target;
    dev.doorbell[event] = doorbell;
  }

  /** The mapped ITT entry of (deviceId, eventId), its kind in `dev.kind`. */
  private mappedEvent(deviceId: number, eventId: number): DeviceCache {
    const dev = this.mappedDevice(deviceId);
    if (eventId >= dev.events) throw new CommandFailure('event-out-of-range');
    if (this.eventKind(dev, eventId) === KIND_INVALID) throw new CommandFailure('unmapped-interrupt');
    return dev;
  }

  /** INT, CLEAR, INV, DISCARD on a physical or (GICv4) virtual mapping. */
  private eventCommand(c: ItsCommand): void {
    const dev = this.mappedEvent(c.deviceId, c.eventId);
    const e = c.eventId;
    const intid = dev.intid[e]!;
    if (dev.kind[e] === KIND_PHYSICAL) {
      const port = this.lpiPorts[this.mappedCollection(dev.target[e]!)]!;
      if (c.name === 'INT') {
        if (!port.setPending(intid)) this.countDrop('lpi-rejected');
      } else if (c.name === 'INV') port.invalidate(intid);
      else port.clearPending(intid);
    } else {
      const vpe = this.mappedVpe(dev.target[e]!);
      const port = this.vlpiPorts[vpe.rd]!;
      if (c.name === 'INT') port.setVlpiPending(vpe, intid, dev.doorbell[e]!);
      else if (c.name === 'INV') port.invalidateVlpi(vpe, intid);
      else port.clearVlpiPending(vpe, intid);
    }
    if (c.name === 'DISCARD') this.writeEvent(dev, e, ITE_INVALID, 0, 0, 0);
  }

  /** MOVI (IHI0069 5.3.x): retarget an event to another collection; a pending LPI moves with it. */
  private movi(c: ItsCommand): void {
    const dev = this.mappedEvent(c.deviceId, c.eventId);
    const e = c.eventId;
    if (dev.kind[e] !== KIND_PHYSICAL) throw new CommandFailure('unmapped-interrupt');
    const to = this.mappedCollection(c.icid);
    const from = this.mappedCollection(dev.target[e]!);
    const intid = dev.intid[e]!;
    if (from !== to && this.lpiPorts[from]!.clearPending(intid)) this.lpiPorts[to]!.setPending(intid);
    this.writeEvent(dev, e, ITE_PHYSICAL, intid, c.icid, 0);
  }

  /** MOVALL (IHI0069 5.3.x): every pending LPI of one redistributor moves to another. */
  private movall(c: ItsCommand): void {
    this.checkProcessor(c.rdbase);
    this.checkProcessor(c.rdbase2);
    if (c.rdbase === c.rdbase2) return;
    const from = this.lpiPorts[c.rdbase]!;
    const to = this.lpiPorts[c.rdbase2]!;
    for (const intid of from.pendingIntids()) {
      from.clearPending(intid);
      to.setPending(intid);
    }
  }

  /** VMAPP (IHI0069 5.3.x): map vPEID to a redistributor and virtual pending table (v4.1: VCONF and default doorbell). */
  private vmapp(c: ItsCommand): void {
    if (c.vpeId >= 2 ** ITS_VPE_ID_BITS) throw new CommandFailure('vpe-out-of-range');
    const a = this.entryAddress(2, c.vpeId, 'vpe-out-of-range', 'vpe-out-of-range');
    const v41 = this.version === 'v4.1';
    if (c.valid === 1) {
      this.checkProcessor(c.rdbase);
      const size = v41 ? c.vptSize : c.vptSize & 0x1f;
      if (size + 1 < 14 || size + 1 > this.idBits) throw new CommandFailure('vpt-size-out-of-range');
      const doorbell = v41 ? c.doorbell : NO_DOORBELL;
      if (doorbell !== NO_DOORBELL && !this.lpiInRange(doorbell)) throw new CommandFailure('intid-out-of-range');
      writeVpeEntry(this.memory, a, {
        valid: true,
        vpeId: c.vpeId,
        rd: c.rdbase,
        vptAddress: c.vptAddress,
        vptSize: size,
        defaultDoorbell: doorbell,
        vconfAddress: v41 ? c.vconfAddress : 0,
      });
    } else {
      writeVpeEntry(this.memory, a, { valid: false, vpeId: c.vpeId, rd: 0, vptAddress: 0, vptSize: 0, defaultDoorbell: 0, vconfAddress: 0 });
    }
    this.vpes.delete(c.vpeId);
  }

  private checkDoorbell(doorbell: number): void {
    if (doorbell !== NO_DOORBELL && !this.lpiInRange(doorbell)) throw new CommandFailure('intid-out-of-range');
  }

  /** VMAPTI / VMAPI (IHI0069 5.3.x): EventID -> (vINTID, vPEID, doorbell pINTID or 1023). */
  private vmapti(c: ItsCommand, vintid: number): void {
    const dev = this.mappedDevice(c.deviceId);
    if (c.eventId >= dev.events) throw new CommandFailure('event-out-of-range');
    if (c.vpeId >= 2 ** ITS_VPE_ID_BITS) throw new CommandFailure('vpe-out-of-range');
    if (!this.lpiInRange(vintid)) throw new CommandFailure('intid-out-of-range');
    this.checkDoorbell(c.doorbell);
    this.writeEvent(dev, c.eventId, ITE_VIRTUAL, vintid, c.vpeId, c.doorbell);
  }

  /** VMOVI (IHI0069 5.3.x): retarget a virtual event to another vPE; a pending vLPI moves with it. */
  private vmovi(c: ItsCommand): void {
    const dev = this.mappedEvent(c.deviceId, c.eventId);
    const e = c.eventId;
    if (dev.kind[e] !== KIND_VIRTUAL) throw new CommandFailure('unmapped-interrupt');
    const to = this.mappedVpe(c.vpeId);
    const from = this.mappedVpe(dev.target[e]!);
    const doorbell = c.doorbellValid === 1 ? c.doorbell : dev.doorbell[e]!;
    this.checkDoorbell(doorbell);
    const vintid = dev.intid[e]!;
    if (from.vpeId !== to.vpeId && this.vlpiPorts[from.rd]!.clearVlpiPending(from, vintid)) this.vlpiPorts[to.rd]!.setVlpiPending(to, vintid, doorbell);
    this.writeEvent(dev, e, ITE_VIRTUAL, vintid, c.vpeId, doorbell);
  }

  /** VMOVP (IHI0069 5.3.x): move a vPE to another redistributor (v4.1: and set its default doorbell). */
  private vmovp(c: ItsCommand): void {
    const vpe = this.mappedVpe(c.vpeId);
    this.checkProcessor(c.rdbase);
    const v41 = this.version === 'v4.1';
    const doorbell = v41 && c.valid === 1 ? c.doorbell : vpe.defaultDoorbell;
    if (v41) this.checkDoorbell(doorbell);
    const moved: VpeEntry = { ...vpe, rd: c.rdbase, defaultDoorbell: doorbell };
    writeVpeEntry(this.memory, this.entryAddress(2, c.vpeId, 'vpe-out-of-range', 'unmapped-vpe'), moved);
    this.vpes.set(c.vpeId, moved);
  }

  // --- decoded table entries ----------------------------------------------

  private mappedDevice(deviceId: number): DeviceCache {
    if (deviceId >= 2 ** ITS_DEVICE_ID_BITS) throw new CommandFailure('device-out-of-range');
    const dev = this.deviceOrNull(deviceId);
    if (dev === null) throw new CommandFailure('unmapped-device');
    return dev;
  }

  /** The device's decoded entry, reading the device table on a miss; null when unmapped. */
  private deviceOrNull(deviceId: number): DeviceCache | null {
    const cached = this.devices.get(deviceId);
    if (cached !== undefined) return cached;
    const a = tableEntryAddress(this.memory, this.geometry[0]!, deviceId);
    let dev: DeviceCache | null = null;
    if (a >= 0) {
      const e = readDeviceEntry(this.memory, a);
      if (e.valid) dev = new DeviceCache(e.size, e.ittAddress);
    }
    this.devices.set(deviceId, dev);
    return dev;
  }

  /** KIND_* of an event, reading its ITT entry on a miss. */
  private eventKind(dev: DeviceCache, event: number): number {
    const k = dev.kind[event]!;
    if (k !== KIND_UNREAD) return k;
    const e = readIte(this.memory, dev.ittAddress + event * ITS_ENTRY_BYTES.ite);
    dev.kind[event] = e.kind + 1;
    dev.intid[event] = e.intid;
    dev.target[event] = e.target;
    dev.doorbell[event] = e.doorbell;
    return e.kind + 1;
  }

  private collectionTarget(icid: number): number {
    let rd = this.collections[icid]!;
    if (rd === COLLECTION_UNREAD) {
      const a = tableEntryAddress(this.memory, this.geometry[1]!, icid);
      rd = a >= 0 ? readCollectionEntry(this.memory, a) : -1;
      if (rd >= this.lpiPorts.length) rd = -1;
      this.collections[icid] = rd;
    }
    return rd;
  }

  private mappedCollection(icid: number): number {
    const rd = this.collectionTarget(icid);
    if (rd < 0) throw new CommandFailure('unmapped-collection');
    return rd;
  }

  private vpeEntryOrNull(vpeId: number): VpeEntry | null {
    const cached = this.vpes.get(vpeId);
    if (cached !== undefined) return cached;
    if (!this.virtual) return null;
    const a = tableEntryAddress(this.memory, this.geometry[2]!, vpeId);
    if (a < 0) return null;
    const e = readVpeEntry(this.memory, a, vpeId);
    if (!e.valid || e.rd >= this.vlpiPorts.length) return null;
    this.vpes.set(vpeId, e);
    return e;
  }

  private mappedVpe(vpeId: number): VpeEntry {
    if (vpeId >= 2 ** ITS_VPE_ID_BITS) throw new CommandFailure('vpe-out-of-range');
    const vpe = this.vpeEntryOrNull(vpeId);
    if (vpe === null) throw new CommandFailure('unmapped-vpe');
    return vpe;
  }

  // --- translation --------------------------------------------------------

  /**
   * A device's write of `eventId` to GITS_TRANSLATER with `deviceId` on the
   * side band (IHI0069 5.2 "Interrupt translation"): the LPI or vLPI it maps
   * to is made pending, or the request is dropped and counted with its
   * reason — never delivered elsewhere.
   */
  translate(deviceId: number, eventId: number): ItsTranslationResult {
    if (!this.enabled) return this.drop('disabled');
    if (deviceId >>> 0 !== deviceId || deviceId >= 65536) return this.drop('device-out-of-range');
    let dev = this.devices.get(deviceId);
    if (dev === undefined) {
      try {
        dev = this.deviceOrNull(deviceId);
      } catch (e) {
        if (e instanceof MemoryError) return this.drop('memory-fault');
        throw e;
      }
    }
    if (dev === null) return this.drop('unmapped-device');
    if (eventId >>> 0 !== eventId || eventId >= dev.events) return this.drop('event-out-of-range');
    let k = dev.kind[eventId]!;
    if (k === KIND_UNREAD) {
      try {
        k = this.eventKind(dev, eventId);
      } catch (e) {
        if (e instanceof MemoryError) return this.drop('memory-fault');
        throw e;
      }
    }
    if (k === KIND_PHYSICAL) {
      const icid = dev.target[eventId]!;
      let rd = this.collections[icid]!;
      if (rd === COLLECTION_UNREAD) {
        try {
          rd = this.collectionTarget(icid);
        } catch (e) {
          if (e instanceof MemoryError) return this.drop('memory-fault');
          throw e;
        }
      }
      if (rd < 0) return this.drop('unmapped-collection');
      return this.lpiPorts[rd]!.setPending(dev.intid[eventId]!) ? 'lpi' : this.drop('lpi-rejected');
    }
    if (k === KIND_VIRTUAL) {
      let vpe: VpeEntry | null;
      try {
        vpe = this.vpeEntryOrNull(dev.target[eventId]!);
      } catch (e) {
        if (e instanceof MemoryError) return this.drop('memory-fault');
        throw e;
      }
      if (vpe === null) return this.drop('unmapped-vpe');
      this.vlpiPorts[vpe.rd]!.setVlpiPending(vpe, dev.intid[eventId]!, dev.doorbell[eventId]!);
      return 'vlpi';
    }
    return this.drop('unmapped-interrupt');
  }

  /**
   * {@link MsiTarget}: a device's MSI write of `data` to `address` with
   * `sourceId` as its DeviceID. With `baseAddress` configured the address
   * must be GITS_TRANSLATER's (a write elsewhere is a usage error).
   */
  deliverMsi(address: number, data: number, sourceId?: number): void {
    if (sourceId === undefined) throw new UsageError('bad-argument', 'an MSI to the ITS needs the DeviceID as sourceId');
    if (this.baseAddress !== undefined && address !== this.baseAddress + GITS.TRANSLATER) {
      throw new UsageError('bad-argument', `MSI address ${describeValue(address)} is not GITS_TRANSLATER (0x${(this.baseAddress + GITS.TRANSLATER).toString(16)})`);
    }
    this.tracer?.emit({ kind: 'msi', cycle: this.clock?.now() ?? 0, source: 'gic-its', address, data });
    this.translate(sourceId, data >>> 0);
  }

  private drop(reason: ItsDropReason): ItsTranslationResult {
    this.countDrop(reason);
    return reason;
  }

  private countDrop(reason: ItsDropReason): void {
    this.dropCounts.set(reason, (this.dropCounts.get(reason) ?? 0) + 1);
  }

  /** Number of translation requests dropped for `reason` (or in total). */
  dropped(reason?: ItsDropReason): number {
    if (reason !== undefined) return this.dropCounts.get(reason) ?? 0;
    let n = 0;
    for (const v of this.dropCounts.values()) n += v;
    return n;
  }

  /** The last command error, or undefined. */
  get commandError(): ItsCommandError | undefined {
    return this.error;
  }

  /** Number of command errors since reset. */
  get commandErrorCount(): number {
    return this.errorCount;
  }

  /** True when command processing is stalled on an error (GITS_CREADR.Stalled). */
  get isStalled(): boolean {
    return this.stalled;
  }

  /** True when GITS_CTLR.Enabled is set. */
  get isEnabled(): boolean {
    return this.enabled;
  }

  // --- state ----------------------------------------------------------------

  saveState(): GicV3ItsState {
    const drops: Record<string, number> = {};
    for (const [k, v] of this.dropCounts) drops[k] = v;
    return {
      type: 'hvsim.gic-its',
      version: 1,
      enabled: this.enabled,
      cbaser: [this.cbaserLo, this.cbaserHi],
      cwriter: this.cwriter,
      creadr: this.creadr,
      stalled: this.stalled,
      baser: [...Array.from(this.baserLo), ...Array.from(this.baserHi)],
      commandError: this.error === undefined ? null : { ...this.error },
      commandErrorCount: this.errorCount,
      drops,
    };
  }

  /** Restores registers; the table caches are dropped and refilled from memory (which holds the tables). */
  restoreState(state: unknown): void {
    const r = readState(state, 'hvsim.gic-its', 1);
    const cb = r.intArray('cbaser', 0, 0xffff_ffff, 2);
    const baser = r.intArray('baser', 0, 0xffff_ffff, 16);
    const cwriter = r.int('cwriter', 0, 0xf_ffe0);
    const creadr = r.int('creadr', 0, 0xf_ffe0);
    const enabled = r.bool('enabled');
    const stalled = r.bool('stalled');
    const errorCount = r.int('commandErrorCount', 0, Number.MAX_SAFE_INTEGER);
    let error: ItsCommandError | undefined;
    if (r.raw('commandError') !== null) {
      const e = r.object('commandError');
      error = {
        code: e.u32('code'),
        kind: e.oneOf('kind', Object.keys(ITS_ERROR_REASON) as ItsErrorKind[]),
        opcode: e.int('opcode', 0, 0xff),
        offset: e.int('offset', 0, 0xf_ffe0),
      };
    }
    const drops = r.object('drops');
    this.dropCounts.clear();
    for (const reason of ITS_DROP_REASONS) if (drops.has(reason)) this.dropCounts.set(reason, drops.int(reason, 0, Number.MAX_SAFE_INTEGER));
    this.cbaserLo = (cb[0]! & GITS_CBASER_MASK[0]) >>> 0;
    this.cbaserHi = (cb[1]! & GITS_CBASER_MASK[1]) >>> 0;
    for (let n = 0; n < 8; n++) {
      const fixed = this.baserFixedHi(n);
      this.baserLo[n] = fixed === 0 ? 0 : baser[n]!;
      this.baserHi[n] = fixed === 0 ? 0 : ((baser[8 + n]! & GITS_BASER_HI_WRITABLE) | fixed) >>> 0;
    }
    this.cwriter = cwriter & 0xf_ffe0;
    this.creadr = creadr & 0xf_ffe0;
    this.enabled = enabled;
    this.stalled = stalled;
    this.error = error;
    this.errorCount = errorCount;
    this.recomputeGeometry();
    this.flushCaches();
  }
}

/** Writable bits of GITS_BASER<n>'s high word: PA[47:32], OuterCache, InnerCache, Indirect, Valid. */
const GITS_BASER_HI_WRITABLE = 0xf8e0_ffff;
