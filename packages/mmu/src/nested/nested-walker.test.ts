import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PageAllocator } from '../common/page-allocator.js';
import { WalkResult } from '../common/walk-result.js';
import { EptBuilder } from '../ept/ept-builder.js';
import { EptWalker } from '../ept/ept-walker.js';
import { EPTE_LO, EPT_QUAL } from '../ept/regs.js';
import { PROPERTY_PARAMS, firstDifference, makeMemory, propertyShare } from '../test-support/fixtures.js';
import { X86PageTableBuilder } from '../x86/page-table-builder.js';
import { X86PageWalker } from '../x86/page-walker.js';
import { X86PagingContext } from '../x86/paging-context.js';
import { ACCESS, PFEC, PTE_LO } from '../x86/regs.js';
import { NestedWalker, nestedWalkMaxReferences } from './nested-walker.js';

/**
 * Guest-physical space: [0, 16 MiB), guest tables allocated from [8, 16) MiB.
 * EPT maps gpa -> gpa + 16 MiB (host RAM 32..64 MiB holds EPT tables).
 */
const SHIFT = 0x100_0000;
const TABLES_BASE = 0x200_0000;

/**
 * The EPT tables mapping every 4 KiB page of [0, 16 MiB), built once per EPT
 * depth: mapping 4096 pages costs milliseconds, copying the 11 table pages
 * into a fresh memory costs microseconds (the properties build two machines
 * per run).
 */
const eptTemplates = new Map<4 | 5, { bytes: Uint8Array; allocator: unknown; root: number }>();
function eptTemplate(levels: 4 | 5): { bytes: Uint8Array; allocator: unknown; root: number } {
  let t = eptTemplates.get(levels);
  if (t === undefined) {
    const { memory, tables } = makeMemory();
    const ept = new EptBuilder(memory, tables, levels);
    // gpa g -> host g + SHIFT.
    for (let g = 0; g < 0x100_0000; g += 4096) ept.map(g, g + SHIFT);
    t = { bytes: memory.readBytes(TABLES_BASE, tables.used * 4096), allocator: tables.saveState(), root: ept.root };
    eptTemplates.set(levels, t);
  }
  return t;
}

function setup(guestLevels: 4 | 5 = 4, eptLevels: 4 | 5 = 4, ad = false) {
  const { memory, tables } = makeMemory();
  const template = eptTemplate(eptLevels);
  memory.writeBytes(TABLES_BASE, template.bytes);
  tables.restoreState(template.allocator);
  const ept = EptBuilder.attach(memory, tables, template.root, eptLevels);
  const guestTables = new PageAllocator(0x80_0000, 0x80_0000);
  const pt = new X86PageTableBuilder(memory, guestTables, guestLevels, (gpa) => gpa + SHIFT);
  const ctx = new X86PagingContext({ cr3: pt.root, cr4La57: guestLevels === 5, eferNxe: true });
  const nested = new NestedWalker(memory);
  nested.ept.setEptp(ept.eptp(ad));
  return { memory, ept, pt, ctx, nested };
}

