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
 * With `commandErrors: 'ignore'` the ITS behaves as KVM's emulated vITS
 * (Linux vgic-its.c): a failing or unreadable command is skipped (the error
 * is still recorded and counted), and a GITS_CWRITER write beyond the queue
 * is ignored.
 */
import {
  ARM64_EXCEPTION_CLASS,
  CpuException,
  DELIVERY_STATUS,
  UsageError,
  assertInteger,
  assertOptions,
  describeValue,
  readState,
  type AccessSize,
  type Clock,
  type MmioDevice,
  type MsiTarget,
  type Memory,
  type Tracer,
  MemoryError,
  type DeliveryStatus,
  fieldMask,
  getField,
  setField,
} from '@hvsim/core';
import { badMmioArguments, accessAbort } from '../common/mmio.js';
import { RegisterTable, type RegisterSpec } from '../common/register-table.js';
import { joinAddress } from '../lpi/regs.js';
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
} from './regs.js';
// Module-local copies for the translation path: imported bindings are live getters under Node's ESM loader.
const COLLECTION_UNREAD = IMPORTED_COLLECTION_UNREAD;
const KIND_PHYSICAL = IMPORTED_KIND_PHYSICAL;
const KIND_UNREAD = IMPORTED_KIND_UNREAD;
const KIND_VIRTUAL = IMPORTED_KIND_VIRTUAL;

/**
 * What {@link GicV3Its.lookup} finds for a (DeviceID, EventID): what a
 * translation would make pending, without making it pending.
 */
export interface ItsLookup {
  /** 'lpi' or 'vlpi' when the event is mapped; else the reason a translation would be dropped (never 'lpi-rejected', which only the redistributor decides). */
  result: ItsTranslationResult;
  /** The pINTID ('lpi') or vINTID ('vlpi'); -1 otherwise. */
  intid: number;
  /** The ICID of the event's collection ('lpi', and 'unmapped-collection'); -1 otherwise. */
  collection: number;
  /** The vPEID ('vlpi', and 'unmapped-vpe'); -1 otherwise. */
  vpeId: number;
  /** The target redistributor's processor number ('lpi': the collection's, 'vlpi': the vPE's); -1 otherwise. */
  target: number;
  /** The doorbell pINTID of a 'vlpi' mapping (GICv4.0 VMAPTI Doorbell; 1023 = none); -1 otherwise. */
  doorbell: number;
}

/** Drop reasons that mean "not mapped or not enabled" (core's BLOCKED); the others are DROPPED. */
const ITS_BLOCKED_REASONS: ReadonlySet<ItsTranslationResult> = new Set<ItsTranslationResult>(['disabled', 'unmapped-device', 'unmapped-interrupt', 'unmapped-collection', 'unmapped-vpe']);

import { ItsCommandProcessor } from './command-processor.js';
import {
  COLLECTION_UNREAD as IMPORTED_COLLECTION_UNREAD,
  ItsTableCache,
  KIND_PHYSICAL as IMPORTED_KIND_PHYSICAL,
  KIND_UNREAD as IMPORTED_KIND_UNREAD,
  KIND_VIRTUAL as IMPORTED_KIND_VIRTUAL,
} from './table-cache.js';
import type { TableGeometry, VpeEntry } from './tables.js';

/** Which architecture version the ITS implements: physical LPIs only, GICv4.0 or GICv4.1 virtual LPIs. */
export type ItsVersion = 'v3' | 'v4.0' | 'v4.1';

/** Construction options of {@link GicV3Its}. */
export interface GicV3ItsOptions {
  /** Memory holding the command queue and the tables. */
  memory: Memory;
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
  /** Tracer for ITS events: translated interrupts and command errors. */
  tracer?: Tracer;
  /** Clock whose cycle the trace events carry. */
  clock?: Clock;
}

/** Saved state of a {@link GicV3Its}. The tables are in memory, which is saved separately. */
export interface GicV3ItsState {
  /** Snapshot kind. */
  type: 'hvsim.gic-its';
  /** Snapshot format version. */
  version: 1;
  /** GITS_CTLR.Enabled. */
  enabled: boolean;
  /** GITS_CBASER, low and high words. */
  cbaser: [number, number];
  /** GITS_CWRITER. */
  cwriter: number;
  /** GITS_CREADR offset, without Stalled. */
  creadr: number;
  /** GITS_CREADR.Stalled. */
  stalled: boolean;
  /** GITS_BASER<n> low words, then high words. */
  baser: number[];
  /** The error that stalled the queue, or null. */
  commandError: ItsCommandError | null;
  /** Command errors since reset. */
  commandErrorCount: number;
  /** Dropped translations since reset, by reason. */
  drops: Record<string, number>;
}

