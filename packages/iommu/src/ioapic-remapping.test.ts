/**
 * The IOAPIC behind VT-d interrupt remapping, end to end (VT-d 5.1.5.1
 * "I/O APIC Programming"; 82093AA 3.2.4): a remappable redirection entry
 * sends a remappable-format MSI, the IOMMU looks up the IRTE and delivers
 * the remapped interrupt to the local APIC; each step reports its status.
 */
import { describe, expect, it } from 'vitest';
import { DELIVERY_STATUS, PhysicalMemory } from '@hvsim/core';
import { ApicBus, IoApic, IOAPIC_INDIRECT, LocalApic, encodeRemappableRte } from '@hvsim/lapic';
import { PageAllocator } from '@hvsim/mmu';
import { VtdDriver } from './driver/vtd-driver.js';
import { IntelIommu } from './iommu.js';
import { apicBusTarget } from './apic-bus-target.js';

const IOAPIC_SID = 0xf0f8; // the IOAPIC's requester ID on the platform (00:1f.0 style, here F0:1F.0)

function platform() {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x100_0000);
  const bus = new ApicBus();
  const apic = new LocalApic({ id: 3 });
  bus.attach(apic);
  apic.mmioWrite(0xf0, 4, 0x1ff); // software-enabled
  const iommu = new IntelIommu({ memory, target: apicBusTarget(bus) });
  const driver = new VtdDriver({ unit: iommu, memory, pages: new PageAllocator(0x10_0000, 0x10_0000) });
  driver.enableInterruptRemapping();
  const ioapic = new IoApic({ remappableFormat: true });
  ioapic.connectMsi(iommu, IOAPIC_SID);
  const setRte = (pin: number, [low, high]: [number, number]) => {
    ioapic.writeIndirect(IOAPIC_INDIRECT.IOREDTBL0 + 2 * pin + 1, high);
    ioapic.writeIndirect(IOAPIC_INDIRECT.IOREDTBL0 + 2 * pin, low);
  };
  return { memory, bus, apic, iommu, driver, ioapic, setRte };
}

describe('IOAPIC → VT-d interrupt remapping → local APIC (VT-d 5.1.5.1)', () => {
  it('delivers a remapped pin with the IRTE vector and destination, and reports coalescing and blocking', () => {
    const p = platform();
    const handle = p.driver.allocateIrte();
    p.driver.setRemappedIrte(handle, { vector: 0x51, destination: 3, svt: 1, sid: IOAPIC_SID });
    p.setRte(4, encodeRemappableRte({ index: handle, vector: 0x51 }));
    expect(p.ioapic.setIrq(4, true)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(p.apic.isRequested(0x51)).toBe(true);
    // A second edge while 0x51 is still requested at the APIC: coalesced there, and the status comes back.
    p.ioapic.setIrq(4, false);
    expect(p.ioapic.setIrq(4, true)).toBe(DELIVERY_STATUS.COALESCED);
    expect(p.apic.acknowledge()).toBe(0x51);
  });

  it('blocks a pin whose IRTE is not present and records the remapping fault (VT-d 7.1.3, fault reason 0x22)', () => {
    const p = platform();
    p.setRte(5, encodeRemappableRte({ index: 9, vector: 0x52 }));
    expect(p.ioapic.setIrq(5, true)).toBe(DELIVERY_STATUS.BLOCKED);
    expect(p.apic.hasPendingInterrupt()).toBe(false);
    expect(p.iommu.faultRecord(0).reason).toBe(0x22);
  });

  it('blocks a pin whose IRTE validates a different source ID (VT-d 9.10 SVT/SQ/SID)', () => {
    const p = platform();
    const handle = p.driver.allocateIrte();
    p.driver.setRemappedIrte(handle, { vector: 0x53, destination: 3, svt: 1, sid: 0x0300 });
    p.setRte(6, encodeRemappableRte({ index: handle, vector: 0x53 }));
    expect(p.ioapic.setIrq(6, true)).toBe(DELIVERY_STATUS.BLOCKED);
    expect(p.apic.hasPendingInterrupt()).toBe(false);
  });
});