describe('SDM 3C 28.2.1 "EPT Overview": the two-dimensional walk', () => {
  it('4-over-4 reads 24 entries: 4 guest entries, 4 x 4 EPT entries for them, 4 for the final gpa (SDM 3C 28.2.1: each guest-physical address goes through EPT)', () => {
    const { memory, pt, ctx, nested } = setup();
    pt.map(0x40_1000, 0x30_0000, { accessed: true, tableFlags: PTE_LO.P | PTE_LO.RW | PTE_LO.US | PTE_LO.A });
    const out = new WalkResult();
    const refs = out.record();
    const r = nested.walk(ctx, 0x40_1234, ACCESS.READ, out);
    expect(r.status).toBe('ok');
    expect(r.guestPhysicalAddress).toBe(0x30_0234);
    expect(r.address).toBe(0x30_0234 + SHIFT);
    expect(r.references).toBe(24);
    expect(r.references).toBe(nestedWalkMaxReferences(4, 4));
    expect(r.secondStageReferences).toBe(20);
    // Order: 4 EPT refs then the guest entry, per guest level, then 4 EPT refs for the final gpa.
    expect(refs.map((x) => x.kind[0]).join('')).toBe('eeeegeeeegeeeegeeeegeeee');
    expect(nested.stats()).toEqual({ walks: 1, guestReferences: 4, eptReferences: 20, guestFaults: 0, eptViolations: 0, eptMisconfigs: 0, exits: 0 });
    const copy = new NestedWalker(memory);
    copy.restoreState(JSON.parse(JSON.stringify(nested.saveState())));
    expect(copy.stats()).toEqual(nested.stats());
    expect(copy.ept.getEptp()).toBe(nested.ept.getEptp());
  });

  it('5-over-5 reads 35 entries; 4-over-5 and 5-over-4 read 29', () => {
    for (const [g, e, n] of [
      [5, 5, 35],
      [4, 5, 29],
      [5, 4, 29],
    ] as const) {
      const { pt, ctx, nested } = setup(g, e);
      pt.map(0x40_1000, 0x30_0000);
      const r = nested.walk(ctx, 0x40_1000, ACCESS.READ);
      expect(r.status).toBe('ok');
      expect(r.references).toBe(n);
      expect(n).toBe(nestedWalkMaxReferences(g, e));
    }
  });

  it('a guest not-present entry is a guest #PF, not an exit', () => {
    const { ctx, nested } = setup();
    const r = nested.walk(ctx, 0x40_1000, ACCESS.WRITE | ACCESS.USER);
    expect(r.status).toBe('page-fault');
    expect(r.errorCode).toBe(PFEC.W | PFEC.U);
    expect(nested.guestFaults).toBe(1);
  });

  it('an EPT violation on a guest paging-structure access has bit 7 = 1, bit 8 = 0', () => {
    const { memory, pt, ctx, ept, nested } = setup();
    pt.map(0x40_1000, 0x30_0000);
    // Remove the EPT mapping of the guest PT page that holds the PTE.
    const pteGpa = pt.existingEntry(0x40_1000, 1);
    const epte = ept.entryFor(pteGpa, 1);
    memory.write32(epte, 0);
    const r = nested.walk(ctx, 0x40_1000, ACCESS.READ);
    expect(r.status).toBe('ept-violation');
    expect(r.exitQualification).toBe(EPT_QUAL.READ | EPT_QUAL.LINEAR_VALID);
    expect(r.guestPhysicalAddress).toBe(pteGpa);
    expect(r.linearAddress).toBe(0x40_1000);
    expect(nested.eptViolations).toBe(1);
  });

  it('an EPT violation on the final address has bits 7 and 8 set and the page permissions', () => {
    const { pt, ctx, ept, nested } = setup();
    pt.map(0x40_1000, 0x30_0000);
    ept.map(0x30_0000, 0x30_0000 + SHIFT, { permissions: 5 }); // R-X
    const r = nested.walk(ctx, 0x40_1010, ACCESS.WRITE);
    expect(r.status).toBe('ept-violation');
    expect(r.exitQualification).toBe(EPT_QUAL.WRITE | EPT_QUAL.READABLE | EPT_QUAL.EXECUTABLE | EPT_QUAL.LINEAR_VALID | EPT_QUAL.FINAL_TRANSLATION);
    expect(r.guestPhysicalAddress).toBe(0x30_0010);
  });

  it('an EPT misconfiguration on a guest table access stops the walk', () => {
    const { memory, pt, ctx, ept, nested } = setup();
    pt.map(0x40_1000, 0x30_0000);
    const epte = ept.entryFor(pt.root, 1);
    memory.write32(epte, (memory.read32(epte) & ~7) | 2);
    expect(nested.walk(ctx, 0x40_1000, ACCESS.READ).status).toBe('ept-misconfig');
    expect(nested.eptMisconfigs).toBe(1);
  });

  it('guest A/D updates are EPT writes: a read-only EPT mapping of a guest table gives a write violation (28.2.3.2)', () => {
    const { pt, ctx, ept, nested } = setup();
    pt.map(0x40_1000, 0x30_0000); // A = 0 everywhere: the walk must write the entries
    ept.map(pt.root, pt.root + SHIFT, { permissions: 1 });
    const r = nested.walk(ctx, 0x40_1000, ACCESS.READ);
    expect(r.status).toBe('ept-violation');
    expect(r.exitQualification).toBe(EPT_QUAL.WRITE | EPT_QUAL.READABLE | EPT_QUAL.LINEAR_VALID);
    expect(r.guestPhysicalAddress).toBe(pt.root);
  });

  it('with EPT A/D enabled, guest table reads are checked as writes and set bits 0 and 1 (28.2.4)', () => {
    const { memory, pt, ctx, ept, nested } = setup(4, 4, true);
    pt.map(0x40_1000, 0x30_0000, { accessed: true, tableFlags: PTE_LO.P | PTE_LO.RW | PTE_LO.US | PTE_LO.A });
    ept.map(pt.root, pt.root + SHIFT, { permissions: 1 });
    const r = nested.walk(ctx, 0x40_1000, ACCESS.READ);
    expect(r.exitQualification).toBe(EPT_QUAL.READ | EPT_QUAL.WRITE | EPT_QUAL.READABLE | EPT_QUAL.LINEAR_VALID);
    // A guest table page that is writable in EPT gets its EPT dirty flag set by the walk.
    ept.map(pt.root, pt.root + SHIFT);
    expect(nested.walk(ctx, 0x40_1000, ACCESS.READ).status).toBe('ok');
    expect(memory.read32(ept.entryFor(pt.root, 1)) & EPTE_LO.D).toBe(EPTE_LO.D);
    expect(memory.read32(ept.entryFor(0x30_0000, 1)) & EPTE_LO.D).toBe(0);
  });

  it('writes guest A/D flags into guest memory through EPT', () => {
    const { memory, pt, ctx, nested } = setup();
    pt.map(0x40_1000, 0x30_0000);
    nested.walk(ctx, 0x40_1000, ACCESS.WRITE);
    const pte = pt.existingEntry(0x40_1000, 1);
    expect(memory.read32(pte + SHIFT) & (PTE_LO.A | PTE_LO.D)).toBe(PTE_LO.A | PTE_LO.D);
  });

  it('the combined page size is the smaller of guest and EPT pages', () => {
    const { pt, ctx, nested } = setup();
    pt.map(0x20_0000, 0x40_0000, { pageSize: 0x20_0000 });
    expect(nested.walk(ctx, 0x20_0010, ACCESS.READ).pageSize).toBe(4096);
  });

  it('property: the nested walk equals the guest walk then the EPT walk, with at most 24 references', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 511 }), fc.integer({ min: 0, max: 0x7ff }), fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 0, max: 0xfff }),
        fc.constantFrom(ACCESS.READ, ACCESS.WRITE, ACCESS.FETCH, ACCESS.USER, ACCESS.USER | ACCESS.WRITE),
        fc.boolean(),
        (maps, offset, access, eptAd) => {
          const { memory, pt, ctx, ept, nested } = setup(4, 4, eptAd);
          for (const [page, frame, w, u] of maps) pt.map(0x4000_0000 + page * 4096, frame * 4096, { writable: w, user: u });
          const linear = 0x4000_0000 + (maps[0]![0] * 4096) + offset;
          const r = nested.walk(ctx, linear, access, new WalkResult());
          // Reference: a guest walk over host memory holding the guest tables at +SHIFT, then EPT.
          const guest = new X86PageWalker(memory, { stage: { mapTable: (g) => g + SHIFT, mapTableWrite: (_g, h) => h, mapFinal: (g) => g } });
          const g = guest.walk(ctx, linear, access, new WalkResult());
          expect(r.status).toBe(g.status);
          expect(r.references).toBeLessThanOrEqual(24);
          if (g.status === 'ok') {
            const e = new EptWalker(memory);
            e.setEptp(ept.eptp(eptAd));
            const h = e.walk(g.address, access === ACCESS.WRITE || access === (ACCESS.USER | ACCESS.WRITE) ? EPT_QUAL.WRITE : access === ACCESS.FETCH ? EPT_QUAL.FETCH : EPT_QUAL.READ);
            expect(r.address).toBe(h.address);
            expect(r.guestPhysicalAddress).toBe(g.address);
            expect(r.references).toBe(24);
          } else {
            expect(r.errorCode).toBe(g.errorCode);
          }
        },
      ),
      PROPERTY_PARAMS,
    );
  }, 120_000); // a larger HVSIM_PROPERTY_RUNS takes longer than the default timeout

  // Two tests with half the runs each (and seeds of their own): each stays well under a second.
  it.each([0, 1])('property: with random EPT permissions on guest tables and data pages, faults included, the nested walk equals the guest walk over a separate EPT walk (28.2.3), part %i of 2', (part) => {
    const tally = new Set<string>();
    const Q_LINEAR = EPT_QUAL.LINEAR_VALID;
    const Q_FINAL = EPT_QUAL.FINAL_TRANSLATION;
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 15 }), fc.integer({ min: 0, max: 31 }), fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 8 }),
        fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 7 })), { maxLength: 6 }),
        fc.constantFrom(ACCESS.READ, ACCESS.WRITE, ACCESS.FETCH, ACCESS.USER | ACCESS.WRITE),
        fc.boolean(),
        // EPT permissions of the data page itself (a violation on the final address, bit 8 = 1), often enough for half the runs to reach it.
        fc.option(fc.integer({ min: 0, max: 7 }), { nil: undefined }),
        (maps, eptChanges, access, eptAd, dataPerms) => {
          // Two identical machines: one walked by the NestedWalker, one by the reference.
          const envs = [setup(4, 4, eptAd), setup(4, 4, eptAd)] as const;
          for (const env of envs) {
            for (const [page, frame, w, u] of maps) env.pt.map(0x4000_0000 + page * 4096, frame * 4096, { writable: w, user: u });
            // Change EPT permissions of some guest pages: guest tables live at gpa 8 MiB + n * 4 KiB, data at frame * 4 KiB.
            for (const [which, perms] of eptChanges) {
              const gpa = which < 32 ? which * 4096 : 0x80_0000 + (which - 32) * 4096;
              env.ept.map(gpa, gpa + SHIFT, { permissions: perms });
            }
            if (dataPerms !== undefined) {
              const frame = maps.filter(([page]) => page === maps[0]![0]).at(-1)![1];
              env.ept.map(frame * 4096, frame * 4096 + SHIFT, { permissions: dataPerms });
            }
          }
          const linear = 0x4000_0000 + maps[0]![0] * 4096 + 0x10;
          const r = envs[0].nested.walk(envs[0].ctx, linear, access, new WalkResult());
          // Reference: each guest table access and the final address through EptWalker.walk, qualification bits 7-8 added here.
          const eptRef = new EptWalker(envs[1].memory);
          eptRef.setEptp(envs[1].ept.eptp(eptAd));
          const e = new WalkResult();
          const tablePerms: number[] = [];
          const fail = (out: WalkResult, extra: number): number => {
            out.status = e.status;
            out.guestPhysicalAddress = e.guestPhysicalAddress;
            out.exitQualification = e.status === 'ept-violation' ? e.exitQualification | extra : 0; // a misconfiguration has no qualification
            return -1;
          };
          const guest = new X86PageWalker(envs[1].memory, {
            stage: {
              mapTable: (gpa, level, out) => {
                eptRef.walk(gpa, eptAd ? EPT_QUAL.READ | EPT_QUAL.WRITE : EPT_QUAL.READ, e);
                if (e.status !== 'ok') return fail(out, Q_LINEAR);
                tablePerms[level] = e.eptPermissions;
                return e.address;
              },
              mapTableWrite: (gpa, hpa, level, out) => {
                if (((tablePerms[level] ?? 0) & EPTE_LO.W) !== 0) return hpa;
                out.status = 'ept-violation';
                out.guestPhysicalAddress = gpa;
                out.exitQualification = EPT_QUAL.WRITE | ((tablePerms[level] ?? 0) << 3) | Q_LINEAR;
                return -1;
              },
              mapFinal: (gpa, acc, out) => {
                eptRef.walk(gpa, (acc & ACCESS.FETCH) !== 0 ? EPT_QUAL.FETCH : (acc & ACCESS.WRITE) !== 0 ? EPT_QUAL.WRITE : EPT_QUAL.READ, e);
                if (e.status !== 'ok') return fail(out, Q_LINEAR | Q_FINAL);
                return e.address;
              },
            },
          });
          const g = guest.walk(envs[1].ctx, linear, access, new WalkResult());
          expect(r.status).toBe(g.status);
          tally.add(`${r.status}${r.status === 'ept-violation' ? ((r.exitQualification & Q_FINAL) !== 0 ? ':final' : ':table') : ''}`);
          expect(r.references).toBeLessThanOrEqual(nestedWalkMaxReferences(4, 4));
          if (g.status === 'ok') expect([r.address, r.guestPhysicalAddress]).toEqual([g.address, g.guestPhysicalAddress]);
          else if (g.status === 'page-fault') expect(r.errorCode).toBe(g.errorCode);
          else expect([r.exitQualification, r.guestPhysicalAddress]).toEqual([g.exitQualification, g.guestPhysicalAddress]);
          // Guest tables (host 24 MiB..) and EPT tables (host 32 MiB..), A/D flags included, end up the same.
          for (const base of [0x80_0000 + SHIFT, 0x200_0000]) {
            expect(firstDifference(envs[0].memory.readBytes(base, 0x1_0000), envs[1].memory.readBytes(base, 0x1_0000))).toBe(-1);
          }
        },
      ),
      propertyShare(2, part),
    );
    // The generated cases reach every outcome.
    expect([...tally].sort()).toEqual(['ept-misconfig', 'ept-violation:final', 'ept-violation:table', 'ok', 'page-fault']);
  }, 120_000);
});