/** Writable bits of GITS_BASER<n>'s high word: PA[47:32], OuterCache, InnerCache, Indirect, Valid. */
const GITS_BASER_HI_WRITABLE = 0xf8e0_ffff;

/** The ITS: control frame, translation frame and (GICv4.1) vSGI frame, as one MMIO device. */
export class GicV3Its implements MmioDevice, MsiTarget {
  /** The architecture version implemented. */
  readonly version: ItsVersion;
  /** INTID bits the redistributors implement, 14-24. */
  readonly idBits: number;
  private readonly memory: Memory;
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
  /** Flow identifier of the MSI being translated (0: untracked), for its trace events. */
  private flow = 0;
  /** The last translation found its LPI or vLPI already pending. */
  private coalesced = false;
  private readonly baserLo = new Uint32Array(8);
  private readonly baserHi = new Uint32Array(8);
  private readonly geometry: TableGeometry[] = [];
  private error: ItsCommandError | undefined = undefined;
  private errorCount = 0;
  private readonly dropCounts = new Map<ItsDropReason, number>();

  private readonly cache: ItsTableCache;
  private readonly processor: ItsCommandProcessor;
  private readonly cmdWords = new Uint32Array(8);
  // What resolve() found (valid for the result it returned).
  private resolvedIntid = 0;
  private resolvedCollection = 0;
  private resolvedVpeId = 0;
  private resolvedTarget = 0;
  private resolvedDoorbell = 0;
  private resolvedVpe: VpeEntry | null = null;

  constructor(options: GicV3ItsOptions) {
    assertOptions(
      options,
      ['memory', 'lpiPorts', 'vlpiPorts', 'version', 'idBits', 'commandErrors', 'onSystemError', 'baseAddress', 'cpuDeviceId', 'tracer', 'clock'] satisfies (keyof GicV3ItsOptions)[],
      'GicV3Its',
    );
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
    const errors: string = options.commandErrors ?? 'stall';
    if (errors !== 'stall' && errors !== 'ignore') throw new UsageError('bad-argument', `GicV3Its commandErrors must be 'stall' or 'ignore', got ${describeValue(errors)}`);
    this.stallOnError = errors === 'stall';
    this.onSystemError = options.onSystemError;
    this.baseAddress = options.baseAddress;
    this.cpuDeviceId = options.cpuDeviceId;
    this.tracer = options.tracer;
    this.clock = options.clock;
    this.cache = new ItsTableCache(this.memory, this.lpiPorts.length, this.version !== 'v3');
    this.processor = new ItsCommandProcessor(this.memory, this.cache, this.lpiPorts, this.vlpiPorts, this.version, this.idBits, (r) => {
      this.countDrop(r);
    });
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
    const geometry: TableGeometry[] = [];
    for (let n = 0; n < 8; n++) {
      const lo = this.baserLo[n]!;
      const hi = this.baserHi[n]!;
      const ps = Math.min(getField(lo, GITS_BASER_LO.Page_Size), 2);
      const pageBytes = GITS_PAGE_BYTES[ps]!;
      let base = joinAddress(lo, hi, ~(pageBytes - 1), 0xffff);
      if (ps === 2) base += ((lo >>> 12) & 0xf) * 2 ** 48;
      geometry.push({
        valid: getField(hi, GITS_BASER_HI.Valid) === 1,
        base,
        pageBytes,
        pages: getField(lo, GITS_BASER_LO.Size) + 1,
        entryBytes: getField(hi, GITS_BASER_HI.Entry_Size) + 1,
        indirect: getField(hi, GITS_BASER_HI.Indirect) === 1,
      });
    }
    this.cache.geometry = geometry;
  }

  private flushCaches(): void {
    this.cache.flush();
  }

  // --- registers ----------------------------------------------------------

