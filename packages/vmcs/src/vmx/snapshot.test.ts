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
    expect(() => b.restoreState({ ...a.p.saveState(), version: 2 })).toThrow(/version/);
    expect(() => b.restoreState({ ...a.p.saveState(), current: 0x9000 })).toThrow('is not an active VMCS');
    const s = a.p.saveState();
    expect(() => b.restoreState({ ...s, active: [{ ...s.active[0], fields: { NOT_A_FIELD: '0x1' } }] })).toThrow(/not a VMCS field/);
    expect(() => b.restoreState({ ...s, active: [{ ...s.active[0], fields: { GUEST_ES_SELECTOR: '0x10000' } }] })).toThrow(/does not fit/);
    expect(() => b.restoreState({ ...s, operation: 'off' })).toThrow(/no VMX operation/);
    expect(b.vmxOperation).toBe('off'); // nothing half-restored
  });
});
