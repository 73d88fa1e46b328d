// Property: the stage 2 walker equals a plain bigint reference written from
// Arm ARM D8.3 (descriptor formats), D8.4 (S2AP, XN) and D8.15 (fault codes).
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { WalkResult } from '../common/walk-result.js';
import { PROPERTY_PARAMS, expectSame, makeMemory } from '../test-support/fixtures.js';
import { Stage2Builder } from './stage2-builder.js';
import { S2_ACCESS } from './stage2-regs.js';
import { Stage2Walker } from './stage2-walker.js';

type Ref = { ok: true; address: bigint } | { ok: false; status: number };

function referenceS2(read64: (a: number) => bigint, root: number, start: number, ipaBits: number, outBits: number, ipa: bigint, access: number): Ref {
  if (ipa >> BigInt(ipaBits) !== 0n) return { ok: false, status: 0b000100 };
  let table = BigInt(root);
  for (let level = start; level <= 3; level++) {
    const shift = BigInt(12 + 9 * (3 - level));
    const bits = level === start ? BigInt(ipaBits) - shift : 9n;
    let d: bigint;
    try {
      d = read64(Number(table + ((ipa >> shift) & ((1n << bits) - 1n)) * 8n));
    } catch {
      return { ok: false, status: 0b010100 + level }; // D8.15: Synchronous External abort on the walk
    }
    const type = Number(d & 3n);
    if ((type & 1) === 0) return { ok: false, status: 0b000100 + level };
    if (type === 1 && (level === 0 || level === 3)) return { ok: false, status: 0b000100 + level };
    const out = d & 0xffff_ffff_f000n;
    if (out >> BigInt(outBits) !== 0n) return { ok: false, status: level };
    if (type === 3 && level < 3) {
      table = out;
      continue;
    }
    if (((d >> 10n) & 1n) === 0n) return { ok: false, status: 0b001000 + level };
    const read = ((d >> 6n) & 1n) === 1n;
    const write = ((d >> 7n) & 1n) === 1n;
    const exec = ((d >> 54n) & 1n) === 0n;
    if (((access & S2_ACCESS.READ) !== 0 && !read) || ((access & S2_ACCESS.WRITE) !== 0 && !write) || ((access & S2_ACCESS.EXECUTE) !== 0 && !exec)) {
      return { ok: false, status: 0b001100 + level };
    }
    return { ok: true, address: (out & ~((1n << shift) - 1n)) | (ipa & ((1n << shift) - 1n)) };
  }
  throw new Error('unreachable');
}

describe('property: the stage 2 walker equals a bigint reference of Arm ARM D8', () => {
  it('for random stage 2 tables, corrupted descriptors and accesses', () => {
    const mapArb = fc.record({
      slot: fc.integer({ min: 0, max: 15 }),
      size: fc.constantFrom(4096, 4096, 0x20_0000, 0x4000_0000),
      frame: fc.integer({ min: 0, max: 63 }),
      read: fc.boolean(),
      write: fc.boolean(),
      xn: fc.constantFrom(0, 0, 2),
      accessFlag: fc.constantFrom(true, true, false),
      corruptLevel: fc.integer({ min: 0, max: 5 }),
      corruptBit: fc.constantFrom(0, 1, 10, 33, 40, 47),
    });
    fc.assert(
      fc.property(fc.array(mapArb, { minLength: 1, maxLength: 8 }), fc.constantFrom<[0 | 1, number]>([1, 40], [1, 36], [0, 48], [0, 44]), fc.constantFrom<[number, number]>([5, 48], [2, 40], [1, 36]), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 0xfff }), fc.constantFrom(1, 2, 4, 3)), { minLength: 1, maxLength: 30 }), (maps, [start, ipaBits], [ps, outBits], accesses) => {
        const { memory, tables } = makeMemory();
        const s2 = new Stage2Builder(memory, tables, start, ipaBits);
        const ipaOf = (slot: number): number => (slot * 0x4000_0000 + 0x40_0000) % 2 ** ipaBits;
        for (const m of maps) {
          const ipa = ipaOf(m.slot) - (ipaOf(m.slot) % m.size);
          s2.map(ipa, (m.frame * m.size) % 0x10_0000_0000, { pageSize: m.size, read: m.read, write: m.write, xn: m.xn, accessFlag: m.accessFlag });
        }
        const corruptions: [number, number][] = [];
        for (const m of maps) {
          const leaf = m.size === 4096 ? 3 : m.size === 0x20_0000 ? 2 : 1;
          if (m.corruptLevel < start || m.corruptLevel > leaf) continue;
          const a = s2.entryFor(ipaOf(m.slot), m.corruptLevel);
          corruptions.push([m.corruptBit >= 32 ? a + 4 : a, 1 << (m.corruptBit % 32)]);
        }
        for (const [word, mask] of corruptions) memory.write32(word, (memory.read32(word) ^ mask) >>> 0);
        const walker = new Stage2Walker(memory);
        walker.setVtcr((s2.vtcr() & ~(7n << 16n)) | (BigInt(ps) << 16n));
        walker.setVttbr(s2.vttbr());
        const out = new WalkResult();
        for (const [pick, offset, access] of accesses) {
          const ipa = ipaOf(maps[pick % maps.length]!.slot) + offset;
          const want = referenceS2((a) => memory.read64(a), s2.root, start, ipaBits, outBits, BigInt(ipa), access);
          walker.walk(ipa, access, out);
          if (want.ok) expectSame([out.status, BigInt(out.address)], ['ok', want.address]);
          else expectSame([out.status, out.faultStatus], ['stage2-fault', want.status]);
        }
      }),
      PROPERTY_PARAMS,
    );
  }, 120_000);
});
