import { describe, expect, it } from 'vitest';
import { WalkResult } from '../common/walk-result.js';
import { expectAtomicRestore, savedCopy } from '../test-support/atomic-restore.js';
import { ARM_TLB_S2, ArmTlb } from './arm-tlb.js';
import type { ArmTlbiOp } from './arm-tlb.js';
import { S1_PERM } from './stage1-regs.js';

interface Entry {
  va: number;
  pa: number;
  size?: number;
  /** Stage 1 leaf level (default: the size's level). */
  level?: number;
  global?: boolean;
  ipa?: number;
  s2Size?: number;
}

function walk(e: Entry): WalkResult {
  const w = new WalkResult();
  w.reset(0, e.va >>> 0);
  const size = e.size ?? 4096;
  w.address = e.pa;
  w.pageSize = size;
  w.level = e.level ?? (size === 4096 ? 3 : size === 0x20_0000 ? 2 : 1);
  w.permissions = S1_PERM.PR | S1_PERM.PW;
  w.global = e.global ?? false;
  w.guestPhysicalAddress = e.ipa ?? 0;
  w.eptPermissions = 7;
  return w;
}

function fill(tlb: ArmTlb, vmid: number, asid: number, e: Entry): number {
  return tlb.fill(vmid, asid, Math.floor(e.va / 2 ** 32), e.va >>> 0, walk(e), e.s2Size ?? 0);
}

function hit(tlb: ArmTlb, vmid: number, asid: number, va: number): boolean {
  return tlb.lookup(vmid, asid, Math.floor(va / 2 ** 32), va >>> 0) >= 0;
}

/** Xt of a by-VA TLBI: ASID in bits 63:48, VA[55:12] in bits 43:0 (the TLBI VAE1 register page). */
function xtVa(va: number, asid = 0): [number, number] {
  const page = Math.floor(va / 4096);
  return [((asid << 16) | Math.floor(page / 2 ** 32)) >>> 0, page >>> 0];
}

describe('Arm ARM D8.10: TLB entries tagged by VMID and ASID', () => {
  it('a non-global entry matches its VMID and ASID; a global one every ASID of its VMID', () => {
    const tlb = new ArmTlb();
    fill(tlb, 1, 5, { va: 0x40_1000, pa: 0x12_3000 });
    fill(tlb, 1, 5, { va: 0x60_0000, pa: 0x80_0000, size: 0x20_0000, global: true });
    expect([hit(tlb, 1, 5, 0x40_1abc), hit(tlb, 1, 6, 0x40_1abc), hit(tlb, 2, 5, 0x40_1abc)]).toEqual([true, false, false]);
    expect([hit(tlb, 1, 6, 0x7f_0000), hit(tlb, 2, 6, 0x7f_0000)]).toEqual([true, false]);
    const i = tlb.lookup(1, 5, 0, 0x40_1abc);
    expect([tlb.physical(i, 0x40_1abc), tlb.isGlobal(i), tlb.pageSize(i), tlb.stage2Permissions(i)]).toEqual([0x12_3abc, false, 4096, 0xf]);
    const out = new WalkResult();
    tlb.readInto(tlb.lookup(1, 9, 0, 0x7f_1234), 0, 0x7f_1234, out);
    expect([out.address, out.pageSize, out.level, out.global, out.references]).toEqual([0x9f_1234, 0x20_0000, 2, true, 0]);
    expect([tlb.hits, tlb.misses, tlb.size]).toEqual([4, 3, 2]);
  });

  it('the top byte is not part of the tag; TTBR1 addresses are tagged by VA[55:12]', () => {
    const tlb = new ArmTlb();
    tlb.fill(0, 1, 0xffff_8000, 0x1000, walk({ va: 0x1000, pa: 0x9000 }));
    expect(tlb.lookup(0, 1, 0x00ff_8000, 0x1000)).toBeGreaterThanOrEqual(0);
    expect(tlb.lookup(0, 1, 0x0000_8000, 0x1000)).toBe(-1);
  });

  it('LRU replacement within a set, FIFO by fill order', () => {
    const lru = new ArmTlb({ entries: 2, ways: 2 });
    fill(lru, 0, 0, { va: 0x1000, pa: 0x1000 });
    fill(lru, 0, 0, { va: 0x2000, pa: 0x2000 });
    hit(lru, 0, 0, 0x1000);
    fill(lru, 0, 0, { va: 0x3000, pa: 0x3000 });
    expect([hit(lru, 0, 0, 0x1000), hit(lru, 0, 0, 0x2000)]).toEqual([true, false]);
    const fifo = new ArmTlb({ entries: 2, ways: 2, replacement: 'fifo' });
    fill(fifo, 0, 0, { va: 0x1000, pa: 0x1000 });
    fill(fifo, 0, 0, { va: 0x2000, pa: 0x2000 });
    hit(fifo, 0, 0, 0x1000);
    fill(fifo, 0, 0, { va: 0x3000, pa: 0x3000 });
    expect([hit(fifo, 0, 0, 0x1000), hit(fifo, 0, 0, 0x2000)]).toEqual([false, true]);
  });
});

