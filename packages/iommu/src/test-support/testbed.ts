/**
 * Test support: a memory, a recording interrupt target and an IntelIommu,
 * plus builders for the in-memory structures software programs (root and
 * context tables, second-level page tables, the interrupt remapping table,
 * the invalidation queue), using only the register interface and memory.
 */
import { DELIVERY_STATUS, PhysicalMemory, type DeliveryStatus, type Tracer } from '@hvsim/core';
import { IntelIommu } from '../iommu.js';
import type { IommuFeatures } from '../capabilities.js';
import { encodePostedIrte, encodeRemappedIrte } from '../interrupts/irte.js';
import { contextCacheInvalidateDescriptor, iecInvalidateDescriptor, invalidationWaitDescriptor, iotlbInvalidateDescriptor } from '../qi/descriptors.js';
import { GCMD, VTD } from '../regs.js';
import type { IommuInterruptTarget } from '../target.js';

/** One delivery the recording target saw. */
export interface Delivery {
  kind: 'msi' | 'x2apic';
  address: number;
  data: number;
  destination: number;
  sourceId: number | undefined;
}

/** A recording target: every delivery, and the status it answers with (`answer`, DELIVERED by default). */
export type RecordingTarget = IommuInterruptTarget & { deliveries: Delivery[]; answer: DeliveryStatus };

/** Records every delivery; `x2apic` adds deliverX2apicMsi. */
export function recordingTarget(x2apic = false): RecordingTarget {
  const deliveries: Delivery[] = [];
  const target: RecordingTarget = {
    deliveries,
    answer: DELIVERY_STATUS.DELIVERED,
    deliverMsi(address, data, sourceId) {
      deliveries.push({ kind: 'msi', address, data, destination: (address >>> 12) & 0xff, sourceId });
      return target.answer;
    },
  };
  if (x2apic) {
    target.deliverX2apicMsi = (destination, address, data, sourceId) => {
      deliveries.push({ kind: 'x2apic', address, data, destination, sourceId });
      return target.answer;
    };
  }
  return target;
}

/** Page-table entry permissions. */
export interface MapOptions {
  read?: boolean;
  write?: boolean;
  /** 4 KiB (default), 2 MiB or 1 GiB. */
  pageSize?: number;
}

/** A unit wired to memory and a recording target, with table builders. */
export class TestBed {
  readonly memory = new PhysicalMemory();
  readonly target: RecordingTarget;
  readonly iommu: IntelIommu;
  private nextPage = 0x10_0000;
  rootTable = -1;
  /** A second-level root a test keeps here (-1 when none). */
  slRoot = -1;
  private readonly contextTables = new Map<number, number>();
  irt = -1;
  queueBase = -1;
  queueEntries = 0;

  /** `target` replaces the recording target for the unit (then `target.deliveries` stays empty). */
  constructor(options: { features?: IommuFeatures; x2apicTarget?: boolean; tracer?: Tracer; target?: IommuInterruptTarget } = {}) {
    this.memory.addRegion(0, 0x1000_0000, { name: 'ram' });
    this.target = recordingTarget(options.x2apicTarget ?? false);
    this.iommu = new IntelIommu({
      memory: this.memory,
      target: options.target ?? this.target,
      ...(options.features ? { features: options.features } : {}),
      ...(options.tracer ? { tracer: options.tracer } : {}),
    });
  }

  /** A fresh zeroed 4 KiB page (or `count` contiguous pages). */
  allocPage(count = 1): number {
    const at = this.nextPage;
    this.nextPage += count * 0x1000;
    return at;
  }

  read32(offset: number): number {
    return this.iommu.mmioRead(offset, 4);
  }

  write32(offset: number, value: number): void {
    this.iommu.mmioWrite(offset, 4, value >>> 0);
  }

  read64(offset: number): bigint {
    return this.iommu.mmioRead64(offset);
  }

  write64(offset: number, value: bigint): void {
    this.iommu.mmioWrite64(offset, value);
  }

  /** The recommended GCMD sequence (VT-d 11.4.4): status & 0x96FFFFFF, set or clear one bit, write. */
  command(bit: number, on = true): void {
    const status = this.read32(VTD.GSTS) & 0x96ff_ffff;
    this.write32(VTD.GCMD, on ? status | bit : status & ~bit);
  }

  /** Allocates a root table and latches it with SRTP. */
  setRootTable(): number {
    this.rootTable = this.allocPage();
    this.contextTables.clear();
    this.write64(VTD.RTADDR, BigInt(this.rootTable));
    this.command(GCMD.SRTP);
    return this.rootTable;
  }

  /** Writes a 128-bit entry as four dwords. */
  writeEntry(at: number, w0: number, w1: number, w2: number, w3: number): void {
    this.memory.write32(at, w0 >>> 0);
    this.memory.write32(at + 4, w1 >>> 0);
    this.memory.write32(at + 8, w2 >>> 0);
    this.memory.write32(at + 12, w3 >>> 0);
  }

  /** Present root entry for `bus` with a fresh context table. */
  contextTable(bus: number): number {
    let table = this.contextTables.get(bus);
    if (table === undefined) {
      table = this.allocPage();
      this.contextTables.set(bus, table);
      this.writeEntry(this.rootTable + bus * 16, table | 1, 0, 0, 0);
    }
    return table;
  }

  /** Address of the context entry of `sid`. */
  contextEntryAddress(sid: number): number {
    return this.contextTable(sid >>> 8) + (sid & 0xff) * 16;
  }

