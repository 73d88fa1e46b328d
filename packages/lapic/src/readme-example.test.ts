/** The README's usage example, run as written (SDM 3A 11.6.1 IPIs, 11.8.4 INTA, 11.12 x2APIC, 11.11 MSI). */
import { describe, expect, it } from 'vitest';
import { BusError, Clock, DELIVERY_STATUS, MmioBus, MsrBus, PhysicalMemory } from '@hvsim/core';
import { APIC_PAGE_SIZE, APIC_REG, ApicBus, IA32_APIC_BASE_MSR, IA32_TSC_DEADLINE_MSR, IoApic, LocalApic, PostedInterruptDescriptor, X2APIC_MSR_BASE, encodeRte } from './index.js';

describe('README usage example', () => {
  it('works as documented', () => {
    const woken: number[] = [];
    const clock = new Clock();
    const bus = new ApicBus();
    const wake = (cpu: number): void => void woken.push(cpu);
    const [cpu0, cpu1] = [0, 1].map((id) => new LocalApic({ id, clock, onInterrupt: () => wake(id) })) as [LocalApic, LocalApic];
    bus.attach(cpu0);
    bus.attach(cpu1);
    const ioapic = new IoApic();
    bus.attach(ioapic);

    cpu0.mmioWrite(APIC_REG.APIC_SVR, 4, 0x1ff);
    cpu1.mmioWrite(APIC_REG.APIC_SVR, 4, 0x1ff);
    cpu0.mmioWrite(APIC_REG.APIC_ICR_HIGH, 4, 1 << 24);
    cpu0.mmioWrite(APIC_REG.APIC_ICR_LOW, 4, 0x41);
    expect(woken).toEqual([1]);

    expect(cpu1.hasPendingInterrupt()).toBe(true);
    expect(cpu1.acknowledge()).toBe(0x41);
    cpu1.mmioWrite(APIC_REG.APIC_EOI, 4, 0);

    cpu1.writeMsr(0x1b, 0xfee00c00n);
    cpu1.writeMsr(0x83f, 0x42n);
    expect(cpu1.acknowledge()).toBe(0x42);

    bus.deliverMsi(0xfee00000, 0x0051);
    expect(cpu0.acknowledge()).toBe(0x51);
    ioapic.setIrq(4, true);
    expect(cpu0.hasPendingInterrupt()).toBe(false);
  });
});

describe('README wiring example', () => {
  it('maps and remaps the page on core buses', () => {
    const mmio = new MmioBus();
    const msrs = new MsrBus();
    let mappedAt: number | undefined;
    const remap = (apic: LocalApic): void => {
      if (mappedAt !== undefined) mmio.unmap(mappedAt);
      mappedAt = apic.decodesMmio ? apic.baseAddress : undefined;
      if (mappedAt !== undefined) mmio.map(mappedAt, APIC_PAGE_SIZE, apic, 'lapic');
    };
    const apic = new LocalApic({ id: 0, onBaseChange: remap });
    remap(apic);
    msrs.map(IA32_APIC_BASE_MSR, 1, apic, 'IA32_APIC_BASE');
    msrs.map(IA32_TSC_DEADLINE_MSR, 1, apic, 'IA32_TSC_DEADLINE');
    msrs.map(X2APIC_MSR_BASE, 0x100, apic, 'x2APIC');

    expect(mmio.read(0xfee00030, 4)).toBe(0x0106_0015);
    msrs.write(0x1b, 0xfee00d00n);
    expect(() => mmio.read(0xfee00030, 4)).toThrow(BusError);
    expect(msrs.read(0x803)).toBe(0x0106_0015n);
  });
});

describe('README hypervisor examples', () => {
  it('delivery status', () => {
    const bus = new ApicBus();
    const cpu = new LocalApic({ id: 0 });
    cpu.mmioWrite(APIC_REG.APIC_SVR, 4, 0x1ff);
    bus.attach(cpu);
    expect(bus.deliverMsi(0xfee00000, 0x41)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(bus.deliverMsi(0xfee00000, 0x41)).toBe(DELIVERY_STATUS.COALESCED);
    expect(bus.deliverMsi(0xfee05000, 0x41)).toBe(DELIVERY_STATUS.BLOCKED);
    expect(bus.lastAcceptedCount).toBe(0);
  });

  it('APICv sink and eoiVector', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0x2000, 0x1000);
    let kicks = 0;
    const kickPhysicalCpu = (): void => void kicks++;
    const pid = new PostedInterruptDescriptor(memory, 0x2000);
    const vcpu = new LocalApic({
      id: 1,
      deliverFixed: (vector) => {
        if (pid.postFromSoftware(vector)) kickPhysicalCpu();
        return true;
      },
    });
    vcpu.mmioWrite(APIC_REG.APIC_SVR, 4, 0x1ff);
    vcpu.acceptInterrupt({ vector: 0x44, trigger: 'level' });
    vcpu.acceptInterrupt({ vector: 0x45, trigger: 'edge' });
    expect([kicks, pid.testPir(0x44), pid.testPir(0x45), vcpu.highestRequestedVector()]).toEqual([1, true, true, -1]);
    vcpu.eoiVector(0x44);
    vcpu.setFixedInterruptSink(undefined);
    vcpu.acceptInterrupt({ vector: 0x46, trigger: 'edge' });
    expect(vcpu.isRequested(0x46)).toBe(true);
  });

  it('IOAPIC output to a routing table', () => {
    const bus = new ApicBus();
    const cpu = new LocalApic({ id: 0 });
    cpu.mmioWrite(APIC_REG.APIC_SVR, 4, 0x1ff);
    bus.attach(cpu);
    const rescanned: number[] = [];
    const rescan = (pin: number): void => void rescanned.push(pin);
    const routed: number[] = [];
    const ioapic = new IoApic({ onRteWrite: (pin) => rescan(pin) });
    ioapic.connectMsi({ deliverMsi: (address, data) => (routed.push(address, data), bus.deliverMsi(address, data)) }, 0xf0f8);
    const [low, high] = encodeRte({ vector: 0x30, destination: 0, trigger: 'level' });
    ioapic.writeIndirect(0x10 + 2 * 4 + 1, high);
    ioapic.writeIndirect(0x10 + 2 * 4, low);
    expect(ioapic.setIrq(4, true)).toBe(DELIVERY_STATUS.DELIVERED);
    expect(routed).toEqual([0xfee00000, 0xc030]);
    expect(rescanned).toEqual([4, 4]);
    expect(cpu.acknowledge()).toBe(0x30);
  });
});
