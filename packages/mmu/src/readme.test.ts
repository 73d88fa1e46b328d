// README.md's examples: every ```ts block is extracted from the README and
// run as written (so the README is the only copy and cannot drift); the
// tests after that repeat the blocks with the values their comments state.
import { join } from 'node:path';
import { PhysicalMemory } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import * as core from '@hvsim/core';
import { blockUnder, readmeBlocks, runBlock, runReadmeBlock } from '../../../test-support/readme-blocks.js';
import * as mmu from './index.js';
import {
  ACCESS,
  EptBuilder,
  Memslots,
  NestedWalker,
  PageAllocator,
  ShadowMmu,
  ShadowPageTables,
  Tlb,
  NO_EP4TA,
  WalkResult,
  X86Mmu,
  X86PageTableBuilder,
  X86PageWalker,
  X86PagingContext,
} from './index.js';

// The blocks import '@hvsim/mmu' and '@hvsim/core': the imports above have loaded both already.
const blocks = readmeBlocks(join(import.meta.dirname, '..', 'README.md'));

describe('README.md: every ```ts block runs as written', () => {
  it('finds the blocks (usage, hypervisor, errors, Arm)', () => {
    expect(blocks.map((b) => b.heading)).toEqual(['Usage', 'A TLB of your own: lookup, rights check, result', 'A KVM vCPU without EPT: guest events, MMIO sptes, dirty logging', 'Entries outside memory, 64-bit operands', 'Errors', 'Arm stage 1, the Arm TLB and stage 2 for a hypervisor']);
  });

  it.each(blocks.map((b) => [b.line, b.heading, b] as const))('the block at line %i (%s)', async (_line, _heading, block) => {
    await runReadmeBlock(block, 'mmu-readme');
  });
});

it('README KVM vCPU example: the events, the MMIO spte answer and the dirty log it prints (mmu.c handle_mmio_page_fault; api.rst 4.8)', () => {
  const { logs, scope } = runBlock(blockUnder(blocks, 'A KVM vCPU without EPT: guest events, MMIO sptes, dirty logging'), { '@hvsim/core': core, '@hvsim/mmu': mmu }, ['vcpu', 'memslots']);
  expect(logs).toEqual(['page-fault-exit fixed', 'mmio', '2000008 1', '1 fixed']);
  const vcpu = scope.vcpu as ShadowMmu;
  const s = vcpu.stats();
  expect([s.mmioExits, s.mmioSpteExits, s.fixed, s.zapAlls]).toEqual([2, 1, 3, 1]);
  // The log was taken: the page is logged again by the last write only.
  expect((scope.memslots as Memslots).dirtyBitmap(0)?.[0x300 >> 5]).toBe(1 << (0x300 & 31));
});

it('README usage example, values (SDM 3A 4.5, SDM 3C 28.2, Linux Documentation/virt/kvm/x86/mmu.rst)', () => {
  // 64 MiB of host RAM; page tables come from [32 MiB, 48 MiB).
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x400_0000);
  const tables = new PageAllocator(0x200_0000, 0x100_0000);

  // Native 4-level paging: map linear 0x40_1000 -> physical 0x12_3000 and walk it.
  const pt = new X86PageTableBuilder(memory, tables);
  pt.map(0x40_1000, 0x12_3000, { writable: false });
  const ctx = new X86PagingContext({ cr3: pt.root, cr0Wp: true, eferNxe: true });
  const walker = new X86PageWalker(memory);
  const out = new WalkResult();
  const refs = out.record(); // optional: list every entry read
  walker.walk(ctx, 0x40_1abc, ACCESS.READ, out);
  expect([out.status, out.address, refs.length]).toEqual(['ok', 0x12_3abc, 4]);
  walker.walk(ctx, 0x40_1abc, ACCESS.WRITE, out);
  expect([out.status, out.errorCode]).toEqual(['page-fault', 0b11]); // P | W

  // Nested paging: the same tables as guest tables over an EPT identity map of [0, 64 MiB).
  const ept = new EptBuilder(memory, tables);
  ept.identityMap(0, 0x400_0000, { pageSize: 0x20_0000 });
  const nested = new NestedWalker(memory);
  nested.ept.setEptp(ept.eptp());
  nested.walk(ctx, 0x40_1abc, ACCESS.READ, out);
  expect([out.status, out.address, out.references]).toEqual(['ok', 0x12_3abc, 4 + 4 * 3 + 3]); // 2 MiB EPT pages: 3 EPT refs each

  // Shadow paging: guest-physical [0, 16 MiB) lives at host 16 MiB.
  const memslots = new Memslots();
  memslots.add({ id: 0, guestPhysical: 0, size: 0x100_0000, hostPhysical: 0x100_0000 });
  const guestPt = new X86PageTableBuilder(memory, new PageAllocator(0x80_0000, 0x80_0000), 4, (gpa) => memslots.translate(gpa));
  guestPt.map(0x40_1000, 0x30_0000);
  const shadow = new ShadowMmu(memory, { memslots, shadowPages: new PageAllocator(0x300_0000, 0x100_0000), context: { cr3: guestPt.root } });
  expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('fixed'); // a VM exit, fixed silently
  expect(shadow.translate(0x40_1000, ACCESS.READ).event).toBe('hit'); // no exit
  expect(shadow.stats().exits).toBe(1);
});

