import { describe, expect, it } from 'vitest';
import { DELIVERY_STATUS, PhysicalMemory, UsageError } from '@hvsim/core';
import { PostedInterruptDescriptor, encodeRemappableMsi } from '@hvsim/lapic';
import { IntelIommu } from '../iommu.js';
import { VTD_FAULT_REASON } from '../faults/fault-reason.js';
import { encodeRemappedIrte } from '../interrupts/irte.js';
import { GCMD, VTD } from '../regs.js';
import { recordingTarget } from '../test-support/testbed.js';
import { SL_PAGE_SIZE } from './second-level-builder.js';
import { VtdDriver } from './vtd-driver.js';

const NIC = 0x0300; // 03:00.0
const PID = 0x9000;

/** A bump allocator over [base, base + size): pages come out in order. */
function pages(base = 0x80_0000, size = 0x80_0000): { allocate(): number } {
  let next = base;
  return {
    allocate() {
      if (next >= base + size) throw new Error('test page source exhausted');
      const p = next;
      next += 0x1000;
      return p;
    },
  };
}

function host(options: { queuedInvalidation?: boolean } = {}): { memory: PhysicalMemory; iommu: IntelIommu; target: ReturnType<typeof recordingTarget>; driver: VtdDriver } {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x1000_0000, { name: 'ram' });
  const target = recordingTarget(true);
  const iommu = new IntelIommu({ memory, target });
  const driver = new VtdDriver({ unit: iommu, memory, pages: pages(), ...options });
  return { memory, iommu, target, driver };
}

function msi(handle: number): number {
  return encodeRemappableMsi({ handle, shv: false, subhandle: 0 }).address;
}

