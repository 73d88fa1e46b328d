// Property: the walker agrees with a plain bigint reference written from the
// SDM's rules (SDM 3A 4.5 entry formats, 4.6.1 access rights, 4.6.2
// protection keys, 4.7 error code), for random tables, contexts and accesses.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { WalkResult } from '../common/walk-result.js';
import { expectSame, makeMemory, propertyShare } from '../test-support/fixtures.js';
import { X86PageTableBuilder } from './page-table-builder.js';
import { X86PageWalker } from './page-walker.js';
import { X86PagingContext } from './paging-context.js';
import { ACCESS } from './regs.js';

type Ref = { ok: true; address: bigint } | { ok: false; code: number };

function bit(v: bigint, n: number): boolean {
  return ((v >> BigInt(n)) & 1n) === 1n;
}

/** The reference walk: bigint entries, rules as the SDM states them. */
function referenceWalk(read64: (a: number) => bigint, ctx: X86PagingContext, linear: bigint, access: number): Ref {
  const write = (access & ACCESS.WRITE) !== 0;
  const userMode = (access & ACCESS.USER) !== 0;
  const fetch = (access & ACCESS.FETCH) !== 0;
  const implicit = (access & ACCESS.IMPLICIT) !== 0;
  const errBase = (write ? 2 : 0) | (userMode ? 4 : 0) | (fetch && (ctx.eferNxe || ctx.cr4Smep) ? 16 : 0);
  const m = BigInt(ctx.maxPhyAddr);
  let table = BigInt(ctx.rootAddress);
  let rw = true;
  let us = true;
  let xd = false;
  let entry = 0n;
  let level: number = ctx.levels;
  for (;;) {
    const index = (linear >> BigInt(12 + 9 * (level - 1))) & 511n;
    entry = read64(Number(table + index * 8n));
    if (!bit(entry, 0)) return { ok: false, code: errBase };
    const ps = bit(entry, 7) && level >= 2 && level <= 3;
    let reserved = (entry >> m) & ((1n << (52n - m)) - 1n);
    if (!ctx.eferNxe && bit(entry, 63)) reserved = 1n;
    if (level >= 4 && bit(entry, 7)) reserved = 1n;
    if (ps && level === 3 && (!ctx.page1gb || ((entry >> 13n) & ((1n << 17n) - 1n)) !== 0n)) reserved = 1n;
    if (ps && level === 2 && ((entry >> 13n) & 0xffn) !== 0n) reserved = 1n;
    if (reserved !== 0n) return { ok: false, code: errBase | 1 | 8 };
    rw &&= bit(entry, 1);
    us &&= bit(entry, 2);
    xd ||= ctx.eferNxe && bit(entry, 63);
    if (level === 1 || ps) break;
    table = entry & (((1n << m) - 1n) & ~0xfffn);
    level--;
  }
  // Access rights (SDM 3A 4.6.1).
  let allowed: boolean;
  if (userMode) allowed = us && (!write || rw) && (!fetch || !xd);
  else if (fetch) allowed = !xd && !(us && ctx.cr4Smep);
  else allowed = !(us && ctx.cr4Smap && (implicit || !ctx.rflagsAc)) && !(write && !rw && ctx.cr0Wp);
  // Protection keys (SDM 3A 4.6.2): data accesses only.
  let pk = false;
  if (!fetch) {
    const key = Number((entry >> 59n) & 0xfn);
    const rights = us ? (ctx.cr4Pke ? ctx.pkru : -1) : ctx.cr4Pks ? ctx.pkrs : -1;
    if (rights !== -1) {
      const ad = (rights >>> (2 * key)) & 1;
      const wd = (rights >>> (2 * key + 1)) & 1;
      pk = ad === 1 || (write && wd === 1 && (userMode || ctx.cr0Wp));
    }
  }
  if (!allowed || pk) return { ok: false, code: errBase | 1 | (pk ? 32 : 0) };
  const size = 12n + 9n * BigInt(level - 1);
  const frame = entry & (((1n << m) - 1n) & ~((1n << size) - 1n));
  return { ok: true, address: frame | (linear & ((1n << size) - 1n)) };
}

