// Property: the stage 1 walker equals a plain bigint reference written from
// the Arm ARM (D8.2 VA ranges and starting level, D8.3 descriptors, D8.4
// AP[2:1]/UXN/PXN/WXN/PAN and the hierarchical limits, the Access flag and
// DBM updates, D8.15 fault codes) on random tables with corrupted entries.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WalkResult } from '../common/walk-result.js';
import { PageAllocator } from '../common/page-allocator.js';
import { expectSame, makeMemory } from '../test-support/fixtures.js';
import { Stage1Builder } from './stage1-builder.js';
import { Stage1Context } from './stage1-context.js';
import { S1_ACCESS } from './stage1-regs.js';
import { Stage1Walker } from './stage1-walker.js';
import { Stage2Builder } from './stage2-builder.js';
import { S2_ACCESS } from './stage2-regs.js';
import { Stage2Walker } from './stage2-walker.js';

/** A stage 2 fault met by the reference while reading a table through stage 2. */
class Stage2Abort extends Error {
  constructor(
    readonly faultStatus: number,
    readonly errorCode: number,
  ) {
    super('stage 2 abort');
  }
}

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

interface Params {
  bits: number;
  outBits: number;
  ha: boolean;
  hd: boolean;
  hpd: boolean;
  wxn: boolean;
  tbi: boolean;
  root: bigint;
}

type Ref = { ok: true; address: bigint; update: { at: number; lo: bigint } | null } | { ok: false; status: number };

function reference(read64: (a: number) => bigint, p: Params, va: bigint, access: number): Ref {
  const fetch = (access & S1_ACCESS.EXECUTE) !== 0;
  const write = (access & S1_ACCESS.WRITE) !== 0;
  const read = (access & S1_ACCESS.READ) !== 0;
  const el0 = (access & S1_ACCESS.EL0) !== 0;
  const pan = (access & S1_ACCESS.PAN) !== 0;
  // TTBR1_EL1 is disabled (EPD1): every upper-range VA is a level 0 Translation fault.
  if (((va >> 55n) & 1n) === 1n) return { ok: false, status: 0b000100 };
  const top = p.tbi ? 55n : 63n;
  if ((va >> BigInt(p.bits)) & ((1n << (top - BigInt(p.bits) + 1n)) - 1n)) return { ok: false, status: 0b000100 };
  if (p.root >> BigInt(p.outBits)) return { ok: false, status: 0 };
  const start = p.bits > 39 ? 0 : p.bits > 30 ? 1 : 2;
  let table = p.root;
  let noEl0 = false;
  let ro = false;
  let uxnT = false;
  let pxnT = false;
  for (let level = start; level <= 3; level++) {
    const shift = BigInt(12 + 9 * (3 - level));
    const n = level === start ? BigInt(p.bits) - shift : 9n;
    const at = Number(table + ((va >> shift) & ((1n << n) - 1n)) * 8n);
    let d: bigint;
    try {
      d = read64(at);
    } catch (e) {
      if (e instanceof Stage2Abort) throw e;
      return { ok: false, status: 0b010100 + level };
    }
    const bit = (b: number): boolean => ((d >> BigInt(b)) & 1n) === 1n;
    if (!bit(0)) return { ok: false, status: 0b000100 + level };
    if (!bit(1) && (level === 0 || level === 3)) return { ok: false, status: 0b000100 + level };
    const out = d & 0xffff_ffff_f000n;
    if (out >> BigInt(p.outBits)) return { ok: false, status: level };
    if (bit(1) && level < 3) {
      if (!p.hpd) {
        pxnT ||= bit(59);
        uxnT ||= bit(60);
        noEl0 ||= bit(61);
        ro ||= bit(62);
      }
      table = out;
      continue;
    }
    let lo = d & 0xffff_ffffn;
    if (!bit(10)) {
      if (!p.ha) return { ok: false, status: 0b001000 + level };
      lo |= 1n << 10n;
    }
    const check = (ap2raw: boolean): boolean => {
      const ap1 = bit(6) && !noEl0;
      const ap2 = ap2raw || ro;
      let r: boolean;
      let w: boolean;
      let xn: boolean;
      if (el0) {
        r = ap1;
        w = ap1 && !ap2;
        xn = bit(54) || uxnT;
      } else {
        r = true;
        w = !ap2;
        xn = bit(53) || pxnT || (ap1 && !ap2);
      }
      if (p.wxn && w) xn = true;
      if (pan && !el0 && ap1) {
        r = false;
        w = false;
      }
      if (fetch) return !xn;
      return !(read && !r) && !(write && !w);
    };
    if (!check(bit(7))) {
      if (!(p.ha && p.hd && write && bit(51) && bit(7) && check(false))) return { ok: false, status: 0b001100 + level };
      lo &= ~(1n << 7n);
    }
    const size = 1n << shift;
    return { ok: true, address: (out & ~(size - 1n)) | (va & (size - 1n)), update: lo !== (d & 0xffff_ffffn) ? { at, lo } : null };
  }
  throw new Error('unreachable');
}