  /** GITS_TYPER low word (IHI0069 12.19). */
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
    return joinAddress(this.cbaserLo, this.cbaserHi, 0xffff_f000);
  }

  mmioRead(offset: number, size: AccessSize): number {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GITS', offset);
    if (offset >= GITS_FRAME_SIZE) {
      // GITS_TRANSLATER and GITS_SGIR are write-only: reads of the translation and vSGI frames are RAZ.
      if (offset >= this.size || (size !== 4 && size !== 2) || offset % size !== 0) throw accessAbort('GITS', offset, size, false);
      return 0;
    }
    if (size !== 4 || (offset & 3) !== 0) throw accessAbort('GITS', offset, size, false);
    // GITS_MPIDR, GITS_STATUSR, GITS_UMSIR and reserved offsets read as zero.
    return GicV3Its.REGISTERS.read(this, offset);
  }

  mmioWrite(offset: number, size: AccessSize, value: number): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'number') badMmioArguments('GITS', offset, value);
    if (offset >= GITS_FRAME_SIZE) {
      this.writeOtherFrame(offset, size, value);
      return;
    }
    if (size !== 4 || (offset & 3) !== 0) throw accessAbort('GITS', offset, size, true);
    // GITS_TYPER, IIDR, CREADR and ID registers are read-only; reserved offsets are WI.
    GicV3Its.REGISTERS.write(this, offset, value);
  }

  /**
   * The control frame's registers (IHI0069 12.19, Table 12-32), one
   * description each. GITS_BASER<n> writes are further shaped by the table
   * type (read-only Type and Entry_Size, RAZ/WI when unimplemented).
   *
   * @internal
   */
  static readonly REGISTERS = new RegisterTable<GicV3Its>('GITS', GITS_FRAME_SIZE, [
    {
      name: 'GITS_CTLR',
      offset: GITS.CTLR,
      reset: fieldMask(GITS_CTLR.Quiescent),
      writable: fieldMask(GITS_CTLR.Enabled),
      read: (its) => (its.enabled ? setField(0, GITS_CTLR.Enabled, 1) : setField(0, GITS_CTLR.Quiescent, 1)) >>> 0,
      write: (its, v) => its.writeCtlr(v),
    },
    { name: 'GITS_IIDR', offset: GITS.IIDR, reset: GITS_IIDR_VALUE, read: () => GITS_IIDR_VALUE },
    { name: 'GITS_TYPER', offset: GITS.TYPER, width: 64, read: (its, w) => (w === 0 ? its.typerLow() : its.typerHigh()) },
    {
      name: 'GITS_CBASER',
      offset: GITS.CBASER,
      width: 64,
      reset: 0,
      writable: GITS_CBASER_MASK[0],
      writableHigh: GITS_CBASER_MASK[1],
      read: (its, w) => (w === 0 ? its.cbaserLo : its.cbaserHi),
      write: (its, v, w) => its.writeCbaser(w, v),
    },
    {
      name: 'GITS_CWRITER',
      offset: GITS.CWRITER,
      width: 64,
      reset: 0,
      writable: fieldMask(GITS_CWRITER.Offset) | fieldMask(GITS_CWRITER.Retry),
      read: (its, w) => (w === 0 ? its.cwriter : 0),
      write: (its, v, w) => {
        if (w === 0) its.writeCwriter(v);
      },
    },
    { name: 'GITS_CREADR', offset: GITS.CREADR, width: 64, reset: 0, read: (its, w) => (w === 0 ? (its.creadr | (its.stalled ? 1 : 0)) >>> 0 : 0) },
    ...Array.from(
      { length: 8 },
      (_, n): RegisterSpec<GicV3Its> => ({
        name: `GITS_BASER${n}`,
        offset: GITS.BASER + 8 * n,
        width: 64,
        writable: 0xffff_ffff,
        writableHigh: GITS_BASER_HI_WRITABLE,
        read: (its, w) => (w === 0 ? its.baserLo[n]! : its.baserHi[n]!),
        write: (its, v, w) => its.writeBaser(n, w, v),
      }),
    ),
    { name: 'GITS_PIDR2', offset: GITS.PIDR2, read: (its) => (its.virtual ? GITS_PIDR2_V4 : GITS_PIDR2_V3) },
  ]);

  /** 64-bit access to GITS_TYPER, CBASER, CWRITER, CREADR, BASER<n> and (GICv4.1) GITS_SGIR (IHI0069 12.19). */
  mmioRead64(offset: number): bigint {
    if (typeof offset !== 'number' || offset < 0) badMmioArguments('GITS', offset);
    if (offset >= GITS_FRAME_SIZE || (offset & 7) !== 0) {
      if (offset === GITS_SGI_FRAME + 0x20 && this.version === 'v4.1') return 0n;
      throw accessAbort('GITS', offset, 8, false);
    }
    return (BigInt(this.mmioRead(offset + 4, 4)) << 32n) | BigInt(this.mmioRead(offset, 4));
  }

  mmioWrite64(offset: number, value: bigint): void {
    if (typeof offset !== 'number' || offset < 0 || typeof value !== 'bigint') badMmioArguments('GITS', offset, value, true);
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
        // The write carries no DeviceID this ITS can use (the side band is IMPLEMENTATION DEFINED): the PE
        // sees the failed transaction as an SError, never a host error (pass cpuDeviceId to accept PE writes).
        throw new CpuException(ARM64_EXCEPTION_CLASS.SERROR, {
          arch: 'arm64',
          detail: 'a PE write to GITS_TRANSLATER has no DeviceID: pass cpuDeviceId, or use translate(deviceId, eventId) / deliverMsi(address, data, deviceId)',
        });
      }
      this.translate(this.cpuDeviceId, size === 2 ? value & 0xffff : value >>> 0);
      return;
    }
    // GITS_SGIR takes 64-bit writes only; other offsets of these frames are reserved (WI).
    const sgir = offset === GITS.SGIR || offset === GITS.SGIR + 4;
    if (!sgir && offset < this.size && (size === 4 || size === 2) && offset % size === 0) return;
    throw accessAbort('GITS', offset, size, true);
  }

  /** GITS_CTLR: Enabled starts command processing and translation (IHI0069 12.19). */
  private writeCtlr(value: number): void {
    const en = getField(value, GITS_CTLR.Enabled) === 1;
    if (en === this.enabled) return;
    this.enabled = en;
    if (en) this.processQueue();
  }

  /**
   * GITS_CBASER (IHI0069 12.19): writing it resets GITS_CREADR to 0. Writes
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

  /** GITS_CWRITER (IHI0069 12.19): new write pointer; Retry = 1 restarts a stalled queue. */
  private writeCwriter(value: number): void {
    // KVM's vITS ignores a CWRITER beyond the queue (vgic-its.c vgic_mmio_write_its_cwriter).
    if (!this.stallOnError && (value & 0xf_ffe0) >= this.queueBytes()) return;
    this.cwriter = value & 0xf_ffe0;
    if (getField(value, GITS_CWRITER.Retry) === 1 && this.stalled) this.stalled = false;
    this.processQueue();
  }

  /**
   * GITS_BASER<n> (IHI0069 12.19): Type and Entry_Size are read-only; an
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

  /** GICv4.1 GITS_SGIR (IHI0069 12.19): makes vSGI vINTID pending for vPEID. */
  private writeSgir(lo: number, hi: number): void {
    try {
      const vpe = this.cache.vpeEntryOrNull(hi & 0xffff);
      if (vpe === null) {
        this.countDrop('unmapped-vpe');
        return;
      }
      this.vlpiPorts[vpe.rd]!.setVsgiPending(vpe, lo & 0xf);
    } catch (e) {
      // A vPE table or VPT outside memory: the vSGI is dropped and counted, as a translation would be.
      if (!(e instanceof MemoryError)) throw e;
      this.countDrop('memory-fault');
    }
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
        // KVM's vITS skips a command it cannot read (vgic-its.c vgic_its_process_commands, citing 6.3.2).
        const stall = this.stallOnError;
        this.fail({ code: itsErrorCode(0, 'memory-fault'), kind: 'memory-fault', opcode: 0, offset: this.creadr }, stall);
        if (stall) return;
        this.creadr = (this.creadr + 32) % bytes;
        continue;
      }
      const kind = this.processor.execute(cmd);
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
    this.tracer?.emit({ kind: 'fault', cycle: this.clock?.now() ?? 0, source: 'its', what: `ITS command error ${error.kind}`, code: error.code });
    this.onSystemError?.(error);
  }

  // --- decoded table entries ----------------------------------------------

  // --- translation --------------------------------------------------------

  /**
   * A device's write of `eventId` to GITS_TRANSLATER with `deviceId` on the
   * side band (IHI0069 5.2 "Interrupt translation"): the LPI or vLPI it maps
   * to is made pending, or the request is dropped and counted with its
   * reason — never delivered elsewhere.
   */
  translate(deviceId: number, eventId: number): ItsTranslationResult {
    this.coalesced = false;
    const r = this.resolve(deviceId, eventId);
    if (r === 'lpi') {
      const rd = this.resolvedTarget;
      const intid = this.resolvedIntid;
      const port = this.lpiPorts[rd]!;
      this.coalesced = port.isPending(intid);
      if (!port.setPending(intid)) return this.drop('lpi-rejected');
      if (this.tracer !== undefined) {
        const ev = { kind: 'interrupt.raised' as const, cycle: this.clock?.now() ?? 0, source: 'its', cpu: rd, vector: intid, args: { deviceId, eventId } };
        this.tracer.emit(this.flow === 0 ? ev : { ...ev, flow: this.flow });
      }
      return 'lpi';
    }
    if (r === 'vlpi') {
      const vpe = this.resolvedVpe!;
      const vintid = this.resolvedIntid;
      try {
        this.coalesced = !this.vlpiPorts[vpe.rd]!.setVlpiPending(vpe, vintid, this.resolvedDoorbell);
      } catch (e) {
        // The VPT of a vPE that is not resident is not in memory.
        if (e instanceof MemoryError) return this.drop('memory-fault');
        throw e;
      }
      if (this.tracer !== undefined) {
        const ev = { kind: 'interrupt.posted' as const, cycle: this.clock?.now() ?? 0, source: 'its', cpu: vpe.rd, vector: vintid, args: { deviceId, eventId, vpeId: vpe.vpeId } };
        this.tracer.emit(this.flow === 0 ? ev : { ...ev, flow: this.flow });
      }
      return 'vlpi';
    }
    return this.drop(r);
  }

  /**
   * What a translation of (`deviceId`, `eventId`) would do, without doing it
   * (IHI0069 5.2 "Interrupt translation", through the same cached tables as
   * {@link translate}): the pINTID and its collection and redistributor, or
   * the vINTID, vPE, redistributor and doorbell, or the reason the ITS would
   * drop the request. Nothing is made pending, counted or traced. Fills and
   * returns `out` when given (no allocation), else a new object.
   */
  lookup(deviceId: number, eventId: number, out?: ItsLookup): ItsLookup {
    const o = out ?? { result: 'disabled', intid: -1, collection: -1, vpeId: -1, target: -1, doorbell: -1 };
    const r = this.resolve(deviceId, eventId);
    o.result = r;
    const mapped = r === 'lpi' || r === 'vlpi';
    o.intid = mapped ? this.resolvedIntid : -1;
    o.collection = r === 'lpi' || r === 'unmapped-collection' ? this.resolvedCollection : -1;
    o.vpeId = r === 'vlpi' || r === 'unmapped-vpe' ? this.resolvedVpeId : -1;
    o.target = mapped ? this.resolvedTarget : -1;
    o.doorbell = r === 'vlpi' ? this.resolvedDoorbell : -1;
    return o;
  }

  /**
   * The translation's table walk (IHI0069 5.2): 'lpi' or 'vlpi' with the
   * resolved* fields set, or why the request would be dropped.
   */
  private resolve(deviceId: number, eventId: number): ItsTranslationResult {
    if (!this.enabled) return 'disabled';
    if (deviceId >>> 0 !== deviceId || deviceId >= 65536) return 'device-out-of-range';
    let dev = this.cache.devices.get(deviceId);
    if (dev === undefined) {
      try {
        dev = this.cache.deviceOrNull(deviceId);
      } catch (e) {
        if (e instanceof MemoryError) return 'memory-fault';
        throw e;
      }
    }
    if (dev === null) return 'unmapped-device';
    if (eventId >>> 0 !== eventId || eventId >= dev.events) return 'event-out-of-range';
    let k = dev.kind[eventId]!;
    if (k === KIND_UNREAD) {
      try {
        k = this.cache.eventKind(dev, eventId);
      } catch (e) {
        if (e instanceof MemoryError) return 'memory-fault';
        throw e;
      }
    }
    if (k === KIND_PHYSICAL) {
      const icid = dev.target[eventId]!;
      this.resolvedCollection = icid;
      let rd = this.cache.collections[icid]!;
      if (rd === COLLECTION_UNREAD) {
        try {
          rd = this.cache.collectionTarget(icid);
        } catch (e) {
          if (e instanceof MemoryError) return 'memory-fault';
          throw e;
        }
      }
      if (rd < 0) return 'unmapped-collection';
      this.resolvedIntid = dev.intid[eventId]!;
      this.resolvedTarget = rd;
      return 'lpi';
    }
    if (k === KIND_VIRTUAL) {
      const vpeId = dev.target[eventId]!;
      this.resolvedVpeId = vpeId;
      let vpe: VpeEntry | null;
      try {
        vpe = this.cache.vpeEntryOrNull(vpeId);
      } catch (e) {
        if (e instanceof MemoryError) return 'memory-fault';
        throw e;
      }
      if (vpe === null) return 'unmapped-vpe';
      this.resolvedVpe = vpe;
      this.resolvedIntid = dev.intid[eventId]!;
      this.resolvedTarget = vpe.rd;
      this.resolvedDoorbell = dev.doorbell[eventId]!;
      return 'vlpi';
    }
    return 'unmapped-interrupt';
  }

  /**
   * {@link MsiTarget}: a device's MSI write of `data` to `address` with
   * `sourceId` as its DeviceID. With `baseAddress` configured the address
   * must be GITS_TRANSLATER's (a write elsewhere is a usage error). Returns
   * core's `DeliveryStatus`: DELIVERED when the LPI or vLPI became pending,
   * COALESCED when it already was, BLOCKED when the ITS is disabled or the
   * DeviceID/EventID/collection/vPE is not mapped, DROPPED for the other
   * drop reasons (out of range, memory fault, LPI rejected).
   */
  deliverMsi(address: number, data: number, sourceId?: number): DeliveryStatus {
    if (sourceId === undefined) throw new UsageError('bad-argument', 'an MSI to the ITS needs the DeviceID as sourceId');
    if (this.baseAddress !== undefined && address !== this.baseAddress + GITS.TRANSLATER) {
      throw new UsageError('bad-argument', `MSI address ${describeValue(address)} is not GITS_TRANSLATER (0x${(this.baseAddress + GITS.TRANSLATER).toString(16)})`);
    }
    return this.deliverFlow(address, data, sourceId, 0);
  }

  /**
   * {@link deliverMsi} for an interrupt with flow identifier `flow` (core's
   * `InterruptMessage.flow`): the ITS's trace events about it carry the flow.
   */
  deliverMsiFlow(address: number, data: number, sourceId: number, flow: number): DeliveryStatus {
    if (this.baseAddress !== undefined && address !== this.baseAddress + GITS.TRANSLATER) {
      throw new UsageError('bad-argument', `MSI address ${describeValue(address)} is not GITS_TRANSLATER (0x${(this.baseAddress + GITS.TRANSLATER).toString(16)})`);
    }
    return this.deliverFlow(address, data, sourceId, flow);
  }

  private deliverFlow(address: number, data: number, sourceId: number, flow: number): DeliveryStatus {
    this.flow = flow;
    if (this.tracer !== undefined) {
      const e = { kind: 'msi' as const, cycle: this.clock?.now() ?? 0, source: 'its', address, data };
      this.tracer.emit(flow === 0 ? e : { ...e, flow });
    }
    const r = this.translate(sourceId, data >>> 0);
    this.flow = 0;
    if (r === 'lpi' || r === 'vlpi') return this.coalesced ? DELIVERY_STATUS.COALESCED : DELIVERY_STATUS.DELIVERED;
    return ITS_BLOCKED_REASONS.has(r) ? DELIVERY_STATUS.BLOCKED : DELIVERY_STATUS.DROPPED;
  }

  private drop(reason: ItsDropReason): ItsTranslationResult {
    this.countDrop(reason);
    if (this.tracer !== undefined) {
      const ev = { kind: 'interrupt.dropped' as const, cycle: this.clock?.now() ?? 0, source: 'its', vector: -1, args: { reason } };
      this.tracer.emit(this.flow === 0 ? ev : { ...ev, flow: this.flow });
    }
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

  /** Saves the registers as JSON-safe data; the tables stay in memory. */
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
    const dropCounts = new Map<ItsDropReason, number>();
    for (const reason of ITS_DROP_REASONS) if (drops.has(reason)) dropCounts.set(reason, drops.int(reason, 0, Number.MAX_SAFE_INTEGER));
    // Everything is valid: commit.
    this.dropCounts.clear();
    for (const [k, v] of dropCounts) this.dropCounts.set(k, v);
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

