// Whatever system register a guest names and whatever it writes, the outcome is architectural (a value, UNDEFINED,
// a trap to EL1 or EL2), never a host exception (Arm ARM D1.3 "Undefined instruction"; C5.3 system register
// encodings; IHI0069 12.1.6).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { Arm64Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { ARM_LAYOUT, SYNC_VECTOR, arm64Machine, skipFaulting } from '../test-support/arm64-machine.js';
import { HCR_EL2 } from './regs.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);
type Routine = Generator<Op, void, number>;

const access = fc.record({
  encoding: fc.oneof(fc.integer({ min: 0, max: 0xffff }), fc.constantFrom(0xc660, 0xc661, 0xc230, 0xc665, 0xdf11, 0xdf10, 0xc000, 0xc100, 0xc600)),
  write: fc.boolean(),
  lo: fc.integer({ min: 0, max: 0xffff_ffff }),
  hi: fc.integer({ min: 0, max: 0xffff_ffff }),
});

describe('Arm64Cpu: nothing escapes from MRS/MSR', () => {
  it('random encodings and values, native and under EL2, give architectural outcomes only', () => {
    fc.assert(
      fc.property(fc.array(access, { minLength: 1, maxLength: 12 }), fc.boolean(), (ops, underEl2) => {
        const m = arm64Machine({}, { trace: false });
        const seen: number[] = [];
        m.program.define(SYNC_VECTOR, function* sync(g: Arm64Guest): Routine {
          yield* skipFaulting(g, seen);
          yield g.msr('VBAR_EL1', ARM_LAYOUT.VECTORS); // the guest may have moved it
          yield g.eret();
        });
        m.program.define(ARM_LAYOUT.MAIN, function* main(g: Arm64Guest): Routine {
          for (const o of ops) {
            if (o.write) yield g.msrHalves(o.encoding, o.lo, o.hi);
            else yield g.mrs(o.encoding);
            // Undo what would end the run without a fault handler: the MMU and the vector base.
            yield g.msr('SCTLR_EL1', 0x30d0_0800);
            yield g.msr('VBAR_EL1', ARM_LAYOUT.VECTORS);
          }
        });
        if (underEl2) m.cpu.attachHypervisor({ hcr: HCR_EL2.IMO | HCR_EL2.FMO });
        m.cpu.start(ARM_LAYOUT.MAIN);
        for (let i = 0; i < 100; i++) {
          if (underEl2) m.cpu.enterGuest();
          const why = m.cpu.run(m.cpu.localTime + 1_000_000);
          if (why === 'exit') {
            if (m.cpu.pendingOperation !== null) m.cpu.completePendingOperation();
            continue;
          }
          expect(['finished', 'halted', 'lockup']).toContain(why);
          return;
        }
      }),
      { seed, numRuns },
    );
  });
});
