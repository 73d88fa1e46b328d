import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PhysicalMemory, UsageError } from '@hvsim/core';
import type { LpiRedistributorPort } from '../its/ports.js';
import { writeVpeEntry, type VpeEntry } from '../its/tables.js';
import { GICR_VLPI } from './regs.js';
import { VpeRedistributor, type GicV4Version } from './vpe-redistributor.js';

const LPI = 8192;
const VPE_TABLE = 0x1_0000;
const VPT = 0x10_0000;
const VCONF = 0x20_0000;

/** A fake redistributor LPI port that records doorbells, and a fake CPU port that counts notifications. */
function make(version: GicV4Version): { vpe: VpeRedistributor; memory: PhysicalMemory; doorbells: number[]; notified: { n: number }; entry: VpeEntry } {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x40_0000);
  const doorbells: number[] = [];
  const port: LpiRedistributorPort = {
    setPending: (intid) => doorbells.push(intid) > 0,
    clearPending: () => false,
    isPending: () => false,
    invalidate: (intid) => doorbells.push(-intid),
    invalidateAll: () => undefined,
    pendingIntids: () => [],
  };
  const notified = { n: 0 };
  const vpe = new VpeRedistributor({ memory, version, idBits: 16, priorityMask: 0xf8, doorbells: port, cpu: { vlpiChanged: () => notified.n++ } });
  const entry: VpeEntry = { valid: true, vpeId: 5, rd: 0, vptAddress: VPT, vptSize: 15, defaultDoorbell: LPI + 77, vconfAddress: VCONF };
  writeVpeEntry(memory, VPE_TABLE + 5 * 32, entry);
  memory.fill(VCONF, 0x1000, 0xa3);
  return { vpe, memory, doorbells, notified, entry };
}

function write64(vpe: VpeRedistributor, offset: number, lo: number, hi: number): void {
  vpe.write(offset, lo >>> 0);
  vpe.write(offset + 4, hi >>> 0);
}

function makeResident(vpe: VpeRedistributor, version: GicV4Version): void {
  if (version === 'v4.1') {
    write64(vpe, GICR_VLPI.VPROPBASER, VPE_TABLE, 0x8000_0000);
    write64(vpe, GICR_VLPI.VPENDBASER, 5, 0x8400_0000); // Valid, vGrp1En, vPEID 5
  } else {
    write64(vpe, GICR_VLPI.VPROPBASER, VCONF | 15, 0);
    write64(vpe, GICR_VLPI.VPENDBASER, VPT, 0xa000_0000); // Valid, PendingLast
  }
}

