import fc from 'fast-check';
import { Clock, PhysicalMemory } from '@hvsim/core';
import { IntelIommu, apicBusTarget } from '@hvsim/iommu';
import { APIC, ApicBus, LocalApic } from '@hvsim/lapic';
import { describe, expect, it } from 'vitest';
import { AssignedNic } from './nic.js';
import { NIC_BAR_SIZE, NIC_CTRL, NIC_DESC, NIC_MSIX, NIC_REG } from './nic-regs.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);
const BAR = 0x10_0000;
const ENTRIES = 16;

/** Arrivals (cycle gaps), tail moves by the driver and throttle intervals, in any order. */
const step = fc.oneof(
  fc.record({ kind: fc.constant('frame' as const), gap: fc.integer({ min: 0, max: 3000 }) }),
  fc.record({ kind: fc.constant('tail' as const), to: fc.integer({ min: 0, max: ENTRIES - 1 }) }),
  fc.record({ kind: fc.constant('mask' as const), masked: fc.boolean() }),
);

describe('the assigned NIC, every frame and cause accounted for (property)', () => {
  it('received = to the ring + no descriptor + DMA faults; causes = moderated + MSIs sent + one still pending; MSIs = delivered + coalesced + refused', () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), fc.integer({ min: 0, max: 5000 }), (steps, itr) => {
        const clock = new Clock();
        const memory = new PhysicalMemory();
        memory.addRegion(0, 0x20_0000);
        const bus = new ApicBus();
        const cpu = new LocalApic({ id: 0, clock });
        bus.attach(cpu);
        cpu.mmioWrite(APIC.SVR, 4, 0x1ff);
        const nic = new AssignedNic({ clock, port: new IntelIommu({ memory, target: apicBusTarget(bus) }), sid: 0x300, barMemory: memory, barBase: BAR, dmaCycles: 100 });
        memory.addWriteObserver((addr, size) => {
          if (addr >= BAR && addr < BAR + NIC_BAR_SIZE) nic.barWritten(addr - BAR, size);
        });
        const reg = (off: number, v: number): void => {
          memory.write32(BAR + off, v);
        };
        for (let i = 0; i < ENTRIES; i++) memory.write32(0x1000 + i * NIC_DESC.SIZE, 0x8000 + i * 0x800);
        reg(NIC_REG.RDBAL, 0x1000);
        reg(NIC_REG.RDLEN, ENTRIES * NIC_DESC.SIZE);
        reg(NIC_REG.ITR, itr);
        reg(NIC_MSIX.TABLE + NIC_MSIX.ADDR_LO, 0xfee0_0000);
        reg(NIC_MSIX.TABLE + NIC_MSIX.DATA, 0x43);
        reg(NIC_MSIX.TABLE + NIC_MSIX.CTRL, 0);
        reg(NIC_REG.CTRL, NIC_CTRL.RX_ENABLE);
        let now = 0;
        let id = 0;
        for (const s of steps) {
          if (s.kind === 'frame') {
            now += s.gap;
            clock.runUntil(now);
            nic.receive({ id: ++id, payload: 1 }, now);
            if (cpu.highestDeliverableVector() >= 0) {
              cpu.acknowledge();
              cpu.mmioWrite(APIC.EOI, 4, 0);
            }
          } else if (s.kind === 'tail') reg(NIC_REG.RDT, s.to);
          else reg(NIC_MSIX.TABLE + NIC_MSIX.CTRL, s.masked ? NIC_MSIX.MASKED : 0);
        }
        clock.runUntil(now + itr + 1);
        const c = nic.counters;
        expect(c.rxFrames).toBe(id);
        expect(c.rxDelivered + c.rxNoDescriptor + c.rxDmaFaults).toBe(c.rxFrames);
        expect(c.causes).toBe(c.rxDelivered);
        expect(c.moderated + c.msis + (nic.interruptPending ? 1 : 0)).toBe(c.causes);
        expect(c.msiDelivered + c.msiCoalesced + c.msiRefused).toBe(c.msis);
        expect(c.msiAcceptedAt.length).toBe(c.msiDelivered + c.msiCoalesced);
        // The throttle: MSIs are at least ITR cycles apart (82599 EITR) — unless an unmask sent a pending one
        // (PCI 3.0 6.8.3.5), which does not restart the interval.
        if (!steps.some((st) => st.kind === 'mask')) for (let i = 1; i < c.msiAcceptedAt.length; i++) expect(c.msiAcceptedAt[i]! - c.msiAcceptedAt[i - 1]!).toBeGreaterThanOrEqual(itr);
      }),
      { seed, numRuns },
    );
  });
});
