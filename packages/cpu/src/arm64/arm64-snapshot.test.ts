import { describe, expect, it } from 'vitest';
import { SnapshotError } from '@hvsim/core';
import { checkAtomicRestore } from '@hvsim/core/testing';
import { Stage2Walker } from '@hvsim/mmu';
import type { Arm64Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { ARM_LAYOUT, IRQ_VECTOR, arm64Machine, enableStage1, gicBringUp } from '../test-support/arm64-machine.js';
import { HCR_EL2 } from './regs.js';

type Routine = Generator<Op, void, number>;
const COUNT = ARM_LAYOUT.DATA;
const SUM = ARM_LAYOUT.DATA + 8;
const IDLE = 1;
const TIMER_PPI = 30; // the EL1 physical timer (CNTP), Arm ARM D11.2.4

/** A kernel whose state lives in guest memory only: a timer IRQ handler that counts and sums, an idle loop with a checkpoint. */
function guestMachine() {
  const m = arm64Machine({ snapshots: true }, { trace: false });
  m.program.define(IRQ_VECTOR, function* irq(g: Arm64Guest): Routine {
    const intid = yield g.mrs('ICC_IAR1_EL1'); // IHI0069 12.2.10
    const n = yield g.ld32(COUNT);
    const s = yield g.ld32(SUM);
    yield g.compute(40);
    yield g.mrs('MPIDR_EL1'); // a 64-bit result: its halves are logged and replayed
    yield g.st32(SUM, (s + n * 3 + g.hi + intid) >>> 0);
    yield g.st32(COUNT, n + 1);
    yield g.msr('CNTP_TVAL_EL0', 777); // re-arm: the timer's level falls (D11.2.4)
    yield g.msr('ICC_EOIR1_EL1', intid);
    yield g.eret();
  });
  m.program.define(ARM_LAYOUT.MAIN, function* main(g: Arm64Guest): Routine {
    if (g.restoreLabel !== IDLE) {
      yield g.msr('VBAR_EL1', ARM_LAYOUT.VECTORS);
      yield* gicBringUp(g, 1 << TIMER_PPI);
      yield* enableStage1(g);
      yield g.msr('CNTP_TVAL_EL0', 777);
      yield g.msr('CNTP_CTL_EL0', 1);
    }
    for (;;) {
      yield g.checkpoint(IDLE);
      if ((yield g.ld32(COUNT)) >= 12) return;
      yield g.daifClr(2);
      yield g.wfi();
      yield g.daifSet(2);
    }
  });
  m.cpu.start(ARM_LAYOUT.MAIN);
  return m;
}

type Machine = ReturnType<typeof guestMachine>;

/** Everything a host saves of this one-PE machine (on restore: the clock first, then memory, GIC, timer, MMU, CPU). */
function saveAll(m: Machine) {
  return JSON.parse(JSON.stringify({ clock: m.clock.saveState(), memory: m.memory.saveState(), gic: m.gic.saveState(), timer: m.timer.saveState(), mmu: m.cpu.mmu.saveState(), cpu: m.cpu.saveState() })) as Record<string, unknown>;
}

function restoreAll(saved: Record<string, unknown>): Machine {
  const m = guestMachine();
  m.clock.restoreState(saved.clock);
  m.memory.restoreState(saved.memory);
  m.gic.restoreState(saved.gic);
  m.timer.restoreState(saved.timer);
  m.cpu.mmu.restoreState(saved.mmu);
  m.cpu.restoreState(saved.cpu);
  return m;
}

/** Runs one operation at a time until the PE is `ops` operations into the IRQ handler. */
function intoHandler(m: Machine, ops: number): void {
  for (let guard = 0; !(m.cpu.backtrace().length === 2 && m.cpu.backtrace()[1]!.pc >= IRQ_VECTOR + ops); guard++) {
    m.cpu.run(Number.MAX_SAFE_INTEGER, 1);
    if (guard > 100_000) throw new Error('never reached the handler');
  }
}

describe('Arm64Cpu save, restore and continue (replay of guest code)', () => {
  it('equals never stopping, when saved in the middle of an IRQ handler (GICv3, generic timer, stage 1)', () => {
    const a = guestMachine();
    intoHandler(a, 5);
    const saved = saveAll(a);
    const frames = (saved.cpu as { frames: { log: number[]; vector: number }[] }).frames;
    expect(frames).toHaveLength(2);
    expect(frames[1]!.vector).toBe(0x280); // current EL with SP_ELx, IRQ (D1.3.1)
    expect(frames[1]!.log.length).toBeGreaterThan(0);
    const b = restoreAll(saved);
    expect(b.cpu.backtrace()).toEqual(a.cpu.backtrace());
    expect(b.cpu.saveState()).toEqual(a.cpu.saveState());
    expect(b.cpu.run(50_000_000)).toBe(a.cpu.run(50_000_000));
    expect(b.memory.read32(COUNT)).toBe(12);
    expect(b.memory.read32(SUM)).toBe(a.memory.read32(SUM));
    expect(b.cpu.localTime).toBe(a.cpu.localTime);
    expect(b.cpu.registers()).toEqual(a.cpu.registers());
  });

  it('saves the wait state and the event register, and keeps the log short at the idle loop checkpoint', () => {
    const a = guestMachine();
    a.cpu.signalEvent();
    expect(a.cpu.run(3_000)).toBe('halted'); // in WFI until the next timer tick
    const s = a.cpu.saveState();
    expect(s.frames[0]!.checkpointLabel).toBe(IDLE);
    expect(s.frames[0]!.log.length).toBeLessThan(20);
    expect(s.eventRegister).toBe(true);
    const b = restoreAll(saveAll(a));
    expect(b.cpu.isWaiting).toBe(true);
    expect(b.cpu.saveState()).toEqual(s);
  });

  it('validates the whole state before changing anything (checkAtomicRestore)', () => {
    const a = guestMachine();
    intoHandler(a, 3);
    const good = JSON.parse(JSON.stringify(a.cpu.saveState())) as ReturnType<typeof a.cpu.saveState>;
    const report = checkAtomicRestore(
      a.cpu,
      good,
      [
        { label: 'PSTATE naming EL2h', state: { ...good, pstate: 0x9 } },
        { label: 'VBAR_EL1 not 2 KiB aligned', state: { ...good, vbar: 0x10_0400 } },
        { label: 'a frame that does not replay', state: { ...good, frames: [{ ...good.frames[0]!, checkpointLabel: 7 }, good.frames[1]!] } },
        { label: 'HCR_EL2 without a hypervisor', state: { ...good, hypervisor: { ...good.hypervisor, hcr: HCR_EL2.IMO } } },
        { label: 'a foreign type', state: { ...good, type: 'hvsim.x86-cpu' } },
      ],
      { maxCorruptions: 400 },
    );
    expect(report.refused).toBe(5);
    expect(() => a.cpu.restoreState({ ...good, vbar: 0x10_0400 })).toThrow(/VBAR_EL1 bits 10:0 are RES0/);
    expect(() => a.cpu.restoreState({ ...good, frames: [{ ...good.frames[0]!, checkpointLabel: 7 }] })).toThrow(SnapshotError);
  });

  it('restores a PE stopped at a trap to EL2 (HVC) with HCR_EL2, the exit and the pending operation', () => {
    const build = () => {
      const m = arm64Machine({ snapshots: true }, { trace: false });
      m.program.define(ARM_LAYOUT.MAIN, function* main(g: Arm64Guest): Routine {
        const x0 = yield g.hvc(0x42);
        yield g.st32(COUNT, x0 + 1);
      });
      const stage2 = new Stage2Walker(m.memory); // wiring, used only while HCR_EL2.VM = 1
      m.cpu.attachHypervisor({ hcr: HCR_EL2.IMO | HCR_EL2.FMO, stage2 });
      m.cpu.start(ARM_LAYOUT.MAIN);
      return m;
    };
    const a = build();
    a.cpu.enterGuest();
    expect(a.cpu.run(1_000)).toBe('exit');
    const saved = JSON.parse(JSON.stringify(a.cpu.saveState())) as unknown;
    const b = build();
    b.cpu.restoreState(saved);
    expect(b.cpu.lastExit?.ec).toBe(0x16); // HVC64, Arm ARM D19 ESR_EL2
    expect(b.cpu.lastExit?.iss).toBe(0x42);
    expect(b.cpu.pendingOperation?.a).toBe(0x42);
    b.cpu.completePendingOperation(7);
    b.cpu.enterGuest();
    expect(b.cpu.run(1_000)).toBe('finished');
    expect(b.memory.read32(COUNT)).toBe(8);
    const native = arm64Machine({ snapshots: true }, { trace: false });
    expect(() => native.cpu.restoreState(saved)).toThrow(/attachHypervisor before restoring/);
  });
});
