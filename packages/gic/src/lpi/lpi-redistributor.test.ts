import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { ARM64_EXCEPTION_CLASS, CpuException, PhysicalMemory, readState, SnapshotError } from '@hvsim/core';
import { PendingSet } from '../common/pending-set.js';
import { LpiRedistributor } from './lpi-redistributor.js';
import { GICR } from '../v3/regs.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 200);
const PROP = 0x10_0000;
const PEND = 0x20_0000;
const LPI = 8192;
const KEY_BASE = 100;

function make(idBits = 16): { lpi: LpiRedistributor; set: PendingSet; memory: PhysicalMemory; changes: { n: number } } {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x40_0000);
  const set = new PendingSet(KEY_BASE);
  const changes = { n: 0 };
  const lpi = new LpiRedistributor({ memory, idBits, priorityMask: 0xf8, candidates: set, keyBase: KEY_BASE, onChange: () => changes.n++ });
  return { lpi, set, memory, changes };
}

function enable(lpi: LpiRedistributor, idBits = 15, ptz = false): void {
  lpi.write(GICR.PROPBASER, PROP | idBits);
  lpi.write(GICR.PENDBASER, PEND);
  lpi.write(GICR.PENDBASER + 4, ptz ? 1 << 30 : 0);
  lpi.write(GICR.CTLR, 1);
}

