import { describe, expect, it } from 'vitest';
import { LevelLine, MsrBus, UsageError } from '@hvsim/core';
import { APIC, PicPair } from '@hvsim/lapic';
import type { X86Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { LAYOUT, enableApic, enablePaging, eoi, setGate, x86Machine } from '../test-support/x86-machine.js';
import { CR0, EFER, RFLAGS, VECTOR } from './regs.js';

type Routine = Generator<Op, void, number>;
const DATA = LAYOUT.DATA;

describe('X86Cpu operations (SDM 2A instruction reference)', () => {
  it('loads and stores RAM of every size with paging off', () => {
    const m = x86Machine();
    const got: number[] = [];
    m.program.define(0x10_0000_0, function* main(g: X86Guest): Routine {
      yield g.st32(DATA, 0xdead_beef);
      got.push(yield g.ld8(DATA), yield g.ld16(DATA + 2), yield g.ld32(DATA));
      yield g.st64(DATA + 8, 2 ** 40 + 5);
      got.push(yield g.ld64(DATA + 8), g.lo, g.hi);
      // A store that crosses a page boundary (SDM 3A 4.10: both pages are translated).
      yield g.st32(DATA + 0xffe, 0x0403_0201);
      got.push(yield g.ld32(DATA + 0xffe));
    });
    m.cpu.start(0x10_0000_0);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    expect(got).toEqual([0xef, 0xdead, 0xdead_beef, 2 ** 40 + 5, 5, 0x100, 0x0403_0201]);
  });

  it('answers CPUID leaf 0 with the vendor and leaf 1 with the APIC ID and features (SDM 2A CPUID)', () => {
    const m = x86Machine({ apicId: 3 });
    const regs: number[] = [];
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield g.cpuid(0);
      regs.push(g.ebx, g.edx, g.ecx);
      yield g.cpuid(1);
      regs.push(g.ebx >>> 24, (g.ecx >>> 21) & 1, (g.edx >>> 9) & 1);
    });
    m.cpu.start(0x1000_0000);
    m.cpu.run(10_000);
    const vendor = String.fromCharCode(...regs.slice(0, 3).flatMap((w) => [w & 0xff, (w >>> 8) & 0xff, (w >>> 16) & 0xff, w >>> 24]));
    expect(vendor).toBe('GenuineIntel');
    expect(regs.slice(3)).toEqual([3, 1, 1]);
  });

  it('reads the TSC as local time plus the offset a WRMSR to IA32_TSC sets (SDM 3B 18.17)', () => {
    const m = x86Machine();
    const seen: number[] = [];
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      const t0 = yield g.rdtsc();
      yield g.compute(1000);
      seen.push((yield g.rdtsc()) - t0);
      yield g.wrmsr(0x10, 5_000_000);
      seen.push(yield g.rdmsr(0x10));
    });
    m.cpu.start(0x1000_0000);
    m.cpu.run(100_000);
    expect(seen[0]).toBeGreaterThanOrEqual(1000);
    expect(seen[1]! - 5_000_000).toBeLessThan(500);
  });

  it('enables IA-32e paging with guest-built tables and sets EFER.LMA (SDM 3A 4.5, 10.8.5)', () => {
    const m = x86Machine();
    const seen: number[] = [];
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* enablePaging(g);
      seen.push(yield g.rdmsr(0xc000_0080));
      yield g.st32(DATA, 77);
      seen.push(yield g.ld32(DATA));
    });
    m.cpu.start(0x1000_0000);
    expect(m.cpu.run(10_000_000)).toBe('finished');
    expect(seen[0]! & EFER.LMA).toBe(EFER.LMA);
    expect(seen[1]).toBe(77);
    expect((m.cpu.registers().cr0 & CR0.PG) !== 0).toBe(true);
    expect(m.cpu.stats().walkReferences).toBeGreaterThan(0);
  });

  it('raises #GP for PG without LME, an unknown MSR and reserved EFER bits (SDM 3A 2.5, 2.2.1)', () => {
    const m = x86Machine();
    const gp: number[] = [];
    m.program.define(0x2000_0000, function* gpHandler(g: X86Guest, vector: number, error: number): Routine {
      gp.push(vector, error);
      yield g.addRsp(8); // discard the error code
      // Skip the faulting instruction, as an emulating handler does.
      const sp = yield g.rsp();
      const rip = yield g.ld64(sp);
      yield g.st64(sp, rip + 1);
      yield g.iret();
    });
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, VECTOR.GP, { target: 0x2000_0000 });
      yield g.movToCr(0, CR0.PE | CR0.PG);
      yield g.wrmsr(0x1234, 1);
      yield g.wrmsr(0xc000_0080, 1 << 20);
      yield g.rdmsr(0x1234);
    });
    m.cpu.start(0x1000_0000);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    expect(gp).toEqual([13, 0, 13, 0, 13, 0, 13, 0]);
  });
});

