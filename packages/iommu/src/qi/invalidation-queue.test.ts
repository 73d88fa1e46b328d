import { describe, expect, it } from 'vitest';
import { EVENT_CTL, FSTS, IQEI, VTD } from '../regs.js';
import { UsageError } from '@hvsim/core';
import { TestBed, ccDescriptor, iecDescriptor, iotlbDescriptor, waitDescriptor } from '../test-support/testbed.js';
import { contextCacheInvalidateDescriptor, iecInvalidateDescriptor, invalidationWaitDescriptor, iotlbInvalidateDescriptor } from './descriptors.js';

function queue(qs = 0): TestBed {
  const bed = new TestBed();
  bed.enableQueue(qs);
  return bed;
}

describe('VT-d 6.5.2 queued invalidation', () => {
  it('processes from IQH up to IQT, and resets IQH when disabled (VT-d 11.4.9.1-3)', () => {
    const bed = queue();
    expect(bed.read32(VTD.GSTS) & (1 << 26)).toBe(1 << 26);
    bed.submit(ccDescriptor(1), iotlbDescriptor(1), iecDescriptor(true));
    expect(bed.read32(VTD.IQH)).toBe(3 << 4);
    expect(bed.read32(VTD.IQT)).toBe(3 << 4);
    expect(bed.iommu.stats.invalidationDescriptors).toBe(3);
    bed.command(1 << 26, false);
    expect(bed.read32(VTD.IQH)).toBe(0);
    // Descriptors queued before enabling are processed when QI is enabled.
    bed.writeEntry(bed.queueBase, ...waitDescriptor({ statusAddress: 0x8000, statusData: 9 }));
    bed.write32(VTD.IQT, 1 << 4);
    expect(bed.memory.read32(0x8000)).toBe(0);
    bed.command(1 << 26);
    expect(bed.memory.read32(0x8000)).toBe(9);
  });

  it('writes the status data of an invalidation wait descriptor (VT-d 6.5.2.8)', () => {
    const bed = queue();
    bed.submit(waitDescriptor({ statusAddress: 0x8000, statusData: 0xdead_beef }));
    expect(bed.memory.read32(0x8000)).toBe(0xdead_beef);
    expect(bed.read32(VTD.ICS)).toBe(0);
  });

  it('sets ICS.IWC and raises the invalidation completion event for IF = 1 (VT-d 6.5.2.8, 11.4.9.4-5)', () => {
    const bed = queue();
    bed.write32(VTD.IEDATA, 0x51);
    bed.write32(VTD.IEADDR, 0xfee0_0000);
    bed.submit(waitDescriptor({ interrupt: true }));
    expect(bed.read32(VTD.ICS)).toBe(1);
    expect(bed.read32(VTD.IECTL)).toBe((EVENT_CTL.IM | EVENT_CTL.IP) >>> 0);
    bed.write32(VTD.IECTL, 0);
    expect(bed.target.deliveries.map((d) => d.data)).toEqual([0x51]);
    // IWC still set: another wait is not a new condition. Clearing IWC re-arms.
    bed.submit(waitDescriptor({ interrupt: true }));
    expect(bed.target.deliveries).toHaveLength(1);
    bed.write32(VTD.ICS, 1);
    expect(bed.read32(VTD.ICS)).toBe(0);
    bed.submit(waitDescriptor({ interrupt: true }));
    expect(bed.target.deliveries).toHaveLength(2);
    expect(bed.iommu.stats.invalidationEvents).toBe(2);
  });

  it('wraps around the end of the queue', () => {
    const bed = queue(0); // 256 entries
    for (let i = 0; i < 300; i++) bed.submit(waitDescriptor({ statusAddress: 0x8000, statusData: i }));
    expect(bed.memory.read32(0x8000)).toBe(299);
    expect(bed.read32(VTD.IQH) >>> 4).toBe(300 % 256);
  });

  it.each([
    ['reserved field in a context-cache descriptor', [0x1 | 0x10 | 0x40, 0, 0, 0], IQEI.RESERVED_FIELD],
    ['reserved granularity 0 in an IOTLB descriptor', [0x2, 0, 0, 0], IQEI.RESERVED_FIELD],
    ['IEC index mask above MHMV', [0x4 | 0x10 | (16 << 27), 0, 0, 0], IQEI.RESERVED_FIELD],
    ['device-TLB descriptor without ECAP.DT', [0x3, 0, 0, 0], IQEI.INVALID_DESCRIPTOR_TYPE],
    ['PASID-cache descriptor without ECAP.SMTS', [0x7, 0, 0, 0], IQEI.INVALID_DESCRIPTOR_TYPE],
    ['type 0', [0, 0, 0, 0], IQEI.INVALID_DESCRIPTOR_TYPE],
    ['type bits 6:4 set', [0x1 | 0x200, 0, 0, 0], IQEI.INVALID_DESCRIPTOR_TYPE],
    ['wait descriptor status address bits 1:0', [0x25, 0, 0x8001, 0], IQEI.RESERVED_FIELD],
  ] as const)('stops at an invalid descriptor with FSTS.IQE and IQERCD.IQEI: %s (VT-d 6.5.2.10)', (_name, dsc, iqei) => {
    const bed = queue();
    bed.submit(waitDescriptor({ statusAddress: 0x8000, statusData: 1 }), [...dsc], waitDescriptor({ statusAddress: 0x8000, statusData: 2 }));
    expect(bed.read32(VTD.FSTS) & FSTS.IQE).toBe(FSTS.IQE);
    expect(bed.read32(VTD.IQERCD)).toBe(iqei);
    expect(bed.read32(VTD.IQH) >>> 4).toBe(1);
    expect(bed.memory.read32(0x8000)).toBe(1);
    // Software fixes the descriptor and clears IQE: processing resumes at IQH.
    bed.writeEntry(bed.queueBase + 16, ...waitDescriptor({ statusAddress: 0x9000, statusData: 7 }));
    bed.write32(VTD.FSTS, FSTS.IQE);
    expect(bed.memory.read32(0x9000)).toBe(7);
    expect(bed.memory.read32(0x8000)).toBe(2);
    expect(bed.read32(VTD.IQH) >>> 4).toBe(3);
  });

  it('reports a tail beyond the queue size (IQEI 1) and a descriptor fetch error (IQEI 2)', () => {
    const bed = queue(0);
    bed.write32(VTD.IQT, 256 << 4);
    expect(bed.read32(VTD.IQERCD)).toBe(IQEI.INVALID_TAIL_POINTER);
    const far = new TestBed();
    far.write64(VTD.IQA, 0x2000_0000n);
    far.command(1 << 26);
    far.write32(VTD.IQT, 1 << 4);
    expect(far.read32(VTD.FSTS) & FSTS.IQE).toBe(FSTS.IQE);
    expect(far.read32(VTD.IQERCD)).toBe(IQEI.DESCRIPTOR_FETCH_ERROR);
  });

  it('rejects 256-bit descriptors without scalable mode (IQA.DW, IQEI 5)', () => {
    const bed = new TestBed();
    bed.write64(VTD.IQA, BigInt(bed.allocPage()) | 0x800n);
    bed.command(1 << 26);
    bed.write32(VTD.IQT, 1 << 4);
    expect(bed.read32(VTD.IQERCD)).toBe(IQEI.INVALID_DESCRIPTOR_WIDTH);
  });

  it('raises the fault event for IQE (VT-d 7.3)', () => {
    const bed = queue();
    bed.write32(VTD.FEDATA, 0x60);
    bed.write32(VTD.FEADDR, 0xfee0_0000);
    bed.write32(VTD.FECTL, 0);
    bed.submit([0, 0, 0, 0]);
    expect(bed.target.deliveries.map((d) => d.data)).toEqual([0x60]);
  });

  it('stores IQT without processing while queued invalidation is disabled', () => {
    const bed = new TestBed();
    bed.write32(VTD.IQT, 5 << 4);
    expect(bed.read32(VTD.IQT)).toBe(5 << 4);
    expect(bed.read32(VTD.IQH)).toBe(0);
  });
});

