/**
 * Queued invalidation (VT-d 6.5.2): a ring of descriptors in memory at
 * IQA_REG, 2^(QS + 8) 128-bit entries; software writes descriptors and
 * advances IQT_REG, hardware fetches from IQH_REG up to the tail and
 * processes them in order. This model processes synchronously on the IQT
 * write. A bad descriptor sets FSTS.IQE with IQERCD.IQEI, and hardware stops
 * with IQH at that descriptor until software clears IQE (VT-d 6.5.2.10).
 * An invalidation wait descriptor writes its status and/or signals the
 * invalidation completion event (ICS.IWC, IECTL).
 */
import { getField, type Memory } from '@hvsim/core';
import { BEYOND_HOST_ADDRESS_WIDTH, hostAddress, hostPageAddress, pageAddress } from '../address.js';
import type { EventInterrupt } from '../faults/event-interrupt.js';
import type { FaultRecorder } from '../faults/fault-recorder.js';
import type { Invalidations } from '../invalidation.js';
import { FSTS, IQA, IQEI } from '../regs.js';
import { CC_DSC, DESCRIPTOR_SIZE, DESCRIPTOR_TYPE, IEC_DSC, IOTLB_DSC, TYPE_HIGH_BITS, WAIT_DSC, descriptorType } from './descriptors.js';

/** Saved form of the invalidation queue registers (IQA, IQH, IQT, ICS, IQERCD). */
export interface InvalidationQueueState {
  /** GSTS.QIES. */
  enabled: boolean;
  /** IQA_REG bits 31:0. */
  addressLow: number;
  /** IQA_REG bits 63:32. */
  addressHigh: number;
  /** IQH as a descriptor index. */
  head: number;
  /** IQT as a descriptor index. */
  tail: number;
  /** ICS_REG (IWC, bit 0). */
  completionStatus: number;
  /** IQERCD_REG.IQEI of the last queue error. */
  errorInfo: number;
  /** Descriptors processed. */
  processed: number;
}


/** The invalidation queue and its registers. */
export class InvalidationQueue {
  /** GSTS.QIES. */
  enabled = false;
  /** IQA_REG halves as written (reserved bits 10:3 read 0). */
  addressLow = 0;
  addressHigh = 0;
  /** IQH and IQT as descriptor indexes. */
  head = 0;
  tail = 0;
  /** ICS_REG (IWC). */
  completionStatus = 0;
  /** IQERCD_REG.IQEI of the last queue error. */
  errorInfo = 0;
  /** Descriptors processed. */
  processed = 0;

  constructor(
    private readonly memory: Memory,
    private readonly faults: FaultRecorder,
    private readonly completionEvent: EventInterrupt,
    private readonly invalidations: Invalidations,
  ) {}

  /** Number of descriptors the queue holds: 2^(QS + 8) for 128-bit descriptors. */
  get entries(): number {
    return 2 ** (getField(this.addressLow, IQA.QS) + 8);
  }

  /**
   * GCMD.QIE. Disabling resets IQH to 0 (so the queue starts over at IQA when
   * enabled again); enabling processes anything software queued before it.
   */
  setEnabled(on: boolean): void {
    if (on && !this.enabled) {
      this.enabled = true;
      this.process();
    } else if (!on) {
      this.enabled = false;
      this.head = 0;
    }
  }

  writeAddress(low: number, high: number): void {
    this.addressLow = (low & ~0x7f8) >>> 0;
    this.addressHigh = high >>> 0;
  }

  /** IQT write: QT is bits 18:4. */
  writeTail(value: number): void {
    this.tail = (value >>> 4) & 0x7fff;
    this.process();
  }

  /** ICS write: IWC is RW1C; clearing it services the completion event. */
  writeCompletionStatus(value: number): void {
    if ((value & 1) !== 0 && this.completionStatus !== 0) {
      this.completionStatus = 0;
      this.completionEvent.serviced();
    }
  }

  /** Called when software clears FSTS.IQE: fetching resumes at IQH. */
  resume(): void {
    this.process();
  }

  /** Fetches and processes descriptors from head to tail, stopping at an error. */
  process(): void {
    if (!this.enabled || this.faults.hasStatus(FSTS.IQE)) return;
    if ((this.addressLow & (1 << IQA.DW.lsb)) !== 0) {
      // 256-bit descriptors need scalable-mode support (ECAP.SMTS = 0 here).
      this.error(IQEI.INVALID_DESCRIPTOR_WIDTH);
      return;
    }
    const entries = this.entries;
    if (this.tail >= entries) {
      this.error(IQEI.INVALID_TAIL_POINTER);
      return;
    }
    // A queue beyond the host address width names no memory: the fetch fails (VT-d 6.5.2.10 IQE).
    const base = hostPageAddress(this.addressLow, this.addressHigh);
    while (this.head !== this.tail) {
      const at = base + this.head * DESCRIPTOR_SIZE;
      if (base === BEYOND_HOST_ADDRESS_WIDTH || !this.memory.isBacked(at, DESCRIPTOR_SIZE)) {
        this.error(IQEI.DESCRIPTOR_FETCH_ERROR);
        return;
      }
      const memory = this.memory;
      const w0 = memory.read32(at);
      const w1 = memory.read32(at + 4);
      const w2 = memory.read32(at + 8);
      const w3 = memory.read32(at + 12);
      const info = this.execute(w0, w1, w2, w3);
      if (info >= 0) {
        this.error(info);
        return;
      }
      this.processed++;
      this.head = (this.head + 1) % entries;
    }
  }

