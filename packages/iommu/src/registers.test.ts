import { describe, expect, it } from 'vitest';
import { MmioBus, getField, UsageError } from '@hvsim/core';
import { CAP, ECAP } from './capabilities.js';
import { EVENT_CTL, FSTS, GCMD, VTD_REG } from './regs.js';
import { TestBed } from './test-support/testbed.js';
import { registerDescriptions } from './register-file.js';

const cap64 = (bed: TestBed): number => Number(bed.read64(VTD_REG.CAP_REG));
const field64 = (value: bigint, f: { lsb: number; width: number }): number => Number((value >> BigInt(f.lsb)) & ((1n << BigInt(f.width)) - 1n));

describe('VT-d 11.4 register reset values and access types', () => {
  // register, size, value written, expected read-back after the write
  const table: [name: string, offset: number, write: number, expected: number][] = [
    ['VER_REG (RO)', VTD_REG.VER_REG, 0xffff_ffff, 0x10],
    ['GSTS_REG (RO)', VTD_REG.GSTS_REG, 0xffff_ffff, 0],
    ['GCMD_REG (WO, reads 0)', VTD_REG.GCMD_REG, 0, 0],
    ['RTADDR_REG bits 9:0 RsvdZ', VTD_REG.RTADDR_REG, 0x0012_3fff, 0x0012_3c00],
    ['FSTS_REG RW1C with nothing set', VTD_REG.FSTS_REG, 0xffff_ffff, 0],
    ['FECTL_REG: IP read-only, IM RW', VTD_REG.FECTL_REG, 0x4000_0000, 0],
    ['FEDATA_REG bits 31:16 reserved', VTD_REG.FEDATA_REG, 0xabcd_1234, 0x1234],
    ['FEADDR_REG bits 1:0 reserved', VTD_REG.FEADDR_REG, 0xfee0_0003, 0xfee0_0000],
    ['FEUADDR_REG RW', VTD_REG.FEUADDR_REG, 0x1234_5600, 0x1234_5600],
    ['IQH_REG (RO)', VTD_REG.IQH_REG, 0x70, 0],
    ['IQA_REG bits 10:3 reserved', VTD_REG.IQA_REG, 0x0020_0fff, 0x0020_0807],
    ['ICS_REG RW1C, nothing set', VTD_REG.ICS_REG, 1, 0],
    ['IECTL_REG: IM RW', VTD_REG.IECTL_REG, 0, 0],
    ['IRTA_REG bits 10:4 reserved', VTD_REG.IRTA_REG, 0x0030_0fff, 0x0030_080f],
    ['IVA_REG bits 11:7 reserved', VTD_REG.IVA_REG, 0x0040_0fff, 0x0040_007f],
    ['AFLOG_REG (CAP.AFL = 0: reserved)', VTD_REG.AFLOG_REG, 0xffff_ffff, 0],
    ['PMEN_REG (PLMR = PHMR = 0: reserved)', VTD_REG.PMEN_REG, 0x8000_0000, 0],
    ['IQERCD_REG (RO)', VTD_REG.IQERCD_REG, 0xf, 0],
    ['FRCD_REG word 0 (RO)', VTD_REG.FRCD_REG, 0xffff_ffff, 0],
    ['reserved offset 0x30', 0x30, 0xffff_ffff, 0],
  ];
  it.each(table)('%s', (_name, offset, write, expected) => {
    const bed = new TestBed();
    bed.write32(offset, write);
    expect(bed.read32(offset)).toBe(expected);
  });

  it('resets FECTL and IECTL with the interrupt masked (VT-d 11.4.7.1, 11.4.9.5)', () => {
    const bed = new TestBed();
    expect(bed.read32(VTD_REG.FECTL_REG)).toBe(EVENT_CTL.IM >>> 0);
    expect(bed.read32(VTD_REG.IECTL_REG)).toBe(EVENT_CTL.IM >>> 0);
  });

  it('reports what it implements in CAP_REG (VT-d 11.4.2)', () => {
    const bed = new TestBed();
    const cap = bed.read64(VTD_REG.CAP_REG);
    expect(field64(cap, CAP.ND)).toBe(6);
    expect(field64(cap, CAP.SAGAW)).toBe(0b00110);
    expect(field64(cap, CAP.MGAW)).toBe(47);
    expect(field64(cap, CAP.FRO) * 16).toBe(VTD_REG.FRCD_REG);
    expect(field64(cap, CAP.NFR)).toBe(7);
    expect(field64(cap, CAP.SLLPS)).toBe(0b11);
    expect(field64(cap, CAP.PSI)).toBe(1);
    expect(field64(cap, CAP.PI)).toBe(1);
    expect(field64(cap, CAP.CM)).toBe(0);
    expect(field64(cap, CAP.RWBF)).toBe(0);
    expect(field64(cap, CAP.ESIRTPS)).toBe(0);
    expect(cap64(bed)).toBe(Number(cap));
    const noPi = new TestBed({ features: { postedInterrupts: false } });
    expect(field64(noPi.read64(VTD_REG.CAP_REG), CAP.PI)).toBe(0);
  });

  it('reports what it implements in ECAP_REG (VT-d 11.4.3)', () => {
    const bed = new TestBed();
    const ecap = bed.read64(VTD_REG.ECAP_REG);
    expect(field64(ecap, ECAP.QI)).toBe(1);
    expect(field64(ecap, ECAP.IR)).toBe(1);
    expect(field64(ecap, ECAP.EIM)).toBe(1);
    expect(field64(ecap, ECAP.PT)).toBe(1);
    expect(field64(ecap, ECAP.DT)).toBe(0);
    expect(field64(ecap, ECAP.SC)).toBe(0);
    expect(field64(ecap, ECAP.SMTS)).toBe(0);
    expect(field64(ecap, ECAP.IRO) * 16).toBe(VTD_REG.IVA_REG);
    expect(field64(ecap, ECAP.MHMV)).toBe(15);
    // CAP/ECAP are read-only.
    bed.write64(VTD_REG.ECAP_REG, 0n);
    expect(bed.read64(VTD_REG.ECAP_REG)).toBe(ecap);
    const noEim = new TestBed({ features: { extendedInterruptMode: false } });
    expect(field64(noEim.read64(VTD_REG.ECAP_REG), ECAP.EIM)).toBe(0);
    // IRTA.EIME, FEUADDR and IEUADDR are reserved without ECAP.EIM.
    noEim.write32(VTD_REG.IRTA_REG, 0x800);
    expect(noEim.read32(VTD_REG.IRTA_REG)).toBe(0);
    noEim.write32(VTD_REG.FEUADDR_REG, 0x100);
    noEim.write32(VTD_REG.IEUADDR_REG, 0x100);
    expect([noEim.read32(VTD_REG.FEUADDR_REG), noEim.read32(VTD_REG.IEUADDR_REG)]).toEqual([0, 0]);
  });

  it('gives 64-bit registers as one 64-bit or two 32-bit accesses (VT-d 10.2)', () => {
    const bed = new TestBed();
    bed.write64(VTD_REG.IRTA_REG, 0x0000_0012_3456_7000n | 0x80fn);
    expect(bed.read32(VTD_REG.IRTA_REG)).toBe(0x3456_780f);
    expect(bed.read32(VTD_REG.IRTA_REG + 4)).toBe(0x12);
    expect(bed.read64(VTD_REG.IRTA_REG)).toBe(0x12_3456_780fn);
    expect(bed.iommu.mmioRead(VTD_REG.VER_REG, 1)).toBe(0x10);
    expect(bed.iommu.mmioRead(VTD_REG.IRTA_REG + 1, 2)).toBe(0x5678);
    expect(() => bed.iommu.mmioRead64(VTD_REG.IRTA_REG + 4)).toThrow(/8-byte aligned/);
    expect(() => bed.iommu.mmioRead(0x1000, 4)).toThrow(UsageError);
    // A value that is not an unsigned 64-bit integer is a usage error, not silently truncated.
    expect(() => bed.iommu.mmioWrite64(VTD_REG.IRTA_REG, -1n)).toThrow(UsageError);
    expect(() => bed.iommu.mmioWrite64(VTD_REG.IRTA_REG, 1n << 64n)).toThrow(/unsigned 64-bit/);
    expect(bed.read64(VTD_REG.IRTA_REG)).toBe(0x12_3456_780fn);
  });

  it('works behind an MmioBus at the DRHD register base (VT-d 8.3 DRHD, 10.2)', () => {
    const bed = new TestBed();
    const bus = new MmioBus();
    bus.map(0xfed9_0000, 0x1000, bed.iommu, 'dmar0');
    expect(bus.read(0xfed9_0000 + VTD_REG.VER_REG, 4)).toBe(0x10);
    bus.write64(0xfed9_0000 + VTD_REG.IRTA_REG, 0x20_0000n | 0xfn);
    bus.write(0xfed9_0000 + VTD_REG.GCMD_REG, 4, GCMD.SIRTP);
    expect(bus.read(0xfed9_0000 + VTD_REG.GSTS_REG, 4)).toBe(GCMD.SIRTP);
    expect(bus.read64(0xfed9_0000 + VTD_REG.IRTA_REG)).toBe(0x20_000fn);
  });

  it('ignores and counts narrow register writes (documented choice)', () => {
    const bed = new TestBed();
    bed.iommu.mmioWrite(VTD_REG.FEDATA_REG, 1, 0x55);
    bed.iommu.mmioWrite(VTD_REG.FEDATA_REG + 2, 4, 0x55);
    expect(bed.read32(VTD_REG.FEDATA_REG)).toBe(0);
    expect(bed.iommu.stats.ignoredRegisterWrites).toBe(2);
  });
});

