// A halted vCPU's own LAPIC timer wakes it (lapic.c apic_timer_expired → kvm_vcpu_kick → kvm_vcpu_wake_up, or
// vmx_deliver_interrupt's posted interrupt and the wake-up vector under APICv; kvm_main.c kvm_vcpu_block re-checks
// kvm_vcpu_check_block before every schedule()). Regression: under VcpuScheduler another CPU's turn ran the timer
// event of a vCPU asleep between two turns; its wake-up was lost and every later tick coalesced.
import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { KVM_MP_STATE } from '../generic/constants.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';
import { VcpuScheduler } from './scheduler.js';

type Routine = Generator<Op, void, number>;
const TIMER_VECTOR = 0x40;
const HANDLER = 0x20_0000;
/** LVT timer mode bits 18:17 = 01, periodic (SDM 3A 11.5.4.1). */
const LVT_TIMER_PERIODIC = 1 << 17;
/** Divide configuration 1011b: divide by 1 (SDM 3A 11.5.4). */
const DIVIDE_BY_1 = 0xb;
/** The timer's initial count: one tick every COUNT timer-input ticks. */
const COUNT = 200;
const TICKS = 10;
/** The LAPIC model's timer input: its 25 MHz crystal under the 2.5 GHz TSC, one tick per 100 cycles. */
const CYCLES_PER_TIMER_TICK = 100;

/** Two vCPUs, each on its own CPU, each arming its own periodic LAPIC timer and halting between ticks. */
function haltedTimers(mode: 'emulated' | 'apicv') {
  const ticks = [0, 0];
  /** Each vCPU's time at each tick's handler. */
  const takenAt: number[][] = [[], []];
  /** The clock's cycle just before each vCPU's timer started counting (the LAPIC times it on the VM's clock). */
  const armedAt = [-1, -1];
  const wrongVector: number[] = [];
  const kernel = function* idle(g: X86Guest): Routine {
    yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
    yield g.st32(GUEST.APIC + APIC.TIMER_DIVIDE_CONFIG, DIVIDE_BY_1);
    yield g.st32(GUEST.APIC + APIC.LVT_TIMER, LVT_TIMER_PERIODIC | TIMER_VECTOR);
    const id = (yield g.ld32(GUEST.APIC + APIC.ID)) >>> 24; // SDM 3A 11.4.6: the APIC ID in bits 31:24
    armedAt[id] = m.kvm.clock.now();
    yield g.st32(GUEST.APIC + APIC.TIMER_INITIAL_COUNT, COUNT); // the count starts at this write (SDM 3A 11.5.4)
    for (;;) {
      yield g.sti(); // STI; HLT: the tick is taken after the HLT (SDM 2B STI)
      yield g.hlt();
      yield g.cli();
    }
  };
  const m = tinyVmm({ interruptMode: mode, code: kernel });
  m.vm.program.define(HANDLER, function* tick(g: X86Guest, vector: number): Routine {
    if (vector !== TIMER_VECTOR) wrongVector.push(vector);
    const id = (yield g.ld32(GUEST.APIC + APIC.ID)) >>> 24;
    ticks[id]!++;
    takenAt[id]!.push(vcpus[id]!.cpu.localTime);
    yield g.st32(GUEST.APIC + APIC.EOI, 0);
    yield g.iret();
  });
  m.setGate(TIMER_VECTOR, HANDLER);
  const second = m.vm.createVcpu(1);
  second.setMpState(KVM_MP_STATE.RUNNABLE);
  second.setSregs(m.vcpu.getSregs());
  second.setRegs({ rip: GUEST.ENTRY, rsp: GUEST.STACK_TOP - 0x4000, rflags: 2 });
  const vcpus = [m.vcpu, second];
  return { vcpus, ticks, takenAt, armedAt, wrongVector };
}

describe('a halted vCPU is woken by its own LAPIC timer (apic_timer_expired → kvm_vcpu_kick)', () => {
  for (const mode of ['emulated', 'apicv'] as const) {
    it(`${mode}: two halted vCPUs on two CPUs each take every tick of their own periodic timer, none coalesced`, () => {
      const { vcpus, ticks, takenAt, armedAt, wrongVector } = haltedTimers(mode);
      expect(vcpus[1]!.pcpu).not.toBe(vcpus[0]!.pcpu);
      const sched = new VcpuScheduler({ quantum: 5000 });
      const period = COUNT * CYCLES_PER_TIMER_TICK;
      // Boot: both vCPUs arm their timers (no tick comes before a period has passed).
      while (armedAt.includes(-1)) expect(sched.run(vcpus, 1000)).toBeUndefined();
      expect(ticks).toEqual([0, 0]);
      // Then TICKS and a half periods: the last tick of each has been handled, the next is not due.
      const start = Math.min(...vcpus.map((v) => v.cpu.localTime));
      const end = Math.max(...armedAt) + period * TICKS + period / 2;
      expect(sched.run(vcpus, end - start)).toBeUndefined();
      // Every expiry of each vCPU's own timer was taken by that vCPU, none coalesced into a pending one.
      const expiries = armedAt.map((t) => Math.floor((end - t) / period));
      expect(expiries[0]).toBeGreaterThanOrEqual(TICKS);
      expect(expiries[1]).toBeGreaterThanOrEqual(TICKS);
      expect(ticks).toEqual(expiries);
      expect(wrongVector).toEqual([]);
      // Tick k is taken after it expired (a vCPU woken during another CPU's turn wakes at the wake-up's cycle,
      // not at the earlier one its own time had reached) and before the next one expires.
      for (const id of [0, 1]) {
        takenAt[id]!.forEach((t, k) => {
          expect(t).toBeGreaterThanOrEqual(armedAt[id]! + (k + 1) * period);
          expect(t).toBeLessThan(armedAt[id]! + (k + 2) * period);
        });
      }
      for (const v of vcpus) expect(v.stats.count('HLT')).toBeGreaterThanOrEqual(TICKS);
      // Both slept between ticks (blocked, not spinning in guest mode) and ended asleep.
      for (const v of vcpus) expect(v.getMpState()).toBe(KVM_MP_STATE.HALTED);
    });
  }
});
