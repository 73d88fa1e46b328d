import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '@hvsim/core';
import { APIC_REG, ApicBus, LocalApic, encodeRemappableMsi } from '@hvsim/lapic';
import { GCMD, IRTE_SIZE, IntelIommu, VTD_REG, apicBusTarget, encodeRemappedIrte } from './index.js';

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
