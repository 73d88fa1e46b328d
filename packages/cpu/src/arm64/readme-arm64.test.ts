/** The README's arm64 example, run as written (D1.3.1 vector table, D11.2 generic timer, IHI0069 12.2.14 ICC_IAR1_EL1). */
import { describe, expect, it } from 'vitest';
import { Clock, MmioBus, PhysicalMemory } from '@hvsim/core';
import { GICR_SGI, GICR_SGI_BASE, GenericTimer, GicV3 } from '@hvsim/gic';
import { Arm64Cpu, GuestProgram, type Arm64Guest } from '../index.js';

describe('README: an arm64 guest kernel', () => {
  it('works as documented', () => {
    const clock = new Clock();
    const memory = new PhysicalMemory();
    memory.addRegion(0, 16 << 20);
    const wired: { cpu?: Arm64Cpu } = {};
    const gic = new GicV3({ cpus: 1, clock, onIrq: (_c, level) => wired.cpu?.setIrqLevel(level) });
    const GICR = 0x080a_0000;
    const mmio = new MmioBus();
    mmio.map(0x0800_0000, 0x1_0000, gic.distributor);
    mmio.map(GICR, 0x2_0000, gic.redistributorRegion);
    const timer = new GenericTimer({ clock, cpus: 1, output: (c, intid, level) => gic.setPpiLevel(c, intid, level) });

    const program = new GuestProgram<Arm64Guest>();
    let ticks = 0;
    program.define(0x10_0280, function* irq(g: Arm64Guest) {
      const intid = yield g.mrs('ICC_IAR1_EL1');
      ticks++;
      yield g.msr('CNTP_TVAL_EL0', 1000);
      yield g.msr('ICC_EOIR1_EL1', intid);
      yield g.eret();
    });
    program.define(0x20_0000, function* main(g: Arm64Guest) {
      yield g.msr('VBAR_EL1', 0x10_0000);
      yield g.st32(GICR + 0x14, 0);
      yield g.st32(GICR + GICR_SGI_BASE + GICR_SGI.IGROUPR0, 1 << 30);
      yield g.st32(GICR + GICR_SGI_BASE + GICR_SGI.ISENABLER0, 1 << 30);
      yield g.st32(0x0800_0000, 0x3);
      yield g.msr('ICC_PMR_EL1', 0xf0);
      yield g.msr('ICC_IGRPEN1_EL1', 1);
      yield g.msr('CNTP_TVAL_EL0', 1000);
      yield g.msr('CNTP_CTL_EL0', 1);
      yield g.daifClr(2);
      while (ticks < 3) yield g.wfi();
    });

    const cpu = new Arm64Cpu({ memory, program, mmio, gic, timer, clock });
    wired.cpu = cpu;
    cpu.start(0x20_0000);
    expect([cpu.run(10_000_000), ticks, cpu.stats().delivered[0x40]]).toEqual(['finished', 3, 3]);
  });
});
