import { describe, expect, it } from 'vitest';
import { DELIVERY_STATUS, PhysicalMemory } from '@hvsim/core';
import { APIC_REG, ApicBus, LocalApic, PostedInterruptDescriptor, encodeRemappableMsi } from '@hvsim/lapic';
import { GCMD, IRTE_SIZE, IntelIommu, VTD_REG, VtdDriver, apicBusTarget, encodeRemappedIrte } from './index.js';

describe('README usage example', () => {
  it('runs as written (VT-d 5.1 remapping, 9.10 source-ID verification)', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x1000_0000);
    const bus = new ApicBus();
    const cpu = new LocalApic({ id: 0 });
    bus.attach(cpu);
    cpu.mmioWrite(APIC_REG.APIC_SVR, 4, 0x1ff);
    const iommu = new IntelIommu({ memory, target: apicBusTarget(bus) });
    iommu.mmioWrite64(VTD_REG.IRTA_REG, 0x10_0000n | 7n);
    iommu.mmioWrite(VTD_REG.GCMD_REG, 4, GCMD.SIRTP);
    iommu.mmioWrite(VTD_REG.GCMD_REG, 4, GCMD.IRE);
    const irte = encodeRemappedIrte({ vector: 0x41, destination: 0, svt: 1, sid: 0x0100 });
    irte.forEach((word, i) => memory.write32(0x10_0000 + 5 * IRTE_SIZE + 4 * i, word));
    expect(memory.read32(0x10_0000 + 5 * 16)).toBe((0x41 << 16) | 1);
    expect(memory.read32(0x10_0000 + 5 * 16 + 8)).toBe(0x0100 | (1 << 18));
    const msi = encodeRemappableMsi({ handle: 5, shv: false, subhandle: 0 });
    expect(iommu.sendMsi(0x0100, msi.address, msi.data).outcome).toBe('remapped');
    expect((cpu.mmioRead(APIC_REG.APIC_IRR0 + 0x20, 4) >>> 1) & 1).toBe(1);
    expect(iommu.sendMsi(0x0200, msi.address, msi.data).faultReason).toBe(0x26);
    expect(iommu.faultRecord(0)).toMatchObject({ fault: true, sourceId: 0x200, reason: 0x26, interruptIndex: 5 });
    memory.write32(0x2000, 7);
    expect(iommu.dmaRead(0x0100, 0x2000, 4)).toMatchObject({ status: 'ok', value: 7, physicalAddress: 0x2000 });
  });
});

describe('README host-driver example', () => {
  it('runs as written (VT-d 3.7 mapping, 6.5.2 invalidation, 5.2.3 posting)', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x1000_0000);
    const iommu = new IntelIommu({ memory, target: { deliverMsi: () => 0 } });
    let next = 0x80_0000;
    const driver = new VtdDriver({ unit: iommu, memory, pages: { allocate: () => (next += 0x1000) } });
    driver.attachDevice(0x0300, 1);
    driver.mapGuestPhysical(0x0300, 0, 0x20_0000, (gpa) => 0x40_0000 + gpa);
    driver.enableTranslation();
    expect(iommu.dmaWrite(0x0300, 0x1000, 4, 0xcafe).physicalAddress).toBe(0x40_1000);
    driver.unmapDma(0x0300, 0, 0x20_0000);
    expect(iommu.dmaRead(0x0300, 0x1000, 4).status).toBe('fault');
    driver.enableInterruptRemapping({ x2apic: true });
    const pid = new PostedInterruptDescriptor(memory, 0x9000);
    pid.updateControl({ nv: 0xf2, ndst: 5 });
    const handle = driver.allocateIrte();
    driver.postToVcpu(handle, { vector: 0x61, descriptorAddress: 0x9000, svt: 1, sid: 0x0300 });
    const msi = encodeRemappableMsi({ handle, shv: false, subhandle: 0 });
    expect(iommu.sendMsi(0x0300, msi.address, msi.data)).toMatchObject({ outcome: 'posted', status: DELIVERY_STATUS.DELIVERED, notified: true });
  });
});
