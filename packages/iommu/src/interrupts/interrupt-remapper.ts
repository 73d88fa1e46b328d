/**
 * Interrupt remapping and posting (VT-d 5.1 "Interrupt Remapping", 5.2
 * "Interrupt Posting"): decides what an interrupt request (a DWORD write to
 * 0xFEEx_xxxx) becomes.
 *
 * - IRES = 0: every request is delivered in compatibility format (address bit 4 cleared).
 * - Compatibility format (address bit 4 = 0): delivered as written when
 *   CFIS = 1 and EIME = 0, else blocked with fault 0x25 (VT-d 5.1.2.1).
 * - Remappable format: interrupt_index = handle (+ sub-handle when SHV);
 *   data bits 31:16 must be 0 when SHV = 1 (0x20); index within IRTA.S
 *   (0x21); the IRTE from the cache or from memory (0x23 on a read error,
 *   0x22 not present, 0x24 reserved bits); source-ID verification (0x26);
 *   then remapped delivery (IM = 0) or posting (IM = 1, VT-d 5.2.3: 0x27 on
 *   a descriptor access error, 0x28 on descriptor reserved bits).
 */
import { MemoryError, UsageError, type PhysicalMemory } from '@hvsim/core';
import { remappableMsiHandle } from '@hvsim/lapic';
import { VTD_FAULT_REASON } from '../faults/fault-reason.js';
import type { MsiResult } from '../results.js';
import type { IommuInterruptTarget } from '../target.js';
import { InterruptEntryCache } from './interrupt-entry-cache.js';
import { IRTE_SIZE, checkIrte } from './irte.js';

/** Records an interrupt-remapping fault; returns whether it was recorded. `fpd` is the IRTE's FPD (0 when none). */
export type InterruptFaultRecorder = (sid: number, reason: number, index: number, fpd: number) => boolean;

/** Compatibility MSI address flags of a notification event: physical, RH = 0. */
const NOTIFICATION_ADDRESS = 0xfee0_0000;

/** Remaps and posts interrupt requests. */
export class InterruptRemapper {
  /** GSTS.IRES. */
  enabled = false;
  /** GSTS.CFIS. */
  compatibilityAllowed = false;
  /** Interrupt remapping table base latched by SIRTP. */
  tableAddress = 0;
  /** Number of IRTEs, 2^(S + 1), latched by SIRTP. */
  tableEntries = 2;
  /** IRTA.EIME latched by SIRTP. */
  extendedMode = false;
  readonly cache: InterruptEntryCache;
  /** Counters: cache hits, IRTE reads, posts that did and did not notify. */
  readonly counters = { cacheHits: 0, tableReads: 0, postsNotified: 0, postsSuppressed: 0 };
  private readonly x2apicDelivery: boolean;

  constructor(
    private readonly memory: PhysicalMemory,
    private readonly target: IommuInterruptTarget,
    private readonly postedSupported: boolean,
    private readonly recordFault: InterruptFaultRecorder,
  ) {
    this.cache = new InterruptEntryCache(memory);
    this.x2apicDelivery = typeof target.deliverX2apicMsi === 'function';
  }

  /** Handles one interrupt request from `sid`; fills `out`. */
  request(sid: number, address: number, data: number, out: MsiResult): void {
    out.faultReason = 0;
    out.faultRecorded = false;
    out.interruptIndex = -1;
    out.cacheHit = false;
    out.notified = false;
    if (!this.enabled) {
      // IRES = 0: every request is processed in compatibility format (VT-d 5.1.1), so the
      // interrupt-format bit is not passed on as a remappable request.
      out.outcome = 'passthrough';
      this.target.deliverMsi((address & ~0x10) >>> 0, data, sid);
      return;
    }
    if ((address & 0x10) === 0) {
      if (this.compatibilityAllowed && !this.extendedMode) {
        out.outcome = 'passthrough';
        this.target.deliverMsi(address, data, sid);
        return;
      }
      this.block(sid, VTD_FAULT_REASON.IR_COMPATIBILITY_BLOCKED, 0, 0, out);
      return;
    }
    // VT-d 5.1.2.2: handle from address[19:5] and address[2]; SHV = address[3].
    const handle = remappableMsiHandle(address);
    let index = handle;
    if ((address & 0x8) !== 0) {
      if (data >>> 16 !== 0) {
        this.block(sid, VTD_FAULT_REASON.IR_REQUEST_RESERVED, handle, 0, out);
        return;
      }
      index += data & 0xffff;
    }
    out.interruptIndex = index;
    if (index >= this.tableEntries) {
      this.block(sid, VTD_FAULT_REASON.IR_INDEX_OUT_OF_RANGE, index, 0, out);
      return;
    }
    const cache = this.cache;
    if (cache.valid[index] === 1) {
      out.cacheHit = true;
      this.counters.cacheHits++;
    } else {
      const reason = this.loadEntry(index);
      if (reason !== 0) {
        this.block(sid, reason, index, reason === VTD_FAULT_REASON.IR_TABLE_ACCESS ? 0 : this.entryFpd(index), out);
        return;
      }
    }
    if (!cache.sourceAllowed(index, sid)) {
      this.block(sid, VTD_FAULT_REASON.IR_SOURCE_ID_INVALID, index, cache.fpd[index]!, out);
      return;
    }
    if (cache.posted[index] === 1) {
      this.post(sid, index, out);
      return;
    }
    out.outcome = 'remapped';
    this.deliver(cache.x2apic[index] === 1, cache.destination[index]!, cache.msiAddress[index]!, cache.msiData[index]!, sid);
  }

