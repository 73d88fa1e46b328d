// An arm64 guest at EL1 under a test hypervisor at EL2: the traps are exactly those HCR_EL2 asks for (Arm ARM D19
// "HCR_EL2"), with ESR_EL2 / FAR_EL2 / HPFAR_EL2 as the register pages give them, and virtual interrupts through the
// GICv3 virtual interface taken at EL1 with no trap (IHI0069 6.3, 12.4.6 ICH_LR<n>_EL2).
import { describe, expect, it } from 'vitest';
import { ARM64_EXCEPTION_CLASS as EC } from '@hvsim/core';
import { sysregEncoding } from '@hvsim/gic';
import type { Arm64Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { ARM_LAYOUT, IRQ_VECTOR, arm64GuestMachine, enableStage1 } from '../test-support/arm64-machine.js';
import { DATA_ABORT_ISS, HCR_EL2, WFX_ISS, esrValue, sysregIss } from './regs.js';

type Routine = Generator<Op, void, number>;
const { MAIN, DATA } = ARM_LAYOUT;
/** An emulated device: no stage 2 mapping, so every access is a stage 2 abort the host emulates. */
const UART = 0x0900_0000;

const guestMachine = arm64GuestMachine;

interface ExitRecord {
  name: string;
  esr: number;
  far?: number;
  hpfar?: number;
  elr?: number;
}

describe('Arm64Cpu under a hypervisor at EL2', () => {
  it('traps WFI (TWI), HVC, stage 2 aborts on MMIO and SGI generation under IMO, and nothing else (D19 HCR_EL2, ESR_EL2)', () => {
    const m = guestMachine();
    const got: number[] = [];
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.st32(DATA, 5); // RAM through stage 2: no trap
      yield g.wfi();
      got.push(yield g.hvc(0x4b));
      got.push(yield g.ld32(UART + 0x18));
      yield g.st32(UART, 0x41);
      yield g.msr('ICC_SGI1R_EL1', (1 << 24) | 1);
      got.push(yield g.mrs('ICC_PMR_EL1')); // ICV_PMR_EL1: no trap
      got.push(yield g.ld32(DATA));
    });
    m.cpu.attachHypervisor({ hcr: HCR_EL2.VM | HCR_EL2.TWI | HCR_EL2.IMO | HCR_EL2.FMO | HCR_EL2.RW, stage2: m.stage2 });
    m.cpu.start(MAIN);
    const exits: ExitRecord[] = [];
    const stored: number[] = [];
    for (;;) {
      m.cpu.enterGuest();
      const why = m.cpu.run(1_000_000);
      if (why !== 'exit') {
        expect(why).toBe('finished');
        break;
      }
      const x = m.cpu.lastExit!;
      exits.push({ name: x.name, esr: x.esr, ...(x.ec === EC.DATA_ABORT_LOWER ? { far: x.far, hpfar: x.hpfar } : {}), ...(x.ec === EC.HVC64 ? { elr: x.elr } : {}) });
      const op = m.cpu.pendingOperation!;
      if (x.ec === EC.HVC64) m.cpu.completePendingOperation(7); // X0 = 7
      else if (x.ec === EC.DATA_ABORT_LOWER && (x.iss & DATA_ABORT_ISS.WNR) !== 0) {
        stored.push(op.b);
        m.cpu.completePendingOperation();
      } else if (x.ec === EC.DATA_ABORT_LOWER) m.cpu.completePendingOperation(0x60); // UART flags register
      else m.cpu.completePendingOperation(); // WFI, MSR: emulated and skipped (kvm_incr_pc)
    }
    const mmio = (size: number, write: boolean) => DATA_ABORT_ISS.ISV | (Math.log2(size) << DATA_ABORT_ISS.SAS_SHIFT) | (write ? DATA_ABORT_ISS.WNR : 0) | 0b000110;
    expect(exits).toEqual([
      { name: 'WFX', esr: esrValue(EC.WFX, WFX_ISS.WFI) },
      { name: 'HVC64', esr: esrValue(EC.HVC64, 0x4b), elr: MAIN + 3 },
      // Stage 2 Translation fault at level 2; HPFAR_EL2.FIPA = IPA[47:12] in bits 43:4.
      { name: 'DATA_ABORT_LOWER', esr: esrValue(EC.DATA_ABORT_LOWER, mmio(4, false)), far: UART + 0x18, hpfar: (UART >>> 12) << 4 },
      { name: 'DATA_ABORT_LOWER', esr: esrValue(EC.DATA_ABORT_LOWER, mmio(4, true)), far: UART, hpfar: (UART >>> 12) << 4 },
      // MSR ICC_SGI1R_EL1 (3, 0, 12, 11, 5), Rt 0, a write (Direction 0).
      { name: 'SYS64', esr: esrValue(EC.SYS64, sysregIss(sysregEncoding(3, 0, 12, 11, 5), 0, false)) },
    ]);
    expect(got).toEqual([7, 0x60, 0, 5]);
    expect(stored).toEqual([0x41]);
    expect(m.cpu.stats().exits).toEqual({ WFX: 1, HVC64: 1, DATA_ABORT_LOWER: 2, SYS64: 1 });
  });

  it('without TWI a WFI waits; HCR_EL2.VI wakes it and is taken at EL1 once PSTATE.I is clear, with no exit (D1.3.6)', () => {
    const m = guestMachine();
    const order: string[] = [];
    m.program.define(IRQ_VECTOR, function* virq(g: Arm64Guest): Routine {
      order.push('virq');
      yield g.hvc(1); // the guest tells the host it handled it (a trap, as always)
      yield g.eret();
    });
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.wfi();
      order.push('woke');
      yield g.daifClr(2);
      order.push('after');
    });
    m.cpu.attachHypervisor({ hcr: HCR_EL2.VM | HCR_EL2.IMO, stage2: m.stage2 });
    m.cpu.start(MAIN);
    m.cpu.enterGuest();
    expect(m.cpu.run(100_000)).toBe('halted');
    m.cpu.setHcr(HCR_EL2.VM | HCR_EL2.IMO | HCR_EL2.VI);
    expect(m.cpu.run(200_000)).toBe('exit');
    expect(m.cpu.lastExit!.name).toBe('HVC64');
    m.cpu.setHcr(HCR_EL2.VM | HCR_EL2.IMO); // the host retires the virtual IRQ
    m.cpu.enterGuest();
    expect(m.cpu.run(300_000)).toBe('finished');
    expect(order).toEqual(['woke', 'virq', 'after']);
    expect(m.cpu.stats().exits).toEqual({ HVC64: 1 });
  });

  it('routes a physical IRQ to EL2 with IMO whatever PSTATE.I says, and the host acknowledges it at the physical interface (D1.3.6, IHI0069 6.3)', () => {
    const m = guestMachine();
    // The host owns the GIC: redistributor awake, PPI 30 Group 1 and enabled, Group 1 on, PMR open.
    m.gic.redistributorRegion.mmioWrite(0x14, 4, 0);
    m.gic.redistributorRegion.mmioWrite(0x1_0080, 4, 0xffff_ffff);
    m.gic.redistributorRegion.mmioWrite(0x1_0100, 4, 1 << 30);
    m.gic.distributorFor(0).mmioWrite(0, 4, 0x3);
    m.gic.write(0, 'ICC_PMR_EL1', 0xf0n);
    m.gic.write(0, 'ICC_IGRPEN1_EL1', 1n);
    m.timer.write(0, 'CNTP_TVAL_EL0', 10n);
    m.timer.write(0, 'CNTP_CTL_EL0', 1n);
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      for (;;) yield g.compute(100); // PSTATE.I = 1 throughout
    });
    m.cpu.attachHypervisor({ hcr: HCR_EL2.VM | HCR_EL2.IMO | HCR_EL2.FMO, stage2: m.stage2 });
    m.cpu.start(MAIN);
    m.cpu.enterGuest();
    expect(m.cpu.run(100_000)).toBe('exit');
    expect(m.cpu.lastExit!.kind).toBe('irq');
    expect(m.cpu.localTime).toBeGreaterThanOrEqual(400);
    expect(m.gic.read(0, 'ICC_IAR1_EL1')).toBe(30n); // the physical interface: routing is off at EL2
    m.timer.write(0, 'CNTP_CTL_EL0', 0n);
    m.gic.write(0, 'ICC_EOIR1_EL1', 30n);
    m.cpu.enterGuest();
    expect(m.cpu.run(m.cpu.localTime + 10_000)).toBe('budget');
  });

  it('delivers a vIRQ from a list register at EL1 through ICV_IAR1_EL1 / ICV_EOIR1_EL1 with no trap, over guest stage 1 (IHI0069 12.4.6, D8.2)', () => {
    const m = guestMachine();
    const acks: number[] = [];
    m.program.define(IRQ_VECTOR, function* virq(g: Arm64Guest): Routine {
      const intid = yield g.mrs('ICC_IAR1_EL1'); // ICV_IAR1_EL1 under IMO
      acks.push(intid);
      yield g.msr('ICC_EOIR1_EL1', intid);
      yield g.eret();
    });
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield* enableStage1(g); // stage 1 over stage 2
      yield g.msr('ICC_PMR_EL1', 0xf0);
      yield g.msr('ICC_IGRPEN1_EL1', 1);
      yield g.daifClr(2);
      while (acks.length === 0) yield g.wfi();
    });
    m.gic.write(0, 'ICH_HCR_EL2', 1n); // En
    // pending (State 0b01), Group 1, priority 0xA0, vINTID 27.
    m.gic.write(0, 'ICH_LR0_EL2', (1n << 62n) | (1n << 60n) | (0xa0n << 48n) | 27n);
    m.cpu.attachHypervisor({ hcr: HCR_EL2.VM | HCR_EL2.IMO | HCR_EL2.FMO | HCR_EL2.TWI, stage2: m.stage2 });
    m.cpu.start(MAIN);
    m.cpu.enterGuest();
    expect(m.cpu.run(10_000_000)).toBe('finished');
    expect(acks).toEqual([27]);
    expect(m.cpu.stats().exits).toEqual({});
    expect(m.gic.read(0, 'ICH_LR0_EL2') >> 62n).toBe(0n); // invalid after the EOI
    expect(m.cpu.stats().walkReferences).toBeGreaterThan(0);
  });

  it('traps WFE with TWE only when it would wait, and takes HCR_EL2.VF as a virtual FIQ at EL1 + 0x300 (C6 WFE, D19 HCR_EL2)', () => {
    const m = guestMachine();
    const got: string[] = [];
    m.program.define(ARM_LAYOUT.VECTORS + 0x300, function* vfiq(g: Arm64Guest): Routine {
      got.push('vfiq');
      yield g.hvc(2);
      yield g.eret();
    });
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.sevl();
      yield g.wfe(); // the event register is set: no wait, no trap
      got.push('no trap');
      yield g.wfe(); // would wait: traps
      got.push('after trap');
      yield g.daifClr(1);
    });
    m.cpu.attachHypervisor({ hcr: HCR_EL2.TWE | HCR_EL2.FMO });
    m.cpu.start(MAIN);
    m.cpu.enterGuest();
    expect(m.cpu.run(100_000)).toBe('exit');
    expect(m.cpu.lastExit!.esr).toBe(esrValue(EC.WFX, WFX_ISS.WFE));
    m.cpu.completePendingOperation();
    m.cpu.setHcr(HCR_EL2.TWE | HCR_EL2.FMO | HCR_EL2.VF);
    m.cpu.enterGuest();
    expect(m.cpu.run(200_000)).toBe('exit');
    expect(m.cpu.lastExit!.name).toBe('HVC64');
    m.cpu.setHcr(HCR_EL2.TWE | HCR_EL2.FMO);
    m.cpu.enterGuest();
    expect(m.cpu.run(300_000)).toBe('finished');
    expect(got).toEqual(['no trap', 'after trap', 'vfiq']);
  });

  it('refuses HCR_EL2 values it cannot honour, naming them', () => {
    const m = guestMachine();
    expect(() => m.cpu.attachHypervisor({ hcr: 2 ** 27 })).toThrow(/HCR_EL2 value 0x8000000 sets TGE \(bit 27\)/);
    expect(() => m.cpu.attachHypervisor({ hcr: HCR_EL2.VM })).toThrow(/sets VM but no stage 2/);
    expect(() => m.cpu.attachHypervisor({ hcr: 1.5 })).toThrow(/HCR_EL2 must be a non-negative safe integer, got 1.5/);
    expect(() => m.cpu.setHcr(0)).toThrow(/no hypervisor is attached/); // the refused attaches changed nothing
    m.program.define(MAIN, function* main(g: Arm64Guest): Routine {
      yield g.compute(1);
    });
    m.cpu.attachHypervisor({ hcr: 0 });
    m.cpu.start(MAIN);
    expect(() => m.cpu.run(10)).toThrow(/before enterGuest/);
  });
});
