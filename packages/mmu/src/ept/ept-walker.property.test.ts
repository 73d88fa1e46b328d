// Property: the EPT walker equals a plain bigint reference written from SDM
// 3C 28.2.2 (entry formats), 28.2.3.1 (misconfigurations), 28.2.3.2
// (violations) and Table 27-7 (exit qualification).
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { WalkResult } from '../common/walk-result.js';
import { PROPERTY_PARAMS, expectSame, makeMemory } from '../test-support/fixtures.js';
import { EptBuilder } from './ept-builder.js';
import { EptWalker } from './ept-walker.js';

type Ref = { kind: 'ok'; address: bigint } | { kind: 'misconfig' } | { kind: 'violation'; qual: number };

function bit(v: bigint, n: number): boolean {
  return ((v >> BigInt(n)) & 1n) === 1n;
}

function referenceEpt(read64: (a: number) => bigint, root: number, levels: number, m: number, gpa: bigint, access: number): Ref {
  const M = BigInt(m);
  let table = BigInt(root);
  let and = 7;
  let level = levels;
  let entry = 0n;
  for (;;) {
    entry = read64(Number(table + ((gpa >> BigInt(12 + 9 * (level - 1))) & 511n) * 8n));
    const rwx = Number(entry & 7n);
    and &= rwx;
    if (rwx === 0) return { kind: 'violation', qual: access | (and << 3) };
    const large = bit(entry, 7) && (level === 2 || level === 3);
    const leaf = level === 1 || large;
    const rsvdAddr = ((entry >> M) & ((1n << (52n - M)) - 1n)) !== 0n;
    const memType = Number((entry >> 3n) & 7n);
    let mis = (rwx & 3) === 2 || rsvdAddr;
    if (level >= 4) mis ||= ((entry >> 3n) & 0x1fn) !== 0n;
    else if (!leaf) mis ||= ((entry >> 3n) & 0xfn) !== 0n;
    else {
      if (large && level === 3) mis ||= ((entry >> 12n) & ((1n << 18n) - 1n)) !== 0n;
      if (large && level === 2) mis ||= ((entry >> 12n) & 0x1ffn) !== 0n;
      mis ||= memType === 2 || memType === 3 || memType === 7;
    }
    if (mis) return { kind: 'misconfig' };
    if (leaf) break;
    table = entry & (((1n << M) - 1n) & ~0xfffn);
    level--;
  }
  if ((access & ~and & 7) !== 0) return { kind: 'violation', qual: access | (and << 3) };
  const size = 12n + 9n * BigInt(level - 1);
  return { kind: 'ok', address: (entry & (((1n << M) - 1n) & ~((1n << size) - 1n))) | (gpa & ((1n << size) - 1n)) };
}

describe('property: the EPT walker equals a bigint reference of SDM 3C 28.2', () => {
  it('for random EPT tables (permissions, memory types, large pages, corrupted entries) and accesses', () => {
    const mapArb = fc.record({
      slot: fc.integer({ min: 0, max: 15 }),
      size: fc.constantFrom(4096, 4096, 0x20_0000, 0x4000_0000),
      frame: fc.integer({ min: 0, max: 63 }),
      permissions: fc.integer({ min: 0, max: 7 }),
      tablePermissions: fc.constantFrom(7, 7, 3, 1, 5),
      memoryType: fc.constantFrom(0, 6, 6, 4, 2, 7),
      corruptLevel: fc.integer({ min: 0, max: 6 }),
      corruptBit: fc.constantFrom(3, 6, 7, 12, 20, 29, 40, 46, 51),
    });
    fc.assert(
      fc.property(
        fc.array(mapArb, { minLength: 1, maxLength: 8 }),
        fc.constantFrom(4, 5),
        fc.array(fc.tuple(fc.nat(), fc.nat({ max: 0xfff }), fc.constantFrom(1, 2, 4, 3)), { minLength: 1, maxLength: 30 }),
        (maps, levels, accesses) => {
          const { memory, tables } = makeMemory();
          const ept = new EptBuilder(memory, tables, levels);
          const gpaOf = (slot: number): number => slot * 0x4000_0000 + 0x40_0000;
          for (const m of maps) {
            const gpa = gpaOf(m.slot) - (gpaOf(m.slot) % m.size);
            ept.map(gpa, (m.frame * m.size) % 0x10_0000_0000, { pageSize: m.size, permissions: m.permissions, memoryType: m.memoryType, tablePermissions: m.tablePermissions });
          }
          const corruptions: [number, number][] = [];
          for (const m of maps) {
            const leafLevel = m.size === 4096 ? 1 : m.size === 0x20_0000 ? 2 : 3;
            if (m.corruptLevel < leafLevel || m.corruptLevel > levels) continue;
            const a = ept.entryFor(gpaOf(m.slot), m.corruptLevel);
            corruptions.push([m.corruptBit >= 32 ? a + 4 : a, 1 << (m.corruptBit % 32)]);
          }
          for (const [word, mask] of corruptions) memory.write32(word, (memory.read32(word) | mask) >>> 0);
          const walker = new EptWalker(memory, { maxPhyAddr: 46 });
          walker.setEptp(ept.eptp());
          const out = new WalkResult();
          for (const [pick, offset, access] of accesses) {
            const gpa = gpaOf(maps[pick % maps.length]!.slot) + offset;
            // An entry outside RAM reads as all ones (common/memory-access.ts).
            const want = referenceEpt((a) => (memory.isBacked(a, 8) ? memory.read64(a) : 0xffff_ffff_ffff_ffffn), ept.root, levels, 46, BigInt(gpa), access);
            walker.walk(gpa, access, out);
            if (want.kind === 'ok') expectSame([out.status, BigInt(out.address)], ['ok', want.address]);
            else if (want.kind === 'misconfig') expectSame([out.status], ['ept-misconfig']);
            else expectSame([out.status, out.exitQualification], ['ept-violation', want.qual]);
          }
        },
      ),
      PROPERTY_PARAMS,
    );
  }, 120_000);
});
