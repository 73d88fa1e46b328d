import { describe, expect, it } from 'vitest';
import { MmioBus, getField, UsageError } from '@hvsim/core';
import { CAP, ECAP } from './capabilities.js';
import { EVENT_CTL, FSTS, GCMD, VTD, VTD_REG } from './regs.js';
import { TestBed, waitDescriptor } from './test-support/testbed.js';
import { registerDescriptions } from './register-file.js';

const cap64 = (bed: TestBed): number => Number(bed.read64(VTD.CAP));
const field64 = (value: bigint, f: { lsb: number; width: number }): number => Number((value >> BigInt(f.lsb)) & ((1n << BigInt(f.width)) - 1n));

describe('VT-d 11.4 register reset values and access types', () => {
  // register, size, value written, expected read-back after the write
  const table: [name: string, offset: number, write: number, expected: number][] = [
    ['VER_REG (RO)', VTD.VER, 0xffff_ffff, 0x10],
    ['GSTS_REG (RO)', VTD.GSTS, 0xffff_ffff, 0],
    ['GCMD_REG (WO, reads 0)', VTD.GCMD, 0, 0],
    ['RTADDR_REG bits 9:0 RsvdZ', VTD.RTADDR, 0x0012_3fff, 0x0012_3c00],
    ['FSTS_REG RW1C with nothing set', VTD.FSTS, 0xffff_ffff, 0],
    ['FECTL_REG: IP read-only, IM RW', VTD.FECTL, 0x4000_0000, 0],
    ['FEDATA_REG bits 31:16 reserved', VTD.FEDATA, 0xabcd_1234, 0x1234],
    ['FEADDR_REG bits 1:0 reserved', VTD.FEADDR, 0xfee0_0003, 0xfee0_0000],
    ['FEUADDR_REG RW', VTD.FEUADDR, 0x1234_5600, 0x1234_5600],
    ['IQH_REG (RO)', VTD.IQH, 0x70, 0],
    ['IQA_REG bits 10:3 reserved', VTD.IQA, 0x0020_0fff, 0x0020_0807],
    ['ICS_REG RW1C, nothing set', VTD.ICS, 1, 0],
    ['IECTL_REG: IM RW', VTD.IECTL, 0, 0],
    ['IRTA_REG bits 10:4 reserved', VTD.IRTA, 0x0030_0fff, 0x0030_080f],
    ['IVA_REG bits 11:7 reserved', VTD.IVA, 0x0040_0fff, 0x0040_007f],
    ['AFLOG_REG (CAP.AFL = 0: reserved)', VTD.AFLOG, 0xffff_ffff, 0],
    ['PMEN_REG (PLMR = PHMR = 0: reserved)', VTD.PMEN, 0x8000_0000, 0],
    ['IQERCD_REG (RO)', VTD.IQERCD, 0xf, 0],
    ['FRCD_REG word 0 (RO)', VTD.FRCD, 0xffff_ffff, 0],
    ['reserved offset 0x30', 0x30, 0xffff_ffff, 0],
  ];
  it.each(table)('%s', (_name, offset, write, expected) => {
    const bed = new TestBed();
    bed.write32(offset, write);
    expect(bed.read32(offset)).toBe(expected);
  });

  it('resets FECTL and IECTL with the interrupt masked (VT-d 11.4.7.1, 11.4.9.5)', () => {
    const bed = new TestBed();
    expect(bed.read32(VTD.FECTL)).toBe(EVENT_CTL.IM >>> 0);
    expect(bed.read32(VTD.IECTL)).toBe(EVENT_CTL.IM >>> 0);
  });

  it('reports what it implements in CAP_REG (VT-d 11.4.2)', () => {
    const bed = new TestBed();
    const cap = bed.read64(VTD.CAP);
    expect(field64(cap, CAP.ND)).toBe(6);
    expect(field64(cap, CAP.SAGAW)).toBe(0b00110);
    expect(field64(cap, CAP.MGAW)).toBe(47);
    expect(field64(cap, CAP.FRO) * 16).toBe(VTD.FRCD);
    expect(field64(cap, CAP.NFR)).toBe(7);
    expect(field64(cap, CAP.SLLPS)).toBe(0b11);
    expect(field64(cap, CAP.PSI)).toBe(1);
    expect(field64(cap, CAP.PI)).toBe(1);
    expect(field64(cap, CAP.CM)).toBe(0);
    expect(field64(cap, CAP.RWBF)).toBe(0);
    expect(field64(cap, CAP.ESIRTPS)).toBe(0);
    expect(cap64(bed)).toBe(Number(cap));
    const noPi = new TestBed({ features: { postedInterrupts: false } });
    expect(field64(noPi.read64(VTD.CAP), CAP.PI)).toBe(0);
  });

  it('reports what it implements in ECAP_REG (VT-d 11.4.3)', () => {
    const bed = new TestBed();
    const ecap = bed.read64(VTD.ECAP);
    expect(field64(ecap, ECAP.QI)).toBe(1);
    expect(field64(ecap, ECAP.IR)).toBe(1);
    expect(field64(ecap, ECAP.EIM)).toBe(1);
    expect(field64(ecap, ECAP.PT)).toBe(1);
    expect(field64(ecap, ECAP.DT)).toBe(0);
    expect(field64(ecap, ECAP.SC)).toBe(0);
    expect(field64(ecap, ECAP.SMTS)).toBe(0);
    expect(field64(ecap, ECAP.IRO) * 16).toBe(VTD.IVA);
    expect(field64(ecap, ECAP.MHMV)).toBe(15);
    // CAP/ECAP are read-only.
    bed.write64(VTD.ECAP, 0n);
    expect(bed.read64(VTD.ECAP)).toBe(ecap);
    const noEim = new TestBed({ features: { extendedInterruptMode: false } });
    expect(field64(noEim.read64(VTD.ECAP), ECAP.EIM)).toBe(0);
    // IRTA.EIME, FEUADDR and IEUADDR are reserved without ECAP.EIM.
    noEim.write32(VTD.IRTA, 0x800);
    expect(noEim.read32(VTD.IRTA)).toBe(0);
    noEim.write32(VTD.FEUADDR, 0x100);
    noEim.write32(VTD.IEUADDR, 0x100);
    expect([noEim.read32(VTD.FEUADDR), noEim.read32(VTD.IEUADDR)]).toEqual([0, 0]);
  });

  it('gives 64-bit registers as one 64-bit or two 32-bit accesses (VT-d 10.2)', () => {
    const bed = new TestBed();
    bed.write64(VTD.IRTA, 0x0000_0012_3456_7000n | 0x80fn);
    expect(bed.read32(VTD.IRTA)).toBe(0x3456_780f);
    expect(bed.read32(VTD.IRTA + 4)).toBe(0x12);
    expect(bed.read64(VTD.IRTA)).toBe(0x12_3456_780fn);
    expect(bed.iommu.mmioRead(VTD.VER, 1)).toBe(0x10);
    expect(bed.iommu.mmioRead(VTD.IRTA + 1, 2)).toBe(0x5678);
    expect(() => bed.iommu.mmioRead64(VTD.IRTA + 4)).toThrow(/8-byte aligned/);
    expect(() => bed.iommu.mmioRead(0x1000, 4)).toThrow(UsageError);
    // A value that is not an unsigned 64-bit integer is a usage error, not silently truncated.
    expect(() => bed.iommu.mmioWrite64(VTD.IRTA, -1n)).toThrow(UsageError);
    expect(() => bed.iommu.mmioWrite64(VTD.IRTA, 1n << 64n)).toThrow(/unsigned 64-bit/);
    expect(bed.read64(VTD.IRTA)).toBe(0x12_3456_780fn);
  });

  it('works behind an MmioBus at the DRHD register base (VT-d 8.3 DRHD, 10.2)', () => {
    const bed = new TestBed();
    const bus = new MmioBus();
    bus.map(0xfed9_0000, 0x1000, bed.iommu, 'dmar0');
    expect(bus.read(0xfed9_0000 + VTD.VER, 4)).toBe(0x10);
    bus.write64(0xfed9_0000 + VTD.IRTA, 0x20_0000n | 0xfn);
    bus.write(0xfed9_0000 + VTD.GCMD, 4, GCMD.SIRTP);
    expect(bus.read(0xfed9_0000 + VTD.GSTS, 4)).toBe(GCMD.SIRTP);
    expect(bus.read64(0xfed9_0000 + VTD.IRTA)).toBe(0x20_000fn);
  });

  it('ignores and counts narrow register writes (documented choice)', () => {
    const bed = new TestBed();
    bed.iommu.mmioWrite(VTD.FEDATA, 1, 0x55);
    bed.iommu.mmioWrite(VTD.FEDATA + 2, 4, 0x55);
    expect(bed.read32(VTD.FEDATA)).toBe(0);
    expect(bed.iommu.stats.ignoredRegisterWrites).toBe(2);
  });
});

