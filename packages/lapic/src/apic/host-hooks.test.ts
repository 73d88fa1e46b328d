import { describe, expect, it } from 'vitest';
import { Clock, DELIVERY_STATUS, PhysicalMemory, RecordingTracer, UsageError } from '@hvsim/core';
import { ApicBus } from '../bus/apic-bus.js';
import { IoApic } from '../ioapic/io-apic.js';
import { encodeMsi } from '../msi/msi.js';
import { PostedInterruptDescriptor } from '../posted/posted-interrupt-descriptor.js';
import { LocalApic } from './local-apic.js';
import { APIC } from './regs.js';
import { makeApic, rd, toX2apic, wr } from '../test-support/helpers.js';

/** A vCPU's LocalApic in APICv mode: fixed interrupts are posted into a descriptor (KVM vmx_deliver_interrupt). */
function apicvRig(id = 0): { apic: LocalApic; pid: PostedInterruptDescriptor; clock: Clock; taken: number[]; bus: ApicBus } {
  const mem = new PhysicalMemory();
  mem.addRegion(0x1000, 0x1000);
  const pid = new PostedInterruptDescriptor(mem, 0x1000);
  const taken: number[] = [];
  const clock = new Clock();
  const { apic } = makeApic({
    id,
    clock,
    deliverFixed: (vector) => {
      taken.push(vector);
      pid.postFromSoftware(vector);
      return true;
    },
  });
  const bus = new ApicBus();
  bus.attach(apic);
  return { apic, pid, clock, taken, bus };
}

describe('fixed-interrupt sink (host-seams G1a; KVM vmx_deliver_interrupt)', () => {
  it('catches bus messages, MSIs and the IOAPIC, leaving the IRR alone', () => {
    const { apic, pid, taken, bus } = apicvRig();
    const io = new IoApic();
    bus.attach(io);
    const { address, data } = encodeMsi({ destinationId: 0, destinationMode: 'physical', redirectionHint: false, vector: 0x41, deliveryMode: 0, trigger: 'edge', level: true });
    expect(bus.deliverMsi(address, data)).toBe(DELIVERY_STATUS.DELIVERED);
    io.writeIndirect(0x10, 0x42);
    io.setIrq(0, true);
    expect(apic.acceptInterrupt({ vector: 0x43, trigger: 'edge' })).toBe(DELIVERY_STATUS.DELIVERED);
    expect(taken).toEqual([0x41, 0x42, 0x43]);
    expect(apic.highestRequestedVector()).toBe(-1);
    expect([pid.testPir(0x41), pid.testPir(0x42), pid.testPir(0x43), pid.on]).toEqual([true, true, true, true]);
  });

  it('catches the LVT timer, the ICR self shorthand and the x2APIC SELF IPI (SDM 3A 11.5.4, 11.6.1, 11.12.11)', () => {
    const { apic, clock, taken } = apicvRig();
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb); // divide by 1
    wr(apic, APIC.LVT_TIMER, 0x50);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 10);
    clock.advance(10 * 100);
    wr(apic, APIC.ICR_LOW, (1 << 18) | 0x51); // self shorthand
    toX2apic(apic);
    apic.writeMsr(0x83f, 0x52n);
    expect(taken).toEqual([0x50, 0x51, 0x52]);
    expect(apic.highestRequestedVector()).toBe(-1);
  });

  it('the TMR still records a level vector taken by the sink, so its EOI reaches the IOAPIC', () => {
    const { apic, bus, taken } = apicvRig();
    const io = new IoApic();
    bus.attach(io);
    io.writeIndirect(0x10, 0x8000 | 0x44); // level
    io.setIrq(0, true);
    expect(taken).toEqual([0x44]);
    expect(apic.isLevelTriggered(0x44)).toBe(true);
    expect(io.remoteIrr(0)).toBe(true);
    io.setIrq(0, false);
    apic.eoiVector(0x44); // the guest's EOI, virtualized in the vAPIC page (KVM kvm_apic_set_eoi_accelerated)
    expect(io.remoteIrr(0)).toBe(false);
  });

  it('a sink returning false lets the IRR take it; acceptVectors never offers the sink (PIR sync)', () => {
    const seen: number[] = [];
    const { apic } = makeApic({ deliverFixed: (v) => (seen.push(v), false) });
    apic.acceptInterrupt({ vector: 0x60, trigger: 'edge' });
    expect(apic.isRequested(0x60)).toBe(true);
    const pir = new Uint32Array(8);
    pir[2] = 1; // vector 0x40
    expect(apic.acceptVectors(pir)).toBe(true);
    expect(seen).toEqual([0x60]);
    expect(apic.isRequested(0x40)).toBe(true);
  });

  it('setFixedInterruptSink switches APICv on and off; NMIs never go to the sink', () => {
    const { apic } = makeApic();
    const seen: number[] = [];
    apic.setFixedInterruptSink((v) => (seen.push(v), true));
    apic.acceptInterrupt({ vector: 0x61, trigger: 'edge' });
    apic.acceptInterrupt({ vector: 2, deliveryMode: 4, trigger: 'edge' });
    apic.setFixedInterruptSink(undefined);
    apic.acceptInterrupt({ vector: 0x62, trigger: 'edge' });
    expect(seen).toEqual([0x61]);
    expect(apic.isRequested(0x62)).toBe(true);
    expect(apic.takeNmi()).toBe(true);
    expect(() => apic.setFixedInterruptSink(42 as unknown as () => boolean)).toThrow('fixed-interrupt sink must be a function or undefined, got 42');
  });

  it('a software-disabled APIC blocks before the sink sees anything', () => {
    const seen: number[] = [];
    const { apic } = makeApic({ deliverFixed: (v) => (seen.push(v), true) }, false);
    expect(apic.acceptInterrupt({ vector: 0x63, trigger: 'edge' })).toBe(DELIVERY_STATUS.BLOCKED);
    expect(seen).toEqual([]);
  });
});

