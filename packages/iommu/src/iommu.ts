/**
 * `IntelIommu`: one VT-d remapping hardware unit between devices and the
 * platform. Software programs it through its register page (an
 * {@link MmioDevice}, VT-d chapter 11) and the tables in memory; devices
 * reach memory and the APICs through {@link IntelIommu.dmaRead},
 * {@link IntelIommu.dmaWrite} and {@link IntelIommu.sendMsi} with their
 * source ID, and get values back: data, or the fault that blocked them.
 */
import {
  DELIVERY_STATUS,
  MemoryError,
  SnapshotError,
  UsageError,
  assertAccessSize,
  assertAddress,
  assertInteger,
  assertOptions,
  assertU32,
  assertU64,
  bigintToHex,
  describeValue,
  hi32,
  joinU64,
  readState,
  splitU64,
  type AccessSize,
  type Clock,
  type DeliveryStatus,
  type MmioDevice,
  type MsiTarget,
  type StateReader,
  type Memory,
  type Tracer,
} from '@hvsim/core';
import { MSI_ADDRESS_BASE, MSI_ADDRESS_LAST } from '@hvsim/lapic';
import { BEYOND_HOST_ADDRESS_WIDTH } from './address.js';
import { HOST_ADDRESS_WIDTH, capabilityWords, extendedCapabilityWords, resolveFeatures, type IommuFeatures, type ResolvedFeatures } from './capabilities.js';
import { DmaRemapper, type DmaTranslation } from './dma/dma-remapper.js';
import { INTERRUPT_RANGE_FIRST, INTERRUPT_RANGE_LAST, TRANSLATION_TYPE } from './dma/tables.js';
import { EventInterrupt } from './faults/event-interrupt.js';
import { FaultRecorder, type FaultRecord } from './faults/fault-recorder.js';
import { VTD_FAULT_REASON, faultReasonName, isInterruptFault, isQualifiedFault } from './faults/fault-reason.js';
import { InterruptRemapper } from './interrupts/interrupt-remapper.js';
import type { InterruptEntryCacheState } from './interrupts/interrupt-entry-cache.js';
import { checkIrte } from './interrupts/irte.js';
import type { ContextCacheState } from './dma/context-cache.js';
import { Invalidations } from './invalidation.js';
import { InvalidationQueue } from './qi/invalidation-queue.js';
import { FSTS, GCMD, VTD, VTD_FAULT_RECORDING_REGISTERS } from './regs.js';
import type { DmaResult, MsiResult } from './results.js';
import type { IommuInterruptTarget } from './target.js';
import { RegisterFile, type VtdRegisterInfo } from './register-file.js';
import { readEvent, readFaults, readQueue, readRows, type IntelIommuState } from './state.js';

/** Wiring and options of an {@link IntelIommu}. */
export interface IntelIommuOptions {
  /**
   * Memory holding the tables and the devices' DMA targets: host RAM
   * (`PhysicalMemory`) or any view implementing core's `Memory` (a
   * guest-physical view for an emulated vIOMMU). DMA writes go through its
   * write accessors, so its write observers see them.
   */
  memory: Memory;
  /** Where remapped interrupts, notification events and the unit's own events go (e.g. `ApicBus`). */
  target: IommuInterruptTarget;
  /** Optional features (all on by default). */
  features?: IommuFeatures;
  /** Optional tracer: faults, posts and IOTLB misses. */
  tracer?: Tracer;
  /** Optional clock, only for trace timestamps. */
  clock?: Clock;
}

/** Counters of what the unit did, including every request it did not complete. */
export interface IommuStats {
  /** DMA requests (each page of a burst counts once). */
  dmaRequests: number;
  /** DMA requests blocked by a remapping fault. */
  dmaFaults: number;
  /** DMA that translated to a physical address no memory backs. */
  unsupportedRequests: number;
  /** Interrupt requests (sendMsi and DWORD writes to 0xFEEx_xxxx). */
  msiRequests: number;
  /** Interrupt requests blocked by a fault. */
  msiBlocked: number;
  /** Translations answered by the IOTLB. */
  iotlbHits: number;
  /** Second-level walks (IOTLB misses). */
  iotlbWalks: number;
  /** IRTEs taken from the interrupt entry cache. */
  iecHits: number;
  /** IRTEs read from memory. */
  irteReads: number;
  /** Posts that sent a notification event. */
  postsNotified: number;
  /** Posts that needed none (ON already set, or SN set and not urgent). */
  postsSuppressed: number;
  /** Faults recorded in the FRCDs. */
  faultsRecorded: number;
  /** Qualified faults not recorded because the entry had FPD = 1. */
  faultsSuppressedByFpd: number;
  /** Faults lost to primary fault overflow (FSTS.PFO). */
  faultsLostToOverflow: number;
  /** GCMD writes naming more than one command, ignored (VT-d 11.4.4: one command at a time). */
  rejectedGlobalCommands: number;
  /** GCMD commands this unit does not implement (SFL, EAFL, WBF). */
  unsupportedGlobalCommands: number;
  /** Register writes narrower than 4 bytes or misaligned, ignored. */
  ignoredRegisterWrites: number;
  /** Invalidation descriptors processed. */
  invalidationDescriptors: number;
  /** Fault event messages sent. */
  faultEvents: number;
  /** Invalidation completion event messages sent. */
  invalidationEvents: number;
}

