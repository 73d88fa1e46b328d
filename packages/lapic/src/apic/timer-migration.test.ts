import { describe, expect, it } from 'vitest';
import { Clock } from '@hvsim/core';
import { LocalApic } from './local-apic.js';
import { APIC } from './regs.js';
import { rd, toX2apic, wr } from '../test-support/helpers.js';

/** An APIC whose timer interrupts are counted (through the fixed-interrupt sink) at the cycles they fire. */
function counted(clock: Clock): { apic: LocalApic; fired: number[] } {
  const fired: number[] = [];
  const apic = new LocalApic({
    id: 1,
    clock,
    deliverFixed: () => {
      fired.push(clock.now());
      return true;
    },
  });
  wr(apic, APIC.SVR, 0x1ff);
  return { apic, fired };
}

/** A host clock that has run for a long time already. */
function farAhead(): Clock {
  const clock = new Clock();
  clock.advance(7_000_000_000_123);
  return clock;
}

// Migration: the saved APIC is restored into a clock that is far ahead and that
// was not restored (host-seams G11f). The remaining time must carry over (SDM 3A 11.5.4).
describe('LAPIC timer restored into a running clock (migration)', () => {
  it('one-shot: TMCCT and the expiry carry over', () => {
    const a = new Clock();
    const { apic: src } = counted(a);
    wr(src, APIC.TIMER_DIVIDE_CONFIG, 0xb); // divide by 1: 100 cycles per tick
    wr(src, APIC.LVT_TIMER, 0x40);
    wr(src, APIC.TIMER_INITIAL_COUNT, 1000);
    a.advance(25_050); // 250 ticks and half of one
    const count = rd(src, APIC.TIMER_CURRENT_COUNT);
    const state = JSON.parse(JSON.stringify(src.saveState())) as unknown;

    const b = farAhead();
    const start = b.now();
    const { apic: dst, fired } = counted(b);
    dst.restoreState(state);
    expect(rd(dst, APIC.TIMER_CURRENT_COUNT)).toBe(count);
    b.advance(100_000 - 25_050 - 1);
    expect(fired).toEqual([]);
    b.advance(1);
    expect(fired).toEqual([start + 100_000 - 25_050]);
  });

  it('periodic: no tick lost or added across the move', () => {
    const a = new Clock();
    const { apic: src, fired: before } = counted(a);
    wr(src, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(src, APIC.LVT_TIMER, 0x20000 | 0x41);
    wr(src, APIC.TIMER_INITIAL_COUNT, 10); // a period of 1,000 cycles
    a.advance(3_500);
    expect(before).toHaveLength(3);
    const state = src.saveState();

    const b = farAhead();
    const start = b.now();
    const { apic: dst, fired: after } = counted(b);
    dst.restoreState(state);
    b.advance(6_500);
    // Over 10,000 cycles of guest time: exactly 10 periods, at the same offsets.
    expect(before.length + after.length).toBe(10);
    expect(after.map((t) => t - start)).toEqual([500, 1500, 2500, 3500, 4500, 5500, 6500]);
  });

  it('TSC deadline: the remaining time to the deadline carries over', () => {
    const a = new Clock();
    const { apic: src } = counted(a);
    toX2apic(src);
    src.writeMsr(0x832, 0x40000n | 0x42n); // LVT timer: TSC-deadline mode
    a.advance(1_000);
    src.writeMsr(0x6e0, 5_000n);
    a.advance(1_500);
    const state = src.saveState();

    const b = farAhead();
    const start = b.now();
    const { apic: dst, fired } = counted(b);
    dst.restoreState(state);
    expect(dst.readMsr(0x6e0)).toBe(5_000n);
    b.advance(2_499);
    expect(fired).toEqual([]);
    b.advance(1);
    expect(fired).toEqual([start + 2_500]);
  });

  it('TSC deadline with VMX TSC offsetting: the new offset set before or after the restore, the deadline is due after the same remaining time', () => {
    // SDM 3A 11.5.4.1: the deadline compares with the guest's TSC. A VMM keeps that TSC
    // continuous across the move with a new offset; QEMU writes IA32_TSC before
    // IA32_TSC_DEADLINE, so the offset may be set before the LAPIC state is loaded.
    const a = new Clock();
    const { apic: src } = counted(a);
    src.tscOffset = 300_000;
    toX2apic(src);
    src.writeMsr(0x832, 0x40000n | 0x42n);
    a.advance(1_000);
    src.writeMsr(0x6e0, 300_000n + 5_000n); // guest TSC 301_000 now: due in 4_000 cycles
    a.advance(1_500);
    const state = JSON.parse(JSON.stringify(src.saveState())) as unknown;
    for (const when of ['before', 'after'] as const) {
      const b = farAhead();
      const start = b.now();
      const continuous = 300_000 + 2_500 - start; // guest TSC at the restore = guest TSC at the save
      const { apic: dst, fired } = counted(b);
      if (when === 'before') dst.tscOffset = continuous;
      dst.restoreState(state);
      if (when === 'after') dst.tscOffset = continuous;
      expect(dst.readMsr(0x6e0)).toBe(305_000n);
      b.advance(2_499);
      expect(fired).toEqual([]);
      b.advance(1);
      expect(fired).toEqual([start + 2_500]);
      expect(b.now() + dst.tscOffset).toBe(305_000); // the guest's TSC reached the deadline
      b.advance(1_000_000);
      expect(fired).toHaveLength(1);
    }
  });

  it('restoring into the restored clock (the usual snapshot) still fires at the saved cycle', () => {
    const a = new Clock();
    const { apic: src } = counted(a);
    wr(src, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(src, APIC.LVT_TIMER, 0x43);
    wr(src, APIC.TIMER_INITIAL_COUNT, 50);
    a.advance(1_000);
    const clockState = a.saveState();
    const state = src.saveState();
    const b = new Clock();
    b.restoreState(clockState);
    const { apic: dst, fired } = counted(b);
    dst.restoreState(state);
    b.advance(10_000);
    expect(fired).toEqual([5_000]);
  });

  it('a state from before savedAt existed keeps absolute cycles', () => {
    const a = new Clock();
    const { apic: src } = counted(a);
    wr(src, APIC.TIMER_DIVIDE_CONFIG, 0xb);
    wr(src, APIC.LVT_TIMER, 0x44);
    wr(src, APIC.TIMER_INITIAL_COUNT, 50);
    const state = src.saveState();
    delete state.timer.savedAt;
    const b = new Clock();
    b.advance(200);
    const { apic: dst, fired } = counted(b);
    dst.restoreState(state);
    b.advance(10_000);
    expect(fired).toEqual([5_000]);
  });
});