describe('Arm ARM D8.13: TLB maintenance instructions', () => {
  function loaded(options = {}) {
    const tlb = new ArmTlb({ entries: 64, ways: 64, ...options });
    fill(tlb, 1, 5, { va: 0x1000, pa: 0x1000 }); // VMID 1, ASID 5
    fill(tlb, 1, 6, { va: 0x1000, pa: 0x2000 }); // VMID 1, ASID 6
    fill(tlb, 1, 0, { va: 0x2000, pa: 0x3000, global: true }); // VMID 1, global
    fill(tlb, 2, 5, { va: 0x1000, pa: 0x4000 }); // VMID 2, ASID 5
    return tlb;
  }
  const state = (tlb: ArmTlb): boolean[] => [hit(tlb, 1, 5, 0x1000), hit(tlb, 1, 6, 0x1000), hit(tlb, 1, 7, 0x2000), hit(tlb, 2, 5, 0x1000)];

  const cases: [ArmTlbiOp, number, [number, number], boolean[]][] = [
    // TLBI VMALLE1(IS): all entries of the current VMID, global included.
    ['VMALLE1', 1, [0, 0], [false, false, false, true]],
    ['VMALLE1IS', 1, [0, 0], [false, false, false, true]],
    // TLBI VAE1(IS) / VALE1(IS): the VA for Xt's ASID, and global entries of the VA.
    ['VAE1', 1, xtVa(0x1000, 5), [false, true, true, true]],
    ['VAE1IS', 1, xtVa(0x2000, 5), [true, true, false, true]],
    ['VALE1', 1, xtVa(0x1000, 6), [true, false, true, true]],
    // TLBI ASIDE1(IS): non-global entries of the ASID only.
    ['ASIDE1', 1, [5 << 16, 0], [false, true, true, true]],
    ['ASIDE1IS', 1, [0, 0], [true, true, true, true]],
    // TLBI VAAE1(IS) / VAALE1(IS): the VA for every ASID.
    ['VAAE1', 1, xtVa(0x1000), [false, false, true, true]],
    ['VAALE1IS', 1, xtVa(0x1000, 7), [false, false, true, true]],
    // TLBI VMALLS12E1(IS): stage 1 and 2 of the current VMID.
    ['VMALLS12E1IS', 2, [0, 0], [true, true, true, false]],
    // TLBI ALLE1(IS): every VMID.
    ['ALLE1', 1, [0, 0], [false, false, false, false]],
    ['ALLE1IS', 7, [0, 0], [false, false, false, false]],
  ];
  it.each(cases)('TLBI %s (VMID %i)', (op, vmid, [hi, lo], want) => {
    const tlb = loaded();
    const epoch = tlb.epoch;
    tlb.tlbi(op, vmid, hi, lo);
    expect(state(tlb)).toEqual(want);
    expect(tlb.epoch).toBe(epoch + 1);
  });

  it('by-VA operations drop every piece of a stage 1 block cached as smaller combined entries', () => {
    const tlb = new ArmTlb();
    // A 2 MiB stage 1 block over 4 KiB stage 2 pages: two 4 KiB combined entries.
    fill(tlb, 1, 5, { va: 0x20_0000, pa: 0x9000, level: 2, ipa: 0x40_0000, s2Size: 4096 });
    fill(tlb, 1, 5, { va: 0x3f_f000, pa: 0xa000, level: 2, ipa: 0x5f_f000, s2Size: 4096 });
    tlb.tlbi('VAE1', 1, ...xtVa(0x21_0000, 5));
    expect(tlb.size).toBe(0);
  });

  it('TLBI IPAS2E1(IS): combined entries whose stage 2 page holds the IPA, by default; none with ipas2DropsCombined = false', () => {
    for (const drops of [true, false]) {
      const tlb = new ArmTlb({ ipas2DropsCombined: drops });
      fill(tlb, 1, 5, { va: 0x1000, pa: 0x10_1000, ipa: 0x20_1000, s2Size: 0x20_0000 });
      fill(tlb, 1, 5, { va: 0x2000, pa: 0x10_2000 }); // stage 1 only
      fill(tlb, 2, 5, { va: 0x1000, pa: 0x10_1000, ipa: 0x20_1000, s2Size: 0x20_0000 });
      const ipaPage = 0x20_0000 / 4096 + 0x100; // inside the same 2 MiB stage 2 block
      expect(tlb.tlbi('IPAS2E1IS', 1, 0, ipaPage)).toBe(drops ? 1 : 0);
      expect([hit(tlb, 1, 5, 0x1000), hit(tlb, 1, 5, 0x2000), hit(tlb, 2, 5, 0x1000)]).toEqual([!drops, true, true]);
      expect(tlb.tlbi('IPAS2LE1', 1, 0, 0x40_0000 / 4096)).toBe(0); // another stage 2 page
    }
  });

  it('tlbiValue takes Xt as a bigint', () => {
    const tlb = loaded();
    tlb.tlbiValue('VAE1IS', 1, (5n << 48n) | 1n);
    expect(state(tlb)).toEqual([false, true, true, true]);
  });

  it('the epoch moves on every invalidation, even one that drops nothing, and on restore', () => {
    const tlb = new ArmTlb();
    tlb.tlbi('VAAE1', 0, ...xtVa(0x1000));
    tlb.invalidateAll();
    expect(tlb.epoch).toBe(2);
    tlb.restoreState(tlb.saveState());
    expect(tlb.epoch).toBe(3);
  });
});