/** Bits 31:20 of every MSI address (0xFEE; MSI_ADDRESS_BASE to MSI_ADDRESS_LAST is one 1 MiB range). */
const MSI_ADDRESS_BASE_MB = MSI_ADDRESS_BASE >>> 20;
if (MSI_ADDRESS_LAST >>> 20 !== MSI_ADDRESS_BASE_MB || (MSI_ADDRESS_BASE & 0xf_ffff) !== 0) throw new Error('MSI address range is not one aligned 1 MiB range');

/** A bad MSI address: a UsageError naming it. */
function badMsiAddress(address: unknown): never {
  throw new UsageError('bad-argument', `MSI address must be in [0xfee00000, 0xfeefffff], got ${describeValue(address)}`);
}

/** A bad flow id: a UsageError naming it. */
function badFlow(flow: unknown): never {
  throw new UsageError('bad-argument', `flow must be a non-negative 32-bit integer, got ${describeValue(flow)}`);
}

/** Saved-state type tag. */
const STATE_TYPE = 'hvsim.iommu.vtd';
const STATE_VERSION = 1;
const TWO_32 = 0x1_0000_0000;
const PAGE = 4096;
const ACCESS_SIZES: readonly AccessSize[] = [1, 2, 4];

/** A latched table pointer of a saved state: 4 KiB aligned below 2^48, or -1. */
function readLatched(r: StateReader, key: string): number {
  const value = r.int(key, BEYOND_HOST_ADDRESS_WIDTH, 2 ** HOST_ADDRESS_WIDTH - PAGE);
  if (value !== BEYOND_HOST_ADDRESS_WIDTH && value % PAGE !== 0) {
    throw new SnapshotError('shape', `${r.path}.${key} must be 4 KiB aligned or -1, got ${describeValue(value)}`);
  }
  return value;
}

/** Source IDs are 16-bit requester IDs (bus:device.function). */
function checkSourceId(sid: number): void {
  // Fast check first: the assert (which builds its message) runs only on bad input.
  // `typeof` first: a bigint must get the UsageError, not a TypeError from `|`.
  if (!(typeof sid === 'number' && sid >= 0 && sid <= 0xffff && (sid | 0) === sid)) assertInteger(sid, 'source ID', 0, 0xffff);
}

/** A 1-, 2- or 4-byte access inside the 4 KiB register page. */
function checkRegisterAccess(offset: number, size: AccessSize): void {
  const bytes: number = size; // callers from plain JavaScript may pass anything
  if (bytes !== 4 && bytes !== 2 && bytes !== 1) assertAccessSize(size, ACCESS_SIZES);
  if (!(typeof offset === 'number' && offset >= 0 && offset <= 0xfff && (offset | 0) === offset)) assertInteger(offset, 'VT-d register offset', 0, 0xfff);
}

/** A naturally aligned 64-bit access inside the register page. */
function checkRegister64(offset: number): void {
  assertInteger(offset, 'VT-d register offset', 0, 0xff8);
  if ((offset & 7) !== 0) throw new UsageError('bad-argument', `64-bit VT-d register access must be 8-byte aligned, got offset 0x${offset.toString(16)}`);
}

/** An Intel VT-d remapping hardware unit. */
export class IntelIommu implements MmioDevice, MsiTarget {
  private readonly memory: Memory;
  private readonly target: IommuInterruptTarget;
  private readonly tracer: Tracer | undefined;
  private readonly clock: Clock | undefined;
  private readonly features: ResolvedFeatures;

  private readonly counters = {
    dmaRequests: 0,
    dmaFaults: 0,
    unsupportedRequests: 0,
    faultsRecorded: 0,
    faultsSuppressedByFpd: 0,
  };
  private readonly registers: RegisterFile;

