/**
 * x86 CPU hot paths (issue 13 speed targets): guest loads and stores that hit
 * the TLB, and native interrupt delivery through the IDT with EOI and IRET.
 * Each iteration runs N operations or interrupts: rate = hz x N.
 */
import { bench, describe } from 'vitest';
import { APIC_REG } from '@hvsim/lapic';
import type { X86Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { LAYOUT, enableApic, enablePaging, eoi, setGate, x86Machine } from '../test-support/x86-machine.js';

const N = 10_000;
type Routine = Generator<Op, void, number>;

function loadStoreMachine() {
  const m = x86Machine();
  m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
    yield* enablePaging(g);
    for (let i = 0; ; i = (i + 4) & 0x3fff) {
      const v = yield g.ld32(LAYOUT.DATA + i);
      yield g.st32(LAYOUT.DATA + 0x4000 + i, v + 1);
    }
  });
  m.cpu.start(0x1000_0000);
  m.cpu.run(Number.MAX_SAFE_INTEGER, 10_000);
  return m;
}

function interruptMachine() {
  const m = x86Machine();
  m.program.define(0x2000_0000, function* handler(g: X86Guest): Routine {
    yield eoi(g);
    yield g.iret();
  });
  m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
    yield* setGate(g, 0x40, { target: 0x2000_0000 });
    yield* enablePaging(g);
    yield* enableApic(g);
    yield g.sti();
    for (;;) yield g.st32(LAYOUT.APIC + APIC_REG.APIC_ICR_LOW, (1 << 18) | 0x40); // self-IPI
  });
  m.cpu.start(0x1000_0000);
  m.cpu.run(Number.MAX_SAFE_INTEGER, 10_000);
  return m;
}

describe(`x86 CPU, ${N} operations per iteration`, () => {
  const ls = loadStoreMachine();
  bench(`guest load/store loop hitting the TLB [ops=${N}]`, () => {
    ls.cpu.run(Number.MAX_SAFE_INTEGER, N);
  });
  const irq = interruptMachine();
  // One interrupt = self-IPI store, delivery through the IDT, EOI store, IRET: 3 operations + 1 delivery.
  bench(`native interrupt: self-IPI, IDT delivery, EOI, IRET [ops=${N / 4}]`, () => {
    irq.cpu.run(Number.MAX_SAFE_INTEGER, N);
  });
});