describe('VT-d 11.4.4 Global Command Register: one command at a time', () => {
  it('sets and clears each enable and reports it in GSTS (VT-d 11.4.5)', () => {
    const bed = new TestBed();
    bed.setRootTable();
    expect(bed.read32(VTD.GSTS)).toBe(GCMD.SRTP >>> 0);
    for (const bit of [GCMD.TE, GCMD.QIE, GCMD.IRE, GCMD.CFI]) {
      bed.command(bit);
      expect((bed.read32(VTD.GSTS) & bit) >>> 0).toBe(bit);
      bed.command(bit, false);
      expect(bed.read32(VTD.GSTS) & bit).toBe(0);
    }
    bed.command(GCMD.SIRTP);
    expect(bed.read32(VTD.GSTS)).toBe((GCMD.SRTP | GCMD.SIRTP) >>> 0);
  });

  it('ignores a write that names two commands and counts it (documented choice)', () => {
    const bed = new TestBed();
    bed.write32(VTD.GCMD, (GCMD.TE | GCMD.IRE) >>> 0);
    expect(bed.read32(VTD.GSTS)).toBe(0);
    expect(bed.iommu.stats.rejectedGlobalCommands).toBe(1);
    // Re-writing the current status plus one change is one command.
    bed.command(GCMD.TE);
    bed.write32(VTD.GCMD, (GCMD.TE | GCMD.IRE) >>> 0);
    expect(bed.read32(VTD.GSTS)).toBe((GCMD.TE | GCMD.IRE) >>> 0);
  });

  it('does not implement WBF, SFL or EAFL (CAP.RWBF = CAP.AFL = 0): no status, counted', () => {
    const bed = new TestBed();
    for (const bit of [GCMD.WBF, GCMD.SFL, GCMD.EAFL]) bed.write32(VTD.GCMD, bit);
    expect(bed.read32(VTD.GSTS)).toBe(0);
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
    bed.write64(VTD.RTADDR, BigInt(rootB));
    expect(rootA).not.toBe(rootB);
    bed.write64(VTD.CCMD, (1n << 63n) | (1n << 61n));
    expect(bed.iommu.dmaRead(0x0100, 0x1000, 4).status).toBe('ok');
    bed.command(GCMD.SRTP);
    bed.write64(VTD.CCMD, (1n << 63n) | (1n << 61n));
    const r = bed.iommu.dmaRead(0x0100, 0x1000, 4);
    expect(r.status).toBe('fault');
    expect(r.faultReason).toBe(0x1);
  });

  it('reports register-based invalidation results in CCMD and IOTLB_REG (VT-d 11.4.7, 11.4.8.1)', () => {
    const bed = new TestBed();
    // CCMD: ICC + CIRG = global with reserved bits 58:34 set: ICC clears, CAIG = 01b, reserved read 0.
    bed.write64(VTD.CCMD, (1n << 63n) | (1n << 61n) | 0x07ff_fffc_0000_0000n | 0x1234_5678n);
    expect(bed.read64(VTD.CCMD)).toBe((1n << 61n) | (1n << 59n) | 0x1234_5678n);
    // IOTLB_REG: bits 31:0 reserved; IVT clears, IAIG = IIRG for a global request.
    bed.write64(VTD.IOTLB, (1n << 63n) | (1n << 60n) | (3n << 48n) | (5n << 32n) | 0xffff_ffffn);
    expect(bed.read64(VTD.IOTLB)).toBe((1n << 60n) | (1n << 57n) | (3n << 48n) | (5n << 32n));
    // Without IVT nothing is performed; IAIG is read-only and keeps the last result.
    bed.write64(VTD.IOTLB, (2n << 60n) | (3n << 57n));
    expect(bed.read64(VTD.IOTLB)).toBe((2n << 60n) | (1n << 57n));
  });

  it('exposes FSTS bits at the spec positions', () => {
    expect([FSTS.PFO, FSTS.PPF, FSTS.IQE, FSTS.ICE, FSTS.ITE]).toEqual([1, 2, 16, 32, 64]);
    expect(getField(0x0300, FSTS.FRI)).toBe(3);
  });
});