  private readonly dma: DmaRemapper;
  private readonly interrupts: InterruptRemapper;
  private readonly faultEvent: EventInterrupt;
  private readonly invalidationEvent: EventInterrupt;
  private readonly faults: FaultRecorder;
  private readonly invalidations: Invalidations;
  private readonly queue: InvalidationQueue;

  private readonly translation: DmaTranslation = { physical: 0, fpd: 0, hit: false };
  private readonly dmaResult: DmaResult = { status: 'ok', value: 0, physicalAddress: 0, faultReason: 0, faultRecorded: false };
  private readonly msiResult: MsiResult = { outcome: 'passthrough', status: DELIVERY_STATUS.DELIVERED, faultReason: 0, faultRecorded: false, interruptIndex: -1, cacheHit: false, notified: false };

  constructor(options: IntelIommuOptions) {
    assertOptions(options, ['memory', 'target', 'features', 'tracer', 'clock'], 'IntelIommu');
    const memory: unknown = options.memory;
    if (typeof (memory as Partial<Memory> | null)?.read32 !== 'function' || typeof (memory as Partial<Memory>).pageView !== 'function') {
      throw new UsageError('bad-argument', `IntelIommu memory must implement core's Memory interface, got ${describeValue(memory)}`);
    }
    const target: unknown = options.target;
    if (typeof (target as Partial<IommuInterruptTarget> | null)?.deliverMsi !== 'function') {
      throw new UsageError('bad-argument', `IntelIommu target must have a deliverMsi method, got ${describeValue(target)}`);
    }
    assertOptions(options.features, ['postedInterrupts', 'extendedInterruptMode', 'passThrough'], 'IntelIommu features');
    for (const [key, value] of Object.entries(options.features ?? {})) {
      if (value !== undefined && typeof value !== 'boolean') throw new UsageError('bad-argument', `IntelIommu features.${key} must be a boolean, got ${describeValue(value)}`);
    }
    this.memory = options.memory;
    this.target = options.target;
    this.tracer = options.tracer;
    this.clock = options.clock;
    this.features = resolveFeatures(options.features);
    this.dma = new DmaRemapper(this.memory, this.features.passThrough);
    this.faultEvent = new EventInterrupt((a, u, d) => {
      this.sendEventMessage(a, u, d);
    });
    this.invalidationEvent = new EventInterrupt((a, u, d) => {
      this.sendEventMessage(a, u, d);
    });
    this.faults = new FaultRecorder(VTD_FAULT_RECORDING_REGISTERS, this.faultEvent);
    this.interrupts = new InterruptRemapper(this.memory, this.target, this.features.postedInterrupts, (sid, reason, index, fpd, flow) =>
      this.recordFault(sid, reason, 0, ((index & 0xffff) << 16) >>> 0, false, fpd, flow),
    );
    this.invalidations = new Invalidations(this.dma, this.interrupts);
    this.queue = new InvalidationQueue(this.memory, this.faults, this.invalidationEvent, this.invalidations);
    this.registers = new RegisterFile(
      { dma: this.dma, interrupts: this.interrupts, faults: this.faults, faultEvent: this.faultEvent, invalidationEvent: this.invalidationEvent, queue: this.queue, invalidations: this.invalidations },
      capabilityWords(this.features),
      extendedCapabilityWords(this.features),
      this.features.extendedInterruptMode,
      (value) => {
        this.trace('gcmd-multiple-commands', value);
      },
    );
  }

  // --- device side -------------------------------------------------------

  /**
   * A device with source ID `sid` reads `size` bytes at `iova` (VT-d 3.4).
   * The returned object is reused: `dmaRead`, `dmaWrite`, `dmaReadBytes` and
   * `dmaWriteBytes` fill and return the same `DmaResult` on every call
   * (docs/conventions.md, "Results that are reused"); read it before the
   * next DMA call on this unit, or copy it.
   */
  dmaRead(sid: number, iova: number, size: AccessSize): DmaResult {
    this.checkDma(sid, iova, size);
    const r = this.dmaResult;
    r.value = 0;
    if (iova >= INTERRUPT_RANGE_FIRST && iova <= INTERRUPT_RANGE_LAST) {
      // Reads to the interrupt address range are never remapped; blocked as LGN.4 (VT-d 3.15).
      return this.dmaFault(sid, iova, true, VTD_FAULT_REASON.INTERRUPT_ADDRESS_RANGE, 0);
    }
    if (!this.translate(sid, iova, false)) return r;
    try {
      r.value = size === 4 ? this.memory.read32(r.physicalAddress) : size === 2 ? this.memory.read16(r.physicalAddress) : this.memory.read8(r.physicalAddress);
    } catch (error) {
      return this.unsupported(error);
    }
    return r;
  }

