/**
 * The posted path over core's Memory interface: a view in front of the host
 * memory (as a VMM would put one) sees every access the unit makes. Once the
 * IRTE is cached, a posted MSI makes no page lookup and no read or write
 * through the memory's accessors: the descriptor is reached through its
 * cached page view (VT-d 5.2.3 through @hvsim/lapic's PostedInterruptDescriptor).
 */
import { describe, expect, it } from 'vitest';
import { DELIVERY_STATUS, PhysicalMemory, type Memory } from '@hvsim/core';
import { PostedInterruptDescriptor, encodeRemappableMsi } from '@hvsim/lapic';
import { IntelIommu } from '../iommu.js';
import { GCMD, VTD } from '../regs.js';
import { encodePostedIrte } from './irte.js';
import { iecInvalidateDescriptor } from '../qi/descriptors.js';
import { recordingTarget } from '../test-support/testbed.js';

/** A Memory that forwards to `inner` and counts page lookups and accessor calls. */
function countingView(inner: PhysicalMemory): { memory: Memory; counts: { pageView: number; accesses: number } } {
  const counts = { pageView: 0, accesses: 0 };
  const memory: Memory = {
    read8: (a) => (counts.accesses++, inner.read8(a)),
    read16: (a) => (counts.accesses++, inner.read16(a)),
    read32: (a) => (counts.accesses++, inner.read32(a)),
    read64: (a) => (counts.accesses++, inner.read64(a)),
    read64Halves: (a, out) => (counts.accesses++, inner.read64Halves(a, out)),
    write8: (a, v) => (counts.accesses++, inner.write8(a, v)),
    write16: (a, v) => (counts.accesses++, inner.write16(a, v)),
    write32: (a, v) => (counts.accesses++, inner.write32(a, v)),
    write64: (a, v) => (counts.accesses++, inner.write64(a, v)),
    readBytes: (a, n, into) => (counts.accesses++, inner.readBytes(a, n, into)),
    writeBytes: (a, b) => (counts.accesses++, inner.writeBytes(a, b)),
    isBacked: (a, s) => inner.isBacked(a, s),
    isWritable: (a, s) => inner.isWritable(a, s),
    pageView: (a) => (counts.pageView++, inner.pageView(a)),
    get generation() {
      return inner.generation;
    },
    get observed() {
      return inner.observed;
    },
    noteWritten: (a, s) => inner.noteWritten(a, s),
    addWriteObserver: (o) => inner.addWriteObserver(o),
  };
  return { memory, counts };
}

describe('posted MSI through a Memory view (issue 11, VT-d 5.2.3)', () => {
  it('makes no page lookup and no accessor call per post once the IRTE and the descriptor view are cached', () => {
    const host = new PhysicalMemory();
    host.addRegion(0, 0x100_0000);
    const { memory, counts } = countingView(host);
    const iommu = new IntelIommu({ memory, target: recordingTarget() });
    // Queue at 0x10000, IRT at 0x20000 (256 entries), IEC invalidated, IRE on.
    iommu.mmioWrite64(VTD.IQA, 0x1_0000n);
    iommu.mmioWrite(VTD.GCMD, 4, GCMD.QIE);
    iommu.mmioWrite64(VTD.IRTA, 0x2_0000n | 7n);
    iommu.mmioWrite(VTD.GCMD, 4, (GCMD.QIE | GCMD.SIRTP) >>> 0);
    iecInvalidateDescriptor(true).forEach((w, i) => host.write32(0x1_0000 + 4 * i, w));
    iommu.mmioWrite(VTD.IQT, 4, 1 << 4);
    iommu.mmioWrite(VTD.GCMD, 4, (GCMD.QIE | GCMD.IRE) >>> 0);
    encodePostedIrte({ vector: 0x55, descriptorAddress: 0x3_0040 }).forEach((w, i) => host.write32(0x2_0000 + 9 * 16 + 4 * i, w));
    const pid = new PostedInterruptDescriptor(host, 0x3_0040);
    pid.updateControl({ nv: 0xf2, ndst: 0x100, on: true });
    const address = encodeRemappableMsi({ handle: 9, shv: false, subhandle: 0 }).address;
    expect(iommu.sendMsi(0x0100, address, 0)).toMatchObject({ outcome: 'posted', status: DELIVERY_STATUS.DELIVERED, cacheHit: false });
    const before = { ...counts };
    for (let i = 0; i < 100; i++) {
      const r = iommu.sendMsi(0x0100, address, 0);
      expect(r.status).toBe(DELIVERY_STATUS.COALESCED);
      expect(r.cacheHit).toBe(true);
    }
    expect(counts).toEqual(before);
    // A memory change that may invalidate page views (a new generation) makes the view re-take its page.
    host.addRegion(0x200_0000, 0x1000);
    host.removeRegion(0x200_0000);
    pid.readAndClearPir(new Uint32Array(8));
    expect(iommu.sendMsi(0x0100, address, 0).status).toBe(DELIVERY_STATUS.DELIVERED);
    expect(counts.pageView).toBeGreaterThan(before.pageView);
  });
});
