import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { UsageError } from '@hvsim/core';
import { VTD_FAULT_REASON as FR } from '../faults/fault-reason.js';
import { GCMD, VTD } from '../regs.js';
import { itInParts, propertyRuns } from '../test-support/property-share.js';
import { TestBed, ccDescriptor, iotlbDescriptor } from '../test-support/testbed.js';

const SID = 0x0210; // 02:02.0
const DID = 7;

function enabled(): { bed: TestBed; sl: number } {
  const bed = new TestBed();
  bed.setRootTable();
  const sl = bed.attach(SID, DID);
  bed.command(GCMD.TE);
  return { bed, sl };
}

describe('VT-d 3.4 / 3.7 DMA remapping through root, context and second-level tables', () => {
  it('passes DMA through untranslated while TE = 0 (VT-d 11.4.4)', () => {
    const bed = new TestBed();
    bed.memory.write32(0x5000, 0xcafe);
    const r = bed.iommu.dmaRead(SID, 0x5000, 4);
    expect(r).toMatchObject({ status: 'ok', value: 0xcafe, physicalAddress: 0x5000 });
  });

  it('translates 4 KiB pages and keeps the page offset', () => {
    const { bed, sl } = enabled();
    bed.map(sl, 0x7_0000_3000, 0x80_5000);
    bed.memory.write32(0x80_5ff0, 0x1234_5678);
    expect(bed.iommu.dmaRead(SID, 0x7_0000_3ff0, 4)).toMatchObject({ status: 'ok', value: 0x1234_5678, physicalAddress: 0x80_5ff0 });
    expect(bed.iommu.dmaWrite(SID, 0x7_0000_3004, 2, 0xbeef).status).toBe('ok');
    expect(bed.memory.read16(0x80_5004)).toBe(0xbeef);
    expect(bed.iommu.dmaRead(SID, 0x7_0000_3004, 1).value).toBe(0xef);
  });

  it('translates 2 MiB and 1 GiB pages (CAP.SLLPS, VT-d 3.7.1)', () => {
    const { bed, sl } = enabled();
    bed.map(sl, 0x4000_0000, 0x20_0000_0000, { pageSize: 0x20_0000 });
    bed.map(sl, 0x80_0000_0000, 0x40_0000_0000, { pageSize: 0x4000_0000 });
    expect(bed.iommu.dmaRead(SID, 0x4012_3456, 2).physicalAddress).toBe(0x20_0012_3456);
    expect(bed.iommu.dmaRead(SID, 0x80_3456_7890, 4).physicalAddress).toBe(0x40_3456_7890);
  });

  it('walks 3-level tables for AW = 1 (39-bit AGAW) and faults beyond it (LGN.1, 0x4)', () => {
    const bed = new TestBed();
    bed.setRootTable();
    const sl = bed.attach(SID, DID, { aw: 1 });
    bed.command(GCMD.TE);
    bed.map(sl, 0x12_3456_7000, 0x9000, {}, 3);
    expect(bed.iommu.dmaRead(SID, 0x12_3456_7000, 4).physicalAddress).toBe(0x9000);
    expect(bed.iommu.dmaRead(SID, 2 ** 39, 4).faultReason).toBe(FR.ADDRESS_BEYOND_MGAW);
    const { bed: b4 } = enabled();
    expect(b4.iommu.dmaRead(SID, 2 ** 48, 4).faultReason).toBe(FR.ADDRESS_BEYOND_MGAW);
  });

  it('enforces read and write permissions at every level (LGN.2 0x5, LGN.3 0x6)', () => {
    const { bed, sl } = enabled();
    bed.map(sl, 0x1000, 0x9000, { write: false });
    bed.map(sl, 0x2000, 0xa000, { read: false });
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).status).toBe('ok');
    expect(bed.iommu.dmaWrite(SID, 0x1000, 4, 1)).toMatchObject({ status: 'fault', faultReason: FR.WRITE_NOT_PERMITTED, physicalAddress: -1 });
    expect(bed.iommu.dmaRead(SID, 0x2000, 4).faultReason).toBe(FR.READ_NOT_PERMITTED);
    expect(bed.iommu.dmaWrite(SID, 0x2000, 4, 1).status).toBe('ok');
    // Not present (R = W = 0) reads as a permission fault.
    expect(bed.iommu.dmaRead(SID, 0x3000, 4).faultReason).toBe(FR.READ_NOT_PERMITTED);
    expect(bed.iommu.dmaWrite(SID, 0x3000, 4, 0).faultReason).toBe(FR.WRITE_NOT_PERMITTED);
    // A read-only PML4E makes everything below it read-only.
    bed.memory.write32(sl, bed.memory.read32(sl) & ~2);
    bed.write64(VTD.IOTLB, (1n << 63n) | (1n << 60n));
    expect(bed.iommu.dmaWrite(SID, 0x2000, 4, 1).faultReason).toBe(FR.WRITE_NOT_PERMITTED);
  });

  it('checks reserved bits of present second-level entries (LSL.2, 0xc)', () => {
    const { bed, sl } = enabled();
    bed.map(sl, 0x1000, 0x9000);
    const leaf = bed.leafEntry(sl, 0x1000);
    bed.memory.write32(leaf, bed.memory.read32(leaf) | 0x800); // SNP with ECAP.SC = 0
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).faultReason).toBe(FR.PAGING_ENTRY_RESERVED);
    bed.memory.write32(leaf, 0x9003);
    bed.memory.write32(leaf + 4, 0x0001_0000); // address bit 48, above HAW
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).faultReason).toBe(FR.PAGING_ENTRY_RESERVED);
    // PS in a PML4E is reserved.
    bed.memory.write32(sl, bed.memory.read32(sl) | 0x80);
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).faultReason).toBe(FR.PAGING_ENTRY_RESERVED);
    // Bits 20:12 of a 2 MiB leaf are reserved.
    const b2 = enabled();
    b2.bed.map(b2.sl, 0x20_0000, 0x40_1000 - 0x1000 + 0x1000, { pageSize: 0x20_0000 });
    expect(b2.bed.iommu.dmaRead(SID, 0x20_0000, 4).faultReason).toBe(FR.PAGING_ENTRY_RESERVED);
  });

  it('reports an error reading a paging entry (LSL.1, 0x7)', () => {
    const { bed, sl } = enabled();
    bed.memory.write32(sl, 0x2000_0003); // next table outside memory
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).faultReason).toBe(FR.PAGING_ENTRY_ACCESS);
  });

  it('blocks translations into the interrupt address range (LGN.4, 0xe, VT-d 3.15)', () => {
    const { bed, sl } = enabled();
    bed.map(sl, 0x1000, 0xfee0_0000);
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).faultReason).toBe(FR.INTERRUPT_ADDRESS_RANGE);
    expect(bed.iommu.dmaRead(SID, 0xfee0_0000, 4).faultReason).toBe(FR.INTERRUPT_ADDRESS_RANGE);
    // A 1 GiB identity page over 3-4 GiB: only requests landing in 0xFEEx_xxxx are blocked.
    bed.map(sl, 0x1_c000_0000, 0xc000_0000, { pageSize: 0x4000_0000 });
    bed.memory.addRegion(0xc000_0000, 0x2000);
    bed.memory.addRegion(0xfef0_0000, 0x1000);
    expect(bed.iommu.dmaRead(SID, 0x1_c000_1000, 4)).toMatchObject({ status: 'ok', physicalAddress: 0xc000_1000 });
    expect(bed.iommu.dmaRead(SID, 0x1_fee0_1000, 4).faultReason).toBe(FR.INTERRUPT_ADDRESS_RANGE);
    expect(bed.iommu.dmaRead(SID, 0x1_fef0_0000, 4)).toMatchObject({ status: 'ok', physicalAddress: 0xfef0_0000 });
  });

  it('reports root-entry faults: not present 0x1, reserved 0xa, access 0x8 (LRT.1-3)', () => {
    const bed = new TestBed();
    const root = bed.setRootTable();
    bed.command(GCMD.TE);
    expect(bed.iommu.dmaRead(0x0500, 0, 4).faultReason).toBe(FR.ROOT_ENTRY_NOT_PRESENT);
    bed.writeEntry(root + 5 * 16, 0x3000 | 1, 0, 1, 0);
    expect(bed.iommu.dmaRead(0x0500, 0, 4).faultReason).toBe(FR.ROOT_ENTRY_RESERVED);
    bed.write64(VTD.RTADDR, 0x2000_0000n);
    bed.command(GCMD.SRTP);
    expect(bed.iommu.dmaRead(0x0500, 0, 4).faultReason).toBe(FR.ROOT_ENTRY_ACCESS);
  });

  it('reports context-entry faults: not present 0x2, reserved 0xb, invalid 0x3, access 0x9 (LCT.1-4)', () => {
    const bed = new TestBed();
    bed.setRootTable();
    bed.command(GCMD.TE);
    const at = bed.contextEntryAddress(SID);
    expect(bed.iommu.dmaRead(SID, 0, 4).faultReason).toBe(FR.CONTEXT_ENTRY_NOT_PRESENT);
    bed.writeEntry(at, 0x9000 | 0x10 | 1, 0, 2, 0); // bit 4 reserved
    expect(bed.iommu.dmaRead(SID, 0, 4).faultReason).toBe(FR.CONTEXT_ENTRY_RESERVED);
    bed.writeEntry(at, 0x9000 | 1, 0, 2 | 0x80, 0); // high bit 7 reserved
    expect(bed.iommu.dmaRead(SID, 0, 4).faultReason).toBe(FR.CONTEXT_ENTRY_RESERVED);
    bed.writeEntry(at, 0x9000 | 1, 0, 3, 0); // AW = 3 (57-bit) not in SAGAW
    expect(bed.iommu.dmaRead(SID, 0, 4).faultReason).toBe(FR.CONTEXT_ENTRY_INVALID);
    bed.writeEntry(at, 0x9000 | (1 << 2) | 1, 0, 2, 0); // TT = 01b needs ECAP.DT
    expect(bed.iommu.dmaRead(SID, 0, 4).faultReason).toBe(FR.CONTEXT_ENTRY_INVALID);
    bed.writeEntry(at, 0x9000 | (3 << 2) | 1, 0, 2, 0); // TT = 11b reserved
    expect(bed.iommu.dmaRead(SID, 0, 4).faultReason).toBe(FR.CONTEXT_ENTRY_INVALID);
    bed.writeEntry(bed.rootTable + (SID >>> 8) * 16, 0x3000_0000 | 1, 0, 0, 0);
    expect(bed.iommu.dmaRead(SID, 0, 4).faultReason).toBe(FR.CONTEXT_ENTRY_ACCESS);
  });

  it('passes through for TT = 10b when ECAP.PT = 1, and treats it as invalid otherwise', () => {
    const bed = new TestBed();
    bed.setRootTable();
    bed.attach(SID, DID, { tt: 2 });
    bed.command(GCMD.TE);
    expect(bed.iommu.dmaRead(SID, 0x12_3000, 4).physicalAddress).toBe(0x12_3000);
    const noPt = new TestBed({ features: { passThrough: false } });
    noPt.setRootTable();
    noPt.attach(SID, DID, { tt: 2 });
    noPt.command(GCMD.TE);
    expect(noPt.iommu.dmaRead(SID, 0x12_3000, 4).faultReason).toBe(FR.CONTEXT_ENTRY_INVALID);
  });

  it('faults every translated request when RTADDR.TTM is not legacy mode (RTA.1, 0x30)', () => {
    const bed = new TestBed();
    bed.setRootTable();
    bed.write64(VTD.RTADDR, BigInt(bed.rootTable) | (1n << 10n));
    bed.command(GCMD.SRTP);
    bed.command(GCMD.TE);
    expect(bed.iommu.dmaRead(SID, 0, 4).faultReason).toBe(FR.ROOT_TABLE_MODE_INVALID);
  });

  it('isolates domains: a device reaches only what its domain maps', () => {
    const { bed, sl } = enabled();
    const other = bed.attach(0x0300, 9);
    bed.map(sl, 0x1000, 0x9000);
    bed.map(other, 0x1000, 0xa000);
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).physicalAddress).toBe(0x9000);
    expect(bed.iommu.dmaRead(0x0300, 0x1000, 4).physicalAddress).toBe(0xa000);
    expect(bed.iommu.dmaRead(0x0300, 0x2000, 4).status).toBe('fault');
  });

  it('returns unsupported-request when the translated address has no memory', () => {
    const { bed, sl } = enabled();
    bed.map(sl, 0x1000, 0x3000_0000);
    expect(bed.iommu.dmaRead(SID, 0x1000, 4)).toMatchObject({ status: 'unsupported-request', faultReason: 0 });
    expect(bed.iommu.dmaWrite(SID, 0x1000, 4, 5).status).toBe('unsupported-request');
  });

  it('rejects bad arguments with usage errors', () => {
    const { bed } = enabled();
    expect(() => bed.iommu.dmaRead(0x1_0000, 0, 4)).toThrow(UsageError);
    expect(() => bed.iommu.dmaRead(SID, -1, 4)).toThrow(UsageError);
    expect(() => bed.iommu.dmaRead(SID, 0xffe, 4)).toThrow(/crosses a 4 KiB boundary/);
    expect(() => bed.iommu.dmaRead(SID, 0, 8 as never)).toThrow(UsageError);
    expect(() => bed.iommu.dmaWrite(SID, 0, 1, 0x100)).toThrow(UsageError);
  });
});

