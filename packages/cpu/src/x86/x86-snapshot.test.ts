import { describe, expect, it } from 'vitest';
import { SnapshotError } from '@hvsim/core';
import { APIC } from '@hvsim/lapic';
import type { X86Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { LAYOUT, enableApic, eoi, setGate, x86Machine } from '../test-support/x86-machine.js';

type Routine = Generator<Op, void, number>;
const COUNT = LAYOUT.DATA;
const SUM = LAYOUT.DATA + 8;
const IDLE = 1;

/**
 * A guest whose state lives in guest memory only: a timer handler that counts and sums (a generator, or the same
 * work in the step form), an idle loop with a checkpoint.
 */
function guestMachine(form: 'generator' | 'steps' = 'generator') {
  const m = x86Machine({ snapshots: true, tracer: undefined });
  if (form === 'generator') {
    m.program.define(0x2000_0000, function* timer(g: X86Guest): Routine {
      const n = yield g.ld32(COUNT);
      const s = yield g.ld32(SUM);
      yield g.compute(50);
      yield g.cpuid(1); // a result with four registers, replayed on restore
      yield g.st32(SUM, (s + n * 3 + (g.ebx >>> 24)) >>> 0);
      yield g.st32(COUNT, n + 1);
      yield eoi(g);
      yield g.iret();
    });
  } else {
    // Step code keeps nothing between operations but the last result: what it needs later lives in guest memory.
    m.program.define(0x2000_0000, {
      steps: (g: X86Guest, pc: number, result: number) => {
        switch (pc) {
          case 0: return g.ld32(COUNT);
          case 1: return g.st32(COUNT, result + 1);
          case 2: return g.compute(50);
          case 3: return g.cpuid(1);
          case 4: return g.ld32(SUM);
          case 5: return g.st32(SUM, (result + 3 + (g.ebx >>> 24)) >>> 0); // EBX of the CPUID two operations back
          case 6: return eoi(g);
          case 7: return g.iret();
          default: return null;
        }
      },
    }, 'timer');
  }
  m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
    if (g.restoreLabel !== IDLE) {
      yield* setGate(g, 0x30, { target: 0x2000_0000 });
      yield* enableApic(g);
      yield g.st32(LAYOUT.APIC + APIC.TIMER_DIVIDE_CONFIG, 0xb);
      yield g.st32(LAYOUT.APIC + APIC.LVT_TIMER, (1 << 17) | 0x30);
      yield g.st32(LAYOUT.APIC + APIC.TIMER_INITIAL_COUNT, 777);
    }
    for (;;) {
      yield g.checkpoint(IDLE);
      if ((yield g.ld32(COUNT)) >= 12) return;
      yield g.sti();
      yield g.hlt();
      yield g.cli();
    }
  });
  m.cpu.start(0x1000_0000);
  return m;
}

type Machine = ReturnType<typeof guestMachine>;

/** Everything a host saves of this one-CPU machine (the clock first on restore, then the models). */
function saveAll(m: Machine) {
  return JSON.parse(JSON.stringify({ clock: m.clock.saveState(), memory: m.memory.saveState(), apic: m.apic.saveState(), mmu: m.cpu.mmu.saveState(), cpu: m.cpu.saveState() })) as Record<string, unknown>;
}

function restoreAll(saved: Record<string, unknown>, form: 'generator' | 'steps' = 'generator'): Machine {
  const m = guestMachine(form);
  m.clock.restoreState(saved.clock);
  m.memory.restoreState(saved.memory);
  m.apic.restoreState(saved.apic);
  m.cpu.mmu.restoreState(saved.mmu);
  m.cpu.restoreState(saved.cpu);
  return m;
}

describe('X86Cpu save, restore and continue (replay of guest code)', () => {
  it.each(['generator', 'steps'] as const)('equals never stopping, when saved in the middle of an interrupt handler (%s code)', (form) => {
    const a = guestMachine(form);
    // Run until the CPU is inside the timer handler, a few operations in (after the CPUID in the step form).
    let guard = 0;
    while (!(a.cpu.backtrace().length === 2 && a.cpu.backtrace()[1]!.rip >= 0x2000_0005)) {
      a.cpu.run(Number.MAX_SAFE_INTEGER, 1);
      if (++guard > 100_000) throw new Error('never reached the handler');
    }
    const saved = saveAll(a);
    const frames = (saved.cpu as { frames: { log: number[] }[] }).frames;
    expect(frames).toHaveLength(2);
    // A generator is replayed from its log; step code needs none (its position and last result say it all).
    if (form === 'generator') expect(frames[1]!.log.length).toBeGreaterThan(0);
    else expect(frames[1]!.log).toEqual([]);
    const b = restoreAll(saved, form);
    expect(b.cpu.backtrace()).toEqual(a.cpu.backtrace());
    expect(b.cpu.run(50_000_000)).toBe(a.cpu.run(50_000_000));
    expect(b.memory.read32(COUNT)).toBe(12);
    expect(b.memory.read32(SUM)).toBe(a.memory.read32(SUM));
    expect(b.cpu.localTime).toBe(a.cpu.localTime);
    expect(b.cpu.registers()).toEqual(a.cpu.registers());
  });

  it('keeps the replay log short with a checkpoint at the idle loop head', () => {
    const a = guestMachine();
    a.cpu.run(5_000); // several ticks: the main frame's log restarts at each checkpoint
    const saved = a.cpu.saveState();
    expect(saved.frames[0]!.checkpointLabel).toBe(IDLE);
    expect(saved.frames[0]!.log.length).toBeLessThan(20);
  });

  it('refuses to save guest code without the snapshots option, and rejects a state that does not replay, changing nothing', () => {
    const plain = x86Machine();
    plain.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield g.compute(1);
      yield g.compute(1);
    });
    plain.cpu.start(0x1000_0000);
    expect(() => plain.cpu.saveState()).toThrow(/needs an X86Cpu created with \{ snapshots: true \}/);

    const a = guestMachine();
    a.cpu.run(Number.MAX_SAFE_INTEGER, 40);
    const good = a.cpu.saveState();
    const before = JSON.stringify(a.cpu.saveState());
    const wrongEntry = { ...good, frames: [{ ...good.frames[0]!, checkpointLabel: 7 }] };
    expect(() => a.cpu.restoreState(wrongEntry)).toThrow(SnapshotError);
    expect(() => a.cpu.restoreState({ ...good, registers: { ...good.registers, efer: 1 << 20 } })).toThrow(/reserved bits/);
    expect(() => a.cpu.restoreState({ ...good, type: 'hvsim.arm64-cpu' })).toThrow(SnapshotError);
    expect(JSON.stringify(a.cpu.saveState())).toBe(before);
  });
});