  saveState(): InvalidationQueueState {
    return {
      enabled: this.enabled,
      addressLow: this.addressLow,
      addressHigh: this.addressHigh,
      head: this.head,
      tail: this.tail,
      completionStatus: this.completionStatus,
      errorInfo: this.errorInfo,
      processed: this.processed,
    };
  }

  restoreState(state: InvalidationQueueState): void {
    this.enabled = state.enabled;
    this.addressLow = state.addressLow;
    this.addressHigh = state.addressHigh;
    this.head = state.head;
    this.tail = state.tail;
    this.completionStatus = state.completionStatus;
    this.errorInfo = state.errorInfo;
    this.processed = state.processed;
  }

  private error(info: number): void {
    this.errorInfo = info;
    this.faults.setStatus(FSTS.IQE);
  }

  /** Executes one descriptor; returns -1, or the IQEI code of its error. */
  private execute(w0: number, w1: number, w2: number, w3: number): number {
    if ((w0 & TYPE_HIGH_BITS) !== 0) return IQEI.INVALID_DESCRIPTOR_TYPE;
    switch (descriptorType(w0)) {
      case DESCRIPTOR_TYPE.CONTEXT_CACHE: {
        if ((w0 & CC_DSC.RESERVED_W0) !== 0 || (w1 & CC_DSC.RESERVED_W1) !== 0 || w2 !== 0 || w3 !== 0) return IQEI.RESERVED_FIELD;
        const done = this.invalidations.contextCache(getField(w0, CC_DSC.G), getField(w0, CC_DSC.DID), getField(w1, CC_DSC.SID), getField(w1, CC_DSC.FM));
        return done === 0 ? IQEI.RESERVED_FIELD : -1;
      }
      case DESCRIPTOR_TYPE.IOTLB: {
        if ((w0 & IOTLB_DSC.RESERVED_W0) !== 0 || w1 !== 0 || (w2 & IOTLB_DSC.RESERVED_W2) !== 0) return IQEI.RESERVED_FIELD;
        const address = pageAddress(w2, w3);
        const done = this.invalidations.iotlb(getField(w0, IOTLB_DSC.G), getField(w0, IOTLB_DSC.DID), address, getField(w2, IOTLB_DSC.AM));
        return done === 0 ? IQEI.RESERVED_FIELD : -1;
      }
      case DESCRIPTOR_TYPE.INTERRUPT_ENTRY_CACHE: {
        if ((w0 & IEC_DSC.RESERVED_W0) !== 0 || (w1 & IEC_DSC.RESERVED_W1) !== 0 || w2 !== 0 || w3 !== 0) return IQEI.RESERVED_FIELD;
        const ok = this.invalidations.interruptEntryCache(getField(w0, IEC_DSC.G) === 0, getField(w1, IEC_DSC.IIDX), getField(w0, IEC_DSC.IM));
        return ok ? -1 : IQEI.RESERVED_FIELD;
      }
      case DESCRIPTOR_TYPE.INVALIDATION_WAIT:
        return this.wait(w0, w1, w2, w3);
      default:
        // Device-TLB (ECAP.DT = 0) and PASID-based descriptors (ECAP.SMTS = 0) are not supported.
        return IQEI.INVALID_DESCRIPTOR_TYPE;
    }
  }

  /**
   * Invalidation wait (VT-d 6.5.2.8): all earlier descriptors are complete,
   * since processing is synchronous. Status address bits above the host
   * address width are treated as reserved (IQEI 4); a status address with no
   * writable memory stops the queue with IQEI 0 (the spec defines no report
   * for a failed status write; documented choice). Either way IQE is set.
   */
  private wait(w0: number, w1: number, w2: number, w3: number): number {
    if ((w0 & WAIT_DSC.RESERVED_W0) !== 0 || (w2 & WAIT_DSC.RESERVED_W2) !== 0) return IQEI.RESERVED_FIELD;
    if (getField(w0, WAIT_DSC.SW) === 1) {
      const at = hostAddress(w2 & 0xffff_fffc, w3);
      if (at === BEYOND_HOST_ADDRESS_WIDTH) return IQEI.RESERVED_FIELD;
      if (!this.memory.isWritable(at, 4)) return IQEI.INFO_NOT_AVAILABLE;
      this.memory.write32(at, w1);
    }
    if (getField(w0, WAIT_DSC.IF) === 1 && this.completionStatus === 0) {
      this.completionStatus = 1;
      this.completionEvent.signal();
    }
    return -1;
  }
}