describe.each(['v4.0', 'v4.1'] as const)('VpeRedistributor %s with fake ports (IHI0069 12.11)', (version) => {
  it('VLPI_base conformance: Dirty is read-only and reported once; writes while Valid are ignored', () => {
    const { vpe } = make(version);
    expect(vpe.read(GICR_VLPI.VPENDBASER + 4)).toBe(0);
    makeResident(vpe, version);
    expect(vpe.isResident).toBe(true);
    const hi = vpe.read(GICR_VLPI.VPENDBASER + 4);
    expect(hi >>> 28 & 1).toBe(1); // Dirty: parse in progress
    expect(hi >>> 29 & 1).toBe(1); // PendingLast RES1 while resident
    expect(vpe.read(GICR_VLPI.VPENDBASER + 4) >>> 28 & 1).toBe(0);
    const prop = vpe.read(GICR_VLPI.VPROPBASER);
    vpe.write(GICR_VLPI.VPROPBASER, 0x1234_5000);
    expect(vpe.read(GICR_VLPI.VPROPBASER)).toBe(prop);
    vpe.write(GICR_VLPI.VPENDBASER + 4, 0x8000_0000 | (1 << 28)); // Valid stays 1: ignored
    expect(vpe.isResident).toBe(true);
    expect(vpe.read(GICR_VLPI.VPENDBASER + 4) >>> 28 & 1).toBe(0);
  });

  it('resident vLPIs reach the CPU port; acknowledge clears them; non-resident ones go to the VPT', () => {
    const { vpe, memory, notified, entry } = make(version);
    makeResident(vpe, version);
    const before = notified.n;
    vpe.setVlpiPending(entry, LPI + 3, 1023);
    expect(notified.n).toBe(before + 1);
    const key = vpe.best(2);
    expect(vpe.keyIntid(key)).toBe(LPI + 3);
    expect(vpe.keyPriority(key)).toBe(0xa0);
    expect(vpe.best(1)).toBe(-1); // vLPIs are Group 1
    vpe.acknowledgeKey(key);
    expect(vpe.best(2)).toBe(-1);
    vpe.setVlpiPending(entry, LPI + 4, 1023);
    write64(vpe, GICR_VLPI.VPENDBASER, 0, 0); // Valid 1 -> 0: write back
    expect(vpe.isResident).toBe(false);
    expect(memory.read8(VPT + ((LPI + 4) >>> 3)) & (1 << ((LPI + 4) & 7))).not.toBe(0);
    expect(vpe.read(GICR_VLPI.VPENDBASER + 4) >>> 29 & 1).toBe(1); // PendingLast: an enabled vLPI pending
    expect(vpe.best(3)).toBe(-1);
  });

  it('doorbells: per-event doorbell while not resident; never while resident', () => {
    const { vpe, doorbells, entry } = make(version);
    vpe.setVlpiPending(entry, LPI + 1, LPI + 99);
    expect(doorbells).toEqual([LPI + 99]);
    makeResident(vpe, version);
    vpe.setVlpiPending(entry, LPI + 2, LPI + 99);
    expect(doorbells).toEqual([LPI + 99]);
  });

  it('a snapshot is refused while a vPE is resident', () => {
    const { vpe } = make(version);
    makeResident(vpe, version);
    expect(() => vpe.saveState()).toThrow(UsageError);
    write64(vpe, GICR_VLPI.VPENDBASER, 0, 0);
    expect(vpe.saveState().vpendbaser[1] >>> 31).toBe(0);
  });
});

describe('VpeRedistributor v4.1 specifics', () => {
  it('GICR_VPROPBASER.Entry_Size is read-only; GICR_VSGIR is RW; GICR_VSGIPENDR.Busy reads 0', () => {
    const { vpe } = make('v4.1');
    expect((vpe.read(GICR_VLPI.VPROPBASER + 4) >>> 27) & 7).toBe(3); // 32-byte entries, in 8-byte units minus one
    vpe.write(GICR_VLPI.VPROPBASER + 4, 0);
    expect((vpe.read(GICR_VLPI.VPROPBASER + 4) >>> 27) & 7).toBe(3);
    vpe.write(GICR_VLPI.VSGIR, 0x1_0005);
    expect(vpe.read(GICR_VLPI.VSGIR)).toBe(5);
    expect(vpe.read(GICR_VLPI.VSGIPENDR) >>> 31).toBe(0);
  });

  it('a VPENDBASER naming a vPE the vPE table does not hold is ignored', () => {
    const { vpe } = make('v4.1');
    write64(vpe, GICR_VLPI.VPROPBASER, VPE_TABLE, 0x8000_0000);
    write64(vpe, GICR_VLPI.VPENDBASER, 6, 0x8400_0000);
    expect(vpe.isResident).toBe(false);
  });

  it('the default doorbell needs DB = 1 and an enabled vLPI, and rings once', () => {
    const { vpe, doorbells, entry, memory } = make('v4.1');
    makeResident(vpe, 'v4.1');
    write64(vpe, GICR_VLPI.VPENDBASER, 0, 1 << 30); // DB = 1, nothing pending
    expect(vpe.read(GICR_VLPI.VPENDBASER + 4) >>> 29 & 1).toBe(0); // PendingLast = 0
    memory.write8(VCONF + 1, 0xa2); // vLPI 8193 disabled
    vpe.setVlpiPending(entry, LPI + 1, 1023);
    expect(doorbells).toEqual([]);
    vpe.setVlpiPending(entry, LPI + 2, 1023);
    vpe.setVlpiPending(entry, LPI + 3, 1023);
    expect(doorbells).toEqual([LPI + 77]);
    vpe.invalidateDoorbell(entry);
    expect(doorbells).toEqual([LPI + 77, -(LPI + 77)]);
  });
});