  /** VT-d 5.2.3 "Interrupt-Posting Hardware Operation". */
  private post(sid: number, index: number, out: MsiResult): void {
    const cache = this.cache;
    const pid = cache.descriptor(index);
    let notify: boolean;
    let nv = 0;
    let ndst = 0;
    try {
      // The descriptor is read, checked and updated as one atomic operation.
      if (pid.reservedBitsSet()) {
        this.block(sid, VTD_FAULT_REASON.IR_POSTED_DESCRIPTOR_RESERVED, index, cache.fpd[index]!, out);
        return;
      }
      notify = pid.post(cache.vector[index]!, cache.urgent[index] === 1);
      if (notify) {
        nv = pid.nv;
        ndst = pid.ndst;
      }
    } catch (error) {
      if (!(error instanceof MemoryError)) throw error;
      this.block(sid, VTD_FAULT_REASON.IR_POSTED_DESCRIPTOR_ACCESS, index, cache.fpd[index]!, out);
      return;
    }
    out.outcome = 'posted';
    if (!notify) {
      this.counters.postsSuppressed++;
      return;
    }
    this.counters.postsNotified++;
    out.notified = true;
    // Notification event: vector NV to NDST, physical, fixed, edge, RH = 0 (VT-d 5.2.3).
    const x2apic = cache.x2apic[index] === 1;
    const destination = x2apic ? ndst >>> 0 : (ndst >>> 8) & 0xff;
    this.deliver(x2apic, destination, (NOTIFICATION_ADDRESS | ((destination & 0xff) << 12)) >>> 0, nv, -1);
  }

  /** Sends to the target; `sid` -1 means the IOMMU itself. */
  private deliver(x2apic: boolean, destination: number, msiAddress: number, msiData: number, sid: number): void {
    const source = sid < 0 ? undefined : sid;
    if (x2apic && this.x2apicDelivery) {
      this.target.deliverX2apicMsi!(destination, (msiAddress & 0xfff0_0fff) >>> 0, msiData, source);
      return;
    }
    if (destination > 0xff) {
      throw new UsageError(
        'bad-state',
        `x2APIC destination 0x${destination.toString(16)} does not fit a compatibility-format MSI and the interrupt target has no deliverX2apicMsi`,
      );
    }
    this.target.deliverMsi(msiAddress, msiData, source);
  }

  /** Reads and checks IRTE `index`; caches it when valid. Returns 0 or the fault reason. */
  private loadEntry(index: number): number {
    const at = this.tableAddress + index * IRTE_SIZE;
    let w0: number;
    let w1: number;
    let w2: number;
    let w3: number;
    this.counters.tableReads++;
    try {
      w0 = this.memory.read32(at);
      w1 = this.memory.read32(at + 4);
      w2 = this.memory.read32(at + 8);
      w3 = this.memory.read32(at + 12);
    } catch (error) {
      if (!(error instanceof MemoryError)) throw error;
      return VTD_FAULT_REASON.IR_TABLE_ACCESS;
    }
    const reason = checkIrte(w0, w1, w2, w3, this.extendedMode, this.postedSupported);
    if (reason === 0) this.cache.fill(index, w0, w1, w2, w3, this.extendedMode);
    return reason;
  }

  /** FPD of the IRTE in memory (for faults on entries that were not cached). */
  private entryFpd(index: number): number {
    return this.memory.read32(this.tableAddress + index * IRTE_SIZE) & 0x2 ? 1 : 0;
  }

  private block(sid: number, reason: number, index: number, fpd: number, out: MsiResult): void {
    out.outcome = 'blocked';
    out.faultReason = reason;
    out.faultRecorded = this.recordFault(sid, reason, index, fpd);
  }
}