describe('LpiRedistributor (IHI0069 5.1, 12.11.2, 12.11.32-33)', () => {
  it('GICR_PROPBASER and GICR_PENDBASER hold their writable fields and become read-only with EnableLPIs', () => {
    const { lpi } = make();
    lpi.write(GICR.PROPBASER, 0xffff_ffff);
    expect(lpi.read(GICR.PROPBASER)).toBe(0xffff_ff9f);
    lpi.write(GICR.PENDBASER, 0xffff_ffff);
    expect(lpi.read(GICR.PENDBASER)).toBe(0xffff_0f80);
    lpi.write(GICR.PENDBASER + 4, 0xffff_ffff);
    expect(lpi.read(GICR.PENDBASER + 4)).toBe(0x070f_ffff); // PTZ reads as zero
    enable(lpi);
    lpi.write(GICR.PROPBASER, 0);
    expect(lpi.read(GICR.PROPBASER)).toBe(PROP | 15);
    expect(lpi.read(GICR.CTLR)).toBe(0b11); // EnableLPIs | CES
    expect(lpi.read(GICR.SYNCR)).toBe(0); // never busy
  });

  it('a configuration table outside memory makes EnableLPIs raise an SError (IMPLEMENTATION DEFINED, 5.1)', () => {
    const { lpi } = make();
    lpi.write(GICR.PROPBASER, 0x4000_0000 | 15);
    let caught: unknown;
    try {
      lpi.write(GICR.CTLR, 1);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(CpuException);
    expect((caught as CpuException).vector).toBe(ARM64_EXCEPTION_CLASS.SERROR);
  });

  it('IDbits below 13 configures no LPIs (12.11.33); INTIDs beyond IDbits are rejected', () => {
    const { lpi } = make();
    enable(lpi, 12);
    expect(lpi.lpiCount).toBe(0);
    expect(lpi.setPending(LPI)).toBe(false);
    const b = make().lpi;
    enable(b, 13);
    expect(b.lpiCount).toBe(8192);
    expect(b.setPending(LPI + 8191)).toBe(true);
    expect(b.setPending(LPI + 8192)).toBe(false);
    expect(b.setPending(8191)).toBe(false);
  });

  it('GICR_PROPBASER.IDbits above GICD_TYPER.IDbits configures only the implemented INTIDs (12.11.33)', () => {
    const { lpi } = make(14);
    enable(lpi, 20);
    expect(lpi.lpiCount).toBe(2 ** 14 - LPI);
    expect(lpi.setPending(2 ** 14 - 1)).toBe(true);
    expect(lpi.setPending(2 ** 14)).toBe(false);
  });

  it('reads the pending table at EnableLPIs 0 -> 1 unless PTZ, and writes it back at 1 -> 0 (5.1.2)', () => {
    const { lpi, memory, set } = make();
    memory.fill(PROP, 0x2000, 0xa3);
    memory.write8(PEND + LPI / 8 + 1, 0x05); // LPIs 8200 and 8202
    enable(lpi);
    expect(lpi.pendingIntids()).toEqual([LPI + 8, LPI + 10]);
    expect(set.size).toBe(2);
    lpi.setPending(LPI + 1);
    lpi.clearPending(LPI + 8);
    lpi.write(GICR.CTLR, 0);
    expect(set.size).toBe(0);
    // IHI0069 12.11.2 GICR_CTLR.CES = 1: clearing EnableLPIs is supported, so CES reads 1 whatever EnableLPIs is.
    expect(lpi.read(GICR.CTLR)).toBe(0b10);
    expect(memory.read8(PEND + LPI / 8)).toBe(0x02);
    expect(memory.read8(PEND + LPI / 8 + 1)).toBe(0x04);
    const fresh = make();
    fresh.memory.write8(PEND + LPI / 8, 0xff);
    enable(fresh.lpi, 15, true);
    expect(fresh.lpi.pendingIntids()).toEqual([]);
  });

  it('a disabled LPI stays pending but is not a candidate; GICR_SETLPIR / CLRLPIR set and clear (12.11.34, 12.11.1)', () => {
    const { lpi, set, memory } = make();
    enable(lpi);
    lpi.write(GICR.SETLPIR, LPI + 3);
    expect(lpi.isPending(LPI + 3)).toBe(true);
    expect(set.size).toBe(0);
    memory.write8(PROP + 3, 0x41);
    lpi.write(GICR.INVLPIR, LPI + 3);
    expect(set.size).toBe(0); // INVLPIR acts when its high word is written
    lpi.write(GICR.INVLPIR + 4, 0);
    expect(set.best(2)).toBe(KEY_BASE + 3);
    expect(lpi.keyPriority(KEY_BASE + 3)).toBe(0x40);
    expect(lpi.keyIntid(KEY_BASE + 3)).toBe(LPI + 3);
    lpi.write(GICR.CLRLPIR, LPI + 3);
    expect(set.size).toBe(0);
  });

  it('acknowledge takes the LPI out of pending (no active state) and the priority uses the implemented bits', () => {
    const { lpi, set, memory } = make();
    memory.write8(PROP + 7, 0xff);
    enable(lpi);
    lpi.setPending(LPI + 7);
    const key = set.best(2);
    expect(lpi.keyPriority(key)).toBe(0xf8);
    lpi.acknowledgeKey(key);
    expect(lpi.isPending(LPI + 7)).toBe(false);
    expect(set.best(2)).toBe(-1);
  });

  it('every pending enabled LPI is selected exactly once, highest priority first (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 0, max: 8191 }), fc.integer({ min: 0, max: 63 })), { minLength: 1, maxLength: 60 }), (entries) => {
        const { lpi, set, memory } = make(14);
        const prio = new Map<number, number>();
        for (const [i, p] of entries) {
          memory.write8(PROP + i, (p << 2) | 3);
          prio.set(i, (p << 2) & 0xf8);
        }
        enable(lpi, 13);
        for (const [i] of entries) lpi.setPending(LPI + i);
        const seen: number[] = [];
        let last = -1;
        for (let k = set.best(2); k >= 0; k = set.best(2)) {
          const p = lpi.keyPriority(k);
          expect(p).toBeGreaterThanOrEqual(last);
          last = p;
          seen.push(lpi.keyIntid(k) - LPI);
          lpi.acknowledgeKey(k);
        }
        expect(seen.sort((a, b) => a - b)).toEqual([...prio.keys()].sort((a, b) => a - b));
      }),
      { seed, numRuns },
    );
  });

  it('save and restore keep the configuration cache and pending bits (the cache may differ from memory)', () => {
    const { lpi, memory } = make();
    memory.write8(PROP + 2, 0x61);
    enable(lpi);
    lpi.setPending(LPI + 2);
    lpi.setPending(LPI + 9);
    memory.write8(PROP + 2, 0x00); // not invalidated: the cache still says enabled
    const state = JSON.parse(JSON.stringify({ type: 't', version: 1, lpi: lpi.saveState() })) as unknown;
    const fresh = make();
    fresh.lpi.prepareRestore(readState(state, 't', 1).object('lpi'))();
    expect(fresh.lpi.pendingIntids()).toEqual([LPI + 2, LPI + 9]);
    expect(fresh.set.best(2)).toBe(KEY_BASE + 2);
    expect(fresh.lpi.read(GICR.PROPBASER)).toBe(PROP | 15);
    const bad = { type: 't', version: 1, lpi: { ...lpi.saveState(), config: '3*zz' } };
    expect(() => fresh.lpi.prepareRestore(readState(bad, 't', 1).object('lpi'))).toThrow(SnapshotError);
  });
});
