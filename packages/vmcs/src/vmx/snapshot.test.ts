import { describe, expect, it } from 'vitest';
import { Clock, PhysicalMemory, SnapshotError } from '@hvsim/core';
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import { ADDR, apicvOptions, launch, rootFixture } from '../internal/test-setup.js';
import { prepareVmcs } from './prepare-vmcs.js';
import { VmxProcessor } from './processor.js';
import { PIN_BASED, VM_EXIT } from './controls.js';
import type { NonRootOutcome } from './outcomes.js';


function describeOutcome(o: NonRootOutcome): string {
  switch (o.kind) {
    case 'deliver':
      return `deliver ${o.event.vector} ${o.event.type} ${o.event.virtual}`;
    case 'exit':
      return `exit ${o.exit.reason} ${o.exit.qualification} ${o.exit.interruptionInfo}`;
    case 'read':
      return `read ${o.lo} ${o.hi}`;
    case 'posted':
      return `posted ${o.notificationVector}`;
    default:
      return o.kind;
  }
}

/** A scripted guest: posts, boundaries, EOIs, TPR changes, HLT. */
function script(p: VmxProcessor, memory: PhysicalMemory, clock: Clock, steps: number): string[] {
  const pid = new PostedInterruptDescriptor(memory, ADDR.PID);
  const log: string[] = [];
  for (let i = 0; i < steps; i++) {
    if (p.vmxOperation === 'root') {
      log.push(`resume ${p.vmresume().kind}`);
      continue;
    }
    const v = 0x30 + ((i * 37) % 0xc0);
    switch (i % 6) {
      case 0:
        pid.postFromSoftware(v);
        log.push(describeOutcome(p.externalInterrupt(0xf2, true)));
        break;
      case 1:
      case 3:
        log.push(describeOutcome(p.instructionBoundary(true)));
        break;
      case 2:
        log.push(describeOutcome(p.wrmsr(0x80b, 0)));
        break;
      case 4:
        log.push(describeOutcome(p.wrmsr(0x808, (i % 5) << 4)));
        break;
      case 5:
        clock.advance(50);
        log.push(describeOutcome(i % 4 === 1 ? p.hlt() : p.instructionBoundary(false)));
        break;
    }
  }
  return log;
}

describe('save / restore (Snapshots: save, restore into a fresh instance, continue == never stopping)', () => {
  function start(): { p: VmxProcessor; memory: PhysicalMemory; clock: Clock } {
    const f = rootFixture();
    prepareVmcs(f.p, { ...apicvOptions({ pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER, exit: VM_EXIT.SAVE_PREEMPTION_TIMER }), fields: { VMX_PREEMPTION_TIMER_VALUE: 40, EOI_EXIT_BITMAP1: 0xffn } });
    // A second, launched-and-cleared VMCS stays active besides the current one.
    launch(f);
    return f;
  }

  it('round-trips the VMCS (fields and launch state), the active VMCS set and the non-root state', () => {
    const a = start();
    const before = script(a.p, a.memory, a.clock, 40);
    const saved = JSON.parse(JSON.stringify({ p: a.p.saveState(), m: a.memory.saveState(), c: a.clock.saveState() })) as { p: unknown; m: unknown; c: unknown };
    const memory = new PhysicalMemory();
    memory.restoreState(saved.m);
    const clock = new Clock();
    clock.restoreState(saved.c);
    const b = new VmxProcessor({ memory, clock });
    b.restoreState(saved.p);
    expect(b.saveState()).toEqual(a.p.saveState());
    const cont = script(a.p, a.memory, a.clock, 200);
    const restored = script(b, memory, clock, 200);
    expect(restored).toEqual(cont);
    expect(before.length).toBe(40);
    expect(cont.some((l) => l.startsWith('deliver'))).toBe(true);
    expect(cont.some((l) => l.startsWith('exit 52'))).toBe(true); // the preemption timer re-scheduled after restore
  });

  it('keeps the launch state of a VMCS through save/restore in root operation', () => {
    const a = start();
    a.p.reportExit(10);
    const s = a.p.saveState();
    expect(s.active[0]?.launchState).toBe('launched');
    const b = new VmxProcessor({ memory: a.memory, clock: a.clock });
    b.restoreState(s);
    expect(b.vmlaunch()).toEqual({ kind: 'fail-valid', error: 4 });
    expect(b.vmresume().kind).toBe('entered');
    expect(b.vmxonRegion).toBe(ADDR.VMXON);
    expect(b.currentVmcs?.get('GUEST_RIP')).toBe(0x10_0000n);
  });

  it('rejects foreign, malformed and inconsistent states', () => {
    const a = start();
    const b = new VmxProcessor({ memory: a.memory, clock: a.clock });
    expect(() => b.restoreState({ type: 'hvsim.lapic', version: 1 })).toThrow(SnapshotError);
    expect(() => b.restoreState({ ...a.p.saveState(), version: 1 })).toThrow(/version/);
    expect(() => b.restoreState({ ...a.p.saveState(), current: 0x9000 })).toThrow('is not an active VMCS');
    const s = a.p.saveState();
    expect(() => b.restoreState({ ...s, active: [{ ...s.active[0], fields: { NOT_A_FIELD: '0x1' } }] })).toThrow(/not a VMCS field/);
    expect(() => b.restoreState({ ...s, active: [{ ...s.active[0], fields: { GUEST_ES_SELECTOR: '0x10000' } }] })).toThrow(/does not fit/);
    expect(() => b.restoreState({ ...s, operation: 'off' })).toThrow(/no VMX operation/);
    expect(b.vmxOperation).toBe('off'); // nothing half-restored
  });
});

