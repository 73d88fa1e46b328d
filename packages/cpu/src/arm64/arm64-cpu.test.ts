import { describe, expect, it } from 'vitest';
import { ARM64_EXCEPTION_CLASS as EC, UsageError } from '@hvsim/core';
import { ARM_LAYOUT, IRQ_VECTOR, SYNC_LOWER_VECTOR, SYNC_VECTOR, arm64Machine, enableStage1, gicBringUp, skipFaulting } from '../test-support/arm64-machine.js';
import type { Arm64Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { CpuScheduler } from '../time/scheduler.js';
import { Arm64Cpu } from './arm64-cpu.js';
import { PSTATE_MODE, esrValue } from './regs.js';
import { arm64SysregByName, arm64SysregEncoding } from './sysregs.js';

type Routine = Generator<Op, void, number>;
const { DATA, MAIN, UNMAPPED } = ARM_LAYOUT;

describe('a small arm64 guest kernel (Arm ARM D1, D8, D11; IHI0069 12.2)', () => {
  it('sets VBAR_EL1, builds stage 1 tables with stores, takes timer IRQs through the GICv3, survives a Data Abort and an UNDEFINED MRS', () => {
    const m = arm64Machine();
    m.cpu.setRegisters({ vbar: 0 }); // the kernel sets it
    const log: string[] = [];
    let ticks = 0;
    const KVECTORS = 0x50_0000;
    m.program.define(KVECTORS + 0x200, function* sync(g: Arm64Guest, _offset: number, esr: number): Routine {
      const far = yield g.mrs('FAR_EL1');
      log.push(`sync EC 0x${(esr >>> 26).toString(16)} ISS 0x${(esr & 0x1ff_ffff).toString(16)}${esr >>> 26 === EC.DATA_ABORT_SAME ? ` FAR 0x${far.toString(16)}` : ''}`);
      const elr = yield g.mrs('ELR_EL1');
      yield g.msr('ELR_EL1', elr + 1); // skip the faulting instruction
      yield g.eret();
    });
    m.program.define(KVECTORS + 0x280, function* irq(g: Arm64Guest): Routine {
      const intid = yield g.mrs('ICC_IAR1_EL1');
      ticks++;
      log.push(`irq ${intid}`);
      yield g.msr('CNTP_TVAL_EL0', 200);
      yield g.msr('ICC_EOIR1_EL1', intid);
      yield g.eret();
    });
    m.program.define(MAIN, function* kernel(g: Arm64Guest): Routine {
      yield g.msr('VBAR_EL1', KVECTORS);
      yield g.isb();
      yield* enableStage1(g);
      yield* gicBringUp(g, 1 << 30);
      yield g.ld32(UNMAPPED); // a Data Abort: Translation fault, level 2
      yield g.mrs(arm64SysregEncoding(3, 0, 15, 15, 7)); // no such register: UNDEFINED
      yield g.msr('CNTP_TVAL_EL0', 200);
      yield g.msr('CNTP_CTL_EL0', 1);
      yield g.daifClr(2);
      while (ticks < 2) yield g.wfi();
      yield g.daifSet(2);
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(10_000_000)).toBe('finished');
    expect(log).toEqual([`sync EC 0x25 ISS 0x6 FAR 0x${UNMAPPED.toString(16)}`, 'sync EC 0x0 ISS 0x0', 'irq 30', 'irq 30']);
  });

  it('wakes a WFE on another PE through SEV, both run by the CpuScheduler (C6 SEV, WFE)', () => {
    const a = arm64Machine();
    const b = new Arm64Cpu({ memory: a.memory, program: a.program, clock: a.clock, cpu: 1, onSev: () => a.cpu.signalEvent() });
    let flag = 0;
    a.program.define(MAIN, function* waiter(g: Arm64Guest): Routine {
      while ((yield g.ld32(DATA)) === 0) yield g.wfe();
      flag = yield g.ld32(DATA);
    });
    a.program.define(MAIN + 0x1000, function* signaller(g: Arm64Guest): Routine {
      yield g.compute(5000);
      yield g.st32(DATA, 9);
      yield g.dsb();
      yield g.sev();
    });
    a.cpu.start(MAIN);
    b.start(MAIN + 0x1000);
    const s = new CpuScheduler([a.cpu, b], { clock: a.clock, quantum: 500 });
    expect(s.run(100_000)).toBe('stopped');
    expect(flag).toBe(9);
    expect(a.cpu.stats().haltedCycles).toBeGreaterThan(3000);
  });
});

describe('Arm64Cpu operations (Arm ARM C6 instruction pages)', () => {
  it('loads and stores every size with the MMU off, and reads CurrentEL, MPIDR_EL1 and DAIF (D19 register pages)', () => {
    const m = arm64Machine();
    const got: number[] = [];
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.st32(DATA, 0xdead_beef);
      got.push(yield g.ld8(DATA), yield g.ld16(DATA + 2), yield g.ld32(DATA));
      yield g.st64(DATA + 8, 2 ** 40 + 5);
      got.push(yield g.ld64(DATA + 8), g.lo, g.hi);
      yield g.st32(DATA + 0xffe, 0x0403_0201); // crosses a page
      got.push(yield g.ld32(DATA + 0xffe));
      got.push(yield g.mrs('CurrentEL'), yield g.mrs('MPIDR_EL1'), yield g.mrs('DAIF'));
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    expect(got).toEqual([0xef, 0xdead, 0xdead_beef, 2 ** 40 + 5, 5, 0x100, 0x0403_0201, 0b0100, 0x8000_0000, 0x3c0]);
  });

  it('translates through guest-built stage 1 tables and takes a Data Abort with ESR_EL1 and FAR_EL1 for an unmapped VA (D8.2, D8.15, D19 ESR_EL1)', () => {
    const m = arm64Machine();
    const seen: number[] = [];
    m.program.define(SYNC_VECTOR, function* sync(g: Arm64Guest): Routine {
      yield* skipFaulting(g, seen);
      yield g.eret();
    });
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield* enableStage1(g);
      yield g.st32(DATA, 77);
      seen.push(yield g.ld32(DATA));
      seen.push(yield g.ld32(UNMAPPED + 0x10)); // faults; the handler skips it (result 0)
      yield g.st32(UNMAPPED + 0x20, 1); // a write: WnR
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(10_000_000)).toBe('finished');
    // Translation fault at level 2 (DFSC 0b000110), from EL1: EC 0x25; the store sets WnR (ISS bit 6).
    expect(seen).toEqual([77, esrValue(EC.DATA_ABORT_SAME, 0b000110), UNMAPPED + 0x10, 0, esrValue(EC.DATA_ABORT_SAME, 0b000110 | 0x40), UNMAPPED + 0x20]);
    expect(m.cpu.stats().walkReferences).toBeGreaterThan(0);
    expect(m.cpu.stats().delivered[EC.DATA_ABORT_SAME]).toBe(2);
  });

  it('makes an unknown system register, a write to a read-only one, an EL2 register at EL1 and UDF UNDEFINED: EC 0x00, IL 1 (D1.3, D19 ESR_EL1)', () => {
    const m = arm64Machine();
    const seen: number[] = [];
    m.program.define(SYNC_VECTOR, function* sync(g: Arm64Guest): Routine {
      yield* skipFaulting(g, seen);
      yield g.eret();
    });
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      seen.push(yield g.mrs(arm64SysregEncoding(3, 0, 11, 0, 0)));
      yield g.msr('MIDR_EL1', 1);
      yield g.mrs(arm64SysregEncoding(3, 4, 1, 1, 0)); // HCR_EL2
      yield g.udf(7);
      yield g.hvc(0); // no EL2 attached: UNDEFINED
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    const undef = esrValue(EC.UNKNOWN, 0);
    expect(undef).toBe(0x0200_0000);
    // Per fault the handler records ESR_EL1 and FAR_EL1; the skipped MRS then yields 0.
    expect(seen).toEqual([undef, 0, 0, undef, 0, undef, 0, undef, 0, undef, 0]);
  });

  it('takes SVC to the current-EL SPx vector with ELR_EL1 at the next instruction, and from EL0 to the lower-EL group (D1.3.1, D1.10.1)', () => {
    const m = arm64Machine();
    const seen: number[] = [];
    const entry = (name: string) =>
      function* handler(g: Arm64Guest, vectorOffset: number, esr: number): Routine {
        seen.push(vectorOffset, esr, yield g.mrs('SPSR_EL1'), yield g.mrs('CurrentEL'));
        void name;
        yield g.eret();
      };
    m.program.define(SYNC_VECTOR, entry('el1'));
    m.program.define(SYNC_LOWER_VECTOR, entry('el0'));
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.svc(0x42);
      seen.push(yield g.mrs('CurrentEL'));
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    expect(seen).toEqual([0x200, esrValue(EC.SVC64, 0x42), PSTATE_MODE.EL1h | 0x3c0, 4, 4]);

    const u = arm64Machine();
    const got: number[] = [];
    u.program.define(SYNC_LOWER_VECTOR, function* lower(g: Arm64Guest, vectorOffset: number, esr: number): Routine {
      got.push(vectorOffset, esr, yield g.mrs('SPSR_EL1'));
      yield g.eret();
    });
    u.program.define(MAIN, function* user(g: Arm64Guest): Routine {
      yield g.svc(1);
      got.push(yield g.mrs('TPIDR_EL0')); // EL0-accessible
    });
    u.cpu.setRegisters({ pstate: PSTATE_MODE.EL0t });
    u.cpu.start(MAIN);
    expect(u.cpu.run(1_000_000)).toBe('finished');
    expect(got).toEqual([0x400, esrValue(EC.SVC64, 1), PSTATE_MODE.EL0t, 0]);
    expect(u.cpu.currentEl).toBe(0);
  });

  it('takes generic-timer interrupts from a GICv3: ICC_IAR1_EL1 gives PPI 30, ICC_EOIR1_EL1, ERET (D11.2.4, IHI0069 12.2.14, 12.2.10)', () => {
    const m = arm64Machine();
    const acks: number[] = [];
    let ticks = 0;
    m.program.define(IRQ_VECTOR, function* irq(g: Arm64Guest, vectorOffset: number): Routine {
      const intid = yield g.mrs('ICC_IAR1_EL1');
      acks.push(intid, vectorOffset, yield g.mrs('DAIF'));
      ticks++;
      yield g.msr('CNTP_TVAL_EL0', 100); // re-arm: the level falls before the EOI
      yield g.msr('ICC_EOIR1_EL1', intid);
      yield g.eret();
    });
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield* enableStage1(g);
      yield* gicBringUp(g, 1 << 30);
      yield g.msr('CNTP_TVAL_EL0', 100); // 100 ticks = 4,000 cycles at 62.5 MHz on 2.5 GHz
      yield g.msr('CNTP_CTL_EL0', 1);
      yield g.daifClr(2);
      while (ticks < 3) yield g.wfi();
      yield g.daifSet(2);
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    // Each entry masks D, A, I and F (PSTATE.DAIF = 0b1111 on exception entry, D1.10.2).
    expect(acks).toEqual([30, 0x280, 0x3c0, 30, 0x280, 0x3c0, 30, 0x280, 0x3c0]);
    expect(m.cpu.stats().delivered[0x40]).toBe(3);
    expect(m.cpu.stats().haltedCycles).toBeGreaterThan(0);
  });

  it('takes SGIs in a step-form IRQ handler: ICC_IAR1_EL1, ICC_EOIR1_EL1 with its result, ERET to ELR_EL1 (IHI0069 12.2.14, 12.2.10; D1.10, D1.11)', () => {
    const m = arm64Machine({}, { trace: false });
    const IAR1 = arm64SysregByName('ICC_IAR1_EL1');
    const EOIR1 = arm64SysregByName('ICC_EOIR1_EL1');
    const SGI1R = arm64SysregByName('ICC_SGI1R_EL1');
    const seen: number[] = [];
    m.program.define(IRQ_VECTOR, {
      steps: (g: Arm64Guest, pc: number, result: number, vectorOffset: number) => {
        if (pc === 0) return g.mrs(IAR1);
        if (pc === 1) {
          seen.push(result, vectorOffset);
          return g.msr(EOIR1, result);
        }
        return pc === 2 ? g.eret() : null;
      },
    }, 'irq');
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield* enableStage1(g);
      yield* gicBringUp(g, 0b110);
      yield g.daifClr(2);
      yield g.msr(SGI1R, (1 << 24) | 1); // SGI 1 to this PE
      yield g.msr(SGI1R, (2 << 24) | 1); // SGI 2
      yield g.st32(DATA, 1);
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    expect(seen).toEqual([1, 0x280, 2, 0x280]);
    expect(m.cpu.stats().delivered[0x40]).toBe(2);
    expect(m.gic.cpuInterface(0).readIar(1)).toBe(1023); // nothing left pending or active
    expect(m.memory.read32(DATA)).toBe(1);
  });

  it('wakes WFI on a masked interrupt without taking it, and takes it once PSTATE.I is cleared (C6 WFI, D1.6)', () => {
    const m = arm64Machine();
    const order: string[] = [];
    m.program.define(IRQ_VECTOR, function* irq(g: Arm64Guest): Routine {
      const intid = yield g.mrs('ICC_IAR1_EL1');
      order.push(`irq ${intid}`);
      yield g.msr('CNTP_CTL_EL0', 0);
      yield g.msr('ICC_EOIR1_EL1', intid);
      yield g.eret();
    });
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield* gicBringUp(g, 1 << 30);
      yield g.msr('CNTP_TVAL_EL0', 10);
      yield g.msr('CNTP_CTL_EL0', 1);
      yield g.wfi(); // PSTATE.I = 1 from reset: wakes, but the IRQ stays pending
      order.push('woke');
      yield g.wfi(); // an interrupt is pending: completes at once
      order.push('nop');
      yield g.daifClr(2);
      order.push('after');
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    expect(order).toEqual(['woke', 'nop', 'irq 30', 'after']);
  });

  it('WFE returns at once with the event register set (SEVL), waits otherwise, and wakes on an event (C6 WFE, SEV)', () => {
    const m = arm64Machine();
    let stage = 0;
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.sevl();
      yield g.wfe();
      stage = 1;
      yield g.wfe();
      stage = 2;
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(100_000)).toBe('halted');
    expect(stage).toBe(1);
    expect(m.cpu.isWaiting).toBe(true);
    m.cpu.signalEvent();
    expect(m.cpu.run(200_000)).toBe('finished');
    expect(stage).toBe(2);
  });

  it('sees a changed descriptor only after TLBI VAE1 (D8.13, C5.5 TLBI)', () => {
    const m = arm64Machine();
    const got: number[] = [];
    const l2 = ARM_LAYOUT.TABLES + 0x1000;
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield* enableStage1(g);
      yield g.st32(DATA, 1);
      yield g.st32(DATA + 0x20_0000, 2);
      got.push(yield g.ld32(DATA));
      // Remap VA block 2 (DATA) to the physical block 3.
      yield g.st64(l2 + 2 * 8, 3 * 0x20_0000 + 0x701);
      yield g.dsb();
      got.push(yield g.ld32(DATA)); // still the cached translation
      yield g.tlbi('VAE1', Math.floor(DATA / 4096));
      yield g.dsb();
      yield g.isb();
      got.push(yield g.ld32(DATA));
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(10_000_000)).toBe('finished');
    expect(got).toEqual([1, 1, 2]);
  });

  it('fetches a vector through the translations in force: a PXN vector page faults only after TLBI (D1.10, D8.13)', () => {
    const m = arm64Machine();
    const l2 = ARM_LAYOUT.TABLES + 0x1000;
    let entries = 0;
    m.program.define(SYNC_VECTOR, function* sync(g: Arm64Guest): Routine {
      entries++;
      yield g.eret();
    });
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield* enableStage1(g);
      yield g.svc(0);
      // The 2 MiB block holding VBAR_EL1's table becomes privileged-execute-never (PXN, bit 53).
      yield g.st64Halves(l2, 0x701, 1 << 21);
      yield g.dsb();
      yield g.svc(1); // the TLB still holds the executable translation
      yield g.tlbi('VAE1', Math.floor(ARM_LAYOUT.VECTORS / 4096));
      yield g.dsb();
      yield g.isb();
      yield g.svc(2); // the vector fetch is a Permission fault, and so is the fetch of the abort's vector
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(10_000_000)).toBe('lockup');
    expect(entries).toBe(2);
  });

  it('locks up when the vector fetch of an Instruction Abort taken for a faulting vector fetch faults again', () => {
    const m = arm64Machine();
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.udf();
    });
    m.cpu.setRegisters({ vbar: 2 ** 48 }); // beyond the 48-bit PA range with the MMU off: an Address size fault
    m.cpu.start(MAIN);
    expect(m.cpu.run(100_000)).toBe('lockup');
  });

  it('rejects host misuse with messages naming the value', () => {
    const m = arm64Machine();
    expect(() => new Arm64Cpu({ memory: m.memory, program: m.program, bogus: 1 } as never)).toThrow(/unknown Arm64Cpu option "bogus"|unknown Arm64Cpu option 'bogus'|bogus/);
    expect(() => m.cpu.setRegisters({ pstate: 0b1001 })).toThrow(/PSTATE value 0x9/);
    expect(() => m.cpu.setRegisters({ vbar: 0x123 })).toThrow(/VBAR_EL1 value 0x123/);
    expect(() => arm64SysregByName('ICC_NOPE_EL1')).toThrow(UsageError);
    expect(() => arm64SysregByName('ICC_NOPE_EL1')).toThrow(/ICC_NOPE_EL1/);
    expect(() => m.cpu.guest.tlbi('NOPE' as never)).toThrow(/NOPE/);
    expect(() => m.cpu.run(10)).toThrow(/before start/);
    expect(() => m.cpu.setHcr(1)).toThrow(/no hypervisor/);
    expect(() => m.cpu.completePendingOperation(1)).toThrow(/no operation is pending/);
  });
});