  /**
   * A device with source ID `sid` writes `value` (`size` bytes) at `iova`.
   * A DWORD write to 0xFEEx_xxxx is an interrupt request (VT-d 3.15, 5.1)
   * and goes through interrupt remapping like {@link sendMsi}.
   * The returned object is reused: `dmaRead`, `dmaWrite`, `dmaReadBytes` and
   * `dmaWriteBytes` fill and return the same `DmaResult` on every call
   * (docs/conventions.md, "Results that are reused"); read it before the
   * next DMA call on this unit, or copy it.
   */
  dmaWrite(sid: number, iova: number, size: AccessSize, value: number): DmaResult {
    this.checkDma(sid, iova, size);
    const max = size === 4 ? 0xffff_ffff : size === 2 ? 0xffff : 0xff;
    if (!(typeof value === 'number' && value >= 0 && value <= max && Math.floor(value) === value)) assertInteger(value, 'DMA write value', 0, max);
    const r = this.dmaResult;
    r.value = 0;
    if (iova >= INTERRUPT_RANGE_FIRST && iova <= INTERRUPT_RANGE_LAST) {
      if (size !== 4) {
        // Documented choice: a non-DWORD interrupt request is malformed (0x20, not FPD-qualified).
        return this.dmaFault(sid, iova, false, VTD_FAULT_REASON.IR_REQUEST_RESERVED, 0);
      }
      const m = this.sendMsi(sid, iova, value);
      r.status = m.outcome === 'blocked' ? 'fault' : 'ok';
      r.physicalAddress = iova;
      r.faultReason = m.faultReason;
      r.faultRecorded = m.faultRecorded;
      return r;
    }
    if (!this.translate(sid, iova, true)) return r;
    try {
      if (size === 4) this.memory.write32(r.physicalAddress, value);
      else if (size === 2) this.memory.write16(r.physicalAddress, value);
      else this.memory.write8(r.physicalAddress, value);
    } catch (error) {
      return this.unsupported(error);
    }
    return r;
  }

  /**
   * A device reads `into.length` bytes at `iova` as a burst (split at 4 KiB
   * boundaries as PCIe requests are, each page translated). Stops at the
   * first page that faults or has no memory; `value` is the number of bytes
   * transferred, `physicalAddress` where the last translated page began.
   * The returned object is reused: `dmaRead`, `dmaWrite`, `dmaReadBytes` and
   * `dmaWriteBytes` fill and return the same `DmaResult` on every call
   * (docs/conventions.md, "Results that are reused"); read it before the
   * next DMA call on this unit, or copy it.
   */
  dmaReadBytes(sid: number, iova: number, into: Uint8Array): DmaResult {
    return this.burst(sid, iova, into, false);
  }

  /**
   * A device writes `bytes` at `iova` as a burst; see {@link dmaReadBytes}.
   * The returned object is reused: `dmaRead`, `dmaWrite`, `dmaReadBytes` and
   * `dmaWriteBytes` fill and return the same `DmaResult` on every call
   * (docs/conventions.md, "Results that are reused"); read it before the
   * next DMA call on this unit, or copy it.
   */
  dmaWriteBytes(sid: number, iova: number, bytes: Uint8Array): DmaResult {
    return this.burst(sid, iova, bytes, true);
  }

  /**
   * A device with source ID `sid` signals an MSI: a DWORD write of `data`
   * to `address` in 0xFEE00000-0xFEEFFFFF (VT-d 5.1). `flow` (core's
   * `FlowIds`, 0 = untracked) is repeated in the trace events about this
   * interrupt. The returned `MsiResult` is reused: every `sendMsi` (and a
   * `dmaWrite` to 0xFEEx_xxxx, which goes through it) fills and returns the
   * same object (docs/conventions.md, "Results that are reused"); read it
   * before the next call on this unit, or copy it.
   */
  sendMsi(sid: number, address: number, data: number, flow = 0): MsiResult {
    // Integer checks only; the messages are built out of line, for bad input alone (a small hot path inlines).
    // `typeof` first: a bigint must get the UsageError, not a TypeError from `&`.
    if (!(typeof sid === 'number' && (sid & 0xffff) === sid)) checkSourceId(sid);
    // 0xFEE00000-0xFEEFFFFF: an unsigned 32-bit integer whose bits 31:20 are 0xFEE (VT-d 5.1).
    if (!(typeof address === 'number' && address >>> 0 === address && address >>> 20 === MSI_ADDRESS_BASE_MB)) badMsiAddress(address);
    if (!(typeof data === 'number' && data >>> 0 === data)) assertU32(data, 'MSI data');
    if (!(typeof flow === 'number' && (flow | 0) === flow && flow >= 0)) badFlow(flow);
    const r = this.msiResult;
    // The address as int32 bits: passed unboxed (an unsigned address above 2^31 would be a heap number).
    this.interrupts.request(sid, address | 0, data, r, flow);
    if (this.tracer !== undefined) this.traceMsi(sid, address, data, r, flow);
    return r;
  }

