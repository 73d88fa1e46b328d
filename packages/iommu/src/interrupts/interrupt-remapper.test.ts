import { describe, expect, it } from 'vitest';
import { UsageError } from '@hvsim/core';
import { encodeRemappableMsi } from '@hvsim/lapic';
import { VTD_FAULT_REASON as FR } from '../faults/fault-reason.js';
import { GCMD, VTD } from '../regs.js';
import { TestBed, iecDescriptor } from '../test-support/testbed.js';
import { encodePostedIrte, encodeRemappedIrte } from './irte.js';

const SID = 0x0318; // 03:03.0

function remapping(options: { s?: number; eime?: boolean; x2apicTarget?: boolean; cfi?: boolean } = {}): TestBed {
  const bed = new TestBed({ x2apicTarget: options.x2apicTarget ?? false });
  bed.enableQueue();
  bed.setInterruptTable(options.s ?? 0xf, options.eime ?? false);
  bed.submit(iecDescriptor(true));
  bed.command(GCMD.IRE);
  if (options.cfi === true) bed.command(GCMD.CFI);
  return bed;
}

const msi = (handle: number, subhandle?: number): { address: number; data: number } =>
  encodeRemappableMsi({ handle, shv: subhandle !== undefined, subhandle: subhandle ?? 0 });

