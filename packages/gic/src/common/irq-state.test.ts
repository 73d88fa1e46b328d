import { describe, expect, it } from 'vitest';
import { SnapshotError, readState } from '@hvsim/core';
import { IrqEngine, ROUTE_ANY, ROUTE_NONE } from './irq-state.js';

function engine(routing: 'targets' | 'affinity' = 'affinity', cpus = 2): IrqEngine {
  const e = new IrqEngine({ cpus, spis: 32, priorityBits: 5, routing });
  e.distEnable = 3;
  return e;
}

// IHI0048B 3.2.4 / IHI0069 4.1.2: the interrupt state machine.
describe('IrqEngine state machine', () => {
  it('resets SGIs edge-triggered and everything else level-sensitive', () => {
    const e = engine();
    expect(e.edge[e.slot(1, 15)]).toBe(1);
    expect(e.edge[e.slot(1, 16)]).toBe(0);
    expect(e.edge[e.slot(0, 40)]).toBe(0);
  });

  it('edge: a rising edge latches pending; acknowledge makes it active; deactivate makes it inactive', () => {
    const e = engine();
    e.setEdge(0, 40, true);
    e.setEnabled(0, 40, true);
    e.setLine(0, 40, true);
    e.setLine(0, 40, false);
    expect(e.isPending(0, 40)).toBe(true);
    expect(e.best(0, 3)).toBe(40);
    e.acknowledge(0, 40);
    expect(e.isPending(0, 40)).toBe(false);
    expect(e.active[e.slot(0, 40)]).toBe(1);
    expect(e.best(0, 3)).toBe(-1);
    e.setLine(0, 40, true); // a new edge while active: active and pending
    expect(e.isPending(0, 40)).toBe(true);
    expect(e.best(0, 3)).toBe(-1);
    e.deactivate(0, 40);
    expect(e.best(0, 3)).toBe(40);
  });

  it('level: pending follows the line; acknowledge with the line high gives active and pending', () => {
    const e = engine();
    e.setEnabled(0, 41, true);
    e.setLine(0, 41, true);
    e.acknowledge(0, 41);
    expect(e.isPending(0, 41)).toBe(true);
    expect(e.active[e.slot(0, 41)]).toBe(1);
    e.setLine(0, 41, false);
    expect(e.isPending(0, 41)).toBe(false);
    e.deactivate(0, 41);
    expect(e.best(0, 3)).toBe(-1);
  });

  it('level: a software pending latch survives the line going low until cleared (IHI0048B 4.3.7)', () => {
    const e = engine();
    e.setEnabled(0, 42, true);
    e.setPending(0, 42);
    expect(e.isPending(0, 42)).toBe(true);
    e.setLine(0, 42, true);
    e.clearPending(0, 42);
    expect(e.isPending(0, 42)).toBe(true); // line still high
    e.setLine(0, 42, false);
    expect(e.isPending(0, 42)).toBe(false);
  });

  it('disabled interrupts stay pending but are not candidates', () => {
    const e = engine();
    e.setPending(0, 43);
    expect(e.best(0, 3)).toBe(-1);
    e.setEnabled(0, 43, true);
    expect(e.best(0, 3)).toBe(43);
    e.distEnable = 0;
    expect(e.best(0, 3)).toBe(-1);
  });

  it('SGIs and PPIs are banked per CPU', () => {
    const e = engine();
    e.setEnabled(1, 20, true);
    e.setLine(1, 20, true);
    expect(e.best(1, 3)).toBe(20);
    expect(e.best(0, 3)).toBe(-1);
    expect(e.isPending(0, 20)).toBe(false);
  });

  it('affinity routing: a fixed target, none, or 1-of-N among awake PEs', () => {
    const e = engine('affinity', 3);
    e.setEnabled(0, 44, true);
    e.routeCpu[12] = 2;
    e.setPending(0, 44);
    expect([e.best(0, 3), e.best(1, 3), e.best(2, 3)]).toEqual([-1, -1, 44]);
    e.routeCpu[12] = ROUTE_NONE;
    e.refresh(0, 44);
    expect([e.best(0, 3), e.best(1, 3), e.best(2, 3)]).toEqual([-1, -1, -1]);
    e.routeCpu[12] = ROUTE_ANY;
    e.asleep[1] = 1;
    e.refresh(0, 44);
    expect([e.best(0, 3), e.best(1, 3), e.best(2, 3)]).toEqual([44, -1, 44]);
    e.acknowledge(2, 44);
    expect([e.best(0, 3), e.best(2, 3)]).toEqual([-1, -1]);
  });

  it('GICv2 SGIs keep one pending bit per source and acknowledge the lowest source first', () => {
    const e = engine('targets', 4);
    e.setEnabled(0, 1, true);
    e.setSgiPending(0, 1, 3);
    e.setSgiPending(0, 1, 2);
    expect(e.acknowledge(0, 1)).toBe(2);
    expect(e.isPending(0, 1)).toBe(true);
    e.deactivate(0, 1);
    expect(e.acknowledge(0, 1)).toBe(3);
    expect(e.isPending(0, 1)).toBe(false);
  });

  it('save and restore reproduce the candidates; bad state is rejected', () => {
    const e = engine();
    e.setEnabled(0, 45, true);
    e.setPriority(0, 45, 0x37);
    e.setPending(0, 45);
    const saved = { type: 't', version: 1, ...JSON.parse(JSON.stringify(e.saveState())) };
    const f = engine();
    f.prepareRestore(readState(saved, 't', 1))();
    f.refreshAll();
    expect(f.best(0, 3)).toBe(45);
    expect(f.priority[f.slot(0, 45)]).toBe(0x30);
    expect(() => f.prepareRestore(readState({ ...saved, active: 'AA==' }, 't', 1))).toThrow(SnapshotError);
    expect(() => f.prepareRestore(readState({ ...saved, routeCpu: [7] }, 't', 1))).toThrow(/routeCpu must be an array of 32/);
  });
});
