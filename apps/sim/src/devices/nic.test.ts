import { Clock, PhysicalMemory } from '@hvsim/core';
import { IntelIommu, VtdDriver, apicBusTarget } from '@hvsim/iommu';
import { APIC, ApicBus, LocalApic } from '@hvsim/lapic';
import { describe, expect, it } from 'vitest';
import { AssignedNic } from './nic.js';
import { NIC_BAR_SIZE, NIC_CTRL, NIC_DESC, NIC_DESC_BITS, NIC_MSIX, NIC_PACKET, NIC_REG } from './nic-regs.js';
import { Wire, type Frame } from './wire.js';

const SID = 0x0300;
const GUEST_BASE = 0x100_0000; // "guest RAM": GPA 0 is host 16 MiB
const RAM = 0x10_0000;
const BAR = 0x80_0000;
const RX_RING = 0x1000;
const TX_RING = 0x2000;
const BUFS = 0x4000;
const ENTRIES = 8;
const DMA = 300;

/** A host with one CPU, an IOMMU translating the NIC's DMA into "guest RAM", and a driver's rings set up through the BAR. */
function machine(itr = 0) {
  const clock = new Clock();
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x400_0000);
  const bus = new ApicBus();
  const cpu = new LocalApic({ id: 0, clock });
  bus.attach(cpu);
  cpu.mmioWrite(APIC.SVR, 4, 0x1ff);
  const iommu = new IntelIommu({ memory, target: apicBusTarget(bus) });
  let next = 0x200_0000;
  const driver = new VtdDriver({ unit: iommu, memory, pages: { allocate: () => (next += 0x1000) } });
  driver.attachDevice(SID, 1);
  driver.mapGuestPhysical(SID, 0, RAM, (gpa) => GUEST_BASE + gpa); // VT-d 3.6: second-level translation of the device's requests
  driver.enableTranslation();
  const received: Frame[] = [];
  const wire = new Wire({ clock, latencyCycles: 1000, bitsPerSecond: 10e9, clockHz: 2e9 });
  const nic = new AssignedNic({ clock, port: iommu, sid: SID, barMemory: memory, barBase: BAR, dmaCycles: DMA });
  nic.connect(wire, (f) => received.push(f));
  memory.addWriteObserver((addr, size) => {
    if (addr >= BAR && addr < BAR + NIC_BAR_SIZE) nic.barWritten(addr - BAR, size);
  });
  const reg = (off: number, v: number): void => {
    memory.write32(BAR + off, v);
  };
  const g = (gpa: number): number => GUEST_BASE + gpa;
  for (let i = 0; i < ENTRIES; i++) {
    memory.write32(g(RX_RING + i * NIC_DESC.SIZE), BUFS + i * 0x100);
    memory.write32(g(TX_RING + i * NIC_DESC.SIZE), BUFS + 0x1000 + i * 0x100);
  }
  reg(NIC_REG.RDBAL, RX_RING);
  reg(NIC_REG.RDLEN, ENTRIES * NIC_DESC.SIZE);
  reg(NIC_REG.RDT, ENTRIES - 1);
  reg(NIC_REG.TDBAL, TX_RING);
  reg(NIC_REG.TDLEN, ENTRIES * NIC_DESC.SIZE);
  reg(NIC_REG.ITR, itr);
  reg(NIC_MSIX.TABLE + NIC_MSIX.ADDR_LO, 0xfee0_0000);
  reg(NIC_MSIX.TABLE + NIC_MSIX.DATA, 0x43);
  reg(NIC_MSIX.TABLE + NIC_MSIX.CTRL, 0);
  reg(NIC_REG.CTRL, NIC_CTRL.RX_ENABLE | NIC_CTRL.TX_ENABLE);
  return { clock, memory, cpu, iommu, driver, nic, reg, g, received, wire };
}