describe('X86Cpu native interrupts (SDM 3A 6.8, 6.12, 6.14; 11.5.4 APIC timer)', () => {
  it('takes LAPIC timer interrupts through the IDT while idling in STI; HLT', () => {
    const m = x86Machine();
    let ticks = 0;
    const flagsInHandler: number[] = [];
    m.program.define(0x2000_0000, function* timer(g: X86Guest, vector: number): Routine {
      ticks++;
      flagsInHandler.push(vector);
      // The interrupt gate cleared IF; the frame holds the interrupted RFLAGS with IF set.
      const rflags = yield g.ld64((yield g.rsp()) + 16);
      flagsInHandler.push(rflags & RFLAGS.IF, m.cpu.registers().rflags & RFLAGS.IF);
      yield eoi(g);
      yield g.iret();
    });
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, 0x30, { target: 0x2000_0000 });
      yield* enablePaging(g);
      yield* enableApic(g);
      yield g.st32(LAYOUT.APIC + APIC.TIMER_DIVIDE_CONFIG, 0xb); // divide by 1
      yield g.st32(LAYOUT.APIC + APIC.LVT_TIMER, (1 << 17) | 0x30); // periodic
      yield g.st32(LAYOUT.APIC + APIC.TIMER_INITIAL_COUNT, 1000);
      while (ticks < 5) {
        yield g.sti();
        yield g.hlt();
        yield g.cli();
      }
    });
    m.cpu.start(0x1000_0000);
    expect(m.cpu.run(100_000_000)).toBe('finished');
    expect(ticks).toBe(5);
    expect(flagsInHandler.slice(0, 3)).toEqual([0x30, RFLAGS.IF, 0]);
    expect(m.cpu.stats().delivered[0x30]).toBe(5);
    expect(m.cpu.stats().haltedCycles).toBeGreaterThan(0);
    expect(m.apic.isInService(0x30)).toBe(false);
  });

  it('fixes a page fault in its handler and retries the access (SDM 3A 4.7, 6.15 interrupt 14)', () => {
    const m = x86Machine();
    const faults: number[] = [];
    const HOLE = 0x4000_0000; // 1 GiB: PDPT entry 1, not present
    m.program.define(0x2000_0000, function* pageFault(g: X86Guest, vector: number, error: number): Routine {
      const cr2 = yield g.movFromCr(2);
      faults.push(vector, error, cr2);
      yield g.st64(LAYOUT.PDPT + 8, LAYOUT.PD0 | 3); // map the second GiB onto the first
      yield g.addRsp(8);
      yield g.iret();
    });
    const values: number[] = [];
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, VECTOR.PF, { target: 0x2000_0000 });
      yield* enablePaging(g);
      yield g.st32(DATA, 0x1234);
      values.push(yield g.ld32(HOLE + DATA));
    });
    m.cpu.start(0x1000_0000);
    expect(m.cpu.run(10_000_000)).toBe('finished');
    expect(faults).toEqual([14, 0, HOLE + DATA]);
    expect(values).toEqual([0x1234]);
  });

  it('raises #NP with the IDT error code for a not-present gate, EXT set for an external interrupt (SDM 3A 6.13, 6.12.1.1)', () => {
    const m = x86Machine();
    const np: number[] = [];
    m.program.define(0x2000_0000, function* notPresent(g: X86Guest, vector: number, error: number): Routine {
      np.push(vector, error);
      yield eoi(g);
      yield g.addRsp(8);
      yield g.iret();
    });
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, VECTOR.NP, { target: 0x2000_0000 });
      yield* setGate(g, 0x40, { target: 0x2100_0000, present: false });
      yield* enableApic(g);
      yield g.int(0x40);
      // A self-IPI of vector 0x40: an external event.
      yield g.st32(LAYOUT.APIC + APIC.ICR_LOW, (1 << 18) | 0x40);
      yield g.sti();
      yield g.compute(1);
      yield g.cli();
    });
    m.cpu.start(0x1000_0000);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    expect(np).toEqual([VECTOR.NP, (0x40 << 3) | 2, VECTOR.NP, (0x40 << 3) | 2 | 1]);
  });

  it('turns a contributory fault during a contributory delivery into #DF, and a fault delivering #DF into shutdown (SDM 3A 6.15 Tables 6-4, 6-5)', () => {
    const df = x86Machine();
    const seen: number[] = [];
    df.program.define(0x2000_0000, function* doubleFault(g: X86Guest, vector: number, error: number): Routine {
      seen.push(vector, error);
      yield g.cli();
      yield g.hlt();
    });
    df.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, VECTOR.DF, { target: 0x2000_0000 });
      // #GP's gate is not present: the #GP raised by the bad MSR becomes #NP while being delivered → #DF.
      yield* setGate(g, VECTOR.GP, { target: 0x2100_0000, present: false });
      yield g.wrmsr(0x1234, 0);
    });
    df.cpu.start(0x1000_0000);
    expect(df.cpu.run(1_000_000)).toBe('halted');
    expect(seen).toEqual([VECTOR.DF, 0]);
    expect(df.cpu.stats().doubleFaults).toBe(1);

    const triple = x86Machine();
    triple.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, VECTOR.GP, { target: 0x2100_0000, present: false });
      yield g.wrmsr(0x1234, 0);
    });
    triple.cpu.start(0x1000_0000);
    expect(triple.cpu.run(1_000_000)).toBe('shutdown');
    expect(triple.cpu.isShutdown).toBe(true);
    expect(triple.tracer.events().some((e) => e.kind === 'fault' && e.what === 'triple-fault')).toBe(true);
  });

  it('escalates a #PF while pushing a #PF frame to #DF, and the #DF push fault to shutdown (SDM 3A Table 6-5)', () => {
    const m = x86Machine();
    const seen: number[] = [];
    m.program.define(0x2000_0000, function* doubleFault(g: X86Guest, vector: number): Routine {
      seen.push(vector);
      yield g.hlt();
    });
    m.program.define(0x2100_0000, function* pageFault(g: X86Guest): Routine {
      yield g.iret();
    });
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, VECTOR.DF, { target: 0x2000_0000 });
      yield* setGate(g, VECTOR.PF, { target: 0x2100_0000 });
      yield* enablePaging(g);
      // The stack moves into the unmapped second GiB (no IST in this model, so #DF has no good stack either).
      yield g.addRsp(0x4000_1000 - LAYOUT.STACK_TOP);
      yield g.ld32(0x4000_0000);
    });
    m.cpu.start(0x1000_0000);
    expect(m.cpu.run(10_000_000)).toBe('shutdown');
    expect(seen).toEqual([]);
    expect(m.cpu.stats().doubleFaults).toBe(1);
    expect(m.cpu.stats().shutdowns).toBe(1);
    expect(m.cpu.registers().cr2).toBe(0x4000_0ff8);
  });

  it('blocks interrupts for one instruction after STI and after MOV SS (SDM 3A 6.8.3)', () => {
    const order: string[] = [];
    const m = x86Machine();
    m.program.define(0x2000_0000, function* handler(g: X86Guest): Routine {
      order.push('irq');
      yield eoi(g);
      yield g.iret();
    });
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, 0x50, { target: 0x2000_0000 });
      yield* enableApic(g);
      yield g.st32(LAYOUT.APIC + APIC.ICR_LOW, (1 << 18) | 0x50); // pending, IF = 0
      yield g.sti();
      order.push('after sti');
      yield g.compute(1);
      order.push('after next');
      yield g.cli();
      yield g.st32(LAYOUT.APIC + APIC.ICR_LOW, (1 << 18) | 0x50);
      yield g.sti();
      yield g.movSs(); // the STI shadow ends, the MOV-SS shadow starts
      order.push('after mov ss');
      yield g.compute(1);
      order.push('done');
    });
    m.cpu.start(0x1000_0000);
    m.cpu.run(1_000_000);
    expect(order).toEqual(['after sti', 'irq', 'after next', 'after mov ss', 'irq', 'done']);
  });

  it('blocks NMIs from delivery until the next IRET (SDM 3A 6.7.1)', () => {
    const m = x86Machine();
    const order: string[] = [];
    m.program.define(0x2000_0000, function* nmiHandler(g: X86Guest): Routine {
      order.push('nmi');
      if (order.length === 1) m.cpu.nmi(); // a second NMI while the first is handled
      yield g.compute(10);
      order.push('nmi done');
      yield g.iret();
    });
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, VECTOR.NMI, { target: 0x2000_0000 });
      m.cpu.nmi();
      yield g.compute(1);
      yield g.compute(1);
      order.push('main');
    });
    m.cpu.start(0x1000_0000);
    m.cpu.run(1_000_000);
    expect(order).toEqual(['nmi', 'nmi done', 'nmi', 'nmi done', 'main']);
  });

  it('halts with IF = 0 until an NMI, and returns "halted" while nothing can wake it (SDM 2A HLT)', () => {
    const m = x86Machine();
    let woke = false;
    m.program.define(0x2000_0000, function* nmiHandler(g: X86Guest): Routine {
      woke = true;
      yield g.iret();
    });
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, VECTOR.NMI, { target: 0x2000_0000 });
      yield g.hlt();
    });
    m.cpu.start(0x1000_0000);
    expect(m.cpu.run(100_000)).toBe('halted');
    expect(m.cpu.isHalted).toBe(true);
    expect(m.cpu.localTime).toBe(100_000);
    m.cpu.nmi();
    expect(m.cpu.run(200_000)).toBe('finished');
    expect(woke).toBe(true);
  });

  it('takes an ExtINT vector from the 8259 through LINT0 (SDM 3A 11.5.1; 8259A INTA)', () => {
    const m = x86Machine({ extInt: () => pic.acknowledge() });
    const line = new LevelLine((level) => m.apic.setLint(0, level));
    const pic = new PicPair({ output: line });
    pic.attach(m.pio);
    const vectors: number[] = [];
    m.program.define(0x2000_0000, function* irq1(g: X86Guest, vector: number): Routine {
      vectors.push(vector);
      yield g.out(0x20, 0x20); // EOI to the master
      yield g.iret();
    });
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, 0x21, { target: 0x2000_0000 });
      yield* enableApic(g);
      yield g.st32(LAYOUT.APIC + APIC.LVT_LINT0, 7 << 8); // ExtINT
      for (const [port, value] of [[0x20, 0x11], [0x21, 0x20], [0x21, 0x04], [0x21, 0x01]] as const) yield g.out(port, value);
      pic.setIrq(1, true);
      yield g.sti();
      yield g.compute(1);
      yield g.cli();
    });
    m.cpu.start(0x1000_0000);
    m.cpu.run(1_000_000);
    expect(vectors).toEqual([0x21]);
  });

  it('raises #UD at a gate target with no code, #DE on a zero divisor, and reads nothing as all ones', () => {
    const m = x86Machine();
    const seen: number[] = [];
    m.program.define(0x2000_0000, function* fault(g: X86Guest, vector: number): Routine {
      seen.push(vector);
      const sp = yield g.rsp();
      yield g.st64(sp, (yield g.ld64(sp)) + 1);
      yield g.iret();
    });
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, VECTOR.UD, { target: 0x2000_0000 });
      yield* setGate(g, VECTOR.DE, { target: 0x2000_0000 });
      seen.push(yield g.div(7, 0));
      yield g.ud2();
      seen.push(yield g.ld32(0x8000_0000)); // no RAM, no device
      seen.push(yield g.in(0x80, 2));
    });
    m.cpu.start(0x1000_0000);
    m.cpu.run(1_000_000);
    expect(seen).toEqual([VECTOR.DE, 0, VECTOR.UD, 0xffff_ffff, 0xffff]);
    expect(m.cpu.stats().unclaimedAccesses).toBe(2);
  });
});

