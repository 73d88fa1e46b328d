/**
 * Issue 6 speed target: shadow MMU, guest write to a protected page-table
 * page handled (exit, guest walk, emulation, shadow entry update) >= 1 M/s.
 * Each iteration does 1000 operations, so ops/s = hz x 1000.
 */
import { PhysicalMemory } from '@hvsim/core';
import { bench, describe } from 'vitest';
import { PageAllocator } from '../common/page-allocator.js';
import { X86PageTableBuilder } from '../x86/page-table-builder.js';
import { X86PagingContext } from '../x86/paging-context.js';
import { ACCESS, PTE_LO } from '../x86/regs.js';
import { Memslots } from './memslots.js';
import { ShadowMmu } from './shadow-mmu.js';
import { ShadowResult } from './shadow-stats.js';

const MiB = 0x10_0000;
const memory = new PhysicalMemory();
memory.addRegion(0, 64 * MiB);
const memslots = new Memslots();
memslots.add({ id: 0, guestPhysical: 0, size: 16 * MiB, hostPhysical: 16 * MiB });
const pt = new X86PageTableBuilder(memory, new PageAllocator(8 * MiB, 8 * MiB), 4, (g) => memslots.translate(g));
const flags = { accessed: true, dirty: true, tableFlags: PTE_LO.P | PTE_LO.RW | PTE_LO.US | PTE_LO.A };
for (let p = 0; p < 64; p++) pt.map(0x40_0000 + p * 4096, 0x30_0000 + p * 4096, flags);
// The guest maps its own PT page (as a kernel direct map would) and rewrites PTEs through it.
const pteGpa = pt.existingEntry(0x40_0000, 1);
pt.map(0x80_0000, pteGpa - (pteGpa % 4096), flags);
const ctx = new X86PagingContext({ cr3: pt.root, eferNxe: true });
const shadow = new ShadowMmu(memory, { memslots, shadowPages: new PageAllocator(32 * MiB, 16 * MiB), context: ctx });
const out = new ShadowResult();
for (let p = 0; p < 64; p++) shadow.translate(0x40_0000 + p * 4096, ACCESS.READ, out);
shadow.translate(0x80_0000, ACCESS.READ, out);
const PTE_FLAGS = PTE_LO.P | PTE_LO.RW | PTE_LO.A | PTE_LO.D;
// The same guest under a second shadow MMU with a TLB in front (as EPT has): hits cost no walk.
const withTlb = new ShadowMmu(memory, { memslots, shadowPages: new PageAllocator(48 * MiB, 8 * MiB), context: new X86PagingContext({ cr3: pt.root, eferNxe: true }), tlb: { entries: 64, ways: 4 } });
for (let p = 0; p < 64; p++) withTlb.translate(0x40_0000 + p * 4096, ACCESS.READ, out);
const smallTlb = new ShadowMmu(memory, { memslots, shadowPages: new PageAllocator(56 * MiB, 8 * MiB), context: new X86PagingContext({ cr3: pt.root, eferNxe: true }), tlb: { entries: 16, ways: 4 } });
for (let p = 0; p < 64; p++) smallTlb.translate(0x40_0000 + p * 4096, ACCESS.READ, out);
const sinkBox = { value: 0 };

describe('shadow MMU', () => {
  bench('guest PTE write to a write-protected page-table page, emulated (target >= 1 M/s) (x1000)', () => {
    let sink = 0;
    for (let k = 0; k < 1000; k++) {
      const slot = k & 63;
      // Alternate each PTE between two frames.
      const frame = 0x30_0000 + slot * 4096 + ((k >> 6) & 1) * 0x10_0000;
      sink += shadow.write(0x80_0000 + slot * 8, 8, (frame | PTE_FLAGS) >>> 0, 0, ACCESS.WRITE, out).address;
    }
    sinkBox.value += sink;
  });

  bench('shadow with a TLB in front: TLB hit, no walk (x1000)', () => {
    let sink = 0;
    for (let k = 0; k < 1000; k++) sink += withTlb.translate(0x40_0000 + (k & 63) * 4096, ACCESS.READ, out).address;
    sinkBox.value += sink;
  });

  bench('shadow with a TLB in front: 4-reference walk on a miss (TLB of 16 entries, 64 pages) (x1000)', () => {
    let sink = 0;
    for (let k = 0; k < 1000; k++) sink += smallTlb.translate(0x40_0000 + ((k * 17) & 63) * 4096, ACCESS.READ, out).address;
    sinkBox.value += sink;
  });

  bench('shadow hit (hardware walk of the shadow tables) (x1000)', () => {
    let sink = 0;
    for (let k = 0; k < 1000; k++) sink += shadow.translate(0x40_0000 + (k & 63) * 4096, ACCESS.READ, out).address;
    sinkBox.value += sink;
  });
});