  /**
   * MsiTarget: an MSI write from requester `sourceId` (0 when the platform
   * carries none) goes through interrupt remapping as {@link sendMsi} does,
   * with its `flow`; returns its delivery status.
   */
  deliverMsi(address: number, data: number, sourceId = 0, flow = 0): DeliveryStatus {
    return this.sendMsi(sourceId, address, data, flow).status;
  }

  // --- inspection --------------------------------------------------------

  /** GSTS_REG. */
  get globalStatus(): number {
    return this.registers.status;
  }

  /**
   * The registers of this unit as VT-d 11.4 describes them: offset, width,
   * reset value (CAP/ECAP as this unit reports them), defined, writable and
   * write-1-to-clear bits; one fresh entry per register, in offset order.
   */
  registerDescriptions(): VtdRegisterInfo[] {
    return this.registers.descriptions();
  }

  /** Decoded Fault Recording register `index` (0 to 7), as a fresh object (not reused). */
  faultRecord(index: number): FaultRecord {
    assertInteger(index, 'fault recording register index', 0, VTD_FAULT_RECORDING_REGISTERS - 1);
    return this.faults.recordAt(index);
  }

  /** Numbers of entries in the context cache, IOTLB and interrupt entry cache. */
  get cacheSizes(): {
    /** Cached context entries. */
    contextCache: number;
    /** Cached second-level translations. */
    iotlb: number;
    /** Cached IRTEs. */
    interruptEntryCache: number;
  } {
    return { contextCache: this.dma.contextCache.size, iotlb: this.dma.iotlb.size, interruptEntryCache: this.interrupts.cache.size };
  }

  /** A snapshot of the counters. */
  get stats(): IommuStats {
    const c = this.interrupts;
    return {
      ...this.counters,
      msiRequests: c.requests,
      msiBlocked: c.blocked,
      rejectedGlobalCommands: this.registers.rejectedCommands,
      unsupportedGlobalCommands: this.registers.unsupportedCommands,
      ignoredRegisterWrites: this.registers.ignoredWrites,
      iotlbHits: this.dma.hits,
      iotlbWalks: this.dma.walks,
      iecHits: c.cacheHits,
      irteReads: c.tableReads,
      postsNotified: c.postsNotified,
      postsSuppressed: c.postsSuppressed,
      faultsLostToOverflow: this.faults.lost.droppedOverflow + this.faults.lost.droppedOverflowPending,
      invalidationDescriptors: this.queue.processed,
      faultEvents: this.faultEvent.sentCount,
      invalidationEvents: this.invalidationEvent.sentCount,
    };
  }

  // --- registers ---------------------------------------------------------

  /** Reads a register (MmioDevice): 32-bit accesses are architectural; 1- and 2-byte reads return byte lanes. */
  mmioRead(offset: number, size: AccessSize): number {
    checkRegisterAccess(offset, size);
    // Narrow reads return their byte lanes of the containing dword (VT-d 10.2 asks for 32/64-bit accesses).
    const dword = this.registers.read(offset & ~3);
    if (size === 4 && (offset & 3) === 0) return dword;
    const shift = (offset & 3) * 8;
    return size === 4 ? dword >>> shift : (dword >>> shift) & (size === 2 ? 0xffff : 0xff);
  }

  /** Writes a register (MmioDevice): aligned 32-bit writes only; narrower or misaligned writes are ignored and counted. */
  mmioWrite(offset: number, size: AccessSize, value: number): void {
    checkRegisterAccess(offset, size);
    if (size !== 4 || (offset & 3) !== 0) {
      // Documented choice: registers take 32- or 64-bit accesses only; narrower or misaligned writes are ignored and counted.
      this.registers.ignoredWrites++;
      return;
    }
    assertU32(value, 'VT-d register value');
    this.registers.write(offset, value);
  }