const ACCESSES = [S1_ACCESS.READ, S1_ACCESS.WRITE, S1_ACCESS.EXECUTE, S1_ACCESS.READ | S1_ACCESS.WRITE];

describe('property: the stage 1 walker equals a bigint reference of Arm ARM D8', () => {
  it('for random tables, controls, corrupted descriptors and accesses', () => {
    const mapArb = fc.record({
      slot: fc.integer({ min: 0, max: 15 }),
      size: fc.constantFrom(4096, 4096, 0x20_0000, 0x4000_0000),
      frame: fc.integer({ min: 0, max: 63 }),
      el0: fc.boolean(),
      readOnly: fc.boolean(),
      uxn: fc.boolean(),
      pxn: fc.boolean(),
      accessFlag: fc.constantFrom(true, true, false),
      global: fc.boolean(),
      dbm: fc.boolean(),
      limitLevel: fc.integer({ min: -1, max: 2 }),
      limits: fc.record({ noEl0: fc.boolean(), readOnly: fc.boolean(), uxn: fc.boolean(), pxn: fc.boolean() }),
      corruptLevel: fc.integer({ min: 0, max: 6 }),
      corruptBit: fc.constantFrom(0, 1, 6, 7, 10, 29, 33, 40, 47, 51, 53, 54, 59, 60, 61, 62),
    });
    const controls = fc.record({
      bits: fc.constantFrom(48, 42, 39, 36, 31),
      outBits: fc.constantFrom(48, 40, 32),
      ha: fc.boolean(),
      hd: fc.boolean(),
      hpd: fc.boolean(),
      wxn: fc.boolean(),
      tbi: fc.boolean(),
    });
    const accessArb = fc.tuple(fc.nat(), fc.nat({ max: 0xfff }), fc.constantFrom(...ACCESSES), fc.boolean(), fc.boolean(), fc.constantFrom(0n, 0n, 0n, 0x5an << 56n, 1n << 50n, 0xffffn << 48n));
    fc.assert(
      fc.property(fc.array(mapArb, { minLength: 1, maxLength: 8 }), controls, fc.array(accessArb, { minLength: 1, maxLength: 30 }), (maps, c, accesses) => {
        const { memory, tables } = makeMemory();
        const b = new Stage1Builder(memory, tables, c.bits);
        const vaOf = (slot: number): number => (slot * 0x4000_0000 + 0x40_0000) % 2 ** c.bits;
        for (const m of maps) {
          const size = m.size === 0x4000_0000 && b.startLevel > 1 ? 4096 : m.size;
          const va = vaOf(m.slot) - (vaOf(m.slot) % size);
          b.map(va, (m.frame * size) % 0x10_0000_0000, { ...m, pageSize: size });
          if (m.limitLevel >= b.startLevel && m.limitLevel <= 2 && size === 4096) b.limitTable(va, m.limitLevel, m.limits);
        }
        const corruptions: [number, number][] = [];
        for (const m of maps) {
          if (m.corruptLevel < b.startLevel || m.corruptLevel > 3) continue;
          const a = b.entryFor(vaOf(m.slot), m.corruptLevel);
          corruptions.push([m.corruptBit >= 32 ? a + 4 : a, 1 << (m.corruptBit % 32)]);
        }
        for (const [word, mask] of corruptions) memory.write32(word, (memory.read32(word) ^ mask) >>> 0);
        const tcr = Stage1Builder.tcr({ t0Bits: c.bits, ipsBits: c.outBits, ha: c.ha, hd: c.hd, hpd0: c.hpd, tbi0: c.tbi, epd1: true });
        const ctx = new Stage1Context({ tcr, ttbr0: b.ttbr(3), sctlr: c.wxn ? 1n | (1n << 19n) : 1n });
        const walker = new Stage1Walker(memory);
        const out = new WalkResult();
        const p: Params = { ...c, root: BigInt(b.root) };
        for (const [pick, offset, kind, el0, pan, topBits] of accesses) {
          const va = BigInt(vaOf(maps[pick % maps.length]!.slot) + offset) | topBits;
          const access = kind | (el0 ? S1_ACCESS.EL0 : 0) | (pan ? S1_ACCESS.PAN : 0);
          const want = reference((a) => memory.read64(a), p, va, access);
          walker.walk64(ctx, Number(va >> 32n), Number(va & 0xffff_ffffn), access, out);
          if (want.ok) {
            expectSame([out.status, BigInt(out.address), out.adWrites], ['ok', want.address, want.update === null ? 0 : 1]);
            if (want.update !== null) expect(BigInt(memory.read32(want.update.at))).toBe(want.update.lo);
          } else {
            expectSame([out.status, out.faultStatus], ['stage1-fault', want.status]);
          }
        }
      }),
      { seed, numRuns },
    );
  }, 60_000);
});