describe('X86Cpu host interface', () => {
  it('rejects misuse with errors naming the value', () => {
    const m = x86Machine();
    expect(() => m.cpu.run(10)).toThrow(/before start/);
    expect(() => m.cpu.start(0x999)).toThrow(/no guest code is defined at 2457/);
    expect(() => m.cpu.setRegisters({ rip: 1 } as never)).toThrow(/unknown x86 register "rip"/);
    expect(() => m.cpu.setRegisters({ efer: 1 << 20 })).toThrow(UsageError);
    expect(() => x86Machine({ bogus: 1 } as never)).toThrow(/unknown X86Cpu option "bogus"/);
  });

  it('delivers through whatever IDT the IDTR holds: with the reset IDTR over zeroed memory an interrupt is #NP, #DF, then shutdown (SDM 3A 6.15 Table 6-5)', () => {
    const m = x86Machine();
    m.cpu.setRegisters({ idtBase: 0, idtLimit: 0xffff }); // the reset IDTR; nothing was ever written there
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield g.int(0x40);
      yield g.compute(1);
    });
    m.cpu.start(0x1000_0000);
    expect(m.cpu.run(1_000_000)).toBe('shutdown');
    expect(m.cpu.isShutdown).toBe(true);
    const shutdown = m.tracer.events().find((e) => e.kind === 'fault' && e.what === 'triple-fault');
    expect(shutdown).toMatchObject({ code: VECTOR.NP, args: { delivering: VECTOR.DF } });
    expect(m.cpu.stats().doubleFaults).toBe(1);
  });

  it('reports a handler that returns without IRET', () => {
    const m = x86Machine();
    m.program.define(0x2000_0000, function* forgetful(g: X86Guest): Routine {
      yield g.compute(1);
    });
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, 0x80, { target: 0x2000_0000 });
      yield g.int(0x80);
    });
    m.cpu.start(0x1000_0000);
    expect(() => m.cpu.run(100_000)).toThrow(/forgetful returned without IRET/);
  });
});