describe('VT-d 11.4.4 Global Command Register: one command at a time', () => {
  it('sets and clears each enable and reports it in GSTS (VT-d 11.4.5)', () => {
    const bed = new TestBed();
    bed.setRootTable();
    expect(bed.read32(VTD_REG.GSTS_REG)).toBe(GCMD.SRTP >>> 0);
    for (const bit of [GCMD.TE, GCMD.QIE, GCMD.IRE, GCMD.CFI]) {
      bed.command(bit);
      expect((bed.read32(VTD_REG.GSTS_REG) & bit) >>> 0).toBe(bit);
      bed.command(bit, false);
      expect(bed.read32(VTD_REG.GSTS_REG) & bit).toBe(0);
    }
    bed.command(GCMD.SIRTP);
    expect(bed.read32(VTD_REG.GSTS_REG)).toBe((GCMD.SRTP | GCMD.SIRTP) >>> 0);
  });

  it('ignores a write that names two commands and counts it (documented choice)', () => {
    const bed = new TestBed();
    bed.write32(VTD_REG.GCMD_REG, (GCMD.TE | GCMD.IRE) >>> 0);
    expect(bed.read32(VTD_REG.GSTS_REG)).toBe(0);
    expect(bed.iommu.stats.rejectedGlobalCommands).toBe(1);
    // Re-writing the current status plus one change is one command.
    bed.command(GCMD.TE);
    bed.write32(VTD_REG.GCMD_REG, (GCMD.TE | GCMD.IRE) >>> 0);
    expect(bed.read32(VTD_REG.GSTS_REG)).toBe((GCMD.TE | GCMD.IRE) >>> 0);
  });

  it('does not implement WBF, SFL or EAFL (CAP.RWBF = CAP.AFL = 0): no status, counted', () => {
    const bed = new TestBed();
    for (const bit of [GCMD.WBF, GCMD.SFL, GCMD.EAFL]) bed.write32(VTD_REG.GCMD_REG, bit);
    expect(bed.read32(VTD_REG.GSTS_REG)).toBe(0);
    expect(bed.iommu.stats.unsupportedGlobalCommands).toBe(3);
  });

  it('latches RTADDR only on SRTP (VT-d 3.4.3)', () => {
    const bed = new TestBed();
    const rootA = bed.setRootTable();
    const slRoot = bed.attach(0x0100, 1);
    bed.map(slRoot, 0x1000, 0x20_0000);
    bed.command(GCMD.TE);
    expect(bed.iommu.dmaRead(0x0100, 0x1000, 4).status).toBe('ok');
    // A new root table written to RTADDR is not used until SRTP (and cache invalidation).
    const rootB = bed.allocPage();
    bed.write64(VTD_REG.RTADDR_REG, BigInt(rootB));
    expect(rootA).not.toBe(rootB);
    bed.write64(VTD_REG.CCMD_REG, (1n << 63n) | (1n << 61n));
    expect(bed.iommu.dmaRead(0x0100, 0x1000, 4).status).toBe('ok');
    bed.command(GCMD.SRTP);
    bed.write64(VTD_REG.CCMD_REG, (1n << 63n) | (1n << 61n));
    const r = bed.iommu.dmaRead(0x0100, 0x1000, 4);
    expect(r.status).toBe('fault');
    expect(r.faultReason).toBe(0x1);
  });

  it('reports register-based invalidation results in CCMD and IOTLB_REG (VT-d 11.4.7, 11.4.8.1)', () => {
    const bed = new TestBed();
    // CCMD: ICC + CIRG = global with reserved bits 58:34 set: ICC clears, CAIG = 01b, reserved read 0.
    bed.write64(VTD_REG.CCMD_REG, (1n << 63n) | (1n << 61n) | 0x07ff_fffc_0000_0000n | 0x1234_5678n);
    expect(bed.read64(VTD_REG.CCMD_REG)).toBe((1n << 61n) | (1n << 59n) | 0x1234_5678n);
    // IOTLB_REG: bits 31:0 reserved; IVT clears, IAIG = IIRG for a global request.
    bed.write64(VTD_REG.IOTLB_REG, (1n << 63n) | (1n << 60n) | (3n << 48n) | (5n << 32n) | 0xffff_ffffn);
    expect(bed.read64(VTD_REG.IOTLB_REG)).toBe((1n << 60n) | (1n << 57n) | (3n << 48n) | (5n << 32n));
    // Without IVT nothing is performed; IAIG is read-only and keeps the last result.
    bed.write64(VTD_REG.IOTLB_REG, (2n << 60n) | (3n << 57n));
    expect(bed.read64(VTD_REG.IOTLB_REG)).toBe((2n << 60n) | (1n << 57n));
  });

  it('exposes FSTS bits at the spec positions', () => {
    expect([FSTS.PFO, FSTS.PPF, FSTS.IQE, FSTS.ICE, FSTS.ITE]).toEqual([1, 2, 16, 32, 64]);
    expect(getField(0x0300, FSTS.FRI)).toBe(3);
  });
});

