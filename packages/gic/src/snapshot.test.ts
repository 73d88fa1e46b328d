/**
 * Snapshots of every GIC model: a state that fails validation anywhere
 * changes nothing (validate all, then commit), and the order among
 * equal-priority pending interrupts survives save and restore (IHI0069 4.1.1
 * and IHI0048B 3.3: the tie order is IMPLEMENTATION DEFINED; this model
 * serves the first to become pending first, before and after a snapshot).
 */
import { SnapshotError } from '@hvsim/core';
import { checkAtomicRestore } from '@hvsim/core/testing';
import { describe, expect, it } from 'vitest';
import { GICC, GICD as GICD2 } from './v2/regs.js';
import { GICD } from './v3/regs.js';
import { bringUpV2, makeV2 } from './test-support/v2.js';
import { bringUpV3, makeV3 } from './test-support/v3.js';
import { enableLpi, makeItsRig, mapDevice } from './test-support/its.js';
import { GITS } from './its/regs.js';

/** A saved state as JSON data, edited freely by the tests. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests reach into arbitrary nested fields
type Json = Record<string, any>;

/** A deep copy of `state` with `edit` applied (JSON round trip, as a migration stream would carry it). */
function corrupt(state: unknown, edit: (s: Json) => void): unknown {
  const copy = JSON.parse(JSON.stringify(state)) as Json;
  edit(copy);
  return copy;
}

describe('restoreState is atomic: a bad state changes nothing (validate all, then commit)', () => {
  it('GicV2', () => {
    const a = makeV2({ cpus: 2 });
    bringUpV2(a);
    a.gic.setSpiLevel(40, true);
    const before = JSON.stringify(a.gic.saveState());
    const irqBefore = [...a.irq];
    const b = makeV2({ cpus: 2 });
    bringUpV2(b);
    b.wgicd(0, GICD2.CTLR, 0);
    // Valid engine and CPU 0, a bad field in the last CPU's virtual interface.
    const bad = corrupt(b.gic.saveState(), (s) => (s.perCpu[1].virtualInterface.lrState = [0, 0, 0, 9]));
    expect(() => a.gic.restoreState(bad)).toThrow(SnapshotError);
    expect(() => a.gic.restoreState(bad)).toThrow(/perCpu\[1\]\.virtualInterface\.lrState\[3\] must be an integer in \[0, 3\], got 9/);
    expect(JSON.stringify(a.gic.saveState())).toBe(before);
    expect(a.irq).toEqual(irqBefore);
  });

  it('GicV3 (GICD_CTLR and the engine untouched when a later part is bad)', () => {
    const a = makeV3({ cpus: 2 });
    bringUpV3(a);
    a.wgicd(GICD.ISENABLER + 4, 1 << 8);
    a.gic.signalSpi(40);
    const before = JSON.stringify(a.gic.saveState());
    const b = makeV3({ cpus: 2 });
    const bad = corrupt(b.gic.saveState(), (s) => (s.perCpu[1].routing = 4));
    expect(() => a.gic.restoreState(bad)).toThrow(/perCpu\[1\]\.routing must be an integer in \[0, 3\], got 4/);
    expect(JSON.stringify(a.gic.saveState())).toBe(before);
    expect(a.irq[0]).toBe(true);
    expect(a.gicd(GICD.CTLR) & 3).toBe(3);
  });

  it('GicV3 with LPIs and GICv4.1 (a bad LPI part of the last CPU)', () => {
    const rig = makeItsRig({ cpus: 2, gicv4: 'v4.1' });
    mapDevice(rig, 1);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 0, intid: 8192 + 5, icid: 0 });
    enableLpi(rig, 0, 8192 + 5);
    rig.its.translate(1, 0);
    const before = JSON.stringify(rig.gic.saveState());
    const bad = corrupt(rig.gic.saveState(), (s) => (s.perCpu[1].lpi.pending = [5]));
    expect(() => rig.gic.restoreState(bad)).toThrow(/perCpu\[1\]\.lpi\.pending\[0\] must be an integer/);
    const bad2 = corrupt(rig.gic.saveState(), (s) => (s.perCpu[1].vpe.vsgir = -1));
    expect(() => rig.gic.restoreState(bad2)).toThrow(/vpe\.vsgir/);
    expect(JSON.stringify(rig.gic.saveState())).toBe(before);
  });

  it('GicV3Its (a bad drop count after valid registers)', () => {
    const rig = makeItsRig({ cpus: 1 });
    rig.its.translate(9, 0); // unmapped device: one drop
    const before = JSON.stringify(rig.its.saveState());
    const bad = corrupt(rig.its.saveState(), (s) => {
      s.enabled = false;
      s.drops['unmapped-device'] = -1;
    });
    expect(() => rig.its.restoreState(bad)).toThrow(/drops\.unmapped-device must be an integer/);
    expect(JSON.stringify(rig.its.saveState())).toBe(before);
    expect(rig.its.mmioRead(GITS.CTLR, 4) & 1).toBe(1);
  });

  it('restoreVirtualInterface (v2 and v3)', () => {
    const v3 = makeV3({ cpus: 1 });
    v3.gic.virtualInterface(0).writeLr(0, 27, 0x50a0_0000);
    const saved3 = v3.gic.saveVirtualInterface(0);
    v3.gic.virtualInterface(0).writeLr(1, 28, 0x50a0_0000);
    const before3 = JSON.stringify(v3.gic.saveVirtualInterface(0));
    expect(() => v3.gic.restoreVirtualInterface(0, corrupt(saved3, (s) => (s.apr = [0])))).toThrow(/apr must be an array of 8/);
    expect(JSON.stringify(v3.gic.saveVirtualInterface(0))).toBe(before3);
    const v2 = makeV2({ cpus: 1 });
    v2.gic.hypervisorInterface(0).writeLr(0, 0x1000_001b);
    const before2 = JSON.stringify(v2.gic.saveVirtualInterface(0));
    const bad2 = corrupt(v2.gic.saveVirtualInterface(0), (s) => (s.vmcr.pmr = 0x100));
    expect(() => v2.gic.restoreVirtualInterface(0, bad2)).toThrow(/vmcr\.pmr/);
    expect(JSON.stringify(v2.gic.saveVirtualInterface(0))).toBe(before2);
  });
});

