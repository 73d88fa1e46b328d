// The Arm section's example of README.md, kept working.
import { PhysicalMemory } from '@hvsim/core';
import { expect, it } from 'vitest';
import { ArmMmu, PageAllocator, S1_ACCESS, Stage1Builder, Stage1Context, Stage1Walker, Stage2Builder, Stage2Walker, WalkResult } from '../index.js';

it('README Arm example (Arm ARM D8.2, D8.4, D8.13, D8.15)', () => {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x400_0000);
  const tables = new PageAllocator(0x200_0000, 0x100_0000);

  const user = new Stage1Builder(memory, tables);
  const kernel = new Stage1Builder(memory, tables);
  user.map(0x40_1000, 0x12_3000, { el0: true, global: false, pxn: true });
  kernel.map(0xffff_8000_0000_0000n, 0x20_0000, { pageSize: 0x20_0000, uxn: true });
  const ctx = new Stage1Context({ tcr: Stage1Builder.tcr({ t0Bits: 48, t1Bits: 48 }), ttbr0: user.ttbr(5), ttbr1: kernel.ttbr() });

  const walker = new Stage1Walker(memory);
  const out = new WalkResult();
  walker.walk(ctx, 0x40_1abc, S1_ACCESS.WRITE | S1_ACCESS.EL0, out);
  expect([out.status, out.address, out.global]).toEqual(['ok', 0x12_3abc, false]);
  walker.walk(ctx, 0x40_1abc, S1_ACCESS.EXECUTE, out);
  expect([out.status, out.faultStatus]).toEqual(['stage1-fault', 0b001111]);
  walker.walk64(ctx, 0xffff_8000, 0x1234, S1_ACCESS.READ, out);
  expect([out.status, out.address, out.level]).toEqual(['ok', 0x20_1234, 2]);
  walker.walk(ctx, 0x1_0000_0000_0000, S1_ACCESS.READ, out);
  expect([out.faultStatus, out.level]).toEqual([0b000100, 0]);

  const mmu = new ArmMmu(memory, { context: ctx, tlb: { entries: 64, ways: 4 } });
  mmu.translate(0x40_1000, S1_ACCESS.READ | S1_ACCESS.EL0);
  expect(mmu.translate(0x40_1000, S1_ACCESS.READ | S1_ACCESS.EL0).references).toBe(0);
  const epoch = mmu.epoch;
  expect(mmu.tlbi('VAE1IS', 5 << 16, 0x401)).toBe(1);
  expect(mmu.epoch).toBe(epoch + 1);

  const s2 = new Stage2Builder(memory, new PageAllocator(0x300_0000, 0x10_0000));
  s2.map(0, 0x100_0000, { pageSize: 0x20_0000 });
  s2.map(0x20_0000, 0x120_0000, { pageSize: 0x20_0000 });
  const stage2 = new Stage2Walker(memory);
  stage2.setVtcr(s2.vtcr());
  stage2.setVttbr(s2.vttbr(1));
  const guestTables = new Stage1Builder(memory, new PageAllocator(0x20_0000, 0x20_0000), 48, (ipa) => ipa + 0x100_0000);
  guestTables.map(0x40_1000, 0x1000);
  const guest = new Stage1Context({ tcr: Stage1Builder.tcr(), ttbr0: guestTables.ttbr(1), stage2 });
  walker.walk(guest, 0x40_1010, S1_ACCESS.READ, out);
  expect([out.status, out.address, out.guestPhysicalAddress, out.references]).toEqual(['ok', 0x100_1010, 0x1010, 14]);
  s2.writeProtect(0, 0x20_0000);
  walker.walk(guest, 0x40_1010, S1_ACCESS.WRITE, out);
  expect([out.status, out.faultStatus, out.errorCode & 0x40]).toEqual(['stage2-fault', 0b001110, 0x40]);
  const again = Stage2Builder.attach(memory, new PageAllocator(0x300_0000, 0x10_0000), s2.vtcr(), s2.vttbr(1));
  expect(again.root).toBe(s2.root);
});