describe('one description per register (VT-d 11.4, Table 11-2)', () => {
  it('every register reads its described reset value after construction', () => {
    const bed = new TestBed();
    const cap = bed.read64(VTD_REG.CAP_REG);
    const ecap = bed.read64(VTD_REG.ECAP_REG);
    registerDescriptions().forEach((d, i) => {
      const expected = d.name === 'CAP_REG' ? Number(cap & 0xffff_ffffn) : d.name === 'CAP_REG.HI' ? Number(cap >> 32n) : d.name === 'ECAP_REG' ? Number(ecap & 0xffff_ffffn) : d.name === 'ECAP_REG.HI' ? Number(ecap >> 32n) : d.reset;
      expect([d.name, bed.read32(i * 4)]).toEqual([d.name, expected]);
    });
  });

  it('names every implemented register at its offset and describes the rest as reserved', () => {
    const d = registerDescriptions();
    expect(d).toHaveLength(1024);
    expect(d[VTD_REG.IRTA_REG >>> 2]).toMatchObject({ name: 'IRTA_REG', writable: 0xffff_f00f, writableWithEim: 0x800 });
    expect(d[VTD_REG.FSTS_REG >>> 2]).toMatchObject({ name: 'FSTS_REG', writable: 0, w1c: FSTS.PFO | FSTS.AFO | FSTS.APF | FSTS.IQE | FSTS.ICE | FSTS.ITE });
    expect(d[(VTD_REG.FRCD_REG + 7 * 16 + 12) >>> 2]).toMatchObject({ name: 'FRCD_REG[7].W3', w1c: 0x8000_0000 });
    expect(d[VTD_REG.PMEN_REG >>> 2]!.name).toBe('reserved@0x64');
  });

  it('keeps IRTA.EIME and FEUADDR/IEUADDR reserved without ECAP.EIM (VT-d 11.4.10.1, 11.4.7.4)', () => {
    const bed = new TestBed({ features: { extendedInterruptMode: false } });
    bed.write32(VTD_REG.IRTA_REG, 0x0030_0fff);
    expect(bed.read32(VTD_REG.IRTA_REG)).toBe(0x0030_000f);
    bed.write32(VTD_REG.FEUADDR_REG, 0x1234_5600);
    expect(bed.read32(VTD_REG.FEUADDR_REG)).toBe(0);
  });
});