describe('VT-d 5.1.2 interrupt request formats', () => {
  it('delivers every request in compatibility format while IRES = 0 (VT-d 5.1.1)', () => {
    const bed = new TestBed();
    const r = bed.iommu.sendMsi(SID, 0xfee0_3000, 0x4031);
    expect(r).toMatchObject({ outcome: 'passthrough', faultReason: 0, interruptIndex: -1 });
    expect(bed.target.deliveries).toEqual([{ kind: 'msi', address: 0xfee0_3000, data: 0x4031, destination: 3, sourceId: SID }]);
    // A remappable-format request is processed in compatibility format too (VT-d 5.1.1).
    expect(bed.iommu.sendMsi(SID, 0xfee0_3018, 0x31).outcome).toBe('passthrough');
    expect(bed.target.deliveries[1]).toMatchObject({ address: 0xfee0_3008 });
  });

  it('blocks compatibility-format requests with CFIS = 0 (fault 0x25, VT-d 5.1.2.1)', () => {
    const bed = remapping();
    const r = bed.iommu.sendMsi(SID, 0xfee0_1000, 0x30);
    expect(r).toMatchObject({ outcome: 'blocked', faultReason: FR.IR_COMPATIBILITY_BLOCKED, faultRecorded: true });
    expect(bed.target.deliveries).toEqual([]);
    expect(bed.iommu.faultRecord(0)).toMatchObject({ sourceId: SID, reason: 0x25, read: false });
  });

  it('passes compatibility-format requests with CFIS = 1 unless EIME = 1', () => {
    const bed = remapping({ cfi: true });
    expect(bed.iommu.sendMsi(SID, 0xfee0_1000, 0x30).outcome).toBe('passthrough');
    const x2 = remapping({ cfi: true, eime: true });
    expect(x2.iommu.sendMsi(SID, 0xfee0_1000, 0x30).faultReason).toBe(FR.IR_COMPATIBILITY_BLOCKED);
  });

  it('computes interrupt_index = handle + subhandle when SHV = 1 (VT-d 5.1.2.2)', () => {
    const bed = remapping();
    bed.remappedIrte(0x8005, { vector: 0x41, dest: 2 });
    const { address, data } = msi(0x8000, 5);
    const r = bed.iommu.sendMsi(SID, address, data);
    expect(r).toMatchObject({ outcome: 'remapped', interruptIndex: 0x8005, cacheHit: false });
    expect(bed.target.deliveries).toEqual([{ kind: 'msi', address: 0xfee0_2000, data: 0x4041, destination: 2, sourceId: SID }]);
    // SHV = 0: the data does not add to the handle.
    bed.remappedIrte(0x8000, { vector: 0x42, dest: 3 });
    expect(bed.iommu.sendMsi(SID, (address & ~0x8) >>> 0, 5).interruptIndex).toBe(0x8000);
  });

  it('faults 0x20 for data bits 31:16 set with SHV = 1', () => {
    const bed = remapping();
    const { address } = msi(1, 0);
    expect(bed.iommu.sendMsi(SID, address, 0x1_0000).faultReason).toBe(FR.IR_REQUEST_RESERVED);
  });

  it('faults 0x21 for an index beyond 2^(IRTA.S + 1) entries', () => {
    const bed = remapping({ s: 3 }); // 16 entries
    bed.remappedIrte(15, { vector: 0x40, dest: 0 });
    expect(bed.iommu.sendMsi(SID, msi(15).address, 0).outcome).toBe('remapped');
    const r = bed.iommu.sendMsi(SID, msi(16).address, 0);
    expect(r).toMatchObject({ outcome: 'blocked', faultReason: FR.IR_INDEX_OUT_OF_RANGE, interruptIndex: 16 });
    expect(bed.iommu.faultRecord(0).interruptIndex).toBe(16);
  });

  it('faults 0x22 for a not-present IRTE, recorded unless FPD = 1', () => {
    const bed = remapping();
    expect(bed.iommu.sendMsi(SID, msi(4).address, 0)).toMatchObject({ faultReason: FR.IR_ENTRY_NOT_PRESENT, faultRecorded: true });
    expect(bed.iommu.faultRecord(0)).toMatchObject({ reason: 0x22, interruptIndex: 4, sourceId: SID });
    bed.writeIrte(5, 0x2, 0);
    expect(bed.iommu.sendMsi(SID, msi(5).address, 0)).toMatchObject({ faultReason: FR.IR_ENTRY_NOT_PRESENT, faultRecorded: false });
  });

  it('faults 0x23 when the IRTE cannot be read through IRTA', () => {
    const bed = new TestBed();
    bed.write64(VTD.IRTA, 0x2000_0000n | 0xfn);
    bed.command(GCMD.SIRTP);
    bed.command(GCMD.IRE);
    expect(bed.iommu.sendMsi(SID, msi(1).address, 0).faultReason).toBe(FR.IR_TABLE_ACCESS);
  });

  it.each([
    ['bits 14:12', [0x41 << 16 | 1 | 0x1000, 0x100, 0, 0]],
    ['bits 31:24', [0x41 << 16 | 1 | 0x0100_0000, 0x100, 0, 0]],
    ['xAPIC destination bits 39:32', [0x41 << 16 | 1, 0x101, 0, 0]],
    ['xAPIC destination bits 63:48', [0x41 << 16 | 1, 0x1_0100, 0, 0]],
    ['bits 95:84', [0x41 << 16 | 1, 0x100, 0x0010_0000, 0]],
    ['bits 127:96', [0x41 << 16 | 1, 0x100, 0, 1]],
    ['SVT = 3', [0x41 << 16 | 1, 0x100, 3 << 18, 0]],
    ['delivery mode 3', [0x41 << 16 | 1 | (3 << 5), 0x100, 0, 0]],
    ['delivery mode 6', [0x41 << 16 | 1 | (6 << 5), 0x100, 0, 0]],
    ['posted: bits 7:2', [0x41 << 16 | 1 | 0x8000 | 0x4, 0x4000, 0, 0]],
    ['posted: bits 37:32', [0x41 << 16 | 1 | 0x8000, 0x4001, 0, 0]],
    ['posted: descriptor address above HAW', [0x41 << 16 | 1 | 0x8000, 0x4000, 0, 0x1_0000]],
  ] as const)('faults 0x24 for reserved bits in a present IRTE: %s (VT-d 9.10, 9.11)', (_name, words) => {
    const bed = remapping();
    bed.writeIrte(7, ...(words as unknown as [number, number, number, number]));
    expect(bed.iommu.sendMsi(SID, msi(7).address, 0)).toMatchObject({ outcome: 'blocked', faultReason: FR.IR_ENTRY_RESERVED, faultRecorded: true });
  });

  it('treats IM = 1 as reserved without CAP.PI', () => {
    const bed = new TestBed({ features: { postedInterrupts: false } });
    bed.setInterruptTable();
    bed.command(GCMD.IRE);
    bed.postedIrte(1, { vector: 0x50, pda: 0x4000 });
    expect(bed.iommu.sendMsi(SID, msi(1).address, 0).faultReason).toBe(FR.IR_ENTRY_RESERVED);
  });

  it('delivers remapped attributes: logical mode, RH, level trigger, delivery mode (VT-d 9.10)', () => {
    const bed = remapping();
    bed.remappedIrte(9, { vector: 0x99, dest: 0x0f, dm: 1, rh: 1, tm: 1, dlm: 1 });
    bed.iommu.sendMsi(SID, msi(9).address, 0);
    expect(bed.target.deliveries[0]).toEqual({ kind: 'msi', address: 0xfee0_f00c, data: 0xc199, destination: 0x0f, sourceId: SID });
  });

  it('delivers 32-bit x2APIC destinations when EIME = 1 (VT-d 9.10 Destination ID)', () => {
    const bed = remapping({ eime: true, x2apicTarget: true });
    bed.remappedIrte(2, { vector: 0x61, dest: 0x0001_0203, x2apic: true });
    bed.iommu.sendMsi(SID, msi(2).address, 0);
    expect(bed.target.deliveries).toEqual([{ kind: 'x2apic', address: 0xfee0_0000, data: 0x4061, destination: 0x0001_0203, sourceId: SID }]);
    const narrow = remapping({ eime: true });
    narrow.remappedIrte(2, { vector: 0x61, dest: 0x12, x2apic: true });
    narrow.remappedIrte(3, { vector: 0x61, dest: 0x100, x2apic: true });
    narrow.iommu.sendMsi(SID, msi(2).address, 0);
    expect(narrow.target.deliveries[0]).toMatchObject({ kind: 'msi', destination: 0x12 });
    expect(() => narrow.iommu.sendMsi(SID, msi(3).address, 0)).toThrow(/deliverX2apicMsi/);
  });

  it('rejects non-MSI addresses and bad arguments with usage errors', () => {
    const bed = remapping();
    expect(() => bed.iommu.sendMsi(SID, 0xfed0_0000, 0)).toThrow(UsageError);
    expect(() => bed.iommu.sendMsi(-1, 0xfee0_0000, 0)).toThrow(UsageError);
    expect(() => bed.iommu.sendMsi(SID, 0xfee0_0000, 2 ** 32)).toThrow(UsageError);
  });

  it('treats a DWORD DMA write to 0xFEEx_xxxx as an interrupt request (VT-d 3.15)', () => {
    const bed = remapping();
    bed.remappedIrte(1, { vector: 0x31, dest: 1 });
    expect(bed.iommu.dmaWrite(SID, msi(1).address, 4, 0)).toMatchObject({ status: 'ok', faultReason: 0 });
    expect(bed.target.deliveries).toHaveLength(1);
    expect(bed.iommu.dmaWrite(SID, msi(2).address, 4, 0)).toMatchObject({ status: 'fault', faultReason: FR.IR_ENTRY_NOT_PRESENT });
    expect(bed.iommu.dmaWrite(SID, msi(1).address, 2, 0)).toMatchObject({ status: 'fault', faultReason: FR.IR_REQUEST_RESERVED });
    expect(bed.iommu.faultRecord(1)).toMatchObject({ reason: FR.IR_REQUEST_RESERVED, address: 0, interruptIndex: 0, read: false });
  });
});

