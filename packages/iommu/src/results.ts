/**
 * What a device gets back from the IOMMU. Results are reused objects (the
 * hot paths allocate nothing): the four DMA methods share one `DmaResult`,
 * `sendMsi` has one `MsiResult`; read a result before the next call of any
 * of those methods on the same unit, or copy it.
 */
import type { DeliveryStatus } from '@hvsim/core';

/** How a DMA request ended. */
export type DmaStatus =
  /** Completed; `value` holds the data of a read. */
  | 'ok'
  /** Blocked by DMA remapping; `faultReason` says why. */
  | 'fault'
  /** Translated, but no memory backs the physical address (an Unsupported Request completion on PCIe). */
  | 'unsupported-request';

/** Result of `dmaRead` / `dmaWrite`. */
export interface DmaResult {
  /** What became of the request. */
  status: DmaStatus;
  /** Data read (0 for writes and failures). */
  value: number;
  /** Physical address the request reached (-1 when blocked). */
  physicalAddress: number;
  /** VT-d fault reason when `status` is `'fault'`, else 0. */
  faultReason: number;
  /** Whether the fault was written to a Fault Recording register (false: FPD, or overflow; see `stats`). */
  faultRecorded: boolean;
}

/** How an interrupt request ended. */
export type MsiOutcome =
  /** Delivered as written: remapping off, or a compatibility-format request with CFIS = 1. */
  | 'passthrough'
  /** Remapped through an IRTE (IM = 0) and delivered. */
  | 'remapped'
  /** Posted into a posted-interrupt descriptor (IM = 1). */
  | 'posted'
  /** Blocked; `faultReason` says why. */
  | 'blocked';

/** Result of `sendMsi`. */
export interface MsiResult {
  /** What the remapping hardware did with the interrupt request. */
  outcome: MsiOutcome;
  /**
   * What became of the interrupt (core's `DELIVERY_STATUS`): for
   * `'passthrough'` and `'remapped'` what the interrupt target answered;
   * BLOCKED for `'blocked'`; for `'posted'` DELIVERED, or COALESCED when the
   * vector's PIR bit was already set (KVM_SIGNAL_MSI answers 0 then).
   */
  status: DeliveryStatus;
  /** VT-d fault reason when blocked, else 0. */
  faultReason: number;
  /** Whether the fault was recorded (false: FPD = 1, or overflow). */
  faultRecorded: boolean;
  /** interrupt_index of a remappable-format request, -1 for compatibility format. */
  interruptIndex: number;
  /** True when the interrupt entry cache supplied the IRTE. */
  cacheHit: boolean;
  /** Posted: a notification event (NV to NDST) was sent. */
  notified: boolean;
}
