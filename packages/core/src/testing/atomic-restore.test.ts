import { describe, expect, it } from 'vitest';
import { Clock } from '../clock/clock.js';
import { Memslots, KVM_MEM_LOG_DIRTY_PAGES } from '../memory/memslots.js';
import { PhysicalMemory } from '../memory/physical-memory.js';
import { SeededRandom } from '../random/seeded-random.js';
import { readState } from '../snapshot/state-reader.js';
import { checkAtomicRestore, stateCorruptions } from './index.js';

/** Restores field by field, so a bad second field leaves the first one changed. */
class HalfRestorer {
  a = 0;
  b = 0;
  saveState(): { type: 't'; version: 1; a: number; b: number } {
    return { type: 't', version: 1, a: this.a, b: this.b };
  }
  restoreState(state: unknown): void {
    const r = readState(state, 't', 1);
    this.a = r.int('a', 0, 10);
    this.b = r.int('b', 0, 10);
  }
}

/** Validates everything first. */
class Atomic extends HalfRestorer {
  override restoreState(state: unknown): void {
    const r = readState(state, 't', 1);
    const a = r.int('a', 0, 10);
    const b = r.int('b', 0, 10);
    this.a = a;
    this.b = b;
  }
}

/** Reads a field without checking it: a bad state escapes as a TypeError. */
class Sloppy extends HalfRestorer {
  override restoreState(state: unknown): void {
    const s = state as { a: { n: number }; b: number };
    this.b = s.b;
    this.a = s.a.n;
  }
}

describe('checkAtomicRestore (the snapshot contract: a refused restore changes nothing)', () => {
  it('passes a model that validates the whole state first', () => {
    const report = checkAtomicRestore(new Atomic(), { type: 't', version: 1, a: 1, b: 2 }, [
      { label: 'b too big', state: { type: 't', version: 1, a: 3, b: 11 } },
      { type: 'other', version: 1 },
    ]);
    expect(report.refused).toBe(2);
    expect(report.corruptionsTried).toBeGreaterThan(10);
    expect(report.corruptionsRefused).toBe(report.corruptionsTried);
  });

  it('catches a half restore, naming the state and the change', () => {
    expect(() => checkAtomicRestore(new HalfRestorer(), { type: 't', version: 1, a: 1, b: 2 }, [{ label: 'b too big', state: { type: 't', version: 1, a: 3, b: 11 } }])).toThrow(
      /^restoreState of b too big threw \(SnapshotError: t\.b must be an integer in \[0, 10\], got 11 \(0xb\)\) but changed the model: saveState\(\) differs at character 28: before …{"type":"t","version":1,"a":1,"b":2}… after …{"type":"t","version":1,"a":3,"b":2}…$/,
    );
  });

  it('catches a bad state that is accepted, and a corruption refused with a host error', () => {
    expect(() => checkAtomicRestore(new Atomic(), { type: 't', version: 1, a: 1, b: 2 }, [{ type: 't', version: 1, a: 1, b: 2 }])).toThrow(
      'restoreState accepted bad state #0; it must throw',
    );
    expect(() => checkAtomicRestore(new Sloppy(), { type: 't', version: 1, a: { n: 1 }, b: 2 }, [])).toThrow(/^restoreState with a = "x" threw|^restoreState with a removed threw TypeError/);
  });

  it('makes corruptions of every field at every depth', () => {
    const paths = [...stateCorruptions({ type: 't', version: 1, list: [{ x: 1 }] })].map((c) => c.path);
    expect(paths).toContain('list minus its last element');
    expect(paths).toContain('list[0].x = -1');
    expect(paths).toContain('list[0].x removed');
    expect(paths).toContain('list[0] = null');
    expect(paths).not.toContain('type removed');
  });
});

describe("core's own restores are atomic", () => {
  it('PhysicalMemory', () => {
    const mem = new PhysicalMemory();
    mem.addRegion(0, 0x3000, { name: 'ram' });
    mem.addRegion(0x10000, 0x1000, { name: 'rom', readOnly: true });
    mem.write32(0x1004, 0xdead_beef);
    const good = JSON.parse(JSON.stringify(mem.saveState())) as ReturnType<PhysicalMemory['saveState']>;
    const report = checkAtomicRestore(new PhysicalMemory(), good, [
      { label: 'overlapping regions', state: { ...good, regions: [...good.regions, { base: 0x1000, size: 0x1000, name: 'x', readOnly: false }] } },
      { label: 'a page outside every region', state: { ...good, pages: { ...good.pages, '99': good.pages['1'] } } },
      { label: 'a short page', state: { ...good, pages: { '1': 'AAAA' } } },
    ]);
    expect(report.corruptionsRefused).toBeGreaterThan(20);
  });

  it('Clock, SeededRandom and Memslots', () => {
    const clock = new Clock();
    clock.advance(5);
    checkAtomicRestore(new Clock(), clock.saveState(), [{ type: 'hvsim.clock', version: 1, now: -1 }]);
    checkAtomicRestore(new SeededRandom(1), new SeededRandom(7).saveState(), [{ label: 'all-zero', state: { type: 'hvsim.random', version: 1, s: [0, 0, 0, 0] } }]);
    const slots = new Memslots();
    slots.add({ id: 0, guestPhysical: 0, size: 0x2000, hostPhysical: 0x4000, flags: KVM_MEM_LOG_DIRTY_PAGES });
    slots.markDirty(0x1000, 1);
    checkAtomicRestore(new Memslots(), slots.saveState(), [{ type: 'hvsim.memslots', version: 1, slots: [{ id: 0, guestPhysical: 1, size: 0x1000, hostPhysical: 0, flags: 0 }] }]);
  });
});

describe('stateCorruptions', () => {
  it('removes a field at any depth without touching the rest', () => {
    const all = [...stateCorruptions({ type: 't', version: 1, a: 1, o: { x: 1, y: [{ z: 2, w: 3 }] } })];
    expect(all.find((c) => c.path === 'a removed')?.state).toEqual({ type: 't', version: 1, o: { x: 1, y: [{ z: 2, w: 3 }] } });
    expect(all.find((c) => c.path === 'o.x removed')?.state).toEqual({ type: 't', version: 1, a: 1, o: { y: [{ z: 2, w: 3 }] } });
    expect(all.find((c) => c.path === 'o.y[0].z removed')?.state).toEqual({ type: 't', version: 1, a: 1, o: { x: 1, y: [{ w: 3 }] } });
    expect(all.find((c) => c.path === 'o.y[0].w = 1.5')?.state).toEqual({ type: 't', version: 1, a: 1, o: { x: 1, y: [{ z: 2, w: 1.5 }] } });
  });
});
