/**
 * Addresses a register or descriptor can name but no memory backs: above the
 * 48-bit host address width (up to 2^64, beyond what a number holds exactly)
 * or simply unbacked. Each is an architectural fault (VT-d 7.1.3 access
 * errors, 6.5.2.10 IQE), never a host exception, and the state saved after
 * it restores.
 */
import { describe, expect, it } from 'vitest';
import { DELIVERY_STATUS, PhysicalMemory, SnapshotError } from '@hvsim/core';
import { encodeRemappableMsi } from '@hvsim/lapic';
import { IntelIommu } from './iommu.js';
import { FSTS, GCMD, IQEI, VTD } from './regs.js';
import { VTD_FAULT_REASON } from './faults/fault-reason.js';
import { TestBed, iecDescriptor, recordingTarget, waitDescriptor } from './test-support/testbed.js';

const SID = 0x0100;
const HIGH = 1n << 60n;

/** saveState → JSON → restoreState into a fresh unit over the same memory, which must save the same state. */
function roundTrip(bed: TestBed): void {
  const state: unknown = JSON.parse(JSON.stringify(bed.iommu.saveState()));
  const copy = new IntelIommu({ memory: bed.memory, target: recordingTarget(true) });
  copy.restoreState(state);
  expect(copy.saveState()).toEqual(state);
}

describe('addresses beyond the host address width (VT-d 7.1.3, 6.5.2.10)', () => {
  it('a root table above 2^48 faults every translation with LRT.1 (0x8)', () => {
    const bed = new TestBed();
    bed.write64(VTD.RTADDR, HIGH | 0x1000n);
    bed.command(GCMD.SRTP);
    bed.command(GCMD.TE);
    const r = bed.iommu.dmaRead(SID, 0x1000, 4);
    expect(r.status).toBe('fault');
    expect(r.faultReason).toBe(VTD_FAULT_REASON.ROOT_ENTRY_ACCESS);
    expect(bed.iommu.faultRecord(0)).toMatchObject({ fault: true, reason: 0x8, sourceId: SID });
    // The register keeps what software wrote.
    expect(bed.read64(VTD.RTADDR)).toBe(HIGH | 0x1000n);
    roundTrip(bed);
  });

  it('an interrupt remapping table above 2^48 blocks remappable requests with 0x23', () => {
    const bed = new TestBed();
    bed.write64(VTD.IRTA, (1n << 63n) | 0xfn);
    bed.command(GCMD.SIRTP);
    bed.command(GCMD.IRE);
    const m = bed.iommu.sendMsi(SID, encodeRemappableMsi({ handle: 3, shv: false, subhandle: 0 }).address, 0);
    expect(m.outcome).toBe('blocked');
    expect(m.status).toBe(DELIVERY_STATUS.BLOCKED);
    expect(m.faultReason).toBe(VTD_FAULT_REASON.IR_TABLE_ACCESS);
    expect(bed.iommu.faultRecord(0)).toMatchObject({ reason: 0x23, interruptIndex: 3 });
    roundTrip(bed);
  });

  it('a queue above 2^48 stops with IQE and IQEI 2 at the IQT write, GCMD.QIE and the FSTS write that resumes it', () => {
    const bed = new TestBed();
    bed.write64(VTD.IQA, HIGH);
    bed.write32(VTD.IQT, 2 << 4); // queued before QI is enabled
    bed.command(GCMD.QIE);
    expect(bed.read32(VTD.FSTS) & FSTS.IQE).toBe(FSTS.IQE);
    expect(bed.read32(VTD.IQERCD)).toBe(IQEI.DESCRIPTOR_FETCH_ERROR);
    expect(bed.read32(VTD.IQH)).toBe(0);
    roundTrip(bed);
    // Clearing IQE resumes fetching at IQH, which fails again.
    bed.write32(VTD.FSTS, FSTS.IQE);
    expect(bed.read32(VTD.FSTS) & FSTS.IQE).toBe(FSTS.IQE);
    bed.write32(VTD.IQT, 3 << 4);
    expect(bed.read32(VTD.IQH)).toBe(0);
    roundTrip(bed);
  });

  it('an invalidation wait status address above 2^48 is a reserved field (IQEI 4); one with no memory stops with IQEI 0', () => {
    const bed = new TestBed();
    bed.enableQueue();
    const high = waitDescriptor({ statusAddress: 0x8000, statusData: 7 });
    high[3] = 0x0100_0000; // status address bit 56
    bed.submit(high);
    expect(bed.read32(VTD.FSTS) & FSTS.IQE).toBe(FSTS.IQE);
    expect(bed.read32(VTD.IQERCD)).toBe(IQEI.RESERVED_FIELD);
    expect(bed.read32(VTD.IQH)).toBe(0);
    expect(bed.memory.read32(0x8000)).toBe(0);
    roundTrip(bed);

    const unbacked = new TestBed();
    unbacked.enableQueue();
    unbacked.submit(waitDescriptor({ statusAddress: 0x3000_0000, statusData: 7 }));
    expect(unbacked.read32(VTD.IQERCD)).toBe(IQEI.INFO_NOT_AVAILABLE);
    expect(unbacked.read32(VTD.FSTS) & FSTS.IQE).toBe(FSTS.IQE);
  });
});

