import { describe, expect, it } from 'vitest';
import { UsageError } from '@hvsim/core';
import { CpuScheduler } from '../time/scheduler.js';
import type { Arm64Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { HCR_EL2 } from '../arm64/regs.js';
import { ARM_LAYOUT, arm64Machine } from '../test-support/arm64-machine.js';
import { ARM64_DEFAULT_COSTS, arm64CostProfile } from './arm64-cost-profile.js';

type Routine = Generator<Op, void, number>;

describe('arm64 cost profile', () => {
  it('cites a source for every cost and checks overrides by name and value', () => {
    for (const key of Object.keys(ARM64_DEFAULT_COSTS)) {
      if (key !== 'name' && key !== 'sources' && key !== 'clockHz') expect(ARM64_DEFAULT_COSTS.sources[key], key).toBeTruthy();
    }
    expect(ARM64_DEFAULT_COSTS.sources.trapToEl2).toMatch(/NEVE/);
    expect(arm64CostProfile({ eret: 10 }).eret).toBe(10);
    expect(() => arm64CostProfile({ bogus: 1 } as never)).toThrow(UsageError);
    expect(() => arm64CostProfile({ bogus: 1 } as never)).toThrow(/bogus/);
    expect(() => arm64CostProfile({ eret: -1 })).toThrow(/eret must be a non-negative number, got -1/);
  });

  it('charges each operation and transition: SVC entry and ERET, an HVC trap and the ERET from EL2', () => {
    const costs = arm64CostProfile({ op: 1, exceptionEntry: 1000, eret: 100, trapToEl2: 10_000, eretFromEl2: 5000, sysreg: 0 });
    const m = arm64Machine({ costs });
    m.program.define(ARM_LAYOUT.VECTORS + 0x200, function* sync(g: Arm64Guest): Routine {
      yield g.eret();
    });
    m.program.define(ARM_LAYOUT.MAIN, function* main(g: Arm64Guest): Routine {
      yield g.svc(0);
      yield g.hvc(0);
    });
    m.cpu.attachHypervisor({ hcr: HCR_EL2.RW });
    m.cpu.start(ARM_LAYOUT.MAIN);
    m.cpu.enterGuest();
    expect(m.cpu.run(1_000_000)).toBe('exit');
    // ERET from EL2 5000, SVC 1 + entry 1000, ERET 1 + 100 (the fetch at the vector reads RAM at no cost), HVC 1 + trap 10,000.
    expect(m.cpu.localTime).toBe(5000 + 1001 + 101 + 10_001);
  });

  it('runs under the CpuScheduler with the x86 contract (run(untilCycle), localTime)', () => {
    const m = arm64Machine();
    m.program.define(ARM_LAYOUT.MAIN, function* main(g: Arm64Guest): Routine {
      for (let i = 0; i < 100; i++) yield g.compute(50);
    });
    m.cpu.start(ARM_LAYOUT.MAIN);
    const s = new CpuScheduler([m.cpu], { clock: m.clock, quantum: 500 });
    expect(s.run(1_000_000)).toBe('stopped');
    expect(m.cpu.localTime).toBeGreaterThanOrEqual(5000);
  });
});