describe('VT-d 9.10 source-ID verification (SVT, SQ, SID; fault 0x26)', () => {
  it.each([
    // svt, sq, irte sid, requester, allowed
    [0, 0, 0x0000, 0x1234, true],
    [1, 0, 0x0318, 0x0318, true],
    [1, 0, 0x0318, 0x0319, false],
    [1, 1, 0x0318, 0x031c, true], // bit 2 ignored
    [1, 1, 0x0318, 0x031a, false],
    [1, 2, 0x0318, 0x031e, true], // bits 2:1 ignored
    [1, 2, 0x0318, 0x0319, false],
    [1, 3, 0x0318, 0x031f, true], // function ignored
    [1, 3, 0x0318, 0x0320, false],
    [2, 0, 0x0305, 0x0418, true], // bus 4 in [3, 5]
    [2, 0, 0x0305, 0x0618, false],
    [2, 0, 0x0305, 0x0218, false],
  ] as const)('SVT %i SQ %i SID %i requester %i -> allowed %s', (svt, sq, sid, requester, allowed) => {
    const bed = remapping();
    bed.remappedIrte(1, { vector: 0x40, dest: 0, svt, sq, sid });
    const r = bed.iommu.sendMsi(requester, msi(1).address, 0);
    expect(r.outcome).toBe(allowed ? 'remapped' : 'blocked');
    if (!allowed) expect(r.faultReason).toBe(FR.IR_SOURCE_ID_INVALID);
  });

  it('does not record a source-ID failure when the IRTE has FPD = 1', () => {
    const bed = remapping();
    bed.remappedIrte(1, { vector: 0x40, dest: 0, svt: 1, sid: SID, fpd: true });
    expect(bed.iommu.sendMsi(SID + 1, msi(1).address, 0)).toMatchObject({ faultReason: FR.IR_SOURCE_ID_INVALID, faultRecorded: false });
    expect(bed.iommu.stats.faultsSuppressedByFpd).toBe(1);
  });
});