describe('property: the x86 walker equals a bigint reference of SDM 3A 4.5-4.7', () => {
  // One test without and one with 1 GiB pages (CPUID.80000001H:EDX[26]), half the runs each.
  it.each([false, true])('for random tables (with corrupted entries), contexts and accesses (1 GiB pages: %s)', (page1gb) => {
    const entryArb = fc.record({
      page: fc.integer({ min: 0, max: 31 }),
      size: fc.constantFrom(4096, 4096, 4096, 0x20_0000, 0x4000_0000),
      frame: fc.integer({ min: 0, max: 0xff }),
      writable: fc.boolean(),
      user: fc.boolean(),
      noExecute: fc.boolean(),
      pkey: fc.integer({ min: 0, max: 15 }),
      tableFlags: fc.constantFrom(0x7, 0x5, 0x3, 0x1),
      corruptLevel: fc.integer({ min: 0, max: 8 }),
      corruptBit: fc.constantFrom(7, 13, 20, 29, 40, 45, 51, 55, 63),
    });
    const ctxArb = fc.record({
      cr0Wp: fc.boolean(),
      cr4Smep: fc.boolean(),
      cr4Smap: fc.boolean(),
      rflagsAc: fc.boolean(),
      cr4Pke: fc.boolean(),
      cr4Pks: fc.boolean(),
      eferNxe: fc.boolean(),
      pkru: fc.nat({ max: 0xffff_ffff }),
      pkrs: fc.nat({ max: 0xffff_ffff }),
      maxPhyAddr: fc.constantFrom(36, 39, 46, 52),
    });
    const accessArb = fc.constantFrom(0, 2, 4, 6, 16, 20, 0x10000, 0x10002);
    fc.assert(
      fc.property(fc.array(entryArb, { minLength: 1, maxLength: 10 }), ctxArb, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 4 }), fc.nat({ max: 0xfff }), accessArb), { minLength: 1, maxLength: 40, size: 'medium' }), (entries, ctxOptions, accesses) => {
        const { memory, tables } = makeMemory();
        const pt = new X86PageTableBuilder(memory, tables);
        for (const e of entries) {
          const linear = 0x80_0000_0000 + e.page * 0x4000_0000;
          pt.map(linear, e.frame * e.size > 0x3_0000_0000 ? 0 : e.frame * e.size, { pageSize: e.size, writable: e.writable, user: e.user, noExecute: e.noExecute, protectionKey: e.pkey, tableFlags: e.tableFlags });
        }
        // Corrupt entries only once the tables are built (find them all first).
        const corruptions: [number, number][] = [];
        for (const e of entries) {
          const linear = 0x80_0000_0000 + e.page * 0x4000_0000;
          const leafLevel = e.size === 4096 ? 1 : e.size === 0x20_0000 ? 2 : 3;
          if (e.corruptLevel < leafLevel || e.corruptLevel > 4) continue;
          const a = pt.existingEntry(linear, e.corruptLevel);
          if (a >= 0) corruptions.push([e.corruptBit >= 32 ? a + 4 : a, 1 << (e.corruptBit % 32)]);
        }
        for (const [word, mask] of corruptions) memory.write32(word, (memory.read32(word) | mask) >>> 0);
        const ctx = new X86PagingContext({ cr3: pt.root, ...ctxOptions, page1gb });
        const walker = new X86PageWalker(memory);
        const out = new WalkResult();
        for (const [pick, stray, offset, access] of accesses) {
          // Mostly mapped pages; sometimes any page.
          const page = stray === 0 ? pick % 34 : entries[pick % entries.length]!.page;
          const linear = 0x80_0000_0000 + page * 0x4000_0000 + offset;
          // A corrupted address may point outside RAM: such an entry reads as all ones (common/memory-access.ts).
          const want = referenceWalk((a) => (memory.isBacked(a, 8) ? memory.read64(a) : 0xffff_ffff_ffff_ffffn), ctx, BigInt(linear), access);
          walker.walk(ctx, linear, access, out);
          if (want.ok) expectSame([out.status, BigInt(out.address)], ['ok', want.address]);
          else expectSame([out.status, out.errorCode], ['page-fault', want.code]);
        }
      }),
      propertyShare(2, page1gb ? 1 : 0),
    );
  }, 120_000);
});
