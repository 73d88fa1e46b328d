/** The README's example, run as written (SDM 3A 6.12 IDT delivery, 11.5.4 APIC timer). */
import { describe, expect, it } from 'vitest';
import { Clock, MmioBus, PhysicalMemory } from '@hvsim/core';
import { APIC_REG, LocalApic } from '@hvsim/lapic';
import { GuestProgram, X86Cpu, encodeIdtGate, type X86Guest } from './index.js';

describe('README: a guest kernel in a few lines', () => {
  it('works as documented', () => {
    const clock = new Clock();
    const memory = new PhysicalMemory();
    memory.addRegion(0, 16 << 20);
    const apic = new LocalApic({ id: 0, clock });
    const mmio = new MmioBus();
    mmio.map(0xfee0_0000, 0x1000, apic);

    const program = new GuestProgram<X86Guest>();
    const APIC = 0xfee0_0000;
    let ticks = 0;
    program.define(0x20_0000, function* timer(g: X86Guest) {
      ticks++;
      yield g.st32(APIC + APIC_REG.APIC_EOI, 0);
      yield g.iret();
    });
    program.define(0x10_0000, function* main(g: X86Guest) {
      const gate = encodeIdtGate({ target: 0x20_0000 });
      for (let i = 0; i < 4; i++) yield g.st32(0x1000 + 0x30 * 16 + 4 * i, gate[i]!);
      yield g.lidt(0x1000, 0xfff);
      yield g.st32(APIC + APIC_REG.APIC_SVR, 0x1ff);
      yield g.st32(APIC + APIC_REG.APIC_TIMER_DIVIDE_CONFIG, 0xb);
      yield g.st32(APIC + APIC_REG.APIC_LVT_TIMER, (1 << 17) | 0x30);
      yield g.st32(APIC + APIC_REG.APIC_TIMER_INITIAL_COUNT, 1000);
      while (ticks < 3) {
        yield g.sti();
        yield g.hlt();
        yield g.cli();
      }
    });

    const cpu = new X86Cpu({ memory, program, mmio, apic, clock });
    cpu.setRegisters({ rsp: 0x8_0000 });
    cpu.start(0x10_0000);
    expect([cpu.run(10_000_000), ticks, cpu.stats().delivered[0x30]]).toEqual(['finished', 3, 3]);
  });
});