describe('VtdDriver: DMA remapping (VFIO_IOMMU_MAP_DMA / UNMAP_DMA)', () => {
  it('maps an IOVA range for a device, translates its DMA, and faults it after unmap (VT-d 3.4, 6.5.2.3)', () => {
    const { memory, iommu, driver } = host();
    driver.attachDevice(NIC, 1);
    driver.mapDma(NIC, 0x1_0000, 0x20_0000, 0x3000);
    driver.enableTranslation();
    expect(iommu.globalStatus & GCMD.TE).not.toBe(0);
    expect(iommu.dmaWrite(NIC, 0x1_2004, 4, 0xcafe).physicalAddress).toBe(0x20_2004);
    expect(memory.read32(0x20_2004)).toBe(0xcafe);
    expect(iommu.dmaRead(NIC, 0x1_2004, 4).value).toBe(0xcafe);
    // The translation is now in the IOTLB; unmapping without invalidation would leave it there.
    expect(driver.unmapDma(NIC, 0x1_1000, 0x2000)).toBe(0x2000);
    const r = iommu.dmaRead(NIC, 0x1_2004, 4);
    expect(r.status).toBe('fault');
    expect(r.faultReason).toBe(VTD_FAULT_REASON.READ_NOT_PERMITTED);
    expect(iommu.dmaRead(NIC, 0x1_0000, 4).status).toBe('ok');
  });

  it('keeps a stale IOTLB entry after the tables change until the IOTLB is invalidated (VT-d 6.2.2, 6.5.2.3)', () => {
    const { iommu, driver } = host();
    const tables = driver.attachDevice(NIC, 4)!;
    driver.mapDma(NIC, 0x5000, 0x20_0000, 0x1000);
    driver.enableTranslation();
    expect(iommu.dmaRead(NIC, 0x5000, 4).status).toBe('ok');
    // The tables alone, without the driver's invalidation: the cached translation stays in use.
    tables.unmap(0x5000, 0x1000);
    expect(iommu.dmaRead(NIC, 0x5000, 4)).toMatchObject({ status: 'ok', physicalAddress: 0x20_0000 });
    driver.invalidateIotlb(4, 0x5000, 0x1000);
    expect(iommu.dmaRead(NIC, 0x5000, 4).status).toBe('fault');
  });

  it('uses 2 MiB and 1 GiB pages where the range aligns (CAP.SLLPS)', () => {
    const { iommu, driver } = host();
    const tables = driver.attachDevice(NIC, 1)!;
    driver.mapDma(NIC, 0x4000_0000, 0x4000_0000, 0x4000_0000 + 0x20_1000);
    expect(tables.lookup(0x4000_0000)).toEqual({ physical: 0x4000_0000, pageSize: SL_PAGE_SIZE.SIZE_1G, read: true, write: true });
    expect(tables.lookup(0x8000_0000)!.pageSize).toBe(SL_PAGE_SIZE.SIZE_2M);
    expect(tables.lookup(0x8020_0000)!.pageSize).toBe(SL_PAGE_SIZE.SIZE_4K);
    expect(tables.lookup(0x8020_1000)).toBeUndefined();
    driver.mapDma(NIC, 0x20_0000, 0x40_0000, 0x20_0000, { write: false });
    driver.enableTranslation();
    expect(iommu.dmaRead(NIC, 0x20_0010, 4).physicalAddress).toBe(0x40_0010);
    expect(iommu.dmaWrite(NIC, 0x20_0010, 4, 1).faultReason).toBe(VTD_FAULT_REASON.WRITE_NOT_PERMITTED);
    // A large page is unmapped whole or not at all.
    expect(() => driver.unmapDma(NIC, 0x20_0000, 0x1000)).toThrow(/would split the 2048 KiB page at 0x200000/);
    expect(() => driver.mapDma(NIC, 0x20_0000, 0x40_0000, 0x1000)).toThrow(/already mapped/);
  });

  it('maps a guest-physical range through a gpa → hpa function, checking every page first', () => {
    const { iommu, driver } = host();
    driver.attachDevice(NIC, 7);
    // Guest pages 0-511 at host 0x400000 (one 2 MiB run), page 512 at host 0x900000.
    const toHost = (gpa: number): number => (gpa < 0x20_0000 ? 0x40_0000 + gpa : gpa === 0x20_0000 ? 0x90_0000 : -1);
    expect(() => driver.mapGuestPhysical(NIC, 0, 0x20_2000, toHost)).toThrow(/guest-physical page 0x201000 has no host page/);
    expect(driver.domain(7)!.lookup(0)).toBeUndefined();
    driver.mapGuestPhysical(NIC, 0, 0x20_1000, toHost);
    expect(driver.domain(7)!.lookup(0x1234)).toMatchObject({ physical: 0x40_1234, pageSize: SL_PAGE_SIZE.SIZE_2M });
    driver.enableTranslation();
    expect(iommu.dmaRead(NIC, 0x20_0008, 4).physicalAddress).toBe(0x90_0008);
  });

  it('keeps a stale context entry until the context cache is invalidated; attachDevice invalidates (VT-d 6.5.3.3)', () => {
    const { iommu, driver } = host();
    driver.attachDevice(NIC, 1);
    driver.mapDma(NIC, 0, 0x20_0000, 0x1000);
    driver.attachDevice(0x0400, 2);
    driver.mapDma(0x0400, 0, 0x30_0000, 0x1000);
    driver.enableTranslation();
    expect(iommu.dmaRead(NIC, 0, 4).physicalAddress).toBe(0x20_0000);
    // Software rewrites the entry to domain 2 behind the unit's back: the cached entry stays in use.
    driver.contexts.setContext(NIC, { domainId: 2, secondLevel: { root: driver.domain(2)!.root, levels: 4 } });
    expect(iommu.dmaRead(NIC, 0, 4).physicalAddress).toBe(0x20_0000);
    driver.invalidateContextCache(NIC);
    expect(iommu.dmaRead(NIC, 0, 4).physicalAddress).toBe(0x30_0000);
    // Through the driver: moved back to domain 1 and invalidated in one call.
    driver.attachDevice(NIC, 1);
    expect(iommu.dmaRead(NIC, 0, 4).physicalAddress).toBe(0x20_0000);
    driver.detachDevice(NIC);
    expect(iommu.dmaRead(NIC, 0, 4).faultReason).toBe(VTD_FAULT_REASON.CONTEXT_ENTRY_NOT_PRESENT);
  });

  it('invalidates through CCMD_REG and IOTLB_REG when queued invalidation is off (VT-d 6.5.1)', () => {
    const { iommu, driver } = host({ queuedInvalidation: false });
    expect(iommu.globalStatus & GCMD.QIE).toBe(0);
    driver.attachDevice(NIC, 3);
    driver.mapDma(NIC, 0x1000, 0x20_0000, 0x1000);
    driver.enableTranslation();
    expect(iommu.dmaRead(NIC, 0x1000, 4).status).toBe('ok');
    driver.unmapDma(NIC, 0x1000, 0x1000);
    expect(iommu.dmaRead(NIC, 0x1000, 4).status).toBe('fault');
    expect(iommu.stats.invalidationDescriptors).toBe(0);
    // The interrupt entry cache has no register interface.
    expect(() => driver.enableInterruptRemapping()).toThrow(/needs queued invalidation/);
  });

  it('sees every DMA write through the memory, so write observers (dirty logging) see them', () => {
    const { memory, iommu, driver } = host();
    driver.attachDevice(NIC, 1);
    driver.mapDma(NIC, 0, 0x20_0000, 0x2000);
    driver.enableTranslation();
    const seen: [number, number][] = [];
    memory.addWriteObserver((address, size) => seen.push([address, size]));
    iommu.dmaWrite(NIC, 0x10, 4, 1);
    iommu.dmaWrite(NIC, 0x20, 2, 1);
    iommu.dmaWriteBytes(NIC, 0xff0, new Uint8Array(0x20));
    expect(seen).toEqual([
      [0x20_0010, 4],
      [0x20_0020, 2],
      [0x20_0ff0, 0x10],
      [0x20_1000, 0x10],
    ]);
  });

  it('rejects misuse with messages naming the value', () => {
    const { driver } = host();
    expect(() => driver.mapDma(NIC, 0, 0, 0x1000)).toThrow(/source ID 0x300 is not attached/);
    driver.attachDevice(NIC, 1);
    expect(() => driver.mapDma(NIC, 0x800, 0, 0x1000)).toThrow(/IOVA 0x800/);
    expect(() => driver.attachDevice(NIC, 1, { levels: 3 })).toThrow(/domain 1 has 4-level tables/);
    driver.attachDevice(0x0500, 9, { passThrough: true });
    expect(() => driver.mapDma(0x0500, 0, 0, 0x1000)).toThrow(/pass-through/);
    expect(() => driver.allocateIrte()).toThrow(UsageError);
    expect(() => driver.attachDevice(0x0600, 2, { level: 3 } as never)).toThrow(/attachDevice has no option "level"/);
    expect(() => driver.enableInterruptRemapping({ entires: 64 } as never)).toThrow(/no option "entires"/);
    expect(() => new VtdDriver({ unit: driver as never, memory: new PhysicalMemory(), pages: {} as never })).toThrow(/allocate\(\) method/);
  });
});

