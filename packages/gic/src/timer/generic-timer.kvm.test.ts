// What a hypervisor's virtual timer needs (KVM arch/arm64/kvm/arch_timer.c: timer_save_state /
// timer_restore_state on vcpu_put / vcpu_load, the background timer of a blocked vCPU, and the
// virtual timer's output while its vCPU is not running), on the registers of Arm ARM D11.2.4.
import { describe, expect, it } from 'vitest';
import { LevelLine } from '@hvsim/core';
import type { GenericTimerContext } from './timer-context.js';
import { CPT, EN, MASK, STATUS, makeTimer } from './test-rig.js';

describe('vCPU timer context', () => {
  it('saves the EL1 timers, CNTVOFF_EL2 and CNTKCTL_EL1 and loads them on another PE, where they keep their deadlines', () => {
    const { timer, clock, changes } = makeTimer();
    clock.advance(1000 * CPT);
    timer.write(0, 'CNTVOFF_EL2', 900n); // the VM's offset: virtual count 100
    timer.write(0, 'CNTV_CVAL_EL0', 150n);
    timer.write(0, 'CNTV_CTL_EL0', EN);
    timer.write(0, 'CNTP_CVAL_EL0', 5000n);
    timer.write(0, 'CNTP_CTL_EL0', EN | MASK);
    timer.write(0, 'CNTKCTL_EL1', 0b10n);
    const ctx = timer.saveContext(0);
    expect(ctx).toEqual({
      cntpCtl: 3, cntpCvalLo: 5000, cntpCvalHi: 0,
      cntvCtl: 1, cntvCvalLo: 150, cntvCvalHi: 0,
      cntvoffLo: 900, cntvoffHi: 0, cntkctl: 2,
    } satisfies GenericTimerContext);
    expect(JSON.parse(JSON.stringify(ctx))).toEqual(ctx);
    // vcpu_put: KVM disables the hardware timer of the PE it leaves.
    timer.write(0, 'CNTV_CTL_EL0', 0n);
    clock.advance(10 * CPT);
    timer.loadContext(1, ctx); // vcpu_load on PE 1
    expect(timer.read(1, 'CNTVCT_EL0')).toBe(110n);
    expect(timer.read(1, 'CNTKCTL_EL1')).toBe(2n);
    expect(timer.nextFireCycle(1, 'CNTV')).toBe(1050 * CPT);
    clock.advance(100 * CPT);
    expect(changes).toEqual([{ cycle: 1050 * CPT, cpu: 1, intid: 27, level: true }]);
    // Saving an expired timer reports ISTATUS; loading ignores it.
    const expired = timer.saveContext(1, {} as GenericTimerContext);
    expect(expired.cntvCtl).toBe(Number(EN | STATUS));
    timer.loadContext(0, { ...expired, cntvCtl: Number(STATUS) });
    expect(timer.read(0, 'CNTV_CTL_EL0')).toBe(0n);
  });

  it('saveContext fills the object it is given', () => {
    const { timer } = makeTimer();
    const into = {} as GenericTimerContext;
    expect(timer.saveContext(0, into)).toBe(into);
  });

  it('contextFireCycle says when a saved (halted vCPU) timer would fire: now, later, or never', () => {
    const { timer, clock } = makeTimer();
    clock.advance(100 * CPT);
    timer.write(0, 'CNTVOFF_EL2', 50n);
    timer.write(0, 'CNTV_CVAL_EL0', 80n);
    timer.write(0, 'CNTV_CTL_EL0', EN);
    timer.write(0, 'CNTP_CVAL_EL0', 90n);
    timer.write(0, 'CNTP_CTL_EL0', EN);
    const ctx = timer.saveContext(0);
    expect(timer.contextFireCycle(ctx, 'CNTV')).toBe(130 * CPT); // virtual 50 -> 80
    expect(timer.contextFireCycle(ctx, 'CNTP')).toBe(clock.now()); // 100 >= 90: would fire at once
    expect(timer.contextFireCycle({ ...ctx, cntvCtl: Number(EN | MASK) }, 'CNTV')).toBe(-1);
    expect(timer.contextFireCycle({ ...ctx, cntvCtl: 0 }, 'CNTV')).toBe(-1);
    // A KVM background timer armed at that cycle and the loaded timer agree.
    timer.write(0, 'CNTP_CTL_EL0', 0n);
    timer.loadContext(1, ctx);
    expect(timer.nextFireCycle(1, 'CNTV')).toBe(130 * CPT);
  });

  it('rejects malformed contexts and CNTHP', () => {
    const { timer } = makeTimer();
    const ctx = timer.saveContext(0);
    expect(() => timer.loadContext(0, { ...ctx, cntvCvalHi: -1 })).toThrow('timer context cntvCvalHi must be an unsigned 32-bit integer, got -1');
    expect(() => timer.contextFireCycle(ctx, 'CNTHP' as never)).toThrow('a timer context holds CNTP and CNTV only');
    expect(() => timer.loadContext(0, null as never)).toThrow('timer context must be an object');
  });
});

describe('redirecting a timer output while its vCPU is not running', () => {
  it('moves the level: the old consumer sees it fall, the new one rise; no line returns it to the callback', () => {
    const { timer, clock, changes, line } = makeTimer();
    timer.write(0, 'CNTV_CVAL_EL0', 10n);
    timer.write(0, 'CNTV_CTL_EL0', EN);
    const wake = new LevelLine();
    timer.redirect(0, 'CNTV', wake);
    expect(wake.level).toBe(false);
    clock.advance(10 * CPT);
    expect(wake.level).toBe(true); // e.g. KVM kicks the blocked vCPU
    expect(line(0, 27)).toBe(false);
    timer.redirect(0, 'CNTV'); // vcpu_load: back to the GIC
    expect(wake.level).toBe(false);
    expect(line(0, 27)).toBe(true);
    expect(changes.map((c) => c.level)).toEqual([true]);
  });

  it('masks the output with a line that ignores levels, and the GIC line stays low', () => {
    const { timer, clock, line } = makeTimer();
    timer.redirect(0, 'CNTV', { setLevel: () => undefined });
    timer.write(0, 'CNTV_CTL_EL0', EN);
    clock.advance(CPT);
    expect(timer.outputLevel(0, 'CNTV')).toBe(true);
    expect(line(0, 27)).toBe(false);
  });
});
