/**
 * arm64 CPU hot paths (issue 13 speed targets): guest loads and stores that
 * hit the TLB with stage 1 on, and native interrupt delivery through the
 * VBAR_EL1 vector table with ICC_IAR1_EL1, ICC_EOIR1_EL1 and ERET. Each
 * iteration runs N operations: rate = hz x N.
 */
import { bench, describe } from 'vitest';
import type { Arm64Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { ARM_LAYOUT, IRQ_VECTOR, arm64Machine, enableStage1, gicBringUp } from '../test-support/arm64-machine.js';
import { arm64SysregByName } from './sysregs.js';

const N = 10_000;
type Routine = Generator<Op, void, number>;
const IAR1 = arm64SysregByName('ICC_IAR1_EL1');
const EOIR1 = arm64SysregByName('ICC_EOIR1_EL1');
const SGI1R = arm64SysregByName('ICC_SGI1R_EL1');

function loadStoreMachine() {
  const m = arm64Machine({}, { trace: false });
  m.program.define(ARM_LAYOUT.MAIN, function* main(g: Arm64Guest): Routine {
    yield* enableStage1(g);
    for (let i = 0; ; i = (i + 4) & 0x3fff) {
      const v = yield g.ld32(ARM_LAYOUT.DATA + i);
      yield g.st32(ARM_LAYOUT.DATA + 0x4000 + i, v + 1);
    }
  });
  m.cpu.start(ARM_LAYOUT.MAIN);
  m.cpu.run(Number.MAX_SAFE_INTEGER, 10_000);
  return m;
}

/** SGIs taken by an IRQ handler that acknowledges, EOIs and ERETs: handler and sending loop as generators, or both in the step form. */
function interruptMachine(form: 'generator' | 'steps') {
  const m = arm64Machine({}, { trace: false });
  if (form === 'generator') {
    m.program.define(IRQ_VECTOR, function* irq(g: Arm64Guest): Routine {
      const intid = yield g.mrs(IAR1);
      yield g.msr(EOIR1, intid);
      yield g.eret();
    });
  } else {
    m.program.define(IRQ_VECTOR, { steps: (g: Arm64Guest, pc: number, result: number) => (pc === 0 ? g.mrs(IAR1) : pc === 1 ? g.msr(EOIR1, result) : pc === 2 ? g.eret() : null) }, 'irq');
  }
  m.program.define(ARM_LAYOUT.MAIN, function* main(g: Arm64Guest): Routine {
    yield* enableStage1(g);
    yield* gicBringUp(g, 1 << 1);
    yield g.daifClr(2);
    if (form === 'steps') return; // the sending loop is step code too (below)
    for (;;) yield send(g);
  });
  // SGI 1 to this PE (ICC_SGI1R_EL1: INTID 27:24, TargetList bit 0).
  const send = (g: Arm64Guest): Op => g.msr(SGI1R, (1 << 24) | 1);
  m.cpu.start(ARM_LAYOUT.MAIN);
  if (form === 'steps') {
    if (m.cpu.run(Number.MAX_SAFE_INTEGER) !== 'finished') throw new Error('arm64 bench set-up did not finish');
    m.program.define(ARM_LAYOUT.MAIN + 0x1000, { steps: send }, 'sender');
    m.cpu.start(ARM_LAYOUT.MAIN + 0x1000); // PSTATE (I clear), stage 1 and the GIC stay as set up
  }
  m.cpu.run(Number.MAX_SAFE_INTEGER, 10_000);
  if (m.cpu.stats().delivered[0x40] === undefined) throw new Error('arm64 bench: no interrupt was delivered');
  return m;
}

describe(`arm64 CPU, ${N} operations per iteration`, () => {
  const ls = loadStoreMachine();
  bench(`guest load/store loop hitting the TLB [ops=${N}]`, () => {
    ls.cpu.run(Number.MAX_SAFE_INTEGER, N);
  });
  // One interrupt = SGI write, entry through the vector table, IAR1 read, EOIR1 write, ERET: 4 operations + 1 entry.
  for (const form of ['generator', 'steps'] as const) {
    const irq = interruptMachine(form);
    bench(`native interrupt (${form} code): SGI, vector table, ICC_IAR1_EL1, ICC_EOIR1_EL1, ERET [irqs=${N / 5}]`, () => {
      irq.cpu.run(Number.MAX_SAFE_INTEGER, N);
    });
  }
});