it('README hypervisor example, values: shared shadow pages, split exit, epochs, EPT range edits and attach (mmu.rst, SDM 3C 28.2)', () => {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x400_0000);
  const memslots = new Memslots();
  memslots.add({ id: 0, guestPhysical: 0, size: 0x100_0000, hostPhysical: 0x100_0000 });
  const guestPt = new X86PageTableBuilder(memory, new PageAllocator(0x80_0000, 0x80_0000), 4, (gpa) => memslots.translate(gpa));
  guestPt.map(0x40_1000, 0x30_0000);

  const vm = new ShadowPageTables(memory, { memslots, shadowPages: new PageAllocator(0x300_0000, 0x100_0000) });
  const vcpu0 = new ShadowMmu(memory, { vm, vpid: 1, context: { cr3: guestPt.root }, tlb: { entries: 64 } });
  const vcpu1 = new ShadowMmu(memory, { vm, vpid: 2, context: { cr3: guestPt.root }, tlb: { entries: 64 } });
  const exit = vcpu0.hardwareTranslate(0x40_1000, ACCESS.READ);
  expect(exit.event).toBe('page-fault-exit');
  expect(vcpu0.pageFault(0x40_1000, ACCESS.READ, exit.errorCode).event).toBe('fixed');
  expect(vcpu1.translate(0x40_1000, ACCESS.READ).event).toBe('hit');
  const epoch = vcpu1.epoch;
  vcpu0.emulateWrite(guestPt.existingEntry(0x40_1000, 1), 8, 0);
  expect(vcpu1.epoch).not.toBe(epoch);
  expect(vcpu1.translate(0x40_1000, ACCESS.READ).event).toBe('guest-fault');

  const eptTables = new PageAllocator(0x200_0000, 0x100_0000);
  const ept = new EptBuilder(memory, eptTables);
  ept.identityMap(0, 0x100_0000);
  expect(ept.writeProtect(0, 0x10_0000)).toBe(256);
  expect(ept.zapRange(0x80_0000, 0x80_0000)).toBe(4);
  const again = EptBuilder.attach(memory, eptTables, ept.root);
  expect(again.root).toBe(ept.root);
  const mmu = new X86Mmu(memory, { context: { cr3: 0 } });
  mmu.setEptEnabled(true);
  mmu.setEptp(again.eptp());
  expect(() => mmu.invlpg(0xffff_8000_0000_1000n)).not.toThrow();
});

it('README TLB example, values (SDM 3A 4.10.2, 4.6: a hit is checked against the current SMAP and RFLAGS.AC)', () => {
  const ctx = new X86PagingContext({ cr4Smap: true });
  const tlb = new Tlb({ entries: 16, ways: 4 });
  const walked = new WalkResult();
  Object.assign(walked, { address: 0x9000, writable: true, user: true, executable: true, dirty: true });
  tlb.fill(0, 0, NO_EP4TA, 0, 0x40_0000, walked, false);
  const i = tlb.lookup(0, 0, NO_EP4TA, 0, 0x40_0123);
  expect(i).toBeGreaterThanOrEqual(0);
  expect(tlb.allows(i, ctx, ACCESS.USER | ACCESS.WRITE)).toBe(true);
  const out = new WalkResult();
  tlb.readInto(i, 0, 0x40_0123, out);
  expect(out.address).toBe(0x9123);
  expect(tlb.tryAnswer(0, NO_EP4TA, 0, 0x40_0456, ctx, ACCESS.USER | ACCESS.WRITE, out)).toBe(true);
  expect(out.address).toBe(0x9456);
  // A supervisor read of a user page under SMAP is not the common case: tryAnswer leaves it to the full check.
  const hits = tlb.hits;
  expect(tlb.tryAnswer(0, NO_EP4TA, 0, 0x40_0456, ctx, ACCESS.READ, out)).toBe(false);
  expect(tlb.hits).toBe(hits);
  expect(tlb.allows(i, ctx, ACCESS.READ)).toBe(false);
  ctx.rflagsAc = true;
  expect(tlb.allows(i, ctx, ACCESS.READ)).toBe(true);
  expect(tlb.allows(i, ctx, ACCESS.READ | ACCESS.IMPLICIT)).toBe(false);
});