  /** Reads an 8-byte-aligned 64-bit register (low dword first). */
  mmioRead64(offset: number): bigint {
    checkRegister64(offset);
    return joinU64(this.registers.read(offset), this.registers.read(offset + 4));
  }

  /** 64-bit write: the low dword first, then the high dword (commands in bit 63 act on the high half). */
  mmioWrite64(offset: number, value: bigint): void {
    checkRegister64(offset);
    assertU64(value, 'VT-d register value');
    const { lo, hi } = splitU64(value);
    this.registers.write(offset, lo);
    this.registers.write(offset + 4, hi);
  }

  // --- internals ---------------------------------------------------------

  /** Page-by-page burst transfer for dmaReadBytes/dmaWriteBytes. */
  private burst(sid: number, iova: number, data: Uint8Array, write: boolean): DmaResult {
    checkSourceId(sid);
    assertAddress(iova, 'DMA address');
    assertAddress(iova + data.length, 'end of the DMA burst');
    const r = this.dmaResult;
    let done = 0;
    r.status = 'ok';
    r.faultReason = 0;
    r.faultRecorded = false;
    r.physicalAddress = -1;
    while (done < data.length) {
      const at = iova + done;
      const chunk = Math.min(data.length - done, PAGE - (at % PAGE));
      this.counters.dmaRequests++;
      const inRange = at <= INTERRUPT_RANGE_LAST && at + chunk - 1 >= INTERRUPT_RANGE_FIRST;
      if (inRange) {
        // A burst is never an interrupt request: reads are blocked as LGN.4, writes as malformed requests (documented choice).
        this.dmaFault(sid, Math.max(at, INTERRUPT_RANGE_FIRST), !write, write ? VTD_FAULT_REASON.IR_REQUEST_RESERVED : VTD_FAULT_REASON.INTERRUPT_ADDRESS_RANGE, 0);
        break;
      }
      if (!this.translate(sid, at, write)) break;
      try {
        if (write) this.memory.writeBytes(r.physicalAddress, data.subarray(done, done + chunk));
        else this.memory.readBytes(r.physicalAddress, chunk, data.subarray(done, done + chunk));
      } catch (error) {
        this.unsupported(error);
        break;
      }
      done += chunk;
    }
    r.value = done;
    return r;
  }

  private checkDma(sid: number, iova: number, size: AccessSize): void {
    // Fast checks first: the asserts (which build their messages) run only on bad input.
    checkSourceId(sid);
    if (!(typeof iova === 'number' && iova >= 0 && iova <= Number.MAX_SAFE_INTEGER && Math.floor(iova) === iova)) assertAddress(iova, 'DMA address');
    const bytes: number = size; // callers from plain JavaScript may pass anything
    if (bytes !== 4 && bytes !== 2 && bytes !== 1) assertAccessSize(size, ACCESS_SIZES);
    if ((iova % PAGE) + size > PAGE) {
      // PCIe requests never cross a 4 KiB boundary.
      throw new UsageError('bad-argument', `a ${size}-byte DMA at 0x${iova.toString(16)} crosses a 4 KiB boundary`);
    }
    this.counters.dmaRequests++;
  }

  /** Translates into the DMA result; false (with the result filled) when blocked. */
  private translate(sid: number, iova: number, write: boolean): boolean {
    const t = this.translation;
    const reason = this.dma.translate(sid, iova, write, t);
    if (reason !== 0) {
      this.dmaFault(sid, iova, !write, reason, t.fpd);
      return false;
    }
    if (!t.hit && this.tracer) this.tracer.emit({ kind: 'tlb.miss', cycle: this.now(), source: 'iommu', address: iova, args: { sid } });
    const r = this.dmaResult;
    r.status = 'ok';
    r.physicalAddress = t.physical;
    r.faultReason = 0;
    r.faultRecorded = false;
    return true;
  }

  private dmaFault(sid: number, iova: number, read: boolean, reason: number, fpd: number): DmaResult {
    this.counters.dmaFaults++;
    const r = this.dmaResult;
    r.status = 'fault';
    r.physicalAddress = -1;
    r.faultReason = reason;
    // Interrupt-request faults carry an interrupt index in FI, and a malformed request has none: FI = 0.
    const interrupt = isInterruptFault(reason);
    // A DMA request carries no flow id (0).
    r.faultRecorded = this.recordFault(sid, reason, interrupt ? 0 : (iova % TWO_32) >>> 0, interrupt ? 0 : hi32(iova), read, fpd, 0);
    return r;
  }

