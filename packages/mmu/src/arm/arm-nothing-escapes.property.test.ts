// Issue 12 ("nothing escapes"): whatever a guest puts in TCR_EL1, TTBRn_EL1,
// SCTLR_EL1, VTCR_EL2 (4 KiB granule), VTTBR_EL2 and its tables, a stage 1
// walk, a guest walk, an ArmMmu translation and any TLBI give an
// architectural result (a translation or a fault with its code), never a
// host exception (Arm ARM D8.15: tables outside memory are external aborts).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WalkResult } from '../common/walk-result.js';
import { makeMemory, propertyShare } from '../test-support/fixtures.js';
import { ArmMmu } from './arm-mmu.js';
import { ARM_TLBI } from './arm-tlb.js';
import type { ArmTlbiOp } from './arm-tlb.js';
import { Stage1Context } from './stage1-context.js';
import { S1_ACCESS } from './stage1-regs.js';
import { Stage1Walker } from './stage1-walker.js';
import { Stage2Walker } from './stage2-walker.js';


const u64 = fc.bigInt({ min: 0n, max: (1n << 64n) - 1n });
/** A register value that points somewhere in the 4 MiB of RAM half of the time. */
const base = fc.oneof(u64, fc.integer({ min: 0, max: 0x3f }).map((p) => BigInt(p) << 16n));
const OPS = Object.keys(ARM_TLBI) as ArmTlbiOp[];
const ACCESSES = [S1_ACCESS.READ, S1_ACCESS.WRITE, S1_ACCESS.EXECUTE, S1_ACCESS.READ | S1_ACCESS.WRITE | S1_ACCESS.PAN, S1_ACCESS.WRITE | S1_ACCESS.EL0];
const STATUSES = ['ok', 'stage1-fault', 'stage2-fault'];

describe('property: Arm stage 1, stage 2 and TLB never let a host error escape (issue 12)', () => {
  // One test of stage 1 alone and one of stage 1 over stage 2, half the runs each.
  it.each([false, true])('for random control registers, random table contents, addresses and TLBIs (stage 2: %s)', (stage2) => {
    const ok = (status: string): void => {
      if (!STATUSES.includes(status)) expect(STATUSES).toContain(status);
    };
    fc.assert(
      fc.property(
        fc.record({ tcr: u64, ttbr0: base, ttbr1: base, sctlr: u64, vtcr: u64.map((v) => v & ~(3n << 14n)), vttbr: base }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 0x3f_fff8 / 8 }), fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 0xffff_ffff })), { maxLength: 40 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 0xffff_ffff }), fc.integer({ min: 0, max: 0xffff_ffff }), fc.constantFrom(...ACCESSES), fc.constantFrom(...OPS)), { minLength: 1, maxLength: 6 }),
        (regs, garbage, steps) => {
          const { memory } = makeMemory(0x40_0000);
          // Plausible table descriptors pointing into RAM, and raw garbage.
          for (const [slot, lo, hi] of garbage) {
            const a = slot * 8;
            memory.write32(a, lo % 3 === 0 ? ((lo & 0x3f_f000) | 3) >>> 0 : lo);
            memory.write32(a + 4, hi % 2 === 0 ? hi & 0xffff_0000 : hi);
          }
          const s2 = new Stage2Walker(memory);
          s2.setVtcr(regs.vtcr);
          s2.setVttbr(regs.vttbr);
          const ctx = new Stage1Context({ tcr: regs.tcr, ttbr0: regs.ttbr0, ttbr1: regs.ttbr1, sctlr: regs.sctlr, stage2: stage2 ? s2 : null });
          const walker = new Stage1Walker(memory);
          const mmu = new ArmMmu(memory, { context: ctx, tlb: { entries: 16, ways: 2 } });
          const out = new WalkResult();
          for (const [hi, lo, access, op] of steps) {
            ok(walker.walk64(ctx, hi, lo, access, out).status);
            ok(mmu.translate64(hi, lo, access).status);
            ok(mmu.translate64(hi, lo, access).status);
            mmu.tlbi(op, hi, lo);
            ok(s2.walk(lo * 4096 + (hi & 0xfff), 1, out).status);
          }
        },
      ),
      propertyShare(2, stage2 ? 1 : 0),
    );
  }, 60_000);
});