describe('VT-d 6.2.4 interrupt entry cache', () => {
  it('keeps using a cached IRTE until an IEC invalidation descriptor (VT-d 6.5.2.7)', () => {
    const bed = remapping();
    bed.remappedIrte(0x10, { vector: 0x40, dest: 1 });
    bed.iommu.sendMsi(SID, msi(0x10).address, 0);
    bed.remappedIrte(0x10, { vector: 0x50, dest: 1 });
    expect(bed.iommu.sendMsi(SID, msi(0x10).address, 0).cacheHit).toBe(true);
    expect(bed.target.deliveries[1]!.data & 0xff).toBe(0x40);
    // Index-selective for index 0x11 with mask 0: no effect on 0x10.
    bed.submit(iecDescriptor(false, 0x11, 0));
    bed.iommu.sendMsi(SID, msi(0x10).address, 0);
    expect(bed.target.deliveries[2]!.data & 0xff).toBe(0x40);
    // Mask 1 covers 0x10-0x11.
    bed.submit(iecDescriptor(false, 0x11, 1));
    bed.iommu.sendMsi(SID, msi(0x10).address, 0);
    expect(bed.target.deliveries[3]!.data & 0xff).toBe(0x50);
    expect(bed.iommu.stats.irteReads).toBe(2);
  });

  it('keeps a cached entry after SIRTP (CAP.ESIRTPS = 0) until the global invalidation', () => {
    const bed = remapping();
    bed.remappedIrte(1, { vector: 0x40, dest: 1 });
    bed.iommu.sendMsi(SID, msi(1).address, 0);
    bed.setInterruptTable();
    expect(bed.iommu.sendMsi(SID, msi(1).address, 0).outcome).toBe('remapped');
    bed.submit(iecDescriptor(true));
    expect(bed.iommu.sendMsi(SID, msi(1).address, 0).faultReason).toBe(FR.IR_ENTRY_NOT_PRESENT);
  });

  it('posts through the cached posted IRTE (vector, descriptor) until the IEC invalidation (VT-d 6.5.2.7, 9.11)', () => {
    const bed = remapping();
    bed.postedIrte(7, { vector: 0x41, pda: 0x6000 });
    expect(bed.iommu.sendMsi(SID, msi(7).address, 0)).toMatchObject({ outcome: 'posted', cacheHit: false });
    // KVM moves the route to another vCPU's descriptor and vector; the unit keeps the cached decode.
    bed.postedIrte(7, { vector: 0x42, pda: 0x6040 });
    expect(bed.iommu.sendMsi(SID, msi(7).address, 0)).toMatchObject({ outcome: 'posted', cacheHit: true });
    expect([bed.memory.read32(0x6000 + 8) >>> 1, bed.memory.read32(0x6040 + 8)]).toEqual([1, 0]); // PIR bit 0x41 only
    bed.submit(iecDescriptor(false, 7, 0));
    expect(bed.iommu.sendMsi(SID, msi(7).address, 0)).toMatchObject({ outcome: 'posted', cacheHit: false });
    expect((bed.memory.read32(0x6040 + 8) >>> 2) & 1).toBe(1); // vector 0x42 in the new descriptor
    expect(bed.iommu.stats.irteReads).toBe(2);
  });

  it('checks the index against IRTA.S before the cache: a cached entry beyond a smaller table faults 0x21 (VT-d 5.1.3)', () => {
    const bed = remapping();
    bed.remappedIrte(0x20, { vector: 0x40, dest: 1 });
    expect(bed.iommu.sendMsi(SID, msi(0x20).address, 0).outcome).toBe('remapped');
    bed.setInterruptTable(3); // 16 entries; the entry for 0x20 stays cached
    expect(bed.iommu.cacheSizes.interruptEntryCache).toBe(1);
    expect(bed.iommu.sendMsi(SID, msi(0x20).address, 0)).toMatchObject({ outcome: 'blocked', faultReason: FR.IR_INDEX_OUT_OF_RANGE, cacheHit: false });
  });
});

