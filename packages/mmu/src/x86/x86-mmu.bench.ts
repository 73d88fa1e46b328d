/**
 * Issue 6 speed targets: TLB hit >= 30 M translations/s, 4-level walk (no
 * TLB) >= 5 M/s, 4-over-4 nested walk >= 1 M/s. Each bench iteration does
 * 1000 operations, so ops/s = hz x 1000.
 */
import { bench, describe } from 'vitest';
import { WalkResult } from '../common/walk-result.js';
import { EptBuilder } from '../ept/ept-builder.js';
import { NestedWalker } from '../nested/nested-walker.js';
import { makeMemory } from '../test-support/fixtures.js';
import { NO_EP4TA } from '../tlb/tlb.js';
import { PageAllocator } from '../common/page-allocator.js';
import { X86PageTableBuilder } from './page-table-builder.js';
import { X86PageWalker } from './page-walker.js';
import { X86PagingContext } from './paging-context.js';
import { ACCESS, PTE_LO } from './regs.js';
import { X86Mmu } from './x86-mmu.js';

const PAGES = 64;
const { memory, tables } = makeMemory();
const pt = new X86PageTableBuilder(memory, tables);
const adFlags = { accessed: true, dirty: true, tableFlags: PTE_LO.P | PTE_LO.RW | PTE_LO.US | PTE_LO.A };
for (let p = 0; p < PAGES; p++) pt.map(0x40_0000 + p * 4096, 0x10_0000 + p * 4096, adFlags);
const ctx = new X86PagingContext({ cr3: pt.root, eferNxe: true });
const walker = new X86PageWalker(memory);
const out = new WalkResult();
const mmu = new X86Mmu(memory, { context: ctx, tlb: { entries: 64, ways: 4 } });
for (let p = 0; p < PAGES; p++) mmu.translate(0x40_0000 + p * 4096, ACCESS.READ);

// Nested: guest tables in guest-physical [8, 16) MiB, EPT maps gpa -> gpa + 16 MiB.
const n = makeMemory();
const SHIFT = 0x100_0000;
const ept = new EptBuilder(n.memory, n.tables);
for (let g = 0; g < 0x100_0000; g += 0x20_0000) ept.map(g, g + SHIFT, { pageSize: 0x20_0000 });
const gpt = new X86PageTableBuilder(n.memory, new PageAllocator(0x80_0000, 0x80_0000), 4, (g) => g + SHIFT);
for (let p = 0; p < PAGES; p++) gpt.map(0x40_0000 + p * 4096, 0x10_0000 + p * 4096, adFlags);
const gctx = new X86PagingContext({ cr3: gpt.root, eferNxe: true });
const nested = new NestedWalker(n.memory);
nested.ept.setEptp(ept.eptp());
const nestedOut = new WalkResult();
// 4 KiB EPT pages for the 24-reference case.
const n4 = makeMemory();
const ept4 = new EptBuilder(n4.memory, n4.tables);
for (let g = 0; g < 0x100_0000; g += 0x1000) ept4.map(g, g + SHIFT);
const gpt4 = new X86PageTableBuilder(n4.memory, new PageAllocator(0x80_0000, 0x80_0000), 4, (g) => g + SHIFT);
for (let p = 0; p < PAGES; p++) gpt4.map(0x40_0000 + p * 4096, 0x10_0000 + p * 4096, adFlags);
const gctx4 = new X86PagingContext({ cr3: gpt4.root, eferNxe: true });
const nested4 = new NestedWalker(n4.memory);
nested4.ept.setEptp(ept4.eptp());

// run-all's walk workload (../shared/perf/walk_ref.c): 4096 pages 37 pages apart, so the walk changes page
// table (and takes a new page view) every 14 walks or so.
const wide = makeMemory();
const widePt = new X86PageTableBuilder(wide.memory, wide.tables);
for (let p = 0; p < 4096; p++) widePt.map(0x4_0000_0000 + p * 4096 * 37, 0x200_0000 + (p % 1024) * 4096);
const wideCtx = new X86PagingContext({ cr3: widePt.root, eferNxe: true });
const wideWalker = new X86PageWalker(wide.memory);
let wideNext = 0;

/** Keeps results alive so the loops are not optimised away. */
const sinkBox = { value: 0 };

describe('x86 translation', () => {
  bench('TLB hit through X86Mmu.translate (target >= 30 M/s) (x1000)', () => {
    let sink = 0;
    for (let k = 0; k < 1000; k++) sink += mmu.translate(0x40_0000 + (k & (PAGES - 1)) * 4096, ACCESS.READ, out).address;
    sinkBox.value += sink;
  });

  bench('Tlb.lookup + physical (raw TLB hit) (x1000)', () => {
    const tlb = mmu.tlb;
    let sink = 0;
    for (let k = 0; k < 1000; k++) {
      const lo = 0x40_0000 + (k & (PAGES - 1)) * 4096;
      sink += tlb.physical(tlb.lookup(0, 0, NO_EP4TA, 0, lo), lo);
    }
    sinkBox.value += sink;
  });

  bench('4-level walk, no TLB (target >= 5 M/s) (x1000)', () => {
    let sink = 0;
    for (let k = 0; k < 1000; k++) sink += walker.walk(ctx, 0x40_0000 + (k & (PAGES - 1)) * 4096, ACCESS.READ, out).address;
    sinkBox.value += sink;
  });

  bench('4-level walk over 4096 pages in 296 page tables (run-all workload) (x1000)', () => {
    let sink = 0;
    for (let k = 0; k < 1000; k++) {
      sink += wideWalker.walk(wideCtx, 0x4_0000_0000 + wideNext * 4096 * 37 + 8, ACCESS.READ, out).address;
      wideNext = (wideNext + 1) & 4095;
    }
    sinkBox.value += sink;
  });

  bench('4-over-4 nested walk, 4 KiB EPT pages: 24 references (target >= 1 M/s) (x1000)', () => {
    let sink = 0;
    for (let k = 0; k < 1000; k++) sink += nested4.walk(gctx4, 0x40_0000 + (k & (PAGES - 1)) * 4096, ACCESS.READ, nestedOut).address;
    sinkBox.value += sink;
  });

  bench('4-over-4 nested walk, 2 MiB EPT pages (x1000)', () => {
    let sink = 0;
    for (let k = 0; k < 1000; k++) sink += nested.walk(gctx, 0x40_0000 + (k & (PAGES - 1)) * 4096, ACCESS.READ, nestedOut).address;
    sinkBox.value += sink;
  });
});