describe('unbacked addresses below 2^53 are faults too', () => {
  it('root table, IRT and queue with no memory: 0x8, 0x23 and IQEI 2', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x10_0000);
    const iommu = new IntelIommu({ memory, target: recordingTarget() });
    iommu.mmioWrite64(VTD.RTADDR, 0x4000_0000n);
    iommu.mmioWrite(VTD.GCMD, 4, GCMD.SRTP);
    iommu.mmioWrite(VTD.GCMD, 4, GCMD.TE);
    expect(iommu.dmaWrite(SID, 0x1000, 4, 1).faultReason).toBe(VTD_FAULT_REASON.ROOT_ENTRY_ACCESS);
    iommu.mmioWrite64(VTD.IRTA, 0x4000_0000n | 0xfn);
    iommu.mmioWrite(VTD.GCMD, 4, (GCMD.TE | GCMD.SIRTP) >>> 0);
    iommu.mmioWrite(VTD.GCMD, 4, (GCMD.TE | GCMD.IRE) >>> 0);
    expect(iommu.sendMsi(SID, encodeRemappableMsi({ handle: 1, shv: false, subhandle: 0 }).address, 0).faultReason).toBe(VTD_FAULT_REASON.IR_TABLE_ACCESS);
    iommu.mmioWrite64(VTD.IQA, 0x4000_0000n);
    iommu.mmioWrite(VTD.GCMD, 4, (GCMD.TE | GCMD.IRE | GCMD.QIE) >>> 0);
    iommu.mmioWrite(VTD.IQT, 4, 1 << 4);
    expect(iommu.mmioRead(VTD.IQERCD, 4)).toBe(IQEI.DESCRIPTOR_FETCH_ERROR);
    expect(iommu.mmioRead(VTD.FSTS, 4) & FSTS.IQE).toBe(FSTS.IQE);
  });
});

describe('restoreState is atomic', () => {
  it('changes nothing when any part of the state is bad', () => {
    const bed = new TestBed();
    bed.enableQueue();
    bed.setInterruptTable();
    bed.submit(iecDescriptor(true));
    bed.command(GCMD.IRE);
    bed.remappedIrte(1, { vector: 0x41, dest: 2 });
    bed.iommu.sendMsi(SID, encodeRemappableMsi({ handle: 1, shv: false, subhandle: 0 }).address, 0);
    const before = JSON.stringify(bed.iommu.saveState());
    const other = new TestBed();
    const good = JSON.parse(JSON.stringify(other.iommu.saveState())) as Record<string, unknown>;
    const bad: Record<string, unknown>[] = [
      { ...good, interruptEntryCache: [[1, 0, 0, 0, 0, 0]] },
      { ...good, rootTable: 0x1234 },
      { ...good, irtAddress: 2 ** 48 },
      { ...good, faults: { ...(good.faults as object), next: 99 } },
      { ...good, queue: { ...(good.queue as object), enabled: true, head: 0, tail: 3 }, gsts: GCMD.QIE },
    ];
    for (const state of bad) {
      expect(() => {
        bed.iommu.restoreState(state);
      }).toThrow(SnapshotError);
      expect(JSON.stringify(bed.iommu.saveState())).toBe(before);
    }
  });
});