describe('VT-d 6.2 caching: stale entries stay in use until invalidated (VT-d 6.5)', () => {
  it('keeps using a cached translation after the PTE changes, until IOTLB invalidation (register-based, 11.4.8.1)', () => {
    const { bed, sl } = enabled();
    bed.map(sl, 0x1000, 0x9000);
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).physicalAddress).toBe(0x9000);
    bed.map(sl, 0x1000, 0xa000);
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).physicalAddress).toBe(0x9000);
    // Domain-selective for another domain: no effect. IAIG reports the granularity performed.
    bed.write64(VTD.IOTLB, (1n << 63n) | (2n << 60n) | (99n << 32n));
    expect(Number((bed.read64(VTD.IOTLB) >> 57n) & 3n)).toBe(2);
    expect(bed.read64(VTD.IOTLB) >> 63n).toBe(0n);
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).physicalAddress).toBe(0x9000);
    bed.write64(VTD.IOTLB, (1n << 63n) | (2n << 60n) | (BigInt(DID) << 32n));
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).physicalAddress).toBe(0xa000);
  });

  it('page-selective invalidation removes the pages in its range, including large pages overlapping it', () => {
    const { bed, sl } = enabled();
    bed.map(sl, 0x1000, 0x9000);
    bed.map(sl, 0x2000, 0xa000);
    bed.map(sl, 0x4000_0000, 0x20_0000_0000, { pageSize: 0x20_0000 });
    bed.iommu.dmaRead(SID, 0x1000, 4);
    bed.iommu.dmaRead(SID, 0x2000, 4);
    bed.iommu.dmaRead(SID, 0x4010_0000, 4);
    bed.map(sl, 0x1000, 0xb000);
    bed.map(sl, 0x2000, 0xc000);
    bed.map(sl, 0x4000_0000, 0x30_0000_0000, { pageSize: 0x20_0000 });
    // PSI of 0x1000 only (AM = 0).
    bed.write64(VTD.IVA, 0x1000n);
    bed.write64(VTD.IOTLB, (1n << 63n) | (3n << 60n) | (BigInt(DID) << 32n));
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).physicalAddress).toBe(0xb000);
    expect(bed.iommu.dmaRead(SID, 0x2000, 4).physicalAddress).toBe(0xa000);
    // PSI of one 4 KiB page inside the 2 MiB page removes the whole large-page entry.
    bed.write64(VTD.IVA, 0x4000_0000n);
    bed.write64(VTD.IOTLB, (1n << 63n) | (3n << 60n) | (BigInt(DID) << 32n));
    expect(bed.iommu.dmaRead(SID, 0x4010_0000, 4).physicalAddress).toBe(0x30_0010_0000);
    // AM = 1 covers 0x2000-0x3fff.
    bed.write64(VTD.IVA, 0x2000n | 1n);
    bed.write64(VTD.IOTLB, (1n << 63n) | (3n << 60n) | (BigInt(DID) << 32n));
    expect(bed.iommu.dmaRead(SID, 0x2000, 4).physicalAddress).toBe(0xc000);
  });

  it('reports an invalid IOTLB request with IAIG = 0 and does nothing (VT-d 11.4.8.1)', () => {
    const { bed, sl } = enabled();
    bed.map(sl, 0x1000, 0x9000);
    bed.iommu.dmaRead(SID, 0x1000, 4);
    bed.map(sl, 0x1000, 0xa000);
    bed.write64(VTD.IOTLB, (1n << 63n) | (0n << 60n));
    expect(Number((bed.read64(VTD.IOTLB) >> 57n) & 3n)).toBe(0);
    bed.write64(VTD.IVA, 0x1000n | 19n); // AM above MAMV = 18
    bed.write64(VTD.IOTLB, (1n << 63n) | (3n << 60n) | (BigInt(DID) << 32n));
    expect(Number((bed.read64(VTD.IOTLB) >> 57n) & 3n)).toBe(0);
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).physicalAddress).toBe(0x9000);
  });

  it('keeps using a cached context entry until context-cache invalidation (CCMD, 11.4.7)', () => {
    const { bed, sl } = enabled();
    bed.map(sl, 0x1000, 0x9000);
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).status).toBe('ok');
    expect(bed.iommu.cacheSizes.contextCache).toBe(1);
    bed.writeEntry(bed.contextEntryAddress(SID), 0, 0, 0, 0);
    bed.write64(VTD.IOTLB, (1n << 63n) | (1n << 60n));
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).status).toBe('ok');
    // Device-selective for another device (function 1 without mask): no effect.
    bed.write64(VTD.CCMD, (1n << 63n) | (3n << 61n) | (BigInt(SID | 1) << 16n));
    expect(Number((bed.read64(VTD.CCMD) >> 59n) & 3n)).toBe(3);
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).status).toBe('ok');
    // With FM = 3 the function bits are ignored: 02:02.1 covers 02:02.0.
    bed.write64(VTD.CCMD, (1n << 63n) | (3n << 61n) | (3n << 32n) | (BigInt(SID | 1) << 16n));
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).faultReason).toBe(FR.CONTEXT_ENTRY_NOT_PRESENT);
  });

  it('invalidates the context cache by domain, and reports CIRG = 0 as ignored (CAIG = 0)', () => {
    const { bed } = enabled();
    bed.iommu.dmaRead(SID, 0x1000, 4);
    bed.write64(VTD.CCMD, (1n << 63n) | (0n << 61n));
    expect(Number((bed.read64(VTD.CCMD) >> 59n) & 3n)).toBe(0);
    expect(bed.iommu.cacheSizes.contextCache).toBe(1);
    bed.write64(VTD.CCMD, (1n << 63n) | (2n << 61n) | BigInt(DID));
    expect(bed.iommu.cacheSizes.contextCache).toBe(0);
  });

  it('does not cache faulting lookups (CAP.CM = 0): a new mapping works at once', () => {
    const { bed, sl } = enabled();
    expect(bed.iommu.dmaRead(SID, 0x5000, 4).status).toBe('fault');
    bed.map(sl, 0x5000, 0x9000);
    expect(bed.iommu.dmaRead(SID, 0x5000, 4).status).toBe('ok');
  });

  it('invalidates through queued descriptors too (VT-d 6.5.2.1, 6.5.2.3)', () => {
    const { bed, sl } = enabled();
    bed.enableQueue();
    bed.map(sl, 0x1000, 0x9000);
    bed.iommu.dmaRead(SID, 0x1000, 4);
    bed.map(sl, 0x1000, 0xa000);
    bed.submit(iotlbDescriptor(3, DID, 0x1000, 0));
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).physicalAddress).toBe(0xa000);
    bed.writeEntry(bed.contextEntryAddress(SID), 0, 0, 0, 0);
    bed.submit(ccDescriptor(1), iotlbDescriptor(1));
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).faultReason).toBe(FR.CONTEXT_ENTRY_NOT_PRESENT);
  });

  it('re-walks when a cached entry lacks the permission needed (documented choice)', () => {
    const { bed, sl } = enabled();
    bed.map(sl, 0x1000, 0x9000, { write: false });
    bed.iommu.dmaRead(SID, 0x1000, 4);
    bed.map(sl, 0x1000, 0x9000);
    expect(bed.iommu.dmaWrite(SID, 0x1000, 4, 1).status).toBe('ok');
  });
});

