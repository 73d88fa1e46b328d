import { describe, expect, it } from 'vitest';
import { GCMD, VTD, EVENT_CTL, FSTS } from '../regs.js';
import { VTD_FAULT_REASON as FR } from './fault-reason.js';
import { TestBed } from '../test-support/testbed.js';

const SID = 0x0108;

/** A unit with translation on and no context entries: every DMA faults with 0x2. */
function faulting(): TestBed {
  const bed = new TestBed();
  bed.setRootTable();
  bed.contextTable(SID >>> 8);
  bed.command(GCMD.TE);
  bed.write32(VTD.FEDATA, 0x45);
  bed.write32(VTD.FEADDR, 0xfee0_1000);
  return bed;
}

describe('VT-d 7.2.1 primary fault logging', () => {
  it('records source ID, reason, type and page address in FRCD (VT-d 11.4.14)', () => {
    const bed = faulting();
    const r = bed.iommu.dmaRead(SID, 0x12_3456_7abc, 4);
    expect(r).toMatchObject({ status: 'fault', faultReason: FR.CONTEXT_ENTRY_NOT_PRESENT, faultRecorded: true });
    expect(bed.read32(VTD.FRCD)).toBe(0x3456_7000);
    expect(bed.read32(VTD.FRCD + 4)).toBe(0x12);
    expect(bed.read32(VTD.FRCD + 8)).toBe(SID);
    // F (bit 127), T1 = 1 (read, bit 126), FR in bits 103:96.
    expect(bed.read32(VTD.FRCD + 12)).toBe((0x8000_0000 | 0x4000_0000 | FR.CONTEXT_ENTRY_NOT_PRESENT) >>> 0);
    expect(bed.iommu.faultRecord(0)).toEqual({ fault: true, sourceId: SID, reason: 2, read: true, address: 0x12_3456_7000, interruptIndex: 0x0 });
    bed.iommu.dmaWrite(SID, 0x5000, 4, 1);
    expect(bed.iommu.faultRecord(1)).toMatchObject({ fault: true, read: false, address: 0x5000 });
    // PPF set; FRI names the first pending record.
    const fsts = bed.read32(VTD.FSTS);
    expect(fsts & FSTS.PPF).toBe(FSTS.PPF);
    expect((fsts >>> 8) & 0xff).toBe(0);
  });

  it('clears F by writing 1 (RW1CS), and PPF when no record is pending', () => {
    const bed = faulting();
    bed.iommu.dmaRead(SID, 0, 4);
    bed.write32(VTD.FRCD + 12, 0x7fff_ffff); // writing 0 to F: no effect
    expect(bed.iommu.faultRecord(0).fault).toBe(true);
    bed.write32(VTD.FRCD + 12, 0x8000_0000);
    expect(bed.iommu.faultRecord(0).fault).toBe(false);
    expect(bed.read32(VTD.FSTS) & FSTS.PPF).toBe(0);
  });

  it('records in circular order and sets PFO on overflow, then drops until PFO is cleared', () => {
    const bed = faulting();
    for (let i = 0; i < 8; i++) bed.iommu.dmaRead(SID, i * 0x1000, 4);
    expect(bed.read32(VTD.FSTS) & FSTS.PFO).toBe(0);
    expect(bed.iommu.dmaRead(SID, 0x8000, 4).faultRecorded).toBe(false);
    expect(bed.read32(VTD.FSTS) & FSTS.PFO).toBe(FSTS.PFO);
    // Free FRCD 0; PFO still set: dropped.
    bed.write32(VTD.FRCD + 12, 0x8000_0000);
    expect(bed.iommu.dmaRead(SID, 0x9000, 4).faultRecorded).toBe(false);
    bed.write32(VTD.FSTS, FSTS.PFO);
    expect(bed.iommu.dmaRead(SID, 0xa000, 4).faultRecorded).toBe(true);
    expect(bed.iommu.faultRecord(0).address).toBe(0xa000);
    expect(bed.iommu.stats.faultsLostToOverflow).toBe(2);
    expect(bed.iommu.stats.faultsRecorded).toBe(9);
  });

  it('does not record qualified faults when the context entry has FPD = 1 (VT-d 7.1.2)', () => {
    const bed = faulting();
    bed.attach(SID, 3, { fpd: true });
    const r = bed.iommu.dmaRead(SID, 0x1000, 4);
    expect(r).toMatchObject({ status: 'fault', faultReason: FR.READ_NOT_PERMITTED, faultRecorded: false });
    expect(bed.iommu.stats.faultsSuppressedByFpd).toBe(1);
    // Not-present context entries honour FPD too; root-entry faults are never qualified.
    bed.writeEntry(bed.contextEntryAddress(SID), 2, 0, 0, 0);
    bed.write64(VTD.CCMD, (1n << 63n) | (1n << 61n));
    expect(bed.iommu.dmaRead(SID, 0x1000, 4).faultRecorded).toBe(false);
    expect(bed.iommu.dmaRead(0x0900, 0x1000, 4)).toMatchObject({ faultReason: FR.ROOT_ENTRY_NOT_PRESENT, faultRecorded: true });
  });
});

