// Issue 12 "nothing escapes": random page tables (entries pointing anywhere,
// inside memory or not), random guest stores into them, random CR3/CR4
// writes, INVLPG/INVPCID/INVVPID/INVEPT operands, EPT on/off and shadow
// context changes, through every walker and MMU. The only acceptable
// outcomes are a walk result or core's CpuException (the #GP cases of MOV
// to CR3/CR4 and INVPCID); no MemoryError, UsageError, MmuError, TypeError
// or RangeError, no NaN address, and every snapshot round-trips through JSON.
import { CpuException, PhysicalMemory } from '@hvsim/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PageAllocator } from './common/page-allocator.js';
import { WalkResult } from './common/walk-result.js';
import type { WalkStatus } from './common/walk-result.js';
import { EptBuilder } from './ept/ept-builder.js';
import { EptWalker } from './ept/ept-walker.js';
import { NestedWalker } from './nested/nested-walker.js';
import { Memslots } from './shadow/memslots.js';
import { ShadowMmu } from './shadow/shadow-mmu.js';
import { ShadowPageTables } from './shadow/shadow-page-tables.js';
import { ShadowResult } from './shadow/shadow-stats.js';
import { propertyShare } from './test-support/fixtures.js';
import { X86PageTableBuilder } from './x86/page-table-builder.js';
import { X86PageWalker } from './x86/page-walker.js';
import { X86PagingContext } from './x86/paging-context.js';
import { X86Mmu } from './x86/x86-mmu.js';

const MiB = 0x10_0000;
/** Table pages live in [1 MiB, 1 MiB + 32 pages); RAM is [0, 4 MiB). */
const TABLES = MiB;
const TABLE_PAGES = 32;
const STATUSES: readonly WalkStatus[] = ['ok', 'page-fault', 'ept-violation', 'ept-misconfig', 'no-memslot'];
const ACCESSES = [0, 2, 4, 6, 16, 20, 0x10000, 0x10002];

/** A 64-bit entry: its low flags, and an address inside the tables, elsewhere in RAM, or outside memory. */
const entry = fc.record({
  flags: fc.integer({ min: 0, max: 0xfff }),
  where: fc.constantFrom('table', 'table', 'ram', 'outside', 'huge'),
  page: fc.nat({ max: TABLE_PAGES * 64 }),
  hiFlags: fc.constantFrom(0, 0x8000_0000, 0x7800_0000, 0x000f_0000),
});
type Entry = { flags: number; where: string; page: number; hiFlags: number };

function entryHalves(e: Entry): [number, number] {
  const page = e.where === 'table' ? TABLES / 4096 + (e.page % TABLE_PAGES) : e.where === 'ram' ? e.page % 1024 : e.where === 'outside' ? 0x10_0000 + e.page : 0xf_ff00 + (e.page % 256);
  const address = page * 4096;
  return [((address % 2 ** 32) | e.flags) >>> 0, (Math.floor(address / 2 ** 32) | e.hiFlags) >>> 0];
}

const op = fc.oneof(
  {
    weight: 10,
    arbitrary: fc.record({
      op: fc.constant('access' as const),
      hi: fc.constantFrom(0, 0, 0, 0, 0xffff_8000, 0xffff_ffff, 0x0000_8000, 0x00ff_0000),
      // Mostly the mapped pages (and the guest's view of its own table page), sometimes anywhere.
      lo: fc.oneof(fc.integer({ min: 0x40_0000, max: 0x41_0fff }), fc.integer({ min: 0x80_0000, max: 0x80_0fff }), fc.nat({ max: 0xffff_ffff })),
      access: fc.constantFrom(...ACCESSES),
      cpu: fc.nat({ max: 1 }),
    }),
  },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('store' as const), page: fc.nat({ max: TABLE_PAGES - 1 }), slot: fc.nat({ max: 511 }), value: entry, through: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cr3' as const), value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), table: fc.nat({ max: TABLE_PAGES + 4 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('cr4' as const), pge: fc.boolean(), pcide: fc.boolean(), smep: fc.boolean(), smap: fc.boolean(), pke: fc.boolean(), la57: fc.boolean(), wp: fc.boolean(), nxe: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('invlpg' as const), linear: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('inv' as const), kind: fc.constantFrom('invpcid', 'invvpid', 'invept'), type: fc.integer({ min: -1, max: 4 }), id: fc.integer({ min: -1, max: 0x1_0001 }), linear: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('mode' as const), ept: fc.boolean(), vpid: fc.nat({ max: 0xffff }), eptRoot: fc.oneof(fc.constant(0), fc.nat({ max: TABLE_PAGES + 4 })) }) },
);