describe('restore into a clock that is far ahead (a migrated VM; core "saveCycle"/"restoreCycle")', () => {
  it('an armed VMX-preemption timer fires exactly the remaining cycles after the restore (SDM 3C "VMX-Preemption Timer")', () => {
    const a = rootFixture();
    prepareVmcs(a.p, { pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER, fields: { VMX_PREEMPTION_TIMER_VALUE: 100 } });
    launch(a);
    const rate = a.p.capabilities.preemptionTimerRate;
    const deadline = 100 * 2 ** rate; // the entry was at cycle 0
    a.clock.advance(1000);
    const saved = JSON.parse(JSON.stringify({ p: a.p.saveState(), m: a.memory.saveState() })) as { p: unknown; m: unknown };
    const remaining = deadline - 1000;
    const memory = new PhysicalMemory();
    memory.restoreState(saved.m);
    const clock = new Clock();
    clock.advance(5_000_000_000); // the destination host has run for a long time
    const b = new VmxProcessor({ memory, clock });
    b.restoreState(saved.p);
    clock.advance(remaining - 1);
    expect(b.preemptionTimerExpired).toBe(false);
    clock.advance(1);
    expect(b.preemptionTimerExpired).toBe(true);
    const o = b.instructionBoundary(true);
    expect(o.kind === 'exit' && o.exit.basicReason).toBe(52);
  });
});

describe('restoreState is atomic (the snapshot contract)', () => {
  it('a state with any bad part is refused and leaves the processor exactly as it was', () => {
    const a = rootFixture();
    prepareVmcs(a.p, { ...apicvOptions({ pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER }), fields: { VMX_PREEMPTION_TIMER_VALUE: 40 } });
    launch(a);
    const good = JSON.parse(JSON.stringify(a.p.saveState())) as Record<string, unknown>;
    // A second processor in another state (root, other VMCS active) receives the bad states.
    const b = rootFixture();
    const before = JSON.stringify(b.p.saveState());
    const nonRoot = good.nonRoot as Record<string, unknown>;
    const active = good.active as Record<string, unknown>[];
    const bad: unknown[] = [
      { ...good, version: 1 },
      { ...good, operation: 'sideways' },
      { ...good, mode: { ...(good.mode as object), cpl: 4 } },
      { ...good, vmxAbort: 7 },
      { ...good, nonRoot: { ...nonRoot, activity: 9 } },
      { ...good, nonRoot: { ...nonRoot, timerRemaining: -2 } },
      { ...good, nonRoot: { ...nonRoot, inFlight: { info: 'x' } } },
      { ...good, active: [{ ...active[0], fields: { ...(active[0]!.fields as object), PIN_BASED_VM_EXEC_CONTROL: '0x0' } }] },
      { ...good, active: [{ ...active[0], fields: { ...(active[0]!.fields as object), POSTED_INTR_DESC_ADDR: '0x7041' } }] },
      { ...good, active: [{ ...active[0], launchState: 'running' }] },
      { ...good, current: 0x3000 },
    ];
    for (const state of bad) {
      expect(() => b.p.restoreState(state)).toThrow(SnapshotError);
      expect(JSON.stringify(b.p.saveState())).toBe(before);
    }
    // A running timer needs a clock: refused before anything changes.
    const noClock = new VmxProcessor({ memory: a.memory });
    const empty = JSON.stringify(noClock.saveState());
    expect(() => noClock.restoreState(good)).toThrow(/needs a clock/);
    expect(JSON.stringify(noClock.saveState())).toBe(empty);
    b.p.restoreState(good);
    expect(b.p.vmxOperation).toBe('non-root');
  });
});