describe('translation equals the page tables after invalidation (property, VT-d 3.7, 6.5)', () => {
  itInParts('every access reaches the mapped frame or faults exactly where nothing is mapped, cached or not', propertyRuns(100), 4, (params) => {
    // Up to 16 2 MiB regions, each one large page or a few 4 KiB pages; accesses, remaps with PSI.
    const region = fc.record({
      slot: fc.integer({ min: 0, max: 15 }),
      large: fc.boolean(),
      pages: fc.uniqueArray(fc.integer({ min: 0, max: 511 }), { minLength: 1, maxLength: 4 }),
      writable: fc.boolean(),
    });
    const step = fc.oneof(
      fc.record({ kind: fc.constant('access' as const), slot: fc.integer({ min: 0, max: 15 }), page: fc.integer({ min: 0, max: 511 }), offset: fc.integer({ min: 0, max: 1023 }), write: fc.boolean() }),
      fc.record({ kind: fc.constant('remap' as const), pick: fc.nat(), frame: fc.integer({ min: 0x400, max: 0x7ff }) }),
    );
    fc.assert(
      fc.property(fc.uniqueArray(region, { selector: (r) => r.slot, maxLength: 8 }), fc.array(step, { maxLength: 60 }), (regions, steps) => {
        const { bed, sl } = enabled();
        // Reference: 4 KiB input page -> [frame, writable].
        const ref = new Map<number, [number, boolean]>();
        const small: number[] = [];
        for (const r of regions) {
          const base = 0x4000_0000 + r.slot * 0x20_0000;
          if (r.large) {
            const phys = 0x800_0000 + r.slot * 0x20_0000;
            bed.map(sl, base, phys, { pageSize: 0x20_0000, write: r.writable });
            for (let p = 0; p < 512; p++) ref.set(base / 0x1000 + p, [phys + p * 0x1000, r.writable]);
          } else {
            for (const p of r.pages) {
              const phys = 0x200_0000 + (r.slot * 512 + p) * 0x1000;
              bed.map(sl, base + p * 0x1000, phys, { write: r.writable });
              ref.set(base / 0x1000 + p, [phys, r.writable]);
              small.push(base / 0x1000 + p);
            }
          }
        }
        // Each access is recorded as [status, fault reason, physical address] beside what the
        // reference expects, and the two lists are compared once per run.
        const seen: unknown[] = [];
        const want: unknown[] = [];
        for (const s of steps) {
          if (s.kind === 'remap') {
            if (small.length === 0) continue;
            const page = small[s.pick % small.length]!;
            const old = ref.get(page)!;
            const phys = s.frame * 0x1000;
            bed.map(sl, page * 0x1000, phys, { write: old[1] });
            ref.set(page, [phys, old[1]]);
            // Page-selective invalidation, as software must do after changing a present entry.
            bed.write64(VTD.IVA, BigInt(page * 0x1000));
            bed.write64(VTD.IOTLB, (1n << 63n) | (3n << 60n) | (BigInt(DID) << 32n));
            continue;
          }
          const iova = 0x4000_0000 + s.slot * 0x20_0000 + s.page * 0x1000 + s.offset * 4;
          const expected = ref.get(Math.floor(iova / 0x1000));
          const r = s.write ? bed.iommu.dmaWrite(SID, iova, 4, 1) : bed.iommu.dmaRead(SID, iova, 4);
          if (expected === undefined) {
            seen.push(`${iova}`, r.status, r.faultReason);
            want.push(`${iova}`, 'fault', s.write ? FR.WRITE_NOT_PERMITTED : FR.READ_NOT_PERMITTED);
          } else if (s.write && !expected[1]) {
            seen.push(`${iova}`, r.faultReason);
            want.push(`${iova}`, FR.WRITE_NOT_PERMITTED);
          } else {
            seen.push(`${iova}`, r.status, r.physicalAddress);
            want.push(`${iova}`, 'ok', expected[0] + (iova % 0x1000));
          }
        }
        expect(seen).toEqual(want);
      }),
      params,
    );
  });
});