describe('property: a guest walk equals the stage 1 reference with every table read and the output taken through a separate stage 2 walk (Arm ARM D8.2)', () => {
  it('for random stage 2 permissions and holes under random guest tables', () => {
    const SHIFT = 0x100_0000;
    const blockArb = fc.record({ present: fc.constantFrom(true, true, true, false), read: fc.constantFrom(true, true, false), write: fc.boolean() });
    const mapArb = fc.record({ slot: fc.integer({ min: 0, max: 15 }), frame: fc.integer({ min: 0, max: 7 }), el0: fc.boolean(), readOnly: fc.boolean(), size: fc.constantFrom(4096, 0x20_0000) });
    fc.assert(
      fc.property(fc.array(blockArb, { minLength: 8, maxLength: 8 }), fc.array(mapArb, { minLength: 1, maxLength: 8 }), fc.array(fc.tuple(fc.nat(), fc.nat({ max: 0xfff }), fc.constantFrom(...ACCESSES), fc.boolean()), { minLength: 1, maxLength: 20 }), (blocks, maps, accesses) => {
        const { memory, tables } = makeMemory();
        const s2 = new Stage2Builder(memory, tables);
        blocks.forEach((b, i) => {
          if (b.present) s2.map(i * 0x20_0000, i * 0x20_0000 + SHIFT, { pageSize: 0x20_0000, read: b.read, write: b.write });
        });
        const vttbr = s2.vttbr(4);
        const under = new Stage2Walker(memory);
        under.setVtcr(s2.vtcr());
        under.setVttbr(vttbr);
        const separate = new Stage2Walker(memory);
        separate.setVtcr(s2.vtcr());
        separate.setVttbr(vttbr);
        const b = new Stage1Builder(memory, new PageAllocator(0x80_0000, 0x40_0000), 39, (ipa) => ipa + SHIFT);
        const vaOf = (slot: number): number => slot * 0x2000_0000 + 0x40_0000;
        for (const m of maps) b.map(vaOf(m.slot) - (vaOf(m.slot) % m.size), (m.frame * 0x20_0000) % 0x100_0000, { pageSize: m.size, el0: m.el0, readOnly: m.readOnly });
        const tcr = Stage1Builder.tcr({ t0Bits: 39, epd1: true });
        const ctx = new Stage1Context({ tcr, ttbr0: b.ttbr(1), stage2: under });
        const walker = new Stage1Walker(memory);
        const out = new WalkResult();
        const p: Params = { bits: 39, outBits: 48, ha: false, hd: false, hpd: false, wxn: false, tbi: false, root: BigInt(b.root) };
        const readThroughStage2 = (ipa: number): bigint => {
          const r = separate.walk(ipa, S2_ACCESS.READ | S2_ACCESS.S1PTW);
          if (r.status !== 'ok') throw new Stage2Abort(r.faultStatus, r.errorCode);
          return memory.read64(r.address);
        };
        for (const [pick, offset, kind, el0] of accesses) {
          const va = vaOf(maps[pick % maps.length]!.slot) + offset;
          const access = kind | (el0 ? S1_ACCESS.EL0 : 0);
          walker.walk(ctx, va, access, out);
          let want: Ref;
          try {
            want = reference(readThroughStage2, p, BigInt(va), access);
          } catch (e) {
            if (!(e instanceof Stage2Abort)) throw e;
            expectSame([out.status, out.faultStatus, out.errorCode], ['stage2-fault', e.faultStatus, e.errorCode]);
            continue;
          }
          if (!want.ok) {
            expectSame([out.status, out.faultStatus], ['stage1-fault', want.status]);
            continue;
          }
          const r = separate.walk(Number(want.address), access & (S2_ACCESS.READ | S2_ACCESS.WRITE | S2_ACCESS.EXECUTE | S2_ACCESS.EL0));
          if (r.status === 'ok') expectSame([out.status, out.address, out.guestPhysicalAddress], ['ok', r.address, Number(want.address)]);
          else expectSame([out.status, out.faultStatus, out.errorCode, out.guestPhysicalAddress], ['stage2-fault', r.faultStatus, r.errorCode, Number(want.address)]);
        }
      }),
      { seed, numRuns },
    );
  }, 60_000);
});