describe('ArmTlb state and bad input', () => {
  it('save/restore keeps entries, tags and counters', () => {
    const a = new ArmTlb({ entries: 16, ways: 4 });
    fill(a, 1, 5, { va: 0x1000, pa: 0x1000 });
    fill(a, 1, 5, { va: 0x20_0000, pa: 0x40_0000, size: 0x20_0000, global: true, ipa: 0x60_0000, s2Size: 0x4000_0000 });
    const b = new ArmTlb({ entries: 16, ways: 4 });
    b.restoreState(JSON.parse(JSON.stringify(a.saveState())));
    expect([hit(b, 1, 5, 0x1000), hit(b, 1, 9, 0x21_0000), hit(b, 1, 9, 0x1000)]).toEqual([true, true, false]);
    const out = new WalkResult();
    b.readInto(b.lookup(1, 9, 0, 0x21_0004), 0, 0x21_0004, out);
    expect([out.address, out.guestPhysicalAddress, out.eptPermissions & ARM_TLB_S2.WRITE]).toEqual([0x41_0004, 0x61_0004, ARM_TLB_S2.WRITE]);
  });

  it('restore rejects another geometry or a bad row and changes nothing', () => {
    const a = new ArmTlb({ entries: 16, ways: 4 });
    fill(a, 1, 5, { va: 0x1000, pa: 0x1000 });
    const saved = a.saveState();
    expect(() => new ArmTlb({ entries: 32 }).restoreState(saved)).toThrow(/Arm TLB state is for 16 entries, 4 ways, lru; this TLB has 32, 4, lru/);
    const bad = savedCopy(a);
    bad.live = [...(bad.live as number[][]), [1, 0, 13, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]];
    expectAtomicRestore(a, bad, /live\[1\] has a bad index, page shift or tag/);
    expectAtomicRestore(a, { ...savedCopy(a), random: { type: 'hvsim.random', version: 1, s: [0, 0, 0, 0] } }, /all-zero state/);
    expect(hit(a, 1, 5, 0x1000)).toBe(true);
    expect(() => a.restoreState({ type: 'hvsim.mmu.tlb', version: 1 })).toThrow();
  });

  it('bad options and arguments name the value', () => {
    expect(() => new ArmTlb({ entries: 48 })).toThrow(/entries must be a power of two up to 2\^20, got 48/);
    expect(() => new ArmTlb({ entries: 4, ways: 8 })).toThrow(/ways must be a power of two no larger than entries \(4\), got 8/);
    expect(() => new ArmTlb({ replacement: 'mru' as 'lru' })).toThrow(/replacement must be 'lru', 'fifo' or 'random', got "?mru/);
    const tlb = new ArmTlb();
    expect(() => tlb.tlbi('VAE2' as ArmTlbiOp, 0)).toThrow(/unknown TLBI operation "?VAE2/);
    expect(() => tlb.tlbi('VAE1', 0x1_0000)).toThrow(/VMID must be in \[0, 0xffff\], got 65536/);
    expect(() => tlb.tlbi('VAE1', 0, -1)).toThrow(/operand halves must be unsigned 32-bit integers, got -1/);
    expect(() => tlb.tlbiValue('VAE1', 0, -1n)).toThrow(/operand must be an unsigned 64-bit bigint, got -1/);
    expect(() => tlb.fill(0x1_0000, 0, 0, 0, walk({ va: 0, pa: 0 }))).toThrow(/VMID and an ASID in \[0, 0xffff\], got 65536 \(0x10000\), 0/);
    const failed = walk({ va: 0, pa: 0 });
    failed.status = 'stage1-fault';
    expect(() => tlb.fill(0, 0, 0, 0, failed)).toThrow(/only a successful walk can be cached, got status 'stage1-fault'/);
  });
});
