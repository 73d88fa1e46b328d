import { describe, expect, it } from 'vitest';
import { Clock, DELIVERY_MODE, DELIVERY_STATUS, RecordingTracer, UsageError } from '@hvsim/core';
import { ApicBus } from '../bus/apic-bus.js';
import { emptyMessage } from '../bus/apic-message.js';
import { encodeMsi } from '../msi/msi.js';
import { IoApic } from '../ioapic/io-apic.js';
import { LocalApic } from './local-apic.js';
import { APIC } from './regs.js';
import { makeApic, wr } from '../test-support/helpers.js';

const { DELIVERED, COALESCED, BLOCKED, DROPPED } = DELIVERY_STATUS;

describe('LocalApic.acceptInterrupt delivery status (SDM 3A 11.8.3-11.8.4; KVM __apic_accept_irq)', () => {
  it('delivered when newly in the IRR, coalesced when already there', () => {
    const { apic } = makeApic();
    expect(apic.acceptInterrupt({ vector: 0x40, trigger: 'edge' })).toBe(DELIVERED);
    expect(apic.acceptInterrupt({ vector: 0x40, trigger: 'edge' })).toBe(COALESCED);
    expect(apic.acknowledge()).toBe(0x40);
    // In service but not requested: a new one is newly requested (SDM 3A 11.8.4).
    expect(apic.acceptInterrupt({ vector: 0x40, trigger: 'edge' })).toBe(DELIVERED);
  });

  it('blocked when the APIC is software- or globally disabled (SDM 3A 11.4.7.2, 11.4.3)', () => {
    const { apic } = makeApic({}, false);
    expect(apic.acceptInterrupt({ vector: 0x40, trigger: 'edge' })).toBe(BLOCKED);
    wr(apic, APIC.SVR, 0x1ff);
    apic.writeMsr(0x1b, apic.apicBase & ~0x800n);
    expect(apic.acceptInterrupt({ vector: 0x40, trigger: 'edge' })).toBe(BLOCKED);
    expect(apic.acceptInterrupt({ vector: 0, deliveryMode: DELIVERY_MODE.NMI, trigger: 'edge' })).toBe(BLOCKED);
  });

  it('dropped: illegal vector, reserved delivery mode, SIPI outside wait-for-SIPI, level de-assert', () => {
    const { apic } = makeApic({ id: 0 });
    expect(apic.acceptInterrupt({ vector: 0x0f, trigger: 'edge' })).toBe(DROPPED); // ESR receive illegal vector
    expect(apic.acceptInterrupt({ vector: 0x40, deliveryMode: 3, trigger: 'edge' })).toBe(DROPPED);
    expect(apic.acceptInterrupt({ vector: 0x10, deliveryMode: DELIVERY_MODE.STARTUP, trigger: 'edge' })).toBe(DROPPED); // the BSP does not wait for SIPI
    expect(apic.acceptInterrupt({ vector: 0x40, trigger: 'level', level: false })).toBe(DROPPED);
    expect(apic.isRequested(0x40)).toBe(false);
  });

  it('signals: delivered, then coalesced while one is pending (NMIs merge)', () => {
    const { apic } = makeApic();
    expect(apic.acceptInterrupt({ vector: 2, deliveryMode: DELIVERY_MODE.NMI, trigger: 'edge' })).toBe(DELIVERED);
    expect(apic.acceptInterrupt({ vector: 2, deliveryMode: DELIVERY_MODE.NMI, trigger: 'edge' })).toBe(COALESCED);
    expect(apic.takeNmi()).toBe(true);
    expect(apic.acceptInterrupt({ vector: 2, deliveryMode: DELIVERY_MODE.NMI, trigger: 'edge' })).toBe(DELIVERED);
  });

  it('acceptBusMessage tells coalesced from delivered', () => {
    const { apic } = makeApic();
    const m = emptyMessage();
    m.vector = 0x55;
    expect(apic.acceptBusMessage(m)).toBe(DELIVERED);
    expect(apic.acceptBusMessage(m)).toBe(COALESCED);
  });

  it('rejects a bad flow identifier', () => {
    const { apic } = makeApic();
    expect(() => apic.acceptInterrupt({ vector: 0x40, trigger: 'edge', flow: -1 })).toThrow(UsageError);
    expect(() => apic.acceptInterrupt({ vector: 0x40, trigger: 'edge', flow: 1.5 })).toThrow('flow must be a non-negative 32-bit integer, got 1.5');
  });
});

function bus4(): { bus: ApicBus; apics: LocalApic[] } {
  const clock = new Clock();
  const bus = new ApicBus();
  const apics = [0, 1, 2, 3].map((id) => {
    const { apic } = makeApic({ id, clock });
    wr(apic, APIC.LDR, (1 << (24 + id)) >>> 0);
    bus.attach(apic);
    return apic;
  });
  return { bus, apics };
}

function msi(destinationId: number, vector: number, logical = false): { address: number; data: number } {
  return encodeMsi({ destinationId, destinationMode: logical ? 'logical' : 'physical', redirectionHint: false, vector, deliveryMode: 0, trigger: 'edge', level: true });
}