describe('one description per register (VT-d 11.4, Table 11-2)', () => {
  /** Dword `word` of a register value. */
  const dword = (value: bigint, word: number): number => Number((value >> BigInt(32 * word)) & 0xffff_ffffn);

  it('every register reads its described reset value after construction', () => {
    const bed = new TestBed();
    const d = bed.iommu.registerDescriptions();
    expect(d.map((r) => r.name)).toContain('GCMD');
    for (const r of d) {
      for (let word = 0; word < r.width / 32; word++) expect([r.name, word, bed.read32(r.offset + 4 * word)]).toEqual([r.name, word, dword(r.reset, word)]);
    }
  });

  it('describes each register once, by offset and width, without overlaps (VT-d 11.4)', () => {
    const d = registerDescriptions();
    const names = d.map((r) => r.name);
    expect(new Set(names).size).toBe(names.length);
    for (const [mnemonic, offset] of Object.entries(VTD)) {
      const r = d.find((x) => x.offset === offset)!;
      expect(r.name.replace(/\[0\]$/, '')).toBe(mnemonic);
    }
    for (let i = 1; i < d.length; i++) expect(d[i]!.offset).toBeGreaterThanOrEqual(d[i - 1]!.offset + d[i - 1]!.width / 8);
    expect(d.find((r) => r.name === 'IRTA')).toMatchObject({ width: 64, access: 'RW', writable: 0xffff_ffff_ffff_f80fn, w1c: 0n });
    expect(d.find((r) => r.name === 'FSTS')).toMatchObject({ width: 32, w1c: BigInt(FSTS.PFO | FSTS.AFO | FSTS.APF | FSTS.IQE | FSTS.ICE | FSTS.ITE), writable: 0n });
    expect(d.find((r) => r.name === 'FRCD[7]')).toMatchObject({ offset: VTD.FRCD + 7 * 16, width: 128, w1c: 1n << 127n });
    expect(d.find((r) => r.name === 'PMEN')).toMatchObject({ defined: 0n, writable: 0n });
    // The deprecated _REG table names the same offsets (kept for existing users).
    // eslint-disable-next-line @typescript-eslint/no-deprecated
    const old = VTD_REG;
    expect(old.GCMD_REG).toBe(VTD.GCMD);
    expect(Object.values(old)).toEqual(Object.values(VTD));
  });

  it('takes the CAP and ECAP reset values and the EIM-only bits from the unit (VT-d 11.4.2, 11.4.3)', () => {
    const noEim = registerDescriptions({ extendedInterruptMode: false, postedInterrupts: false });
    const ecap = noEim.find((r) => r.name === 'ECAP')!.reset;
    expect(field64(ecap, ECAP.EIM)).toBe(0);
    expect(field64(noEim.find((r) => r.name === 'CAP')!.reset, CAP.PI)).toBe(0);
    expect(noEim.find((r) => r.name === 'IRTA')!.writable).toBe(0xffff_ffff_ffff_f00fn);
    expect(noEim.find((r) => r.name === 'FEUADDR')!.writable).toBe(0n);
    expect(new TestBed().iommu.registerDescriptions().find((r) => r.name === 'FEUADDR')!.writable).toBe(0xffff_ffffn);
  });

  it('reads 0 from every reserved bit, whatever was written (VT-d 11.4: RsvdZ)', () => {
    const bed = new TestBed();
    for (let offset = 0; offset < 0x1000; offset += 4) bed.write32(offset, 0xffff_ffff);
    for (const r of bed.iommu.registerDescriptions()) {
      for (let word = 0; word < r.width / 32; word++) {
        expect([r.name, word, (bed.read32(r.offset + 4 * word) & ~dword(r.defined, word)) >>> 0]).toEqual([r.name, word, 0]);
      }
    }
    // Offsets no register covers read 0 too.
    expect(bed.read32(0x30)).toBe(0);
    expect(bed.read32(0xffc)).toBe(0);
  });

  it.each([
    ['VER (VT-d 11.4.1)', VTD.VER],
    ['CAP (VT-d 11.4.2)', VTD.CAP],
    ['CAP bits 63:32 (VT-d 11.4.2)', VTD.CAP + 4],
    ['ECAP (VT-d 11.4.3)', VTD.ECAP],
    ['GSTS (VT-d 11.4.5)', VTD.GSTS],
    ['IQH (VT-d 11.4, Invalidation Queue Head)', VTD.IQH],
    ['IQERCD (VT-d 11.4, Invalidation Queue Error Record)', VTD.IQERCD],
  ])('ignores writes to the read-only register %s', (_name, offset) => {
    const bed = new TestBed();
    const before = bed.read32(offset);
    bed.write32(offset, ~before >>> 0);
    expect(bed.read32(offset)).toBe(before);
  });

  it('keeps read-only fields of mixed registers: CCMD.CAIG (VT-d 11.4.7) and IOTLB_REG.IAIG (VT-d 11.4.8.1)', () => {
    const bed = new TestBed();
    bed.write64(VTD.CCMD, 3n << 59n);
    expect(bed.read64(VTD.CCMD)).toBe(0n);
    bed.write64(VTD.IOTLB, 3n << 57n);
    expect(bed.read64(VTD.IOTLB)).toBe(0n);
  });

  it('reads 0 from the write-only GCMD whatever was written (VT-d 11.4.4)', () => {
    const bed = new TestBed();
    bed.write32(VTD.GCMD, GCMD.IRE);
    expect(bed.read32(VTD.GSTS)).toBe(GCMD.IRE);
    expect(bed.read32(VTD.GCMD)).toBe(0);
  });

  it('clears FSTS.IQE by writing 1 and keeps it on writing 0 (FSTS RW1CS, VT-d 11.4)', () => {
    const bed = new TestBed();
    bed.enableQueue();
    bed.submit([0, 0, 0, 0]); // type 0: an invalid descriptor sets IQE (VT-d 6.5.2.10)
    expect(bed.read32(VTD.FSTS) & FSTS.IQE).toBe(FSTS.IQE);
    bed.write32(VTD.FSTS, 0);
    bed.write32(VTD.FSTS, ~FSTS.IQE >>> 0);
    expect(bed.read32(VTD.FSTS) & FSTS.IQE).toBe(FSTS.IQE);
    // Software replaces the bad descriptor, then clears IQE: the queue resumes and IQE stays clear.
    const slot = Number(bed.read64(VTD.IQA) & ~0xfffn) + bed.read32(VTD.IQH);
    waitDescriptor().forEach((w, i) => bed.memory.write32(slot + 4 * i, w));
    bed.write32(VTD.FSTS, FSTS.IQE);
    expect(bed.read32(VTD.FSTS) & FSTS.IQE).toBe(0);
  });

  it('clears ICS.IWC by writing 1 (ICS RW1CS, VT-d 11.4)', () => {
    const bed = new TestBed();
    bed.enableQueue();
    bed.submit(waitDescriptor({ interrupt: true }));
    expect(bed.read32(VTD.ICS)).toBe(1);
    bed.write32(VTD.ICS, 0);
    expect(bed.read32(VTD.ICS)).toBe(1);
    bed.write32(VTD.ICS, 1);
    expect(bed.read32(VTD.ICS)).toBe(0);
  });

  it("clears FRCD's F bit by writing 1 to bit 127 only (FRCD RW1CS, VT-d 11.4 Fault Recording Registers)", () => {
    const bed = new TestBed();
    bed.write64(VTD.IRTA, 0x20_0000n | 0xfn);
    bed.command(GCMD.SIRTP);
    bed.command(GCMD.IRE);
    // IRTE 3 not present: fault 0x22 recorded in FRCD 0.
    bed.iommu.sendMsi(0x0100, (0xfee0_0000 | (3 << 5) | 0x10) >>> 0, 0);
    const w3 = VTD.FRCD + 12;
    expect(bed.read32(w3) >>> 31).toBe(1);
    const sid = bed.read32(VTD.FRCD + 8);
    bed.write32(VTD.FRCD + 8, 0);
    bed.write32(w3, 0x7fff_ffff);
    expect([bed.read32(VTD.FRCD + 8), bed.read32(w3) >>> 31]).toEqual([sid, 1]);
    bed.write32(w3, 0x8000_0000);
    expect(bed.read32(w3) >>> 31).toBe(0);
    expect(bed.iommu.faultRecord(0).fault).toBe(false);
  });

  it.each([
    ['RTADDR bits 9:0 (VT-d 11.4.6)', VTD.RTADDR, 0xffff_ffff_ffff_ffffn, 0xffff_ffff_ffff_fc00n],
    ['IVA bits 11:7 (VT-d 11.4.8.2)', VTD.IVA, 0x0000_0001_0000_0fffn, 0x0000_0001_0000_007fn],
    ['IRTA bits 10:4 (VT-d 11.4, Interrupt Remapping Table Address)', VTD.IRTA, 0x0000_0000_0030_07ffn, 0x0000_0000_0030_000fn],
    ['IQA bits 10:3 (VT-d 11.4, Invalidation Queue Address)', VTD.IQA, 0x0000_0000_0020_07ffn, 0x0000_0000_0020_0007n],
    ['IQT bits 63:19 and 3:0 (VT-d 11.4, Invalidation Queue Tail)', VTD.IQT, 0xffff_ffff_fff8_000fn, 0n],
  ])('stores no reserved bit: %s', (_name, offset, write, expected) => {
    const bed = new TestBed();
    bed.write64(offset, write);
    expect(bed.read64(offset)).toBe(expected);
  });
});