describe('VtdDriver: interrupt remapping and KVM IRQ bypass', () => {
  it('keeps the stale cached IRTE until the IEC invalidation the driver issues through the queue (VT-d 6.2.4, 6.5.2.7)', () => {
    const { iommu, target, driver } = host();
    const table = driver.enableInterruptRemapping({ entries: 256 });
    expect(iommu.globalStatus & (GCMD.IRE | GCMD.QIE)).toBe((GCMD.IRE | GCMD.QIE) >>> 0);
    const index = driver.allocateIrte();
    driver.setRemappedIrte(index, { vector: 0x41, destination: 1, svt: 1, sid: NIC });
    expect(iommu.sendMsi(NIC, msi(index), 0).outcome).toBe('remapped');
    // The IRTE changes in memory only: the unit still uses its cached copy.
    table.write(index, encodeRemappedIrte({ vector: 0x42, destination: 1 }));
    expect(iommu.sendMsi(NIC, msi(index), 0).cacheHit).toBe(true);
    expect(target.deliveries.map((d) => d.data & 0xff)).toEqual([0x41, 0x41]);
    driver.invalidateInterruptEntries(index);
    expect(iommu.sendMsi(NIC, msi(index), 0).cacheHit).toBe(false);
    expect(target.deliveries[2]!.data & 0xff).toBe(0x42);
  });

  it('postToVcpu turns a remapped IRTE into a posted one: PIR, ON and NV to NDST; a second post coalesces (VT-d 5.2.3, 9.11)', () => {
    const { memory, iommu, target, driver } = host();
    driver.enableInterruptRemapping({ x2apic: true });
    const pid = new PostedInterruptDescriptor(memory, PID);
    pid.updateControl({ nv: 0xf2, ndst: 5, on: false, sn: false });
    const index = driver.allocateIrte(4);
    expect(index % 4).toBe(0);
    driver.setRemappedIrte(index, { vector: 0x41, destination: 5, x2apic: true });
    iommu.sendMsi(NIC, msi(index), 0);
    const written: number[] = [];
    memory.addWriteObserver((address) => written.push(address));
    driver.postToVcpu(index, { vector: 0x61, descriptorAddress: PID, svt: 1, sid: NIC });
    const first = iommu.sendMsi(NIC, msi(index), 0);
    expect(first).toMatchObject({ outcome: 'posted', status: DELIVERY_STATUS.DELIVERED, notified: true });
    expect(pid.testPir(0x61)).toBe(true);
    expect(pid.on).toBe(true);
    expect(target.deliveries.at(-1)).toMatchObject({ kind: 'x2apic', destination: 5, data: 0xf2 });
    // The PIR and control writes went through the page view and were reported to observers.
    expect(written).toContain(PID + 12); // PIR word 3 holds vector 0x61
    expect(written).toContain(PID + 0x20);
    const again = iommu.sendMsi(NIC, msi(index), 0);
    expect(again).toMatchObject({ outcome: 'posted', status: DELIVERY_STATUS.COALESCED, notified: false });
    // A forged source ID is blocked before the post.
    expect(iommu.sendMsi(0x0400, msi(index), 0).status).toBe(DELIVERY_STATUS.BLOCKED);
    driver.freeIrte(index, 4);
    expect(iommu.sendMsi(NIC, msi(index), 0).faultReason).toBe(VTD_FAULT_REASON.IR_ENTRY_NOT_PRESENT);
  });

  it('reports a stopped queue instead of waiting forever', () => {
    const { iommu, driver } = host();
    driver.enableInterruptRemapping();
    // Software corrupts the queue state: a tail beyond the queue stops it with IQE (VT-d 6.5.2.10).
    iommu.mmioWrite(VTD.IQT, 4, 0x7fff << 4);
    expect(() => driver.invalidateInterruptEntries(0)).toThrow(/queue is stopped \(FSTS.IQE, IQERCD 0x1\)/);
  });
});
