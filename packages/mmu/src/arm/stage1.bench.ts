/**
 * Arm stage 1 speed: a 4-level stage 1 walk with no TLB, the same walk over
 * stage 2 (guest walk), an ArmMmu TLB hit and a raw ArmTlb lookup. Each
 * bench iteration does 1000 operations, so ops/s = hz x 1000.
 */
import { bench, describe } from 'vitest';
import { PageAllocator } from '../common/page-allocator.js';
import { WalkResult } from '../common/walk-result.js';
import { makeMemory } from '../test-support/fixtures.js';
import { ArmMmu } from './arm-mmu.js';
import { Stage1Builder } from './stage1-builder.js';
import { Stage1Context } from './stage1-context.js';
import { S1_ACCESS } from './stage1-regs.js';
import { Stage1Walker } from './stage1-walker.js';
import { Stage2Builder } from './stage2-builder.js';
import { Stage2Walker } from './stage2-walker.js';

const PAGES = 64;
const { memory, tables } = makeMemory();
const b = new Stage1Builder(memory, tables);
for (let p = 0; p < PAGES; p++) b.map(0x40_0000 + p * 4096, 0x10_0000 + p * 4096, { global: false });
const ctx = new Stage1Context({ tcr: Stage1Builder.tcr(), ttbr0: b.ttbr(1) });
const walker = new Stage1Walker(memory);
const out = new WalkResult();
const mmu = new ArmMmu(memory, { context: ctx, tlb: { entries: 64, ways: 4 } });
for (let p = 0; p < PAGES; p++) mmu.translate(0x40_0000 + p * 4096, S1_ACCESS.READ);

// Guest: stage 1 tables at IPA [8, 12) MiB over 2 MiB stage 2 blocks that add 16 MiB.
const g = makeMemory();
const s2 = new Stage2Builder(g.memory, g.tables);
for (let ipa = 0; ipa < 0x100_0000; ipa += 0x20_0000) s2.map(ipa, ipa + 0x100_0000, { pageSize: 0x20_0000 });
const stage2 = new Stage2Walker(g.memory);
stage2.setVtcr(s2.vtcr());
stage2.setVttbr(s2.vttbr(1));
const gb = new Stage1Builder(g.memory, new PageAllocator(0x80_0000, 0x40_0000), 48, (ipa) => ipa + 0x100_0000);
for (let p = 0; p < PAGES; p++) gb.map(0x40_0000 + p * 4096, 0x10_0000 + p * 4096);
const gctx = new Stage1Context({ tcr: Stage1Builder.tcr(), ttbr0: gb.ttbr(1), stage2 });
const gwalker = new Stage1Walker(g.memory);
const gout = new WalkResult();

let sink = 0;
describe('Arm stage 1', () => {
  bench('stage 1 walk, 4 levels, no TLB (x1000)', () => {
    for (let i = 0; i < 1000; i++) sink += walker.walk(ctx, 0x40_0000 + (i % PAGES) * 4096 + 8, S1_ACCESS.READ, out).address;
  });
  bench('stage 1 over stage 2 walk, 4 + 5 x 2 references (x1000)', () => {
    for (let i = 0; i < 1000; i++) sink += gwalker.walk(gctx, 0x40_0000 + (i % PAGES) * 4096 + 8, S1_ACCESS.READ, gout).address;
  });
  bench('stage 2 walk alone, 2 MiB blocks from level 1 (x1000)', () => {
    for (let i = 0; i < 1000; i++) sink += stage2.walk(0x80_0000 + (i % PAGES) * 8, 1, gout).address;
  });
  bench('TLB hit through ArmMmu.translate (x1000)', () => {
    for (let i = 0; i < 1000; i++) sink += mmu.translate(0x40_0000 + (i % PAGES) * 4096 + 8, S1_ACCESS.READ, out).address;
  });
  bench('raw ArmTlb.lookup + physical (x1000)', () => {
    const tlb = mmu.tlb;
    for (let i = 0; i < 1000; i++) {
      const lo = 0x40_0000 + (i % PAGES) * 4096 + 8;
      sink += tlb.physical(tlb.lookup(0, 1, 0, lo), lo);
    }
  });
});
export { sink };
