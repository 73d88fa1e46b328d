// The emulated interrupt-delivery mode end to end: a periodic LAPIC timer interrupting a computing guest,
// each interrupt one kick exit (EXTERNAL_INTERRUPT) to deliver and one EOI exit (EPT_MISCONFIG).
import { bench, describe } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';

type Routine = Generator<Op, void, number>;
const INTERRUPTS = 2000;

function machine() {
  let ticks = 0;
  const m = tinyVmm({
    *code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.st32(GUEST.APIC + APIC.TIMER_DIVIDE_CONFIG, 0xb);
      yield g.st32(GUEST.APIC + APIC.LVT_TIMER, (1 << 17) | 0x30);
      yield g.st32(GUEST.APIC + APIC.TIMER_INITIAL_COUNT, 50);
      yield g.sti();
      while (ticks < INTERRUPTS) yield g.compute(200);
      yield g.out(GUEST.POWER, 0);
    },
  });
  m.vm.program.define(0x20_0000, function* isr(g: X86Guest): Routine {
    ticks++;
    yield g.st32(GUEST.APIC + APIC.EOI, 0);
    yield g.iret();
  });
  m.setGate(0x30, 0x20_0000);
  return m;
}

describe('emulated mode', () => {
  bench(`${INTERRUPTS} timer interrupts, two exits each`, () => {
    const m = machine();
    m.runUntilStop();
    // Every tick but possibly the first (which may arrive while the vCPU handles a set-up exit) costs a kick exit.
    if (m.vcpu.stats.count('EXTERNAL_INTERRUPT') < INTERRUPTS - 1) throw new Error(`expected ${INTERRUPTS} kick exits, got ${m.vcpu.stats.count('EXTERNAL_INTERRUPT')}`);
  }, { iterations: 5 });
});