describe('burst DMA split at 4 KiB boundaries (PCIe; VT-d 3.4)', () => {
  it('translates each page of a burst and stops at the first fault', () => {
    const { bed, sl } = enabled();
    bed.map(sl, 0x1000, 0x9000);
    bed.map(sl, 0x2000, 0x5000);
    const out = new Uint8Array(0x1800);
    bed.memory.writeBytes(0x9800, new Uint8Array(0x800).fill(0xaa));
    bed.memory.writeBytes(0x5000, new Uint8Array(0x1000).fill(0xbb));
    const r = bed.iommu.dmaReadBytes(SID, 0x1800, out);
    expect(r).toMatchObject({ status: 'ok', value: 0x1800 });
    expect(out[0]).toBe(0xaa);
    expect(out[0x7ff]).toBe(0xaa);
    expect(out[0x800]).toBe(0xbb);
    // Page 0x3000 is not mapped: 0x1000 bytes land, then the fault.
    const w = bed.iommu.dmaWriteBytes(SID, 0x2000, new Uint8Array(0x1800).fill(0xcc));
    expect(w).toMatchObject({ status: 'fault', faultReason: FR.WRITE_NOT_PERMITTED, value: 0x1000 });
    expect(bed.memory.read8(0x5fff)).toBe(0xcc);
    expect(bed.iommu.faultRecord(0)).toMatchObject({ address: 0x3000, read: false });
  });

  it('never treats a burst as an interrupt request', () => {
    const bed = new TestBed();
    bed.memory.addRegion(0xfed0_0000, 0x10_0000);
    expect(bed.iommu.dmaReadBytes(SID, 0xfedf_f000, new Uint8Array(0x2000))).toMatchObject({ status: 'fault', faultReason: FR.INTERRUPT_ADDRESS_RANGE, value: 0x1000 });
    expect(bed.iommu.dmaWriteBytes(SID, 0xfee0_0000, new Uint8Array(4))).toMatchObject({ faultReason: FR.IR_REQUEST_RESERVED, value: 0 });
  });
});