describe('eoiVector (host-seams G1b; KVM kvm_apic_set_eoi_accelerated)', () => {
  it('edge vector: trace only, ISR untouched', () => {
    const tracer = new RecordingTracer();
    const { apic } = makeApic({ tracer });
    apic.acceptInterrupt({ vector: 0x70, trigger: 'edge' });
    apic.acknowledge();
    apic.eoiVector(0x70);
    expect(apic.isInService(0x70)).toBe(true);
    expect(tracer.events().at(-1)!.kind).toBe('interrupt.eoi');
    expect(() => apic.eoiVector(256)).toThrow(UsageError);
  });

  it('level vector: broadcast to the IOAPIC unless SVR bit 12 suppresses it (SDM 3A 11.8.5)', () => {
    const clock = new Clock();
    const bus = new ApicBus();
    const { apic } = makeApic({ clock });
    bus.attach(apic);
    const io = new IoApic();
    bus.attach(io);
    io.writeIndirect(0x10, 0x8000 | 0x71);
    io.setIrq(0, true);
    io.setIrq(0, false);
    wr(apic, APIC.SVR, 0x11ff); // suppress EOI broadcast
    apic.eoiVector(0x71);
    expect(io.remoteIrr(0)).toBe(true);
    wr(apic, APIC.SVR, 0x1ff);
    apic.eoiVector(0x71);
    expect(io.remoteIrr(0)).toBe(false);
  });

  it('level LINT0 vector: clears the LVT remote IRR (SDM 3A 11.5.1)', () => {
    const { apic } = makeApic();
    wr(apic, APIC.LVT_LINT0, 0x8000 | 0x72); // fixed, level
    apic.setLint(0, true);
    expect(rd(apic, APIC.LVT_LINT0) & (1 << 14)).not.toBe(0);
    apic.setLint(0, false);
    apic.eoiVector(0x72);
    expect(rd(apic, APIC.LVT_LINT0) & (1 << 14)).toBe(0);
  });
});