describe('equal-priority order survives a snapshot (issue 12 bug 4)', () => {
  it('GicV3: SPIs pending in the order 50, 40, 45 are acknowledged in that order after restore', () => {
    const a = makeV3({ cpus: 1 });
    bringUpV3(a);
    a.wgicd(GICD.ISENABLER + 4, 0xffff_ffff);
    for (const id of [50, 40, 45]) a.gic.signalSpi(id);
    const b = makeV3({ cpus: 1 });
    b.gic.restoreState(JSON.parse(JSON.stringify(a.gic.saveState())));
    const acks = (gic: typeof a.gic): number[] => {
      const out: number[] = [];
      for (let i = 0; i < 3; i++) {
        const id = gic.cpuInterface(0).readIar(1);
        out.push(id);
        gic.cpuInterface(0).writeEoir(1, id);
      }
      return out;
    };
    expect(acks(b.gic)).toEqual([50, 40, 45]);
    expect(acks(a.gic)).toEqual([50, 40, 45]);
  });

  it('GicV2: the same for a GICv2 distributor', () => {
    const a = makeV2({ cpus: 1 });
    bringUpV2(a);
    a.wgicd(0, GICD2.ISENABLER + 4, 0xffff_ffff);
    for (const id of [60, 33, 47]) a.gic.setSpiLevel(id, true);
    const b = makeV2({ cpus: 1 });
    b.gic.restoreState(JSON.parse(JSON.stringify(a.gic.saveState())));
    const acks: number[] = [];
    for (let i = 0; i < 3; i++) {
      const id = b.gicc(0, GICC.IAR);
      acks.push(id);
      b.gic.setSpiLevel(id, false);
      b.wgicc(0, GICC.EOIR, id);
    }
    expect(acks).toEqual([60, 33, 47]);
  });

  it('a state without the order (older snapshots) restores in INTID order; a bad order is rejected', () => {
    const a = makeV3({ cpus: 1 });
    bringUpV3(a);
    a.wgicd(GICD.ISENABLER + 4, 0xffff_ffff);
    for (const id of [50, 40]) a.gic.signalSpi(id);
    const old = corrupt(a.gic.saveState(), (s) => delete s.engine.order);
    const b = makeV3({ cpus: 1 });
    b.gic.restoreState(old);
    expect(b.gic.cpuInterface(0).readIar(1)).toBe(40);
    expect(() => b.gic.restoreState(corrupt(a.gic.saveState(), (s) => (s.engine.order = [[-1]])))).toThrow(/engine\.order\[0\]\[0\] must be an integer/);
  });
});

describe("core's checkAtomicRestore over every field of every GIC model's state (issue 12 item 10)", () => {
  it('GicV2: every corruption is refused with an HvsimError and changes nothing, or accepted', () => {
    const v2 = makeV2({ cpus: 2 });
    bringUpV2(v2);
    v2.gic.setSpiLevel(40, true);
    checkAtomicRestore(makeV2({ cpus: 2 }).gic, v2.gic.saveState(), [{ label: 'a GicV3 state', state: makeV3({ cpus: 2 }).gic.saveState() }], { maxCorruptions: 250 });
  });

  it('GicV3: every corruption is refused with an HvsimError and changes nothing, or accepted', () => {
    const good2 = makeV2({ cpus: 2 }).gic.saveState();
    const v3 = makeV3({ cpus: 2 });
    bringUpV3(v3);
    v3.gic.signalSpi(40);
    checkAtomicRestore(makeV3({ cpus: 2 }).gic, v3.gic.saveState(), [{ label: 'a GicV2 state', state: good2 }], { maxCorruptions: 250 });
  });

  it('GicV3 with LPIs and GICv4.1', () => {
    const rig = makeItsRig({ cpus: 1, gicv4: 'v4.1' });
    mapDevice(rig, 1);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 0, intid: 8192 + 5, icid: 0 });
    enableLpi(rig, 0, 8192 + 5);
    rig.its.translate(1, 0);
    rig.its.translate(2, 0);
    const target = makeItsRig({ cpus: 1, gicv4: 'v4.1', raw: true });
    // Every corruption of these states was tried once (about 10 s); the test keeps the first few hundred.
    checkAtomicRestore(target.gic, rig.gic.saveState(), [], { maxCorruptions: 200 });
  });

  it('the ITS of a GicV3 with LPIs and GICv4.1', () => {
    const rig = makeItsRig({ cpus: 1, gicv4: 'v4.1' });
    mapDevice(rig, 1);
    rig.cmd('MAPTI', { deviceId: 1, eventId: 0, intid: 8192 + 5, icid: 0 });
    enableLpi(rig, 0, 8192 + 5);
    rig.its.translate(1, 0);
    rig.its.translate(2, 0);
    const target = makeItsRig({ cpus: 1, gicv4: 'v4.1', raw: true });
    checkAtomicRestore(target.its, rig.its.saveState(), [{ label: 'a GIC state', state: rig.gic.saveState() }], { maxCorruptions: 200 });
  });
});