describe('descriptor encoders (VT-d 6.5.2.1, 6.5.2.3, 6.5.2.7, 6.5.2.8)', () => {
  it('places every field at its spec bit', () => {
    // Type 3:0; G 5:4; DID 31:16; SID 47:32; FM 49:48.
    expect(contextCacheInvalidateDescriptor(3, 0x12, 0x0318, 3)).toEqual([0x0012_0031, 0x0003_0318, 0, 0]);
    // Type 2; G 5:4; DID 31:16; AM 69:64; ADDR 127:76.
    expect(iotlbInvalidateDescriptor(3, 7, 0x12_3456_7000, 2)).toEqual([0x0007_0032, 0, 0x3456_7002, 0x12]);
    // Type 4; G bit 4 (0 global, 1 index-selective); IM 31:27; IIDX 47:32.
    expect(iecInvalidateDescriptor(true)).toEqual([0x4, 0, 0, 0]);
    expect(iecInvalidateDescriptor(false, 0x1234, 3)).toEqual([0x1800_0014, 0x1234, 0, 0]);
    // Type 5; IF bit 4; SW bit 5; status data 63:32; status address 127:66.
    expect(invalidationWaitDescriptor({ statusAddress: 0x1_0000_8004, statusData: 0xdead_beef, interrupt: true })).toEqual([0x35, 0xdead_beef, 0x8004, 1]);
    expect(invalidationWaitDescriptor()).toEqual([0x5, 0, 0, 0]);
  });

  it('rejects values that do not fit their fields with usage errors', () => {
    expect(() => contextCacheInvalidateDescriptor(2, 0x1_0000)).toThrow(/domain ID/);
    expect(() => iotlbInvalidateDescriptor(3, 1, 0x1000, 64)).toThrow(/address mask/);
    expect(() => iecInvalidateDescriptor(false, 0x1_0000)).toThrow(/interrupt index/);
    expect(() => invalidationWaitDescriptor({ statusAddress: 0x8002 })).toThrow(/4-byte aligned/);
    expect(() => invalidationWaitDescriptor({ statusAddress: 0x8000, statusData: -1 })).toThrow(UsageError);
  });
});
