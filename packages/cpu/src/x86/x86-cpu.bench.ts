/**
 * x86 CPU hot paths (issue 13 speed targets): guest loads and stores that hit
 * the TLB, and native interrupt delivery through the IDT with EOI and IRET:
 * guest code as generators (the readable default: the handler and the
 * self-IPI loop) or in the step form (both; nothing is allocated per
 * interrupt), the EOI and self-IPI through the xAPIC page (MMIO) or x2APIC
 * MSRs (WRMSR 0x830, 0x80B). Each iteration runs N operations: rate = hz x
 * N / (operations per interrupt).
 */
import { bench, describe } from 'vitest';
import { APIC } from '@hvsim/lapic';
import type { X86Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { LAYOUT, enableApic, enablePaging, setGate, x86Machine } from '../test-support/x86-machine.js';

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

const ICR = LAYOUT.APIC + APIC.ICR_LOW;
const EOI = LAYOUT.APIC + APIC.EOI;
/** ICR: fixed, vector 0x40, self shorthand (SDM 3A 11.6.1). */
const SELF_IPI = (1 << 18) | 0x40;

/** Self-IPIs taken by a handler that EOIs and IRETs; `form` of the handler and the sending loop, `apic` the xAPIC page or x2APIC MSRs. */
function interruptMachine(form: 'generator' | 'steps', apic: 'xapic' | 'x2apic') {
  const m = x86Machine({ tracer: undefined });
  const x2 = apic === 'x2apic';
  if (form === 'generator') {
    m.program.define(0x2000_0000, function* handler(g: X86Guest): Routine {
      yield x2 ? g.wrmsr(0x80b, 0) : g.st32(EOI, 0);
      yield g.iret();
    });
  } else {
    m.program.define(0x2000_0000, { steps: (g: X86Guest, pc: number) => (pc === 0 ? (x2 ? g.wrmsr(0x80b, 0) : g.st32(EOI, 0)) : pc === 1 ? g.iret() : null) }, 'handler');
  }
  m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
    yield* setGate(g, 0x40, { target: 0x2000_0000 });
    yield* enablePaging(g);
    yield* enableApic(g);
    if (x2) yield g.wrmsr(0x1b, 0xfee0_0000 | (1 << 11) | (1 << 10)); // IA32_APIC_BASE: x2APIC mode
    yield g.sti();
    if (form === 'steps') return; // the sending loop is step code too (below)
    for (;;) yield send(g);
  });
  const send = (g: X86Guest): Op => (x2 ? g.wrmsr(0x830, SELF_IPI) : g.st32(ICR, SELF_IPI));
  m.cpu.start(0x1000_0000);
  if (form === 'steps') {
    if (m.cpu.run(Number.MAX_SAFE_INTEGER) !== 'finished') throw new Error('x86 bench set-up did not finish');
    m.program.define(0x1100_0000, { steps: send }, 'sender');
    m.cpu.start(0x1100_0000); // registers (paging, IF = 1) and the APIC stay as set up
  }
  m.cpu.run(Number.MAX_SAFE_INTEGER, 10_000);
  if (m.cpu.stats().delivered[0x40] === undefined) throw new Error('x86 bench: no interrupt was delivered');
  return m;
}

describe(`x86 CPU, ${N} operations per iteration`, () => {
  const ls = loadStoreMachine();
  bench(`guest load/store loop hitting the TLB [ops=${N}]`, () => {
    ls.cpu.run(Number.MAX_SAFE_INTEGER, N);
  });
  // One interrupt = self-IPI, delivery through the IDT, EOI, IRET: 3 operations + 1 delivery.
  for (const [form, apic] of [['generator', 'xapic'], ['steps', 'xapic'], ['generator', 'x2apic'], ['steps', 'x2apic']] as const) {
    const irq = interruptMachine(form, apic);
    bench(`native interrupt (${form} code, ${apic}): self-IPI, IDT delivery, EOI, IRET [irqs=${N / 4}]`, () => {
      irq.cpu.run(Number.MAX_SAFE_INTEGER, N);
    });
  }
});