  /** Present context entry for `sid` in domain `did`; returns the second-level root (allocated unless given). */
  attach(sid: number, did: number, options: { aw?: number; tt?: number; fpd?: boolean; slRoot?: number } = {}): number {
    const slRoot = options.slRoot ?? this.allocPage();
    const tt = options.tt ?? 0;
    this.writeEntry(this.contextEntryAddress(sid), slRoot | (tt << 2) | (options.fpd === true ? 2 : 0) | 1, 0, (did << 8) | (options.aw ?? 2), 0);
    return slRoot;
  }

  /** Maps `iova` to `phys` in the 4-level (or `levels`) tables at `slRoot`. */
  map(slRoot: number, iova: number, phys: number, options: MapOptions = {}, levels = 4): void {
    const perm = (options.read === false ? 0 : 1) | (options.write === false ? 0 : 2);
    const pageSize = options.pageSize ?? 0x1000;
    const leafLevel = pageSize === 0x4000_0000 ? 3 : pageSize === 0x20_0000 ? 2 : 1;
    let table = slRoot;
    for (let level = levels; level > leafLevel; level--) {
      const at = table + (Math.floor(iova / 2 ** (12 + 9 * (level - 1))) % 512) * 8;
      const lo = this.memory.read32(at);
      if ((lo & 3) === 0) {
        const next = this.allocPage();
        this.memory.write32(at, next | 3);
        this.memory.write32(at + 4, 0);
        table = next;
      } else {
        table = lo & 0xffff_f000;
      }
    }
    const at = table + (Math.floor(iova / 2 ** (12 + 9 * (leafLevel - 1))) % 512) * 8;
    this.memory.write32(at, ((phys % 0x1_0000_0000) | perm | (leafLevel > 1 ? 0x80 : 0)) >>> 0);
    this.memory.write32(at + 4, Math.floor(phys / 0x1_0000_0000));
  }

  /** Address of the leaf entry mapping `iova` (4 KiB pages, 4 levels). */
  leafEntry(slRoot: number, iova: number): number {
    let table = slRoot;
    for (let level = 4; level > 1; level--) {
      table = this.memory.read32(table + (Math.floor(iova / 2 ** (12 + 9 * (level - 1))) % 512) * 8) & 0xffff_f000;
    }
    return table + (Math.floor(iova / 0x1000) % 512) * 8;
  }

  /** Sets IRTA (2^(s+1) entries) and latches it with SIRTP. */
  setInterruptTable(s = 0xf, eime = false): number {
    const pages = Math.max(1, (2 ** (s + 1) * 16) / 0x1000);
    this.irt = this.allocPage(pages);
    this.write64(VTD.IRTA, BigInt(this.irt) | (eime ? 0x800n : 0n) | BigInt(s));
    this.command(GCMD.SIRTP);
    return this.irt;
  }

  /** Writes IRTE `index` as four words. */
  writeIrte(index: number, w0: number, w1: number, w2 = 0, w3 = 0): void {
    this.writeEntry(this.irt + index * 16, w0, w1, w2, w3);
  }

  /** A remapped-format IRTE (short field names; see `encodeRemappedIrte`). */
  remappedIrte(
    index: number,
    f: { vector: number; dest: number; x2apic?: boolean; dm?: number; rh?: number; tm?: number; dlm?: number; fpd?: boolean; sid?: number; sq?: number; svt?: number },
  ): void {
    const words = encodeRemappedIrte({
      vector: f.vector,
      destination: f.dest,
      x2apic: f.x2apic === true,
      logical: f.dm === 1,
      redirectionHint: f.rh === 1,
      level: f.tm === 1,
      deliveryMode: f.dlm ?? 0,
      fpd: f.fpd === true,
      sid: f.sid ?? 0,
      sq: f.sq ?? 0,
      svt: f.svt ?? 0,
    });
    this.writeIrte(index, ...words);
  }

  /** A posted-format IRTE (IM = 1; see `encodePostedIrte`). */
  postedIrte(index: number, f: { vector: number; pda: number; urgent?: boolean; fpd?: boolean; sid?: number; sq?: number; svt?: number }): void {
    const { pda, ...rest } = f;
    this.writeIrte(index, ...encodePostedIrte({ ...rest, descriptorAddress: pda }));
  }

  /** Sets up a queue of 2^(qs+8) descriptors and enables queued invalidation. */
  enableQueue(qs = 0): void {
    this.queueEntries = 2 ** (qs + 8);
    this.queueBase = this.allocPage(2 ** qs);
    this.write64(VTD.IQA, BigInt(this.queueBase) | BigInt(qs));
    this.write64(VTD.IQT, 0n);
    this.command(GCMD.QIE);
  }

  /** Writes descriptors at the tail and advances IQT past them (wrapping). */
  submit(...descriptors: [number, number, number, number][]): void {
    let tail = this.read32(VTD.IQT) >>> 4;
    for (const [w0, w1, w2, w3] of descriptors) {
      this.writeEntry(this.queueBase + tail * 16, w0, w1, w2, w3);
      tail = (tail + 1) % this.queueEntries;
    }
    this.write32(VTD.IQT, tail << 4);
  }
}

/** Short names for the public descriptor encoders. */
export const ccDescriptor = contextCacheInvalidateDescriptor;
export const iotlbDescriptor = iotlbInvalidateDescriptor;
export const iecDescriptor = iecInvalidateDescriptor;
export const waitDescriptor = invalidationWaitDescriptor;
