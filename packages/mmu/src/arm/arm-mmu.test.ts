import { describe, expect, it } from 'vitest';
import { PageAllocator } from '../common/page-allocator.js';
import { expectAtomicRestore } from '../test-support/atomic-restore.js';
import { makeMemory } from '../test-support/fixtures.js';
import { ArmMmu } from './arm-mmu.js';
import { ArmTlb } from './arm-tlb.js';
import { Stage1Builder } from './stage1-builder.js';
import { Stage1Context } from './stage1-context.js';
import { ARM_FAULT_STATUS, S1_ACCESS } from './stage1-regs.js';
import { Stage2Builder } from './stage2-builder.js';
import { S2_FAULT_STATUS } from './stage2-regs.js';
import { Stage2Walker } from './stage2-walker.js';

const { READ, WRITE, EXECUTE, EL0, PAN } = S1_ACCESS;

function setup() {
  const { memory, tables } = makeMemory();
  const b = new Stage1Builder(memory, tables);
  const mmu = new ArmMmu(memory, { context: { tcr: Stage1Builder.tcr({ ha: true, hd: true }), ttbr0: b.ttbr(5) }, tlb: { entries: 16, ways: 4 } });
  return { memory, b, mmu };
}

describe('ArmMmu: TLB in front of the stage 1 walk (Arm ARM D8.10, D8.13)', () => {
  it('a miss walks and fills; the next access hits with no references', () => {
    const { b, mmu } = setup();
    b.map(0x40_1000, 0x12_3000, { global: false });
    expect([mmu.translate(0x40_1004, READ).references, mmu.translate(0x40_1008, READ).references]).toEqual([4, 0]);
    expect(mmu.translate(0x40_1008, READ).address).toBe(0x12_3008);
    expect(mmu.stats()).toEqual({ translations: 3, tlbHits: 2, walks: 1, faults: 0, tlbis: 0 });
  });

  it('a cached translation is used after the table changes, until a TLBI drops it (D8.13)', () => {
    const { b, mmu } = setup();
    b.map(0x40_1000, 0x12_3000, { global: false });
    mmu.translate(0x40_1000, READ);
    b.map(0x40_1000, 0x45_6000, { global: false });
    expect(mmu.translate(0x40_1000, READ).address).toBe(0x12_3000); // stale, as hardware allows
    const epoch = mmu.epoch;
    mmu.tlbi('VAE1IS', 5 << 16, 0x401);
    expect([mmu.translate(0x40_1000, READ).address, mmu.epoch]).toEqual([0x45_6000, epoch + 1]);
  });

  it('an ASID switch (TTBR0_EL1 write) misses non-global entries and hits global ones without any TLBI', () => {
    const { b, mmu } = setup();
    b.map(0x1000, 0x1000, { global: false });
    b.map(0x2000, 0x2000);
    mmu.translate(0x1000, READ);
    mmu.translate(0x2000, READ);
    mmu.context.setTtbr0(b.ttbr(6));
    expect([mmu.translate(0x1000, READ).references, mmu.translate(0x2000, READ).references]).toEqual([4, 0]);
  });

  it('a hit re-checks permissions: PAN and the access level are not cached; a denied hit walks and faults', () => {
    const { b, mmu } = setup();
    b.map(0x1000, 0x1000, { el0: true, readOnly: true });
    mmu.translate(0x1000, READ);
    const r = mmu.translate(0x1000, READ | PAN);
    expect([r.status, r.faultStatus]).toEqual(['stage1-fault', ARM_FAULT_STATUS.PERMISSION + 3]);
    expect(mmu.translate(0x1000, READ | EL0).status).toBe('ok');
    expect(mmu.translate(0x1000, EXECUTE | EL0).references).toBe(0);
  });

  it('a write to a clean DBM page cached read-only walks again and makes it dirty (TCR_EL1.HD)', () => {
    const { memory, b, mmu } = setup();
    b.map(0x1000, 0x1000, { readOnly: true, dbm: true });
    mmu.translate(0x1000, READ);
    const w = mmu.translate(0x1000, WRITE);
    expect([w.status, w.references, memory.read32(b.entryFor(0x1000, 3)) & 0x80]).toEqual(['ok', 4, 0]);
    expect(mmu.translate(0x1000, WRITE).references).toBe(0);
  });

  it('under stage 2, entries are tagged by VTTBR_EL2.VMID and TLBI IPAS2E1IS drops combined entries', () => {
    const { memory, tables } = makeMemory();
    const s2 = new Stage2Builder(memory, tables);
    s2.map(0, 0x100_0000, { pageSize: 0x20_0000 });
    s2.map(0x20_0000, 0x120_0000, { pageSize: 0x20_0000 });
    s2.map(0x80_0000, 0x180_0000, { pageSize: 0x20_0000 });
    const stage2 = new Stage2Walker(memory);
    stage2.setVtcr(s2.vtcr());
    stage2.setVttbr(s2.vttbr(7));
    const b = new Stage1Builder(memory, new PageAllocator(0x80_0000, 0x20_0000), 48, (ipa) => ipa + 0x100_0000);
    b.map(0x40_1000, 0x1000);
    const ctx = new Stage1Context({ tcr: Stage1Builder.tcr(), ttbr0: b.ttbr(1), stage2 });
    const tlb = new ArmTlb();
    const mmu = new ArmMmu(memory, { context: ctx, tlb });
    expect(mmu.translate(0x40_1010, READ).address).toBe(0x100_1010);
    expect([mmu.vmid, mmu.translate(0x40_1010, READ).references]).toEqual([7, 0]);
    // KVM moves the page: new stage 2 mapping, TLBI IPAS2E1IS then VMALLE1IS.
    s2.unmap(0, 0x20_0000);
    s2.map(0, 0x140_0000, { pageSize: 0x20_0000 });
    expect(mmu.tlbi('IPAS2E1IS', 0, 0x1)).toBe(1);
    expect(mmu.translate(0x40_1010, READ).address).toBe(0x140_1010);
    s2.writeProtect(0, 0x20_0000);
    mmu.tlbi('VMALLS12E1IS');
    expect(mmu.translate(0x40_1010, WRITE).faultStatus).toBe(S2_FAULT_STATUS.PERMISSION + 2);
    expect(mmu.translate(0x40_1010, READ).status).toBe('ok');
    expect(mmu.translate(0x40_1010, WRITE).status).toBe('stage2-fault'); // a hit denied by stage 2 walks again
  });

  it('save/restore keeps registers, VMID and TLB contents; a bad state changes nothing', () => {
    const { memory, b, mmu } = setup();
    b.map(0x1000, 0x5000, { global: false });
    mmu.vmid = 3;
    mmu.translate(0x1000, READ);
    const saved = JSON.parse(JSON.stringify(mmu.saveState())) as ReturnType<ArmMmu['saveState']>;
    const other = new ArmMmu(memory, { tlb: { entries: 16, ways: 4 } });
    other.restoreState(saved);
    expect([other.vmid, other.context.asid, other.context.ttbr0, other.translate(0x1000, READ).references, other.translate(0x1000, READ).address]).toEqual([3, 5, b.ttbr(5), 0, 0x5000]);
    const bad = { ...saved, tlb: { ...saved.tlb, live: [[0, 1, 99, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]] } };
    expectAtomicRestore(other, bad, /live\[0\] has a bad index, page shift or tag/);
    expectAtomicRestore(other, { ...saved, vmid: 0x1_0000 }, /vmid/);
    expectAtomicRestore(other, { ...saved, context: { ...saved.context, tcr: 'zz' } }, /tcr/);
    expectAtomicRestore(other.context, { ...saved.context, ttbr1: '0x1' + '0'.repeat(16) }, /ttbr1/);
    expect([other.vmid, other.context.ttbr0, other.translate(0x1000, READ).references]).toEqual([3, b.ttbr(5), 0]);
  });

  it('bad arguments name the value', () => {
    const { mmu } = setup();
    expect(() => mmu.translate(0x1000, 0)).toThrow(/S1_ACCESS flags .* got 0/);
    expect(() => mmu.translate(-5, READ)).toThrow(/VA must be a non-negative safe integer, got -5/);
    expect(() => (mmu.vmid = 0x1_0000)).toThrow(/VMID must be in \[0, 0xffff\], got 65536/);
  });
});