describe('ApicBus delivery status of a whole message (KVM kvm_irq_delivery_to_apic)', () => {
  it('physical: delivered, then coalesced; no such APIC: blocked', () => {
    const { bus } = bus4();
    const a = msi(2, 0x61);
    expect(bus.deliverMsi(a.address, a.data)).toBe(DELIVERED);
    expect(bus.deliverMsi(a.address, a.data)).toBe(COALESCED);
    expect(bus.lastAcceptedCount).toBe(1);
    const none = msi(9, 0x61);
    expect(bus.deliverMsi(none.address, none.data)).toBe(BLOCKED);
    expect(bus.lastAcceptedCount).toBe(0);
  });

  it('logical group: delivered if any destination got it newly, coalesced only if all had it', () => {
    const { bus, apics } = bus4();
    apics[1]!.acceptInterrupt({ vector: 0x62, trigger: 'edge' });
    const a = msi(0x03, 0x62, true); // APICs 0 and 1
    expect(bus.deliverMsi(a.address, a.data)).toBe(DELIVERED);
    expect(bus.lastAcceptedCount).toBe(2);
    expect(bus.deliverMsi(a.address, a.data)).toBe(COALESCED);
    expect(bus.lastAcceptedCount).toBe(2);
  });

  it('every destination refusing it (software-disabled) is blocked; coalesced wins over blocked', () => {
    const { bus, apics } = bus4();
    wr(apics[0]!, APIC.SVR, 0xff);
    wr(apics[1]!, APIC.SVR, 0xff);
    const a = msi(0x03, 0x63, true);
    expect(bus.deliverMsi(a.address, a.data)).toBe(BLOCKED);
    expect(bus.lastAcceptedCount).toBe(0);
    wr(apics[1]!, APIC.SVR, 0x1ff);
    apics[1]!.acceptInterrupt({ vector: 0x63, trigger: 'edge' });
    expect(bus.deliverMsi(a.address, a.data)).toBe(COALESCED);
    expect(bus.lastAcceptedCount).toBe(1);
  });

  it('illegal vector at every destination: dropped', () => {
    const { bus } = bus4();
    const m = emptyMessage();
    m.destination = 0xff; // broadcast
    m.vector = 0x05;
    expect(bus.deliver(m)).toBe(DROPPED);
  });

  it('lowest priority with no enabled candidate: blocked', () => {
    const { bus, apics } = bus4();
    for (const a of apics) wr(a, APIC.SVR, 0xff);
    const m = emptyMessage();
    m.destination = 0x0f;
    m.logical = true;
    m.vector = 0x64;
    m.deliveryMode = DELIVERY_MODE.LOWEST_PRIORITY;
    expect(bus.deliver(m)).toBe(BLOCKED);
  });

  it('an unconnected APIC delivers only to itself and reports the status', () => {
    const { apic } = makeApic({ id: 0 });
    wr(apic, APIC.ICR_HIGH, 0);
    wr(apic, APIC.ICR_LOW, 0x70); // fixed, physical, to itself
    expect(apic.isRequested(0x70)).toBe(true);
  });
});

describe('flow identifiers in trace events (core InterruptMessage.flow)', () => {
  it('delivered, acknowledged and EOI events of the LAPIC carry the flow; cpu is the APIC ID', () => {
    const tracer = new RecordingTracer();
    const { apic } = makeApic({ id: 3, tracer });
    apic.acceptInterrupt({ vector: 0x50, trigger: 'edge', flow: 7 });
    apic.acceptInterrupt({ vector: 0x50, trigger: 'edge', flow: 8 });
    apic.acknowledge();
    apic.mmioWrite(APIC.EOI, 4, 0);
    const events = tracer.events().filter((e) => 'vector' in e && e.vector === 0x50);
    expect(events.map((e) => [e.kind, e.flow, e.cpu, e.source])).toEqual([
      ['interrupt.delivered', 7, 3, 'lapic'],
      ['interrupt.coalesced', 8, 3, 'lapic'],
      ['interrupt.acknowledged', 7, 3, 'lapic'],
      ['interrupt.eoi', 7, 3, 'lapic'],
    ]);
  });

  it('an MSI flow reaches the bus, LAPIC events; an IOAPIC flow reaches raised and the IOAPIC EOI', () => {
    const tracer = new RecordingTracer();
    const clock = new Clock();
    const bus = new ApicBus({ tracer, clock });
    const { apic } = makeApic({ id: 0, tracer, clock });
    bus.attach(apic);
    const a = msi(0, 0x51);
    bus.deliverMsi(a.address, a.data, 0x100, 21);
    const io = new IoApic({ tracer, clock });
    bus.attach(io);
    io.writeIndirect(0x10, 0x8000 | 0x52); // level, physical, APIC 0
    io.setIrq(0, true, 22);
    expect(apic.acknowledge()).toBe(0x52);
    apic.mmioWrite(APIC.EOI, 4, 0);
    const byFlow = (f: number) => tracer.events().filter((e) => e.flow === f).map((e) => `${e.source}:${e.kind}`);
    expect(byFlow(21)).toEqual(['apic-bus:msi', 'lapic:interrupt.delivered']);
    // The pin is still asserted after the EOI: the IOAPIC sends it again, same flow (82093AA 3.2.4).
    expect(byFlow(22)).toEqual([
      'lapic:interrupt.delivered',
      'ioapic:interrupt.raised',
      'lapic:interrupt.acknowledged',
      'lapic:interrupt.eoi',
      'ioapic:interrupt.eoi',
      'lapic:interrupt.delivered',
      'ioapic:interrupt.raised',
    ]);
  });

  it('a message without a flow leaves the field absent', () => {
    const tracer = new RecordingTracer();
    const { apic } = makeApic({ tracer });
    apic.acceptInterrupt({ vector: 0x50, trigger: 'edge' });
    expect('flow' in tracer.events()[0]! ? tracer.events()[0]!.flow : undefined).toBeUndefined();
  });
});
