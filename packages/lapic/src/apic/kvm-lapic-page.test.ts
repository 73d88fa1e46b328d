import { describe, expect, it } from 'vitest';
import { Clock, UsageError } from '@hvsim/core';
import { KVM_LAPIC_STATE_SIZE } from './kvm-lapic-page.js';
import { APIC } from './regs.js';
import { makeApic, rd, toX2apic, wr } from '../test-support/helpers.js';

const opts = { tscFrequencyHz: 1_000_000_000, timerFrequencyHz: 1_000_000_000 };

describe('KVM_GET_LAPIC / KVM_SET_LAPIC register image (Linux api.rst, struct kvm_lapic_state)', () => {
  it('exports 1 KiB with each register at its xAPIC offset, little-endian', () => {
    const clock = new Clock();
    const { apic } = makeApic({ ...opts, id: 3, clock });
    wr(apic, APIC.TPR, 0x20);
    wr(apic, APIC.LVT_TIMER, 0xec);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 1000);
    apic.acceptInterrupt({ vector: 0x61, trigger: 'level' });
    clock.advance(400);
    const page = apic.getKvmLapicState();
    expect(page.length).toBe(KVM_LAPIC_STATE_SIZE);
    const v = new DataView(page.buffer);
    expect(v.getUint32(0x20, true)).toBe(0x0300_0000);
    expect(v.getUint32(0x30, true)).toBe(0x0106_0015);
    expect(v.getUint32(0x80, true)).toBe(0x20);
    expect(v.getUint32(0xf0, true)).toBe(0x1ff);
    expect(v.getUint32(0x230, true)).toBe(2); // IRR bit 0x61
    expect(v.getUint32(0x1b0, true)).toBe(2); // TMR bit 0x61
    expect(v.getUint32(0x380, true)).toBe(1000);
    expect(v.getUint32(0x390, true)).toBe(600); // current count computed at export
  });

  it('import restores registers and resumes the timer from the saved TMCCT, as KVM does', () => {
    const clock = new Clock();
    const { apic } = makeApic({ ...opts, id: 3, clock });
    wr(apic, APIC.LVT_TIMER, (1 << 17) | 0xec); // periodic
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 1000);
    wr(apic, APIC.LDR, 0x0400_0000);
    apic.acceptInterrupt({ vector: 0x61, trigger: 'edge' });
    apic.acknowledge();
    clock.advance(300);
    const page = apic.getKvmLapicState();
    const clock2 = new Clock();
    const { apic: b } = makeApic({ ...opts, id: 3, clock: clock2 }, false);
    b.setKvmLapicState(page);
    expect(rd(b, APIC.LDR)).toBe(0x0400_0000);
    expect(b.isInService(0x61)).toBe(true);
    expect(rd(b, APIC.PPR)).toBe(0x60);
    expect(rd(b, APIC.TIMER_CURRENT_COUNT)).toBe(700);
    clock2.advance(699);
    expect(b.isRequested(0xec)).toBe(false);
    clock2.advance(1);
    expect(b.isRequested(0xec)).toBe(true);
    expect(rd(b, APIC.TIMER_CURRENT_COUNT)).toBe(1000); // periodic reload from TMICT
    expect(() => b.setKvmLapicState(new Uint8Array(10))).toThrow('a KVM lapic state must be a Uint8Array of 1024 bytes');
  });

  it('an expired one-shot timer stays expired after import', () => {
    const clock = new Clock();
    const { apic } = makeApic({ ...opts, id: 3, clock });
    wr(apic, APIC.LVT_TIMER, 0xec);
    wr(apic, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(apic, APIC.TIMER_INITIAL_COUNT, 10);
    clock.advance(20);
    apic.acknowledge();
    const clock2 = new Clock();
    const { apic: b } = makeApic({ ...opts, id: 3, clock: clock2 }, false);
    b.setKvmLapicState(apic.getKvmLapicState());
    clock2.advance(1000);
    expect(b.isRequested(0xec)).toBe(false);
    expect(rd(b, APIC.TIMER_INITIAL_COUNT)).toBe(10);
  });

  it('x2APIC mode: the ID field is id << 24 unless x2apicFormat; the x2APIC ID cannot change (kvm_apic_state_fixup)', () => {
    const { apic } = makeApic({ id: 5 });
    toX2apic(apic);
    const legacy = new DataView(apic.getKvmLapicState().buffer);
    expect(legacy.getUint32(0x20, true)).toBe(0x0500_0000);
    const fmt = apic.getKvmLapicState({ x2apicFormat: true });
    expect(new DataView(fmt.buffer).getUint32(0x20, true)).toBe(5);
    apic.setKvmLapicState(fmt, { x2apicFormat: true });
    new DataView(fmt.buffer).setUint32(0x20, 6, true);
    expect(() => apic.setKvmLapicState(fmt, { x2apicFormat: true })).toThrow(UsageError);
    // Legacy format: the ID field is ignored on import
    apic.setKvmLapicState(fmt);
    expect(apic.readMsr(0x802)).toBe(5n);
    expect(apic.readMsr(0x80d)).toBe(0x20n);
  });
});