describe('IRR/ISR/TPR exchange with a virtual-APIC page (host-seams G1c)', () => {
  it('copies out and loads back without touching the timer', () => {
    const { apic, clock } = makeApic();
    wr(apic, APIC.LVT_TIMER, 0x20000 | 0x30); // periodic
    wr(apic, APIC.TIMER_INITIAL_COUNT, 1000);
    clock.advance(3000);
    const count = rd(apic, APIC.TIMER_CURRENT_COUNT);
    apic.acceptInterrupt({ vector: 0x80, trigger: 'level' });
    apic.acceptInterrupt({ vector: 0x90, trigger: 'edge' });
    apic.acknowledge();
    const irr = new Uint32Array(8);
    const isr = new Uint32Array(8);
    const tmr = new Uint32Array(8);
    apic.copyIrr(irr);
    apic.copyIsr(isr);
    apic.copyTmr(tmr);
    expect([irr[4], isr[4], tmr[4]]).toEqual([1, 1 << 16, 1]);
    // The vAPIC page changed while the guest ran: 0x80 was acknowledged and 0xa0 posted.
    irr[4] = 0;
    irr[5] = 1; // 0xa0
    isr[4] = (1 << 16) | 1;
    irr[0] = 0xffff; // vectors 0-15 are ignored
    apic.loadIrr(irr);
    apic.loadIsr(isr);
    apic.loadTpr(0x20);
    expect([apic.isRequested(0x80), apic.isRequested(0xa0), apic.isInService(0x80), apic.isInService(0x90), apic.isRequested(5)]).toEqual([false, true, true, true, false]);
    expect(apic.ppr).toBe(0x90);
    expect(apic.tpr).toBe(0x20);
    expect(apic.highestDeliverableVector()).toBe(0xa0);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(count);
    expect(() => apic.loadIrr(new Uint32Array(4))).toThrow('loadIrr needs a Uint32Array of 8 words');
    expect(() => apic.loadTpr(256)).toThrow('TPR must be an integer in [0, 255]');
  });

  it('loading a deliverable IRR notifies the CPU', () => {
    let kicks = 0;
    const { apic } = makeApic({ onInterrupt: () => kicks++ });
    const irr = new Uint32Array(8);
    irr[3] = 1;
    apic.loadIrr(irr);
    expect(kicks).toBe(1);
  });
});

describe('ICR level and trigger (SDM 3A 11.6.1 vs KVM kvm_apic_send_ipi)', () => {
  function pair(icrLevelTrigger: boolean): LocalApic[] {
    const clock = new Clock();
    const bus = new ApicBus();
    return [0, 1].map((id) => {
      const { apic } = makeApic({ id, clock, icrLevelTrigger });
      bus.attach(apic);
      return apic;
    });
  }

  it('default (SDM): a level-triggered fixed IPI arrives edge-triggered, an INIT de-assert is an INIT', () => {
    const [a, b] = pair(false);
    wr(a!, APIC.ICR_HIGH, 1 << 24);
    wr(a!, APIC.ICR_LOW, 0xc000 | 0x80); // level, assert
    expect([b!.isRequested(0x80), b!.isLevelTriggered(0x80)]).toEqual([true, false]);
    wr(a!, APIC.ICR_LOW, 0x8000 | 0x500); // INIT level de-assert
    expect(b!.takeInit()).toBe(true);
  });

  it('icrLevelTrigger (KVM): the level bit sets TMR, a de-assert is ignored', () => {
    const [a, b] = pair(true);
    wr(a!, APIC.ICR_HIGH, 1 << 24);
    wr(a!, APIC.ICR_LOW, 0xc000 | 0x80);
    expect([b!.isRequested(0x80), b!.isLevelTriggered(0x80)]).toEqual([true, true]);
    wr(a!, APIC.ICR_LOW, 0x8000 | 0x81); // level, de-assert: nothing for a fixed interrupt
    expect(b!.isRequested(0x81)).toBe(false);
    wr(a!, APIC.ICR_LOW, 0x8000 | 0x500); // INIT level de-assert
    expect(b!.takeInit()).toBe(false);
    wr(a!, APIC.ICR_LOW, (1 << 18) | 0xc000 | 0x82); // self, level
    expect(a!.isLevelTriggered(0x82)).toBe(true);
  });
});