describe('VT-d 7.3 fault event interrupt (FECTL, FEDATA, FEADDR)', () => {
  it('is held pending while masked (reset) and sent when IM is cleared', () => {
    const bed = faulting();
    bed.iommu.dmaRead(SID, 0, 4);
    expect(bed.read32(VTD.FECTL)).toBe((EVENT_CTL.IM | EVENT_CTL.IP) >>> 0);
    expect(bed.target.deliveries).toEqual([]);
    bed.write32(VTD.FECTL, 0);
    expect(bed.read32(VTD.FECTL)).toBe(0);
    expect(bed.target.deliveries).toEqual([{ kind: 'msi', address: 0xfee0_1000, data: 0x45, destination: 1, sourceId: undefined }]);
  });

  it('is sent at once when unmasked, only for the first status bit set', () => {
    const bed = faulting();
    bed.write32(VTD.FECTL, 0);
    bed.iommu.dmaRead(SID, 0, 4);
    bed.iommu.dmaRead(SID, 0x1000, 4);
    expect(bed.target.deliveries).toHaveLength(1);
    // Service everything: the next fault is a new interrupt condition.
    bed.write32(VTD.FRCD + 12, 0x8000_0000);
    bed.write32(VTD.FRCD + 16 + 12, 0x8000_0000);
    bed.iommu.dmaRead(SID, 0x2000, 4);
    expect(bed.target.deliveries).toHaveLength(2);
    expect(bed.iommu.stats.faultEvents).toBe(2);
  });

  it('does not treat PFO as an interrupt condition, nor let it hide a new one (VT-d 11.4.7.1 IP)', () => {
    const bed = faulting();
    bed.write32(VTD.FECTL, 0);
    for (let i = 0; i < 9; i++) bed.iommu.dmaRead(SID, i * 0x1000, 4);
    // The first record raised the event; the later ones and the overflow (PFO) did not.
    expect(bed.target.deliveries).toHaveLength(1);
    expect(bed.read32(VTD.FSTS) & FSTS.PFO).toBe(FSTS.PFO);
    for (let i = 0; i < 8; i++) bed.write32(VTD.FRCD + i * 16 + 12, 0x8000_0000);
    expect(bed.read32(VTD.FSTS) & (FSTS.PPF | FSTS.PFO)).toBe(FSTS.PFO);
    // With only PFO left set, an invalidation queue error is a new interrupt condition.
    bed.enableQueue();
    bed.submit([0, 0, 0, 0]);
    expect(bed.read32(VTD.FSTS) & FSTS.IQE).toBe(FSTS.IQE);
    expect(bed.target.deliveries.map((d) => d.data)).toEqual([0x45, 0x45]);
  });

  it('drops a held message when software services every status field first', () => {
    const bed = faulting();
    bed.iommu.dmaRead(SID, 0, 4);
    expect(bed.read32(VTD.FECTL) & EVENT_CTL.IP).toBe(EVENT_CTL.IP);
    bed.write32(VTD.FRCD + 12, 0x8000_0000);
    expect(bed.read32(VTD.FECTL) & EVENT_CTL.IP).toBe(0);
    bed.write32(VTD.FECTL, 0);
    expect(bed.target.deliveries).toEqual([]);
  });

  it('sends an x2APIC-addressed event with FEUADDR bits 31:8 as destination bits 31:8 (VT-d 5.1.6)', () => {
    const bed = new TestBed({ x2apicTarget: true });
    bed.setRootTable();
    bed.command(GCMD.TE);
    bed.write32(VTD.FEDATA, 0x46);
    bed.write32(VTD.FEADDR, 0xfee0_2000);
    bed.write32(VTD.FEUADDR, 0x0001_0000);
    bed.write32(VTD.FECTL, 0);
    bed.iommu.dmaRead(SID, 0, 4);
    expect(bed.target.deliveries).toEqual([{ kind: 'x2apic', address: 0xfee0_0000, data: 0x46, destination: 0x0001_0002, sourceId: undefined }]);
    const plain = faulting();
    plain.write32(VTD.FEUADDR, 0x100);
    plain.write32(VTD.FECTL, 0);
    expect(() => plain.iommu.dmaRead(SID, 0, 4)).toThrow(/deliverX2apicMsi/);
  });
});