describe('IRTE encoders (VT-d 9.10 remapped format, 9.11 posted format)', () => {
  it('places every remapped-format field at its spec bit', () => {
    // P 0, FPD 1, DM 2, RH 3, TM 4, DLM 7:5, vector 23:16; xAPIC destination 47:40; SID 79:64, SQ 81:80, SVT 83:82.
    expect(encodeRemappedIrte({ vector: 0x41, destination: 3, logical: true, redirectionHint: true, level: true, deliveryMode: 1, fpd: true, sid: 0x0318, sq: 2, svt: 1 })).toEqual([
      0x0041_003f, 0x0000_0300, 0x0006_0318, 0,
    ]);
    // x2APIC destination: all of bits 63:32.
    expect(encodeRemappedIrte({ vector: 0x20, destination: 0x1234_5678, x2apic: true })).toEqual([0x0020_0001, 0x1234_5678, 0, 0]);
  });

  it('places every posted-format field at its spec bit', () => {
    // P 0, FPD 1, URG 14, IM 15, vector 23:16; PDA-L 63:38 = address 31:6; PDA-H 127:96 = address 63:32.
    expect(encodePostedIrte({ vector: 0x55, descriptorAddress: 0x12_3456_7840, urgent: true, fpd: true, svt: 2, sid: 0x0305 })).toEqual([
      0x0055_c003, 0x3456_7840, 0x0008_0305, 0x12,
    ]);
  });

  it('rejects values that do not fit their fields with usage errors', () => {
    expect(() => encodeRemappedIrte({ vector: 256, destination: 0 })).toThrow(/IRTE vector/);
    expect(() => encodeRemappedIrte({ vector: 0x20, destination: 0x100 })).toThrow(/IRTE destination/);
    expect(() => encodeRemappedIrte({ vector: 0x20, destination: 0, svt: 4 })).toThrow(/SVT/);
    expect(() => encodePostedIrte({ vector: 0x20, descriptorAddress: 0x6020 })).toThrow(/64-byte aligned/);
    expect(() => encodePostedIrte({ vector: 0x20, descriptorAddress: 0x6000, sid: 0x1_0000 })).toThrow(UsageError);
  });
});