  private unsupported(error: unknown): DmaResult {
    if (!(error instanceof MemoryError)) throw error;
    this.counters.unsupportedRequests++;
    const r = this.dmaResult;
    r.status = 'unsupported-request';
    r.value = 0;
    return r;
  }

  /** Fault recording (VT-d 7.2), honouring FPD for qualified faults. */
  private recordFault(sid: number, reason: number, infoLow: number, infoHigh: number, read: boolean, fpd: number, flow: number): boolean {
    this.tracer?.emit({ kind: 'fault', cycle: this.now(), source: 'iommu', what: faultReasonName(reason), code: reason, flow, args: { sid } });
    if (fpd === 1 && isQualifiedFault(reason)) {
      this.counters.faultsSuppressedByFpd++;
      return false;
    }
    const recorded = this.faults.record(sid, reason, infoLow, infoHigh, read);
    if (recorded) this.counters.faultsRecorded++;
    return recorded;
  }

  /** Sends a fault or invalidation event message (VT-d 5.1.6); FEUADDR/IEUADDR bits 31:8 extend the destination for x2APIC. */
  private sendEventMessage(address: number, upperAddress: number, data: number): void {
    if (upperAddress === 0) {
      this.target.deliverMsi(address, data);
      return;
    }
    const destination = ((upperAddress & 0xffff_ff00) | ((address >>> 12) & 0xff)) >>> 0;
    if (!this.target.deliverX2apicMsi) {
      throw new UsageError('bad-state', `event interrupt destination 0x${destination.toString(16)} needs deliverX2apicMsi on the interrupt target`);
    }
    this.target.deliverX2apicMsi(destination, (address & 0xfff0_0fff) >>> 0, data);
  }

  private now(): number {
    return this.clock?.now() ?? 0;
  }

  /** Trace of one interrupt request (a tracer is attached). */
  private traceMsi(sid: number, address: number, data: number, r: MsiResult, flow: number): void {
    const tracer = this.tracer!;
    if (r.outcome === 'posted') {
      const vector = this.interrupts.cache.entries[r.interruptIndex]!.vector;
      const kind = r.status === DELIVERY_STATUS.COALESCED ? 'interrupt.coalesced' : 'interrupt.posted';
      tracer.emit({ kind, cycle: this.now(), source: 'iommu', vector, flow, args: { sid, index: r.interruptIndex, notified: r.notified } });
    } else if (r.outcome !== 'blocked') {
      tracer.emit({ kind: 'msi', cycle: this.now(), source: 'iommu', address, data, flow, args: { sid, index: r.interruptIndex, outcome: r.outcome, status: r.status } });
    }
  }

  private trace(name: string, value: number): void {
    this.tracer?.emit({ kind: 'custom', cycle: this.now(), source: 'iommu', name, args: { value } });
  }

  // --- state -------------------------------------------------------------

  /** Saves registers, latched pointers, fault records, the queue and the caches (so stale entries survive). */
  saveState(): IntelIommuState {
    const hex = (w: readonly [number, number]): string => bigintToHex(joinU64(w[0], w[1]));
    const regs = this.registers;
    return {
      type: STATE_TYPE,
      version: STATE_VERSION,
      features: { ...this.features },
      gsts: regs.status,
      rtaddr: hex(regs.pair(VTD.RTADDR)),
      ccmd: hex(regs.pair(VTD.CCMD)),
      irta: hex(regs.pair(VTD.IRTA)),
      iva: hex(regs.pair(VTD.IVA)),
      iotlb: hex(regs.pair(VTD.IOTLB)),
      rootTable: this.dma.rootTable,
      tableMode: this.dma.tableMode,
      irtAddress: this.interrupts.tableAddress,
      irtEntries: this.interrupts.tableEntries,
      eime: this.interrupts.extendedMode,
      faults: this.faults.saveState(),
      faultEvent: this.faultEvent.saveState(),
      invalidationEvent: this.invalidationEvent.saveState(),
      queue: this.queue.saveState(),
      contextCache: this.dma.contextCache.saveState(),
      iotlbEntries: this.dma.iotlb.saveState(),
      interruptEntryCache: this.interrupts.cache.saveState(),
    };
  }