describe('the assigned NIC', () => {
  it('receives by DMA through the IOMMU (VT-d 3.6): the frame lands at the host address of the descriptor’s guest-physical buffer, DD is written back, the MSI follows', () => {
    const m = machine();
    m.nic.receive({ id: 77, payload: 1 }, 0);
    expect(m.memory.read32(m.g(BUFS + NIC_PACKET.ID))).toBe(77); // not at host 0x4000: the IOMMU translated
    expect(m.memory.read32(BUFS + NIC_PACKET.ID)).toBe(0);
    expect(m.memory.read32(m.g(RX_RING + NIC_DESC.STATUS)) & NIC_DESC_BITS.DD).toBe(NIC_DESC_BITS.DD);
    expect(m.memory.read32(BAR + NIC_REG.RDH)).toBe(1);
    expect(m.cpu.highestDeliverableVector()).toBe(0x43);
    expect(m.nic.counters).toMatchObject({ rxFrames: 1, rxDelivered: 1, causes: 1, msis: 1, msiDelivered: 1 });
  });

  it('drops a frame when the ring has no free descriptor (head == tail) and one whose buffer the IOMMU does not map (a DMA fault), counting each', () => {
    const m = machine();
    m.reg(NIC_REG.RDT, 1); // one descriptor for the device
    m.memory.write32(m.g(RX_RING + NIC_DESC.SIZE), RAM + 0x1000); // descriptor 1: a buffer outside the domain
    m.nic.receive({ id: 1, payload: 1 }, 0);
    m.nic.receive({ id: 2, payload: 1 }, 0);
    m.reg(NIC_REG.RDT, 2);
    m.nic.receive({ id: 3, payload: 1 }, 0);
    const c = m.nic.counters;
    expect(c).toMatchObject({ rxFrames: 3, rxDelivered: 1, rxNoDescriptor: 1, rxDmaFaults: 1 });
    expect(c.rxDelivered + c.rxNoDescriptor + c.rxDmaFaults).toBe(c.rxFrames);
    expect(m.iommu.faultRecord(0).fault).toBe(true);
  });

  it('moderates: causes within the throttle interval merge into one MSI sent when the interval ends (82599 EITR-style)', () => {
    const m = machine(10_000);
    m.nic.receive({ id: 1, payload: 1 }, 0); // the first: at once
    m.clock.runUntil(100);
    m.nic.receive({ id: 2, payload: 1 }, 100);
    m.nic.receive({ id: 3, payload: 1 }, 100);
    expect(m.nic.counters).toMatchObject({ causes: 3, moderated: 1, msis: 1 });
    m.clock.runUntil(9_999);
    expect(m.nic.counters.msis).toBe(1);
    m.clock.runUntil(10_000);
    expect(m.nic.counters).toMatchObject({ msis: 2, msiAcceptedAt: [0, 10_000] });
    expect(m.nic.counters.causes).toBe(m.nic.counters.moderated + m.nic.counters.msis);
  });

  it('holds the message of a masked vector in the PBA and sends it on unmask (PCI 3.0 6.8.3.5)', () => {
    const m = machine();
    m.reg(NIC_MSIX.TABLE + NIC_MSIX.CTRL, NIC_MSIX.MASKED);
    m.nic.receive({ id: 1, payload: 1 }, 0);
    expect(m.nic.counters.msis).toBe(0);
    expect(m.memory.read32(BAR + NIC_MSIX.PBA)).toBe(1);
    m.reg(NIC_MSIX.TABLE + NIC_MSIX.CTRL, 0);
    expect(m.nic.counters.msis).toBe(1);
    expect(m.memory.read32(BAR + NIC_MSIX.PBA)).toBe(0);
  });

  it('transmits on a tail write: fetches the descriptors and data by DMA, writes DD back, and the wire delivers after serialization and latency', () => {
    const m = machine();
    for (const [i, id] of [[0, 5], [1, 6]] as const) {
      m.memory.write32(m.g(BUFS + 0x1000 + i * 0x100 + NIC_PACKET.ID), id);
      m.memory.write32(m.g(TX_RING + i * NIC_DESC.SIZE + NIC_DESC.LENGTH), 1 | ((NIC_DESC_BITS.EOP | NIC_DESC_BITS.RS) << 24));
    }
    m.reg(NIC_REG.TDT, 2);
    m.clock.runUntil(DMA);
    expect(m.memory.read32(BAR + NIC_REG.TDH)).toBe(2);
    expect(m.memory.read32(m.g(TX_RING + NIC_DESC.STATUS)) & NIC_DESC_BITS.DD).toBe(NIC_DESC_BITS.DD);
    // 84 bytes of line time each at 10 Gb/s and 2 GHz: 135 cycles; the first leaves after two DMA round trips.
    m.clock.runUntil(2 * DMA + 135 + 1000 - 1);
    expect(m.received).toEqual([]);
    m.clock.runUntil(2 * DMA + 2 * 135 + 1000);
    expect(m.received).toEqual([{ id: 5, payload: 1 }, { id: 6, payload: 1 }]);
    expect(m.nic.counters.txFrames).toBe(2);
    expect(m.wire.inFlight).toBe(0);
  });
});