describe('VpeRedistributor residency write-back (IHI0069 5.4.1, 12.11.38)', () => {
  const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
  const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);
  // Each run builds a 4 MiB machine: a quarter of the runs keeps the test well under a second.
  const runs = Math.max(1, Math.floor(numRuns / 4));

  it.each(['v4.0', 'v4.1'] as const)('%s: after Valid clears the VPT holds exactly the pending vLPIs, and PendingLast says whether an enabled one is', (version) => {
    // Initial VPT bits, then a run of ITS sets/clears and guest acknowledges while resident, against a model.
    const op = fc.record({ kind: fc.constantFrom('set', 'clear', 'ack'), vintid: fc.integer({ min: LPI, max: 2 ** 16 - 1 }) });
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: LPI, max: 2 ** 16 - 1 }), { maxLength: 12 }), fc.array(op, { maxLength: 24 }), fc.boolean(), (initial, ops, enabled) => {
        const { vpe, memory, entry } = make(version);
        memory.fill(VCONF, 2 ** 16, enabled ? 0xa1 : 0xa0);
        const model = new Set<number>(initial);
        for (const v of initial) memory.write8(VPT + (v >>> 3), memory.read8(VPT + (v >>> 3)) | (1 << (v & 7)));
        makeResident(vpe, version);
        for (const o of ops) {
          if (o.kind === 'set') {
            expect(vpe.setVlpiPending(entry, o.vintid, 1023)).toBe(!model.has(o.vintid));
            model.add(o.vintid);
          } else if (o.kind === 'clear') {
            expect(vpe.clearVlpiPending(entry, o.vintid)).toBe(model.has(o.vintid));
            model.delete(o.vintid);
          } else {
            const key = vpe.best(3);
            if (!enabled) expect(key).toBe(-1);
            if (key < 0) continue;
            model.delete(vpe.keyIntid(key));
            vpe.acknowledgeKey(key);
          }
        }
        expect(vpe.residentPending()).toEqual([...model].sort((a, b) => a - b));
        vpe.write(GICR_VLPI.VPENDBASER + 4, 0);
        const vpt: number[] = [];
        const bytes = memory.readBytes(VPT + LPI / 8, (2 ** 16 - LPI) / 8);
        bytes.forEach((b, i) => {
          for (let bit = 0; bit < 8; bit++) if ((b >>> bit) & 1) vpt.push(LPI + i * 8 + bit);
        });
        expect(vpt).toEqual([...model].sort((a, b) => a - b));
        expect((vpe.read(GICR_VLPI.VPENDBASER + 4) >>> 29) & 1).toBe(enabled && model.size > 0 ? 1 : 0);
        // Resident again: the same vLPIs are candidates (the set was emptied and rebuilt from the VPT).
        makeResident(vpe, version);
        expect(vpe.residentPending()).toEqual([...model].sort((a, b) => a - b));
        const taken: number[] = [];
        for (let key = vpe.best(3); key >= 0; key = vpe.best(3)) {
          taken.push(vpe.keyIntid(key));
          vpe.acknowledgeKey(key);
        }
        expect(taken.sort((a, b) => a - b)).toEqual(enabled ? [...model].sort((a, b) => a - b) : []);
      }),
      { seed, numRuns: runs },
    );
  });
});