  /** Restores a state from {@link saveState}; rejects foreign, malformed or feature-mismatched states with a SnapshotError. */
  restoreState(state: unknown): void {
    const r = readState(state, STATE_TYPE, STATE_VERSION);
    const f = r.object('features');
    for (const key of ['postedInterrupts', 'extendedInterruptMode', 'passThrough'] as const) {
      if (f.bool(key) !== this.features[key]) {
        throw new SnapshotError('shape', `${STATE_TYPE}.features.${key} is ${String(!this.features[key])} in the state but ${String(this.features[key])} in this unit`);
      }
    }
    const words = (key: string): [number, number] => {
      const { lo, hi } = splitU64(r.bigint(key));
      return [lo, hi];
    };
    const gsts = r.u32('gsts');
    const rtaddr = words('rtaddr');
    const ccmd = words('ccmd');
    const irta = words('irta');
    const iva = words('iva');
    const iotlb = words('iotlb');
    // Latched pointers: a 4 KiB-aligned address below the host address width, or -1 (beyond it).
    const rootTable = readLatched(r, 'rootTable');
    const tableMode = r.int('tableMode', 0, 3);
    const irtAddress = readLatched(r, 'irtAddress');
    const irtEntries = r.int('irtEntries', 2, 0x1_0000);
    const eime = r.bool('eime');
    const faults = readFaults(r.object('faults'));
    const faultEvent = readEvent(r.object('faultEvent'));
    const invalidationEvent = readEvent(r.object('invalidationEvent'));
    const queue = readQueue(r.object('queue'));
    if (queue.enabled !== ((gsts & GCMD.QIE) !== 0)) {
      throw new SnapshotError('shape', `${STATE_TYPE}.queue.enabled (${String(queue.enabled)}) disagrees with GSTS.QIES in ${STATE_TYPE}.gsts`);
    }
    if (queue.enabled && queue.head !== queue.tail && (faults.status & FSTS.IQE) === 0) {
      // Processing is synchronous: an enabled queue with work left has stopped on an error (IQE).
      throw new SnapshotError('shape', `${STATE_TYPE}.queue has IQH ${queue.head} != IQT ${queue.tail} while enabled, but FSTS.IQE is clear`);
    }
    const contextCache = readRows(r, 'contextCache', 6, [0xffff, 0xffff, 3, 1, 4, Number.MAX_SAFE_INTEGER]) as ContextCacheState;
    const iotlbEntries = readRows(r, 'iotlbEntries', 5, [0xffff, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, 3, 30]) as never;
    const iec = readRows(r, 'interruptEntryCache', 6, [0xffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 0xffff_ffff, 1]) as InterruptEntryCacheState;
    // Caches only ever hold entries that passed their checks; a state that says otherwise is corrupt.
    contextCache.forEach(([sid, , tt, , levels], i) => {
      const valid = tt === TRANSLATION_TYPE.PASS_THROUGH ? levels === 0 && this.features.passThrough : tt === TRANSLATION_TYPE.UNTRANSLATED && (levels === 3 || levels === 4);
      if (!valid) throw new SnapshotError('shape', `${STATE_TYPE}.contextCache[${i}] (source ID 0x${sid.toString(16)}) is not a valid cached context entry`);
    });
    iec.forEach(([index, w0, w1, w2, w3, eime], i) => {
      if (checkIrte(w0, w1, w2, w3, eime === 1, this.features.postedInterrupts) !== 0) {
        throw new SnapshotError('shape', `${STATE_TYPE}.interruptEntryCache[${i}] (index ${index}) is not a valid cached IRTE`);
      }
    });
    const regs = this.registers;
    regs.status = gsts;
    regs.setPair(VTD.RTADDR, rtaddr);
    regs.setPair(VTD.CCMD, ccmd);
    regs.setPair(VTD.IRTA, irta);
    regs.setPair(VTD.IVA, iva);
    regs.setPair(VTD.IOTLB, iotlb);
    this.dma.enabled = (gsts & GCMD.TE) !== 0;
    this.dma.rootTable = rootTable;
    this.dma.tableMode = tableMode;
    this.interrupts.enabled = (gsts & GCMD.IRE) !== 0;
    this.interrupts.compatibilityAllowed = (gsts & GCMD.CFI) !== 0;
    this.interrupts.tableAddress = irtAddress;
    this.interrupts.tableEntries = irtEntries;
    this.interrupts.extendedMode = eime;
    this.faults.restoreState(faults);
    this.faultEvent.restoreState(faultEvent);
    this.invalidationEvent.restoreState(invalidationEvent);
    this.queue.restoreState(queue);
    this.dma.contextCache.restoreState(contextCache);
    this.dma.iotlb.restoreState(iotlbEntries);
    this.interrupts.cache.restoreState(iec);
  }
}
