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
import { InterruptEntryCache, type CachedIrte } from './interrupt-entry-cache.js';
import { IRTE_SIZE, checkIrte } from './irte.js';

/** Records an interrupt-remapping fault; returns whether it was recorded. `fpd` is the IRTE's FPD (0 when none); `flow` the request's. */
export type InterruptFaultRecorder = (sid: number, reason: number, index: number, fpd: number, flow: number) => boolean;

/** Compatibility MSI address flags of a notification event: physical, RH = 0. */
const NOTIFICATION_ADDRESS = 0xfee0_0000;
/** Descriptor control word bits (VT-d 9.11): ON bit 256, SN bit 257. */
// Module-local copies of checkAndPost's answer bits (an imported binding is a getter under Node's ESM loader).
const { POSTED, NOTIFY, COALESCED, RESERVED, INACCESSIBLE } = POST_RESULT;
const DELIVERED = DELIVERY_STATUS.DELIVERED;
const COALESCED_STATUS = DELIVERY_STATUS.COALESCED;
const BLOCKED = DELIVERY_STATUS.BLOCKED;

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
  /** The cache's entries (the same array, one hop nearer). */
  private readonly entries: (CachedIrte | undefined)[];
  // Counters, as fields of the remapper itself (one load fewer per count on the hot path).
  /** Interrupt requests handled. */
  requests = 0;
  /** Requests blocked by a fault. */
  blocked = 0;
  /** IRTEs taken from the interrupt entry cache. */
  cacheHits = 0;
  /** IRTEs read from memory. */
  tableReads = 0;
  /** Posts that sent a notification event. */
  postsNotified = 0;
  /** Posts that needed none. */
  postsSuppressed = 0;
  /** FPD of the IRTE the last {@link loadEntry} read (0 when it could not be read). */
  private lastFpd = 0;
  /** Fault reason of the last {@link loadEntry} that failed. */
  private lastReason = 0;
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
    this.entries = this.cache.entries;
    this.x2apicDelivery = typeof target.deliverX2apicMsi === 'function';
  }

  /**
   * Handles one interrupt request from `sid`; fills `out`. `flow` goes to the
   * target with the message. `address` may be given as its 32 bits in an
   * int32 (`address | 0`: a small integer the engine passes unboxed);
   * addresses given to the target are unsigned.
   */
  request(sid: number, address: number, data: number, out: MsiResult, flow: number): void {
    this.requests++;
    this.flow = flow;
    out.faultReason = 0;
    out.faultRecorded = false;
    out.notified = false;
    if (!this.enabled || (address & 0x10) === 0 || ((address & 0x8) !== 0 && data >>> 16 !== 0)) {
      out.interruptIndex = -1;
      out.cacheHit = false;
      this.unusual(sid, address, data, out, flow);
      return;
    }
    // VT-d 5.1.2.2: handle[14:0] = address[19:5], handle[15] = address[2]; SHV = address[3] adds the
    // sub-handle (data[15:0]). (lapic's remappableMsiHandle, written out: the hot path pays no call per field.)
    const handle = ((address >>> 5) & 0x7fff) | (((address >>> 2) & 1) << 15);
    const index = (address & 0x8) !== 0 ? handle + (data & 0xffff) : handle;
    out.interruptIndex = index;
    // An index beyond IRTA.S faults even where a stale entry is cached (the check comes first, VT-d 5.1.3).
    const e = index < this.tableEntries ? this.entries[index] : undefined;
    if (e === undefined) {
      out.cacheHit = false;
      this.miss(sid, index, out);
      return;
    }
    out.cacheHit = true;
    this.cacheHits++;
    this.remap(sid, index, e, out);
  }

  /** Requests not remapped through an IRTE: IRES = 0, compatibility format, or a malformed SHV request. */
  private unusual(sid: number, address: number, data: number, out: MsiResult, flow: number): void {
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
        out.status = statusOf(this.target.deliverMsi(address >>> 0, data, sid, flow));
        return;
      }
      this.block(sid, VTD_FAULT_REASON.IR_COMPATIBILITY_BLOCKED, 0, 0, out);
      return;
    }
    // SHV = 1 with data[31:16] set: a malformed request (VT-d 5.1.2.2), reported with the handle.
    this.block(sid, VTD_FAULT_REASON.IR_REQUEST_RESERVED, ((address >>> 5) & 0x7fff) | (((address >>> 2) & 1) << 15), 0, out);
  }

  /** An index out of range or not cached: the IRTE is read from memory (VT-d 5.1.3). */
  private miss(sid: number, index: number, out: MsiResult): void {
    if (index >= this.tableEntries) {
      this.block(sid, VTD_FAULT_REASON.IR_INDEX_OUT_OF_RANGE, index, 0, out);
      return;
    }
    const e = this.loadEntry(index);
    if (e === undefined) {
      const reason = this.lastReason;
      this.block(sid, reason, index, reason === VTD_FAULT_REASON.IR_TABLE_ACCESS ? 0 : this.lastFpd, out);
      return;
    }
    this.remap(sid, index, e, out);
  }

  /** Source-ID verification, then remapped delivery or posting through entry `e`. */
  private remap(sid: number, index: number, e: CachedIrte, out: MsiResult): void {
    if (!e.sourceAllowed(sid)) {
      this.block(sid, VTD_FAULT_REASON.IR_SOURCE_ID_INVALID, index, e.fpd, out);
      return;
    }
    if (e.posted !== 0) {
      this.post(sid, index, e, out);
      return;
    }
    out.outcome = 'remapped';
    out.status = this.deliver(e.x2apic, e.destination, e.msiAddress, e.msiData, sid);
  }

  /**
   * VT-d 5.2.3 "Interrupt-Posting Hardware Operation": the descriptor is read,
   * checked and updated as one atomic operation, through the cached
   * descriptor view (no allocation, no page lookup while the memory's
   * generation holds).
   */
  private post(sid: number, index: number, e: CachedIrte, out: MsiResult): void {
    const pid = e.descriptor!;
    // The descriptor check and PIR[vector] <- 1; X = !ON && (URG || !SN); ON <- ON | X in one
    // descriptor access (VT-d 9.11, 5.2.3).
    const r = pid.checkAndPost(e.vector, e.urgent);
    if ((r & ~COALESCED) === POSTED) {
      // The common case first: posted, no notification needed (ON already set, or SN without URG).
      out.outcome = 'posted';
      out.status = r === POSTED ? DELIVERED : COALESCED_STATUS;
      this.postsSuppressed++;
      return;
    }
    if ((r & ~COALESCED) === NOTIFY && !e.x2apic) {
      // The notifying post of an xAPIC-mode entry, written out (the IOMMU-to-vCPU path): vector NV to NDST[15:8],
      // physical, fixed, edge, RH = 0 (VT-d 5.2.3), with NV and NDST as the post read them.
      out.outcome = 'posted';
      out.status = r === NOTIFY ? DELIVERED : COALESCED_STATUS;
      this.postsNotified++;
      out.notified = true;
      const destination = (pid.notifiedDestination >>> 8) & 0xff;
      // Destination 0 takes the address as a constant: no number is made for it on every notification.
      const address = destination === 0 ? NOTIFICATION_ADDRESS : (NOTIFICATION_ADDRESS | (destination << 12)) >>> 0;
      this.target.deliverMsi(address, pid.notifiedVector, undefined, this.flow);
      return;
    }
    this.postOutcome(sid, index, e, out, r);
  }

  /** A post the descriptor refused, or one that notifies in x2APIC mode (out of line: the common paths stay small). */
  private postOutcome(sid: number, index: number, e: CachedIrte, out: MsiResult, r: number): void {
    if ((r & INACCESSIBLE) !== 0) {
      // Not backed (or not writable): an access error on the descriptor.
      this.block(sid, VTD_FAULT_REASON.IR_POSTED_DESCRIPTOR_ACCESS, index, e.fpd, out);
      return;
    }
    if ((r & RESERVED) !== 0) {
      this.block(sid, VTD_FAULT_REASON.IR_POSTED_DESCRIPTOR_RESERVED, index, e.fpd, out);
      return;
    }
    out.outcome = 'posted';
    out.status = (r & COALESCED) !== 0 ? COALESCED_STATUS : DELIVERED;
    if ((r & NOTIFY) === 0) {
      this.postsSuppressed++;
      return;
    }
    this.postsNotified++;
    out.notified = true;
    // Notification event: vector NV to NDST, physical, fixed, edge, RH = 0 (VT-d 5.2.3).
    // NV and NDST as the post read them, in the same descriptor access (VT-d 5.2.3).
    const pid = e.descriptor!;
    const nv = pid.notifiedVector;
    const ndst = pid.notifiedDestination;
    const x2apic = e.x2apic;
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

  /**
   * Reads and checks IRTE `index`; caches and returns it when valid. Otherwise
   * returns undefined with {@link lastReason} the fault reason and
   * {@link lastFpd} the entry's FPD.
   */
  private loadEntry(index: number): CachedIrte | undefined {
    this.lastFpd = 0;
    this.tableReads++;
    const at = this.tableAddress + index * IRTE_SIZE;
    // A table beyond the host address width (-1) or not backed: an access error (0x23), never a host error.
    if (this.tableAddress < 0 || !this.memory.isBacked(at, IRTE_SIZE)) {
      this.lastReason = VTD_FAULT_REASON.IR_TABLE_ACCESS;
      return undefined;
    }
    const w0 = this.memory.read32(at);
    const w1 = this.memory.read32(at + 4);
    const w2 = this.memory.read32(at + 8);
    const w3 = this.memory.read32(at + 12);
    this.lastFpd = w0 & 0x2 ? 1 : 0;
    const reason = checkIrte(w0, w1, w2, w3, this.extendedMode, this.postedSupported);
    this.lastReason = reason;
    return reason === 0 ? this.cache.fill(index, w0, w1, w2, w3, this.extendedMode) : undefined;
  }

  private block(sid: number, reason: number, index: number, fpd: number, out: MsiResult): void {
    this.blocked++;
    out.outcome = 'blocked';
    out.status = BLOCKED;
    out.faultReason = reason;
    out.faultRecorded = this.recordFault(sid, reason, index, fpd, this.flow);
  }
}

/**
 * A target's answer as a status. Targets written for the earlier `void`
 * contract (plain JavaScript) return nothing: counted as delivered.
 */
function statusOf(answer: DeliveryStatus | undefined): DeliveryStatus {
  return answer ?? DELIVERY_STATUS.DELIVERED;
}
