/**
 * The interrupt shadows and event priority, as kvm-unit-tests checks them:
 * x86/apic.c test_sti_nmi ("nmi-after-sti"), x86/vmexit.c self_ipi_sti_nop
 * and self_ipi_sti_hlt (lib/x86 safe_halt: "sti; hlt"), x86/eventinj.c
 * "vec 32/int $33"; SDM 3A 6.8.3 (MOV SS), 6.9 Table 6-2 (priority), SDM 2B
 * STI. Saved RIPs are the model's synthetic ones: entry + operations done.
 */
import { describe, expect, it } from 'vitest';
import { APIC } from '@hvsim/lapic';
import type { X86Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { CpuScheduler } from '../time/scheduler.js';
import { LAYOUT, eoi, enableApic, setGate, smpMachine, x86Machine } from '../test-support/x86-machine.js';
import { VECTOR } from './regs.js';

type Routine = Generator<Op, void, number>;
const ICR_LOW = LAYOUT.APIC + APIC.ICR_LOW;
const ICR_HIGH = LAYOUT.APIC + APIC.ICR_HIGH;
/** ICR: delivery mode NMI (4), level assert (SDM 3A 11.6.1); self-IPI shorthand (bits 19:18 = 01). */
const ICR_NMI = (4 << 8) | (1 << 14);
const SELF = 1 << 18;
const HANDLER = 0x2000_0000;
const NMI_HANDLER = 0x2100_0000;
const MAIN = 0x1000_0000;

/** Step code that runs `ops` in order (each builds its one operation when its turn comes: the record is shared). */
function sequence(...ops: ((g: X86Guest) => Op)[]): { steps: (g: X86Guest, pc: number) => Op | null } {
  return { steps: (g, pc) => (pc < ops.length ? ops[pc]!(g) : null) };
}

/** The RIP the handler's frame holds (the interrupted instruction's), read from the stack (SDM 3A 6.14.2). */
function* savedRip(g: X86Guest): Generator<Op, number, number> {
  return yield g.ld64(yield g.rsp());
}

describe('STI and NMIs (kvm-unit-tests x86/apic.c test_sti_nmi; SDM 2B STI, 3A 6.8.3)', () => {
  it('"nmi-after-sti": NMIs another CPU sends through its ICR never arrive on the boundary after STI', () => {
    // CPU 1 loops sti; testb (a load); nop; cli as test_sti_nop does, while CPU 0 sends it NMIs
    // (APIC_DM_NMI to APIC ID 1) at varying moments and waits for each to be counted.
    const m = smpMachine(2);
    const [bsp, ap] = m.cpus as [(typeof m.cpus)[0], (typeof m.cpus)[0]];
    const COUNT = LAYOUT.DATA;
    const PHASES = LAYOUT.DATA + 0x100; // NMIs by position in the loop: 0 before sti, 1 post_sti, 2 after testb, 3 after nop
    const LOOP = 0x1100_0000;
    const NMIS = 60;
    m.program.define(NMI_HANDLER, function* nmiHandler(g: X86Guest): Routine {
      const phase = ((yield* savedRip(g)) - LOOP) % 4;
      yield g.st32(PHASES + 4 * phase, (yield g.ld32(PHASES + 4 * phase)) + 1);
      yield g.st32(COUNT, (yield g.ld32(COUNT)) + 1);
      yield g.iret();
    });
    m.program.define(LOOP, function* stiLoop(g: X86Guest): Routine {
      for (let k = 0; ; k++) {
        yield g.sti();
        yield g.ld8(LAYOUT.DATA + 0x1000 + ((k * 64) & 0xfff)); // post_sti: testb $0, (p)
        yield g.compute(1 + (k % 3)); // nop (of varying length, so that NMIs land all around the loop)
        yield g.cli();
      }
    });
    m.program.define(MAIN, function* sender(g: X86Guest): Routine {
      yield* setGate(g, VECTOR.NMI, { target: NMI_HANDLER });
      yield* enableApic(g);
      for (let i = 0; i < NMIS; i++) {
        const old = yield g.ld32(COUNT);
        yield g.compute(1 + ((i * 7) % 23));
        yield g.st32(ICR_HIGH, 1 << 24);
        yield g.st32(ICR_LOW, ICR_NMI);
        while ((yield g.ld32(COUNT)) === old) yield g.compute(1);
      }
    });
    bsp.cpu.start(MAIN);
    ap.cpu.start(LOOP);
    const scheduler = new CpuScheduler([bsp.cpu, ap.cpu], { clock: m.clock, quantum: 4 });
    // Until the sender is done (its code returns): it waits for each NMI, so all were counted.
    for (let t = 1000; t < 1_000_000 && bsp.cpu.backtrace().length > 0; t += 1000) scheduler.run(t);
    const phases = [0, 1, 2, 3].map((p) => m.memory.read32(PHASES + 4 * p));
    expect(bsp.cpu.backtrace()).toEqual([]);
    expect(m.memory.read32(COUNT)).toBe(NMIS);
    expect(phases[1]).toBe(0); // report(nmi_hlt_counter == 0, "nmi-after-sti")
    expect(phases[0]! + phases[2]! + phases[3]!).toBe(NMIS);
    // NMIs did arrive all around the loop, the boundary after testb included (those held by the shadow land there).
    expect(phases[0]).toBeGreaterThan(0);
    expect(phases[2]).toBeGreaterThan(0);
    expect(phases[3]).toBeGreaterThan(0);
    expect(ap.cpu.stats().delivered[VECTOR.NMI]).toBe(NMIS);
  });

  it('holds an NMI raised in the STI shadow until the next instruction completes; an STI with IF already 1 opens no shadow', () => {
    for (const ifBefore of [0, 1]) {
      const m = x86Machine();
      const rips: number[] = [];
      m.program.define(NMI_HANDLER, function* nmiHandler(g: X86Guest): Routine {
        rips.push((yield* savedRip(g)) - MAIN);
        yield g.iret();
      });
      m.program.define(MAIN, sequence((g) => (ifBefore === 1 ? g.sti() : g.cli()), (g) => g.sti(), (g) => g.compute(1), (g) => g.compute(1)));
      m.cpu.setRegisters({ rflags: 0x2 });
      m.program.define(0x1fff_0000, function* idt(g: X86Guest): Routine {
        yield* setGate(g, VECTOR.NMI, { target: NMI_HANDLER });
      });
      m.cpu.start(0x1fff_0000);
      m.cpu.run(1_000_000);
      m.cpu.start(MAIN);
      expect(m.cpu.run(1_000_000, 2)).toBe('budget'); // CLI or STI, then the STI under test: the NMI comes now
      m.apic.acceptInterrupt({ vector: 0, deliveryMode: 4, trigger: 'edge', level: true });
      expect(m.cpu.run(1_000_000)).toBe('finished');
      // With IF = 0 before STI the NMI waits for the instruction after STI (RIP 3); with IF = 1 there is no shadow (RIP 2).
      expect(rips).toEqual([ifBefore === 1 ? 2 : 3]);
    }
  });
});

describe('STI; HLT and STI; NOP (kvm-unit-tests x86/vmexit.c self_ipi_sti_hlt, self_ipi_sti_nop; lib/x86 safe_halt)', () => {
  it('takes an interrupt pending at STI only after the instruction that follows: HLT is entered and woken, NOP completes', () => {
    for (const next of ['hlt', 'nop'] as const) {
      const m = x86Machine();
      const X = LAYOUT.DATA;
      const seen: number[] = [];
      m.program.define(HANDLER, function* ipiHandler(g: X86Guest): Routine {
        seen.push((yield* savedRip(g)) - MAIN);
        yield g.st32(X, 1); // x = 1
        yield eoi(g);
        yield g.iret();
      });
      const after: number[] = [];
      m.program.define(MAIN, function* main(g: X86Guest): Routine {
        yield g.st32(X, 0); // x = 0                                 RIP 0
        yield g.cli(); //                                           RIP 1
        yield g.st32(ICR_LOW, SELF | 0x40); // apic_self_ipi        RIP 2
        yield g.sti(); //                                           RIP 3
        yield next === 'hlt' ? g.hlt() : g.compute(1); //          RIP 4
        after.push(yield g.ld32(X)); // if (x != 1) printf(...)      RIP 5
      });
      m.program.define(0x1fff_0000, function* setup(g: X86Guest): Routine {
        yield* setGate(g, 0x40, { target: HANDLER });
        yield* enableApic(g);
      });
      m.cpu.start(0x1fff_0000);
      m.cpu.run(1_000_000);
      m.cpu.start(MAIN);
      expect(m.cpu.run(1_000_000)).toBe('finished');
      // Delivered on the boundary after HLT / NOP (saved RIP 5), never between STI and it (RIP 4).
      expect(seen).toEqual([5]);
      expect(after).toEqual([1]);
      expect(m.cpu.stats().ops.hlt ?? 0).toBe(next === 'hlt' ? 1 : 0);
      // HLT was woken at once by the pending interrupt: no cycle was spent halted.
      expect(m.cpu.stats().haltedCycles).toBe(0);
    }
  });

  it('handles a software interrupt in the STI shadow before the pending hardware interrupt (x86/eventinj.c "vec 32/int $33")', () => {
    const m = x86Machine();
    const order: number[] = [];
    m.program.define(HANDLER, function* handler(g: X86Guest, vector: number): Routine {
      order.push(vector);
      if (vector === 32) yield eoi(g);
      yield g.iret();
    });
    m.program.define(MAIN, function* main(g: X86Guest): Routine {
      yield* setGate(g, 32, { target: HANDLER });
      yield* setGate(g, 33, { target: HANDLER });
      yield* enableApic(g);
      yield g.st32(ICR_LOW, SELF | 32); // apic_self_ipi(32), IF = 0
      yield g.sti();
      yield g.int(33); // in the shadow: INT is the instruction after STI
      order.push(-1);
      yield g.cli();
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    // INT 33's delivery ends the shadow; its IRET restores IF = 1 and vector 32 is taken before the next instruction.
    expect(order).toEqual([33, 32, -1]);
  });
});

describe('MOV SS, STI sequences and event priority (SDM 3A 6.8.3, 6.9 Table 6-2; SDM 2B STI)', () => {
  /** Runs `ops` (built per position) with an NMI raised before the first; the RIPs the NMI handler saw. */
  function nmiAfter(...ops: ((g: X86Guest) => Op)[]): number[] {
    const m = x86Machine();
    const rips: number[] = [];
    m.program.define(NMI_HANDLER, function* nmiHandler(g: X86Guest): Routine {
      rips.push((yield* savedRip(g)) - MAIN);
      yield g.iret();
    });
    m.program.define(0x1fff_0000, function* setup(g: X86Guest): Routine {
      yield* setGate(g, VECTOR.NMI, { target: NMI_HANDLER });
    });
    m.cpu.start(0x1fff_0000);
    m.cpu.run(1_000_000);
    m.program.define(MAIN, sequence(...ops));
    m.cpu.start(MAIN);
    expect(m.cpu.run(1_000_000, 1)).toBe('budget'); // the first operation (a MOV SS) ran
    m.cpu.nmi();
    m.cpu.run(1_000_000);
    return rips;
  }

  it('MOV SS blocks an NMI for one instruction; of consecutive MOV SS only the first does (SDM 3A 6.8.3)', () => {
    expect(nmiAfter((g) => g.movSs(), (g) => g.compute(1), (g) => g.compute(1))).toEqual([2]);
    // "If a sequence of consecutive instructions each loads the SS register, only the first is guaranteed to inhibit".
    expect(nmiAfter((g) => g.movSs(), (g) => g.movSs(), (g) => g.compute(1), (g) => g.compute(1))).toEqual([2]);
  });

  it('of STI; STI only the first delays interrupts (SDM 2B STI, footnote)', () => {
    const m = x86Machine();
    const rips: number[] = [];
    m.program.define(HANDLER, function* handler(g: X86Guest): Routine {
      rips.push((yield* savedRip(g)) - MAIN);
      yield eoi(g);
      yield g.iret();
    });
    m.program.define(0x1fff_0000, function* setup(g: X86Guest): Routine {
      yield* setGate(g, 0x40, { target: HANDLER });
      yield* enableApic(g);
      yield g.st32(ICR_LOW, SELF | 0x40);
    });
    m.cpu.start(0x1fff_0000);
    m.cpu.run(1_000_000);
    m.program.define(MAIN, sequence((g) => g.sti(), (g) => g.sti(), (g) => g.compute(1)));
    m.cpu.start(MAIN);
    m.cpu.run(1_000_000);
    // Taken after the second STI (RIP 2), not held for the instruction after it.
    expect(rips).toEqual([2]);
  });

  it('takes an NMI before a maskable interrupt pending at the same boundary, and the interrupt after the NMI handler returns (SDM 3A 6.9 Table 6-2)', () => {
    const m = x86Machine();
    const order: string[] = [];
    m.program.define(NMI_HANDLER, function* nmiHandler(g: X86Guest): Routine {
      order.push(`nmi@${(yield* savedRip(g)) - MAIN}`);
      yield g.compute(1);
      yield g.iret();
    });
    m.program.define(HANDLER, function* handler(g: X86Guest): Routine {
      order.push(`irq@${(yield* savedRip(g)) - MAIN}`);
      yield eoi(g);
      yield g.iret();
    });
    m.program.define(0x1fff_0000, function* setup(g: X86Guest): Routine {
      yield* setGate(g, VECTOR.NMI, { target: NMI_HANDLER });
      yield* setGate(g, 0x40, { target: HANDLER });
      yield* enableApic(g);
      yield g.st32(ICR_LOW, SELF | 0x40); // IF = 0: pending
    });
    m.cpu.start(0x1fff_0000);
    m.cpu.run(1_000_000);
    m.program.define(MAIN, sequence((g) => g.sti(), (g) => g.compute(1), (g) => g.compute(1)));
    m.cpu.start(MAIN);
    expect(m.cpu.run(1_000_000, 1)).toBe('budget'); // STI: both events now wait out its shadow
    m.cpu.nmi();
    expect(m.cpu.run(1_000_000)).toBe('finished');
    // Both pending on the boundary after the instruction following STI (RIP 2): the NMI first; its interrupt gate
    // cleared IF, so the interrupt follows the NMI handler's IRET, still before RIP 2.
    expect(order).toEqual(['nmi@2', 'irq@2']);
  });
});
