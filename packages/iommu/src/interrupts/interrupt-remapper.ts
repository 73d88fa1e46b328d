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
 *
 * Every outcome carries a delivery status (core's `DELIVERY_STATUS`): what
 * the interrupt target answered for a delivered message, BLOCKED for a
 * fault, DELIVERED or COALESCED (the PIR bit was already set) for a post.
 */
import { DELIVERY_STATUS, UsageError, type DeliveryStatus, type Memory } from '@hvsim/core';
import { POST_RESULT } from '@hvsim/lapic';
import { VTD_FAULT_REASON } from '../faults/fault-reason.js';
import type { MsiResult } from '../results.js';
import type { IommuInterruptTarget } from '../target.js';
import { InterruptEntryCache } from './interrupt-entry-cache.js';
import { IRTE_SIZE, checkIrte } from './irte.js';

/** Records an interrupt-remapping fault; returns whether it was recorded. `fpd` is the IRTE's FPD (0 when none). */
export type InterruptFaultRecorder = (sid: number, reason: number, index: number, fpd: number) => boolean;

/** Compatibility MSI address flags of a notification event: physical, RH = 0. */
const NOTIFICATION_ADDRESS = 0xfee0_0000;
/** Descriptor control word bits (VT-d 9.11): ON bit 256, SN bit 257. */
// Module-local copies of checkAndPost's answer bits (an imported binding is a getter under Node's ESM loader).
const { NOTIFY, COALESCED, RESERVED, INACCESSIBLE } = POST_RESULT;

/** Remaps and posts interrupt requests. */
export class InterruptRemapper {
  /** GSTS.IRES. */
  enabled = false;
  /** GSTS.CFIS. */
  compatibilityAllowed = false;
  /** Interrupt remapping table base latched by SIRTP; -1 when IRTA named an address beyond the host address width. */
  tableAddress = 0;
  /** Number of IRTEs, 2^(S + 1), latched by SIRTP. */
  tableEntries = 2;
  /** IRTA.EIME latched by SIRTP. */
  extendedMode = false;
  readonly cache: InterruptEntryCache;
  /** Counters: cache hits, IRTE reads, posts that did and did not notify. */
  readonly counters = { cacheHits: 0, tableReads: 0, postsNotified: 0, postsSuppressed: 0 };
  /** FPD of the IRTE the last {@link loadEntry} read (0 when it could not be read). */
  private lastFpd = 0;
  /** Flow id of the request in progress. */
  private flow = 0;
  private readonly x2apicDelivery: boolean;

  constructor(
    private readonly memory: Memory,
    private readonly target: IommuInterruptTarget,
    private readonly postedSupported: boolean,
    private readonly recordFault: InterruptFaultRecorder,
  ) {
    this.cache = new InterruptEntryCache(memory);
    this.x2apicDelivery = typeof target.deliverX2apicMsi === 'function';
  }

  /** Handles one interrupt request from `sid`; fills `out`. `flow` goes to the target with the message. */
  request(sid: number, address: number, data: number, out: MsiResult, flow: number): void {
    this.flow = flow;
    out.faultReason = 0;
    out.faultRecorded = false;
    out.interruptIndex = -1;
    out.cacheHit = false;
    out.notified = false;
    if (!this.enabled) {
      // IRES = 0: every request is processed in compatibility format (VT-d 5.1.1), so the
      // interrupt-format bit is not passed on as a remappable request.
      out.outcome = 'passthrough';
      out.status = statusOf(this.target.deliverMsi((address & ~0x10) >>> 0, data, sid, flow));
      return;
    }
    if ((address & 0x10) === 0) {
      if (this.compatibilityAllowed && !this.extendedMode) {
        out.outcome = 'passthrough';
        out.status = statusOf(this.target.deliverMsi(address, data, sid, flow));
        return;
      }
      this.block(sid, VTD_FAULT_REASON.IR_COMPATIBILITY_BLOCKED, 0, 0, out);
      return;
    }
    // VT-d 5.1.2.2: handle[14:0] = address[19:5], handle[15] = address[2]; SHV = address[3].
    // (lapic's remappableMsiHandle, written out: the hot path must not pay a call per field.)
    const handle = ((address >>> 5) & 0x7fff) | (((address >>> 2) & 1) << 15);
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
        this.block(sid, reason, index, reason === VTD_FAULT_REASON.IR_TABLE_ACCESS ? 0 : this.lastFpd, out);
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
    out.status = this.deliver(cache.x2apic[index] === 1, cache.destination[index]!, cache.msiAddress[index]!, cache.msiData[index]!, sid);
  }

  /**
   * VT-d 5.2.3 "Interrupt-Posting Hardware Operation": the descriptor is read,
   * checked and updated as one atomic operation, through the cached
   * descriptor view (no allocation, no page lookup while the memory's
   * generation holds).
   */
  private post(sid: number, index: number, out: MsiResult): void {
    const cache = this.cache;
    const pid = cache.descriptor(index);
    // The descriptor check and PIR[vector] <- 1; X = !ON && (URG || !SN); ON <- ON | X in one
    // descriptor access (VT-d 9.11, 5.2.3).
    const r = pid.checkAndPost(cache.vector[index]!, cache.urgent[index] !== 0);
    if ((r & INACCESSIBLE) !== 0) {
      // Not backed (or not writable): an access error on the descriptor.
      this.block(sid, VTD_FAULT_REASON.IR_POSTED_DESCRIPTOR_ACCESS, index, cache.fpd[index]!, out);
      return;
    }
    if ((r & RESERVED) !== 0) {
      this.block(sid, VTD_FAULT_REASON.IR_POSTED_DESCRIPTOR_RESERVED, index, cache.fpd[index]!, out);
      return;
    }
    out.outcome = 'posted';
    out.status = (r & COALESCED) !== 0 ? DELIVERY_STATUS.COALESCED : DELIVERY_STATUS.DELIVERED;
    if ((r & NOTIFY) === 0) {
      this.counters.postsSuppressed++;
      return;
    }
    this.counters.postsNotified++;
    out.notified = true;
    // Notification event: vector NV to NDST, physical, fixed, edge, RH = 0 (VT-d 5.2.3).
    const nv = (pid.control >>> 16) & 0xff;
    const ndst = pid.ndst;
    const x2apic = cache.x2apic[index] === 1;
    const destination = x2apic ? ndst >>> 0 : (ndst >>> 8) & 0xff;
    this.deliver(x2apic, destination, (NOTIFICATION_ADDRESS | ((destination & 0xff) << 12)) >>> 0, nv, -1);
  }

  /** Sends to the target and returns its answer; `sid` -1 means the IOMMU itself. */
  private deliver(x2apic: boolean, destination: number, msiAddress: number, msiData: number, sid: number): DeliveryStatus {
    const source = sid < 0 ? undefined : sid;
    if (x2apic && this.x2apicDelivery) {
      return statusOf(this.target.deliverX2apicMsi!(destination, (msiAddress & 0xfff0_0fff) >>> 0, msiData, source, this.flow));
    }
    if (destination > 0xff) {
      throw new UsageError(
        'bad-state',
        `x2APIC destination 0x${destination.toString(16)} does not fit a compatibility-format MSI and the interrupt target has no deliverX2apicMsi`,
      );
    }
    return statusOf(this.target.deliverMsi(msiAddress, msiData, source, this.flow));
  }

  /** Reads and checks IRTE `index`; caches it when valid. Returns 0 or the fault reason; {@link lastFpd} is the entry's FPD. */
  private loadEntry(index: number): number {
    this.lastFpd = 0;
    this.counters.tableReads++;
    const at = this.tableAddress + index * IRTE_SIZE;
    // A table beyond the host address width (-1) or not backed: an access error (0x23), never a host error.
    if (this.tableAddress < 0 || !this.memory.isBacked(at, IRTE_SIZE)) return VTD_FAULT_REASON.IR_TABLE_ACCESS;
    const w0 = this.memory.read32(at);
    const w1 = this.memory.read32(at + 4);
    const w2 = this.memory.read32(at + 8);
    const w3 = this.memory.read32(at + 12);
    this.lastFpd = w0 & 0x2 ? 1 : 0;
    const reason = checkIrte(w0, w1, w2, w3, this.extendedMode, this.postedSupported);
    if (reason === 0) this.cache.fill(index, w0, w1, w2, w3, this.extendedMode);
    return reason;
  }

  private block(sid: number, reason: number, index: number, fpd: number, out: MsiResult): void {
    out.outcome = 'blocked';
    out.status = DELIVERY_STATUS.BLOCKED;
    out.faultReason = reason;
    out.faultRecorded = this.recordFault(sid, reason, index, fpd);
  }
}

/**
 * A target's answer as a status. Targets written for the earlier `void`
 * contract (plain JavaScript) return nothing: counted as delivered.
 */
function statusOf(answer: DeliveryStatus | undefined): DeliveryStatus {
  return answer ?? DELIVERY_STATUS.DELIVERED;
}
