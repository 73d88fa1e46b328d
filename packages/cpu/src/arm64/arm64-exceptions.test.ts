// Exception entry and return corner cases of the AArch64 model (Arm ARM D1.3 "Exceptions", D1.10 "Exception
// entry", D1.11 "Exception return", D1.6 WFI/WFE traps, D11.2 CNTKCTL_EL1, D19 HCR_EL2.TSC, D8.15 stage 2 aborts
// on stage 1 walks).
import { describe, expect, it } from 'vitest';
import { ARM64_EXCEPTION_CLASS as EC } from '@hvsim/core';
import { GICR_SGI, GICR_SGI_BASE } from '@hvsim/gic';
import { PageAllocator, Stage2Builder, Stage2Walker } from '@hvsim/mmu';
import type { Arm64Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { ARM_LAYOUT, SYNC_LOWER_VECTOR, SYNC_VECTOR, arm64Machine, enableStage1, gicBringUp, skipFaulting } from '../test-support/arm64-machine.js';
import { DATA_ABORT_ISS, HCR_EL2, PSTATE_MODE, WFX_ISS, esrValue, sysregIss } from './regs.js';
import { arm64SysregByName } from './sysregs.js';

type Routine = Generator<Op, void, number>;
const { MAIN, VECTORS, DATA } = ARM_LAYOUT;

describe('Arm64Cpu exceptions', () => {
  it('takes a Group 0 interrupt as FIQ at VBAR_EL1 + 0x300, masked by PSTATE.F, acknowledged with ICC_IAR0_EL1 (IHI0069 4.6, D1.3.1)', () => {
    const m = arm64Machine();
    const got: number[] = [];
    m.program.define(VECTORS + 0x300, function* fiq(g: Arm64Guest, vectorOffset: number): Routine {
      const intid = yield g.mrs('ICC_IAR0_EL1');
      got.push(vectorOffset, intid);
      yield g.msr('ICC_EOIR0_EL1', intid);
      yield g.eret();
    });
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield* gicBringUp(g, 1 << 3);
      yield g.st32(ARM_LAYOUT.GICR + GICR_SGI_BASE + GICR_SGI.IGROUPR0, ~(1 << 3) >>> 0); // SGI 3: Group 0
      yield g.msr('ICC_IGRPEN0_EL1', 1);
      yield g.msr('ICC_SGI0R_EL1', (3 << 24) | 1);
      yield g.daifClr(2); // I only: the FIQ stays masked
      got.push(-1);
      yield g.daifClr(1);
      got.push(-2);
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    expect(got).toEqual([-1, 0x300, 3, -2]);
    m.cpu.fiqInput.setLevel(true); // the same input as core's InterruptLine
    expect(m.cpu.isWaiting).toBe(false);
    expect(m.cpu.stats().delivered[0x41]).toBe(1);
  });

  it('takes an IRQ from EL0 at the lower-EL group (0x480) with SPSR_EL1.M = EL0t and returns to EL0 (D1.3.1, D1.11)', () => {
    const m = arm64Machine();
    const got: number[] = [];
    m.program.define(VECTORS + 0x480, function* irq(g: Arm64Guest, vectorOffset: number): Routine {
      const intid = yield g.mrs('ICC_IAR1_EL1');
      got.push(vectorOffset, intid, yield g.mrs('SPSR_EL1'));
      yield g.msr('ICC_EOIR1_EL1', intid);
      yield g.eret();
    });
    // The kernel sets the GIC up before dropping to EL0; the user code only computes.
    m.program.define(MAIN, function* user(g: Arm64Guest): Routine {
      yield g.compute(10);
      got.push(yield g.mrs('TPIDR_EL0'));
    });
    m.program.define(0x30_0000, function* boot(g: Arm64Guest): Routine {
      yield* gicBringUp(g, 1 << 5);
      yield g.msr('ICC_SGI1R_EL1', (5 << 24) | 1);
    });
    m.cpu.start(0x30_0000);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    m.cpu.setRegisters({ pstate: PSTATE_MODE.EL0t }); // DAIF clear at EL0
    m.cpu.start(MAIN);
    expect(m.cpu.run(2_000_000)).toBe('finished');
    expect(got).toEqual([0x400 + 0x80, 5, PSTATE_MODE.EL0t, 0]);
    expect(m.cpu.currentEl).toBe(0);
  });

  it('traps WFI at EL0 to EL1 while SCTLR_EL1.nTWI = 0, and a CNTVCT_EL0 read while CNTKCTL_EL1.EL0VCTEN = 0 (D1.6, D11.2)', () => {
    const m = arm64Machine();
    const esrs: number[] = [];
    m.program.define(SYNC_LOWER_VECTOR, function* sync(g: Arm64Guest): Routine {
      yield* skipFaulting(g, esrs);
      yield g.eret();
    });
    m.program.define(MAIN, function* user(g: Arm64Guest): Routine {
      yield g.wfi();
      yield g.mrs('CNTVCT_EL0');
      yield g.mrs('SCTLR_EL1'); // an EL1 register: UNDEFINED at EL0
      yield g.daifSet(2); // SCTLR_EL1.UMA = 0: trapped (EC 0x18)
    });
    m.cpu.setRegisters({ pstate: PSTATE_MODE.EL0t });
    m.cpu.start(MAIN);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    expect(esrs.filter((_, i) => i % 2 === 0)).toEqual([
      esrValue(EC.WFX, WFX_ISS.WFI),
      esrValue(EC.SYS64, sysregIss(arm64SysregByName('CNTVCT_EL0'), 0, true)),
      esrValue(EC.UNKNOWN, 0),
      esrValue(EC.SYS64, sysregIss((3 << 11) | (4 << 7) | (2 << 3) | 6, 31, false)),
    ]);
  });

  it('an ERET to EL2 is an illegal return: EC 0x0E (D1.11.4)', () => {
    const m = arm64Machine();
    const esrs: number[] = [];
    let inner = 0;
    m.program.define(SYNC_VECTOR, function* sync(g: Arm64Guest, _v: number, esr: number): Routine {
      if (esr === esrValue(EC.SVC64, 0)) {
        inner++;
        const elr = yield g.mrs('ELR_EL1'); // the nested exception overwrites ELR_EL1 and SPSR_EL1, as on hardware
        yield g.msr('SPSR_EL1', PSTATE_MODE.EL2h);
        yield g.eret(); // illegal: faults
        yield g.msr('ELR_EL1', elr);
        yield g.msr('SPSR_EL1', PSTATE_MODE.EL1h | 0x3c0);
        yield g.eret();
        return;
      }
      yield* skipFaulting(g, esrs);
      yield g.eret();
    });
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.svc(0);
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    expect(inner).toBe(1);
    expect(esrs[0]).toBe(esrValue(EC.ILLEGAL_STATE, 0));
  });

  it('makes SMC UNDEFINED without EL3 and a trap to EL2 with HCR_EL2.TSC (D19 HCR_EL2)', () => {
    const m = arm64Machine();
    const esrs: number[] = [];
    m.program.define(SYNC_VECTOR, function* sync(g: Arm64Guest): Routine {
      yield* skipFaulting(g, esrs);
      yield g.eret();
    });
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.smc(9);
    });
    m.cpu.start(MAIN);
    expect(m.cpu.run(1_000_000)).toBe('finished');
    expect(esrs[0]).toBe(esrValue(EC.UNKNOWN, 0));

    const h = arm64Machine();
    h.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.smc(9);
    });
    h.cpu.attachHypervisor({ hcr: HCR_EL2.TSC });
    h.cpu.start(MAIN);
    h.cpu.enterGuest();
    expect(h.cpu.run(1_000_000)).toBe('exit');
    expect(h.cpu.lastExit!.esr).toBe(esrValue(EC.SMC64, 9));
    expect(h.cpu.lastExit!.elr).toBe(MAIN); // a trapped SMC returns to itself; the host skips it
    h.cpu.completePendingOperation();
    h.cpu.enterGuest();
    expect(h.cpu.run(2_000_000)).toBe('finished');
  });

  it('reports a stage 2 fault on a stage 1 table walk with S1PTW, no ISV, and the table IPA in HPFAR_EL2 (D8.15, D19 ESR_EL2)', () => {
    const m = arm64Machine();
    const s2 = new Stage2Builder(m.memory, new PageAllocator(0x300_0000, 0x10_0000));
    for (let a = 0; a < ARM_LAYOUT.RAM; a += 0x20_0000) s2.map(a, a, { pageSize: 0x20_0000 });
    const stage2 = new Stage2Walker(m.memory);
    stage2.setVtcr(s2.vtcr());
    stage2.setVttbr(s2.vttbr(1));
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield* enableStage1(g);
      yield g.hvc(0); // the host now takes the tables' 2 MiB away
      yield g.ld32(DATA + 0x20_0000); // a page never used: a walk, whose first table read faults at stage 2
    });
    m.cpu.attachHypervisor({ hcr: HCR_EL2.VM, stage2 });
    m.cpu.start(MAIN);
    m.cpu.enterGuest();
    expect(m.cpu.run(10_000_000)).toBe('exit');
    expect(m.cpu.lastExit!.name).toBe('HVC64');
    s2.unmap(ARM_LAYOUT.TABLES, 0x20_0000);
    m.cpu.mmu.tlbi('VMALLS12E1');
    m.cpu.enterGuest();
    expect(m.cpu.run(20_000_000)).toBe('exit');
    const x = m.cpu.lastExit!;
    expect(x.ec).toBe(EC.DATA_ABORT_LOWER);
    expect(x.iss & (DATA_ABORT_ISS.ISV | DATA_ABORT_ISS.S1PTW | DATA_ABORT_ISS.WNR)).toBe(DATA_ABORT_ISS.S1PTW);
    expect(x.hpfar).toBe((ARM_LAYOUT.TABLES >>> 12) << 4);
    expect(x.far).toBe(DATA + 0x20_0000);
  });
});