/** Runs `f`; only a CpuException may come out. */
function guarded(f: () => void): void {
  try {
    f();
  } catch (e) {
    if (!(e instanceof CpuException)) throw e;
  }
}

const tally = new Set<string>();

function checkResult(r: WalkResult): void {
  tally.add(r.status);
  if (r instanceof ShadowResult) tally.add(r.event);
  // Plain tests first, expect only on a failure: thousands of expect calls per run would cost more than the models.
  if (!STATUSES.includes(r.status)) expect(STATUSES).toContain(r.status);
  if (!(Number.isFinite(r.address) && Number.isFinite(r.guestPhysicalAddress) && Number.isFinite(r.errorCode))) expect([r.address, r.guestPhysicalAddress, r.errorCode].every(Number.isFinite)).toBe(true);
}

function roundTrip(model: { saveState(): unknown; restoreState(s: unknown): void }): void {
  model.restoreState(JSON.parse(JSON.stringify(model.saveState())));
}

describe('property: nothing escapes the walkers and MMUs (guest-controlled tables, stores, CR writes, invalidations)', () => {
  // Two tests of a quarter of HVSIM_PROPERTY_RUNS each (every run drives seven models), seeds of their own.
  it.each([0, 1])('random tables and operation sequences give walk results or CpuException only (part %i of 2)', (part) => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.nat({ max: TABLE_PAGES * 512 - 1 }), entry), { maxLength: 120 }), fc.array(op, { minLength: 1, maxLength: 40 }), (entries, ops) => {
        const memory = new PhysicalMemory();
        memory.addRegion(0, 4 * MiB);
        const write = (at: number, e: Entry): void => {
          const [lo, hi] = entryHalves(e);
          memory.write32(at, lo);
          memory.write32(at + 4, hi);
        };
        // A valid skeleton (16 pages, and the guest's mapping of its own first PT page), then random entries over it.
        const pt = new X86PageTableBuilder(memory, new PageAllocator(TABLES, TABLE_PAGES * 4096));
        for (let k = 0; k < 16; k++) pt.map(0x40_0000 + k * 4096, k * 0x1_1000, { accessed: k % 2 === 0, dirty: k % 4 === 0, user: k % 3 !== 0 });
        const firstPt = pt.existingEntry(0x40_0000, 1);
        pt.map(0x80_0000, firstPt - (firstPt % 4096));
        for (const [slot, e] of entries) write(TABLES + slot * 8, e);
        const ept = new EptBuilder(memory, new PageAllocator(2.5 * MiB, MiB / 2));
        ept.identityMap(0, 4 * MiB, { pageSize: 0x20_0000 });
        const tableAt = (n: number): number => (n < TABLE_PAGES ? TABLES + n * 4096 : 0x1_0000_0000 + n * 4096);
        const ctx = new X86PagingContext({ cr3: pt.root, eferNxe: true });
        const native = new X86Mmu(memory, { context: ctx, tlb: { entries: 16, ways: 4, pagingStructureCache: 4 } });
        const walker = new X86PageWalker(memory);
        const eptWalker = new EptWalker(memory);
        const nested = new NestedWalker(memory);
        // A random table as the EPT root, or (n = 0) the real EPT.
        const eptp = (n: number): bigint => (n === 0 ? ept.eptp(true) : BigInt(tableAt(n)) | 6n | (3n << 3n) | 0x40n);
        eptWalker.setEptp(eptp(0));
        nested.ept.setEptp(eptp(0));
        // Shadow paging: guest RAM [0, 2 MiB) at host [0, 2 MiB) (the tables too), a slot outside memory, and RAM for shadow pages.
        const memslots = new Memslots();
        memslots.add({ id: 0, guestPhysical: 0, size: 2 * MiB, hostPhysical: 0 });
        memslots.add({ id: 1, guestPhysical: 2 * MiB, size: MiB, hostPhysical: 0x1_0000_0000 });
        const vm = new ShadowPageTables(memory, { memslots, shadowPages: new PageAllocator(3 * MiB, MiB) });
        const shadows = [0, 1].map((v) => new ShadowMmu(memory, { vm, vpid: v + 1, context: { cr3: pt.root, eferNxe: true }, tlb: { entries: 16, ways: 4 } }));
        const out = new WalkResult();
        const sout = new ShadowResult();
        for (const o of ops) {
          switch (o.op) {
            case 'access': {
              const linear = o.hi * 2 ** 32 + o.lo;
              checkResult(native.translate64(o.hi, o.lo, o.access, out));
              checkResult(walker.walk64(ctx, o.hi, o.lo, o.access, out));
              checkResult(nested.walk64(ctx, o.hi, o.lo, o.access, out));
              if (o.hi === 0) checkResult(eptWalker.walk(linear, (o.access & 7) || 1, out));
              const shadow = shadows[o.cpu]!;
              checkResult(shadow.translate64(o.hi, o.lo, o.access, sout));
              if (o.hi === 0 && linear % 8 === 0) checkResult(shadow.write(linear, 8, o.lo, o.hi, o.access & ~16, sout));
              break;
            }
            case 'store': {
              const at = TABLES + o.page * 4096 + o.slot * 8;
              if (o.through) {
                // A guest store: emulated (and resynced) by the shadow MMU's VM, plain for the others.
                const [lo, hi] = entryHalves(o.value);
                vm.emulateWrite(at, 8, lo, hi);
              } else {
                write(at, o.value);
                vm.guestMemoryWritten(at, 8);
              }
              break;
            }
            case 'cr3':
              guarded(() => native.movToCr3(o.value < 1n << 63n ? BigInt(tableAt(o.table)) : o.value));
              for (const s of shadows) s.setCr3(tableAt(o.table) % 2 ** 52);
              break;
            case 'cr4':
              guarded(() => native.movToCr4({ pge: o.pge, pcide: o.pcide, smep: o.smep, smap: o.smap, pke: o.pke }));
              for (const s of shadows) {
                Object.assign(s.context, { cr4La57: o.la57, cr0Wp: o.wp, eferNxe: o.nxe, cr4Smep: o.smep, cr4Smap: o.smap });
                s.contextChanged();
              }
              ctx.cr4La57 = o.la57;
              native.contextChanged();
              break;
            case 'invlpg':
              native.invlpg(o.linear);
              for (const s of shadows) s.invlpg(o.linear);
              break;
            case 'inv':
              if (o.kind === 'invpcid') guarded(() => native.invpcid(o.type, o.id, o.linear));
              else if (o.kind === 'invvpid') expect([0, 28]).toContain(native.invvpid(o.type, o.id, o.linear));
              else expect([0, 28]).toContain(native.invept(o.type, BigInt(o.id) * 4096n));
              break;
            default:
              native.setEptEnabled(o.ept);
              if (o.ept) native.setEptp(eptp(o.eptRoot));
              native.vpid = o.vpid;
              eptWalker.setEptp(eptp(o.eptRoot));
              nested.ept.setEptp(eptp(o.eptRoot));
          }
        }
        for (const m of [native, walker, nested, eptWalker, vm, ...shadows]) roundTrip(m);
      }),
      propertyShare(4, part),
    );
  }, 120_000);

  // Runs after both parts (tests of a file run in order; a filter that skips the parts skips this too).
  it('the random tables of the two parts together reach every outcome', () => {
    for (const seen of ['ok', 'page-fault', 'ept-misconfig', 'ept-violation', 'hit', 'fixed', 'guest-fault', 'write-protected', 'mmio']) expect(tally, seen).toContain(seen);
  });
});
