/**
 * The behaviours kvm-unit-tests x86/apic.c checks that concern the APIC
 * model (shared/specs/kvm.md 7a), one test per upstream test function.
 */
import { describe, expect, it } from 'vitest';
import { Clock } from '@hvsim/core';
import { ApicBus } from '../bus/apic-bus.js';
import { LocalApic } from './local-apic.js';
import { APIC } from './regs.js';
import { expectGp, makeApic, rd, toX2apic, wr } from '../test-support/helpers.js';

const opts = { tscFrequencyHz: 1_000_000_000, timerFrequencyHz: 1_000_000_000 };

function smp(n: number): LocalApic[] {
  const clock = new Clock();
  const bus = new ApicBus();
  return Array.from({ length: n }, (_, id) => {
    const { apic } = makeApic({ id, clock, ...opts });
    bus.attach(apic);
    return apic;
  });
}

describe('kvm-unit-tests x86/apic.c', () => {
  it('test_lapic_existence: LVR version byte is 0x10-0x15', () => {
    const v = rd(new LocalApic({ id: 0 }), APIC.VERSION) & 0xff;
    expect(v >= 0x10 && v <= 0x15).toBe(true);
  });

  it('test_apic_id: xAPIC ID writable without a fault (KVM); x2APIC ID read-only (#GP) and equal to the x2APIC ID; reset restores it', () => {
    const { apic } = makeApic({ id: 1, xapicIdWritable: true });
    expect(rd(apic, APIC.ID) >>> 24).toBe(1);
    wr(apic, APIC.ID, 0x0800_0000);
    expect(rd(apic, APIC.ID) >>> 24).toBe(8);
    toX2apic(apic);
    expect(apic.readMsr(0x802)).toBe(1n);
    expectGp(() => apic.writeMsr(0x802, 2n));
    apic.reset();
    expect(rd(apic, APIC.ID) >>> 24).toBe(1);
  });

  it('test_apic_disable: clearing EN stops decoding; CR8 independent; re-enabling gives xAPIC, LVR and TPR back', () => {
    const { apic } = makeApic();
    apic.writeMsr(0x1b, 0xfee00000n);
    expect(apic.decodesMmio).toBe(false);
    apic.writeCr8(0xf);
    apic.writeMsr(0x1b, 0xfee00900n);
    expect(apic.mode).toBe('xapic');
    expect(rd(apic, APIC.VERSION) & 0xff).toBe(0x15);
    expect(rd(apic, APIC.TPR)).toBe(0);
    apic.writeCr8(0x4);
    expect(rd(apic, APIC.TPR)).toBe(0x40);
    // and from x2APIC
    toX2apic(apic);
    apic.writeMsr(0x1b, 0xfee00000n);
    expect(apic.mode).toBe('disabled');
    apic.writeMsr(0x1b, 0xfee00900n);
    expect(apic.mode).toBe('xapic');
  });

  it('test_enable_x2apic: illegal IA32_APIC_BASE transitions raise #GP; without x2APIC support EN|EXTD raises #GP', () => {
    const { apic } = makeApic();
    toX2apic(apic);
    expectGp(() => apic.writeMsr(0x1b, 0xfee00500n)); // x2APIC -> EXTD only
    expectGp(() => apic.writeMsr(0x1b, 0xfee00900n)); // x2APIC -> xAPIC
    apic.writeMsr(0x1b, 0xfee00100n); // x2APIC -> disabled
    expectGp(() => apic.writeMsr(0x1b, 0xfee00500n)); // disabled -> EXTD only
    expectGp(() => apic.writeMsr(0x1b, 0xfee00d00n)); // disabled -> x2APIC
    apic.writeMsr(0x1b, 0xfee00900n); // disabled -> xAPIC
    expectGp(() => apic.writeMsr(0x1b, 0xfee00500n)); // xAPIC -> EXTD only
    expectGp(() => new LocalApic({ id: 0, x2apic: false }).writeMsr(0x1b, 0xfee00d00n));
  });

  it('test_apicbase: relocation works; bits above MAXPHYADDR and reserved low bits raise #GP', () => {
    const { apic } = makeApic();
    apic.writeMsr(0x1b, 0xfed40900n);
    expect(apic.baseAddress).toBe(0xfed40000);
    expect(rd(apic, APIC.VERSION) & 0xff).toBe(0x15);
    expectGp(() => apic.writeMsr(0x1b, 0xfee00900n | (1n << 46n)));
    expectGp(() => apic.writeMsr(0x1b, 0xfee00900n | 0x200n));
  });

  it('test_self_ipi_xapic / test_self_ipi_x2apic: self-IPI vector 0xF1 delivered exactly once', () => {
    for (const x2 of [false, true]) {
      const { apic } = makeApic();
      if (x2) {
        toX2apic(apic);
        apic.writeMsr(0x830, 0x40000n | 0xf1n);
      } else {
        wr(apic, APIC.ICR_LOW, 0x40000 | 0xf1);
      }
      expect(apic.acknowledge()).toBe(0xf1);
      expect(apic.acknowledge()).toBe(0xff);
    }
  });

  it('test_physical_broadcast: 0xFF and the all-including-self shorthand reach every CPU once', () => {
    const cpus = smp(3);
    wr(cpus[0]!, APIC.ICR_HIGH, 0xff00_0000);
    wr(cpus[0]!, APIC.ICR_LOW, 0x60);
    wr(cpus[0]!, APIC.ICR_LOW, 0x80000 | 0x61);
    for (const c of cpus) {
      expect(c.acknowledge()).toBe(0x61);
      wr(c, APIC.EOI, 0);
      expect(c.acknowledge()).toBe(0x60);
      wr(c, APIC.EOI, 0);
      expect(c.acknowledge()).toBe(0xff);
    }
  });

  it('test_multiple_nmi / test_pending_nmi: an NMI arriving after the CPU took the last one is held pending once more', () => {
    const cpus = smp(2);
    wr(cpus[0]!, APIC.ICR_HIGH, 0x0100_0000);
    wr(cpus[0]!, APIC.ICR_LOW, 0x400);
    expect(cpus[1]!.takeNmi()).toBe(true); // handler runs
    wr(cpus[0]!, APIC.ICR_LOW, 0x400); // sent from inside the handler
    expect(cpus[1]!.takeNmi()).toBe(true);
    expect(cpus[1]!.takeNmi()).toBe(false); // exactly twice
  });

  it('test_apic_timer_one_shot: divider 1 fires exactly once, no earlier than the initial count', () => {
    const { apic, clock } = makeApic(opts);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(apic, APIC.LVT_TIMER, 0xec);
    const start = clock.now();
    wr(apic, APIC.TIMER_INITIAL_COUNT, 10_000);
    let firedAt = -1;
    while (clock.step()) if (apic.isRequested(0xec) && firedAt < 0) firedAt = clock.now();
    expect(firedAt - start).toBeGreaterThanOrEqual(10_000);
    expect(apic.acknowledge()).toBe(0xec);
    expect(apic.acknowledge()).toBe(0xff);
  });

  it('test_apic_change_mode: mode switches keep TMICT, do not reload TMCCT; periodic reloads at 0', () => {
    const { apic, clock } = makeApic(opts);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(apic, APIC.LVT_TIMER, 0xec);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 1000);
    clock.advance(500);
    wr(apic, APIC.LVT_TIMER, (1 << 17) | 0xec);
    expect(rd(apic, APIC.TIMER_INITIAL_COUNT)).toBe(1000);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(500);
    clock.advance(600);
    expect(rd(apic, APIC.TIMER_CURRENT_COUNT)).toBe(900);
  });

  it('test_tsc_deadline_timer: deadline = now fires once and the MSR reads 0 afterwards', () => {
    const { apic, clock } = makeApic(opts);
    wr(apic, APIC.LVT_TIMER, (2 << 17) | 0xef);
    clock.advance(12345);
    apic.writeMsr(0x6e0, BigInt(clock.now()));
    expect(apic.readMsr(0x6e0)).toBe(0n);
    expect(apic.acknowledge()).toBe(0xef);
    expect(apic.acknowledge()).toBe(0xff);
  });
});
