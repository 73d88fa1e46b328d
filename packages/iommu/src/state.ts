/**
 * The saved form of an IntelIommu and the validating readers that turn a
 * saved object back into its parts (every field range-checked; bad input is
 * a SnapshotError naming the path).
 */
import { SnapshotError, describeValue, type StateReader } from '@hvsim/core';
import type { ResolvedFeatures } from './capabilities.js';
import type { ContextCacheState } from './dma/context-cache.js';
import type { IotlbState } from './dma/iotlb.js';
import type { EventInterruptState } from './faults/event-interrupt.js';
import type { FaultRecorderState } from './faults/fault-recorder.js';
import type { InterruptEntryCacheState } from './interrupts/interrupt-entry-cache.js';
import type { InvalidationQueueState } from './qi/invalidation-queue.js';
import { VTD_FAULT_RECORDING_REGISTERS } from './regs.js';

/** Saved state of an {@link IntelIommu} (JSON-safe). */
export interface IntelIommuState {
  /** Format tag. */
  type: string;
  /** Format version. */
  version: number;
  /** The unit's features; restoring into a unit with others is refused. */
  features: ResolvedFeatures;
  /** GSTS_REG. */
  gsts: number;
  /** RTADDR_REG as hex. */
  rtaddr: string;
  /** CCMD_REG as hex. */
  ccmd: string;
  /** IRTA_REG as hex. */
  irta: string;
  /** IVA_REG as hex. */
  iva: string;
  /** IOTLB_REG as hex. */
  iotlb: string;
  /** Root table address latched by SRTP (-1 beyond the host address width). */
  rootTable: number;
  /** RTADDR.TTM latched by SRTP. */
  tableMode: number;
  /** Interrupt remapping table address latched by SIRTP. */
  irtAddress: number;
  /** Interrupt remapping table entries latched by SIRTP (2^(IRTA.S+1)). */
  irtEntries: number;
  /** IRTA.EIME latched by SIRTP. */
  eime: boolean;
  /** Fault recording registers and FSTS. */
  faults: FaultRecorderState;
  /** FECTL, FEDATA, FEADDR, FEUADDR. */
  faultEvent: EventInterruptState;
  /** IECTL, IEDATA, IEADDR, IEUADDR. */
  invalidationEvent: EventInterruptState;
  /** The invalidation queue. */
  queue: InvalidationQueueState;
  /** Cached context entries. */
  contextCache: ContextCacheState;
  /** Cached second-level translations. */
  iotlbEntries: IotlbState;
  /** Cached IRTEs. */
  interruptEntryCache: InterruptEntryCacheState;
}

/** Reads the fault recorder part. */
export function readFaults(r: StateReader): FaultRecorderState {
  return {
    status: r.u32('status'),
    next: r.int('next', 0, VTD_FAULT_RECORDING_REGISTERS - 1),
    records: r.intArray('records', 0, 0xffff_ffff, VTD_FAULT_RECORDING_REGISTERS * 4),
    droppedOverflowPending: r.int('droppedOverflowPending', 0, Number.MAX_SAFE_INTEGER),
    droppedOverflow: r.int('droppedOverflow', 0, Number.MAX_SAFE_INTEGER),
  };
}

/** Reads an event-interrupt part. */
export function readEvent(r: StateReader): EventInterruptState {
  return { control: r.u32('control'), data: r.u32('data'), address: r.u32('address'), upperAddress: r.u32('upperAddress') };
}

/** Reads the invalidation queue part. */
export function readQueue(r: StateReader): InvalidationQueueState {
  return {
    enabled: r.bool('enabled'),
    addressLow: r.u32('addressLow'),
    addressHigh: r.u32('addressHigh'),
    head: r.int('head', 0, 0x7fff),
    tail: r.int('tail', 0, 0x7fff),
    completionStatus: r.int('completionStatus', 0, 1),
    errorInfo: r.int('errorInfo', 0, 15),
    processed: r.int('processed', 0, Number.MAX_SAFE_INTEGER),
  };
}

/** Reads an array of fixed-length integer rows, each column within `[0, max]`. */
export function readRows(r: StateReader, key: string, width: number, max: readonly number[]): number[][] {
  const raw = r.raw(key);
  if (!Array.isArray(raw)) throw new SnapshotError('shape', `${r.path}.${key} must be an array, got ${describeValue(raw)}`);
  return raw.map((row: unknown, i) => {
    if (!Array.isArray(row) || row.length !== width) throw new SnapshotError('shape', `${r.path}.${key}[${i}] must be an array of ${width} integers, got ${describeValue(row)}`);
    return row.map((v: unknown, j) => {
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max[j]!) {
        throw new SnapshotError('shape', `${r.path}.${key}[${i}][${j}] must be an integer in [0, ${max[j]!}], got ${describeValue(v)}`);
      }
      return v;
    });
  });
}