describe('X86Cpu: x2APIC MSRs, CR8 and write protection (SDM 3A 11.12, 11.8.6, 4.7)', () => {
  it('sends a self IPI and EOIs through x2APIC MSRs, which reach the processor\'s own APIC even with no MSR bus mapping (SDM 3A 11.12.1, 11.12.11)', () => {
    for (const bus of ['mapped', 'empty'] as const) {
      const m = x86Machine(bus === 'empty' ? { msrs: new MsrBus() } : {});
      m.apic.setApicBase(0xfee0_0000n | (1n << 11n) | (1n << 10n), true); // x2APIC mode (EN, EXTD)
      const got: number[] = [];
      m.program.define(0x2000_0000, function* ipi(g: X86Guest, vector: number): Routine {
        got.push(vector);
        yield g.wrmsr(0x80b, 0); // x2APIC EOI
        yield g.iret();
      });
      const faults: number[] = [];
      m.program.define(0x2100_0000, function* gp(g: X86Guest, vector: number, error: number): Routine {
        faults.push(vector, error);
        const sp = yield g.rsp();
        yield g.st64(sp + 8, (yield g.ld64(sp + 8)) + 1); // skip the WRMSR (saved RIP + 1)
        yield g.addRsp(8);
        yield g.iret();
      });
      m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
        yield* setGate(g, 0x40, { target: 0x2000_0000 });
        yield* setGate(g, VECTOR.GP, { target: 0x2100_0000 });
        yield g.wrmsr(0x80f, 0x1ff); // SVR: software-enable
        yield g.wrmsr(0x83f, 0x40); // SELF IPI
        yield g.sti();
        yield g.compute(1);
        yield g.wrmsr(0x80b, 1); // a non-zero EOI write is #GP (SDM 3A 11.12.1.2)
      });
      m.cpu.start(0x1000_0000);
      expect(m.cpu.run(1_000_000)).toBe('finished');
      expect(got).toEqual([0x40]);
      expect(m.apic.isInService(0x40)).toBe(false);
      expect(faults).toEqual([VECTOR.GP, 0]);
    }
  });

  it('takes CR8 as the TPR\'s priority class: classes at or below it wait, MOV to CR8 above 15 is #GP (SDM 3A 11.8.6, 11.8.3.1)', () => {
    const m = x86Machine();
    const got: number[] = [];
    const reads: number[] = [];
    m.program.define(0x2000_0000, function* irq(g: X86Guest, vector: number): Routine {
      got.push(vector);
      yield eoi(g);
      yield g.iret();
    });
    m.program.define(0x2100_0000, function* gp(g: X86Guest, vector: number): Routine {
      got.push(-vector);
      const sp = yield g.rsp();
      yield g.st64(sp + 8, (yield g.ld64(sp + 8)) + 1);
      yield g.addRsp(8);
      yield g.iret();
    });
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      for (const v of [0x35, 0x45]) yield* setGate(g, v, { target: 0x2000_0000 });
      yield* setGate(g, VECTOR.GP, { target: 0x2100_0000 });
      yield* enableApic(g);
      yield g.movToCr(8, 3);
      reads.push(yield g.movFromCr(8), yield g.ld32(LAYOUT.APIC + APIC.TPR));
      yield g.st32(LAYOUT.APIC + APIC.ICR_LOW, (1 << 18) | 0x35); // class 3: held
      yield g.st32(LAYOUT.APIC + APIC.ICR_LOW, (1 << 18) | 0x45); // class 4: taken
      yield g.sti();
      yield g.compute(1);
      got.push(0);
      yield g.movToCr(8, 2); // now class 3 is above the TPR
      yield g.compute(1);
      yield g.movToCr(8, 16);
    });
    m.cpu.start(0x1000_0000);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    expect(reads).toEqual([3, 0x30]);
    expect(got).toEqual([0x45, 0, 0x35, -VECTOR.GP]);
  });

  it('raises #PF with error code P | W and CR2 for a store to a read-only page under CR0.WP, and retries it once the handler maps it writable (SDM 3A 4.6.1, 4.7)', () => {
    const m = x86Machine();
    const faults: number[] = [];
    const PAGE = 0x60_0000; // PD0 entry 3: a 2 MiB page
    m.program.define(0x2000_0000, function* pageFault(g: X86Guest, vector: number, error: number): Routine {
      faults.push(vector, error, yield g.movFromCr(2));
      yield g.st64(LAYOUT.PD0 + 3 * 8, PAGE | 0x83); // writable again
      yield g.invlpg(PAGE + 0x10);
      yield g.addRsp(8);
      yield g.iret();
    });
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield* setGate(g, VECTOR.PF, { target: 0x2000_0000 });
      yield* enablePaging(g);
      yield g.st32(PAGE + 0x10, 1);
      yield g.st64(LAYOUT.PD0 + 3 * 8, PAGE | 0x81); // P, PS, not writable
      yield g.invlpg(PAGE + 0x10);
      yield g.st32(PAGE + 0x10, 2);
    });
    m.cpu.start(0x1000_0000);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    expect(faults).toEqual([VECTOR.PF, 0x3, PAGE + 0x10]);
    expect(m.memory.read32(PAGE + 0x10)).toBe(2);
  });
});
