// The VM-entry fast path (issue 11, G6a): checks that passed are not redone
// until a field they read is written, the VMCS is reloaded, or the
// processor's IA32_EFER.LMA changes; nothing is allocated per entry.
// SDM 3C "VM Entries": "Checks on VMX Controls and Host-State Area",
// "Checks on the Guest State Area" — the verdicts must be those of a full check.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Clock, PhysicalMemory } from '@hvsim/core';
import { VmxProcessor } from './processor.js';
import type { VmEntryOutcome } from './outcomes.js';
import { VMCS_FIELD, VMCS_FIELD_SPECS, type VmcsFieldName } from '../fields/field-table.js';
import { slotOf } from '../fields/slots.js';
import { CHECK_CONTROLS, CHECK_GUEST, CHECK_HOST, CONTROL_CHECK_FIELDS, GUEST_CHECK_FIELDS, HOST_CHECK_FIELDS } from '../vmcs/check-dependencies.js';
import { ADDR, apicvOptions, launch, preparedFixture, type Fixture } from '../internal/test-setup.js';
import { ACTIVITY_STATE, CPU_BASED, SECONDARY } from './controls.js';
import { EXIT_REASON } from './exit-reasons.js';
import { VmxCapabilities } from './capabilities.js';
import type { PrepareVmcsOptions } from './prepare-vmcs.js';
import { checkControls, checkGuestState, checkHostState } from './vm-entry-checks.js';

const F = VMCS_FIELD;
const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

/** Launched, then back in root operation after a CPUID exit. */
function exited(options: PrepareVmcsOptions = apicvOptions()): Fixture {
  const f = preparedFixture(options);
  launch(f);
  f.p.reportExit(EXIT_REASON.CPUID, { instructionLength: 2 });
  return f;
}

describe('VM-entry check cache (SDM 3C "VM Entries")', () => {
  it('checks that passed are not redone: a bypassing write to lo[] is not seen until invalidateChecks()', () => {
    const f = exited();
    const v = f.p.currentVmcs!;
    expect(v.checked).toBe(CHECK_CONTROLS | CHECK_HOST | CHECK_GUEST);
    v.lo[slotOf(F.HOST_CR0)] = 0; // would fail the host checks
    expect(f.p.vmresume().kind).toBe('entered');
    f.p.reportExit(EXIT_REASON.CPUID);
    v.invalidateChecks();
    expect(f.p.vmresume()).toEqual({ kind: 'fail-valid', error: 8 });
    expect(f.p.lastEntryCheck).toMatch(/host CR0/);
  });

  it('a VMWRITE to a field a group reads re-runs that group (controls → 7, host → 8, guest → exit 33)', () => {
    const f = exited();
    expect(f.p.vmwrite(F.CR3_TARGET_COUNT, 5).kind).toBe('succeed');
    expect(f.p.vmresume()).toEqual({ kind: 'fail-valid', error: 7 });
    f.p.vmwrite(F.CR3_TARGET_COUNT, 0);
    f.p.vmwrite(F.HOST_TR_SELECTOR, 0);
    expect(f.p.vmresume()).toEqual({ kind: 'fail-valid', error: 8 });
    f.p.vmwrite(F.HOST_TR_SELECTOR, 0x18);
    f.p.vmwrite(F.GUEST_RFLAGS, 0); // bit 1 must be 1
    const r = f.p.vmresume();
    expect(r.kind === 'exit' && r.exit.reason).toBe((EXIT_REASON.INVALID_GUEST_STATE | 0x8000_0000) >>> 0);
    f.p.vmwrite(F.GUEST_RFLAGS, 2);
    expect(f.p.vmresume().kind).toBe('entered');
  });

  it('Vmcs.set (the CPU saving guest registers) invalidates like VMWRITE; fields no check reads keep the cache', () => {
    const f = exited();
    const v = f.p.currentVmcs!;
    v.set('GUEST_RIP', 0x10_0002n);
    v.set('GUEST_RSP', 0x20_0000n);
    v.set('TSC_OFFSET', 123n);
    expect(v.checked).toBe(CHECK_CONTROLS | CHECK_HOST | CHECK_GUEST);
    v.set('GUEST_RFLAGS', 0x202n);
    expect(v.checked).toBe(CHECK_CONTROLS | CHECK_HOST);
    // Rewriting the same value keeps the cache (every exit rewrites the guest state it saved); a change (TSC offsetting, SDM 3C 25.6.2) clears it.
    v.set('CPU_BASED_VM_EXEC_CONTROL', v.get('CPU_BASED_VM_EXEC_CONTROL'));
    expect(v.checked).toBe(CHECK_CONTROLS | CHECK_HOST);
    v.set('CPU_BASED_VM_EXEC_CONTROL', v.get('CPU_BASED_VM_EXEC_CONTROL') ^ 0x8n);
    expect(v.checked).toBe(CHECK_HOST);
    expect(f.p.vmresume().kind).toBe('entered');
    expect(v.checked).toBe(CHECK_CONTROLS | CHECK_HOST | CHECK_GUEST);
  });

  it('a change of the processor mode the host checks read (IA32_EFER.LMA) re-runs them', () => {
    const f = exited();
    f.p.mode.efer = 0; // not in IA-32e mode: "host address-space size" must be 0
    f.p.mode.csL = false;
    expect(f.p.vmresume()).toEqual({ kind: 'fail-valid', error: 8 });
    expect(f.p.lastEntryCheck).toMatch(/outside IA-32e mode/);
  });

  it('VMCLEAR then VMPTRLD loads the VMCS afresh: every check runs again', () => {
    const f = exited();
    const before = f.p.currentVmcs!;
    expect(f.p.vmclear(ADDR.VMCS).kind).toBe('succeed');
    expect(f.p.vmptrld(ADDR.VMCS).kind).toBe('succeed');
    const v = f.p.currentVmcs!;
    expect(v).not.toBe(before);
    expect(v.checked).toBe(0);
    launch(f);
    expect(v.checked).toBe(CHECK_CONTROLS | CHECK_HOST | CHECK_GUEST);
  });

  it('a changed activity or interruptibility saved by the exit re-runs the guest checks', () => {
    const f = preparedFixture();
    launch(f);
    f.p.hlt(); // HLT state, saved by the next exit
    f.p.reportExit(EXIT_REASON.CPUID);
    const v = f.p.currentVmcs!;
    expect(v.get('GUEST_ACTIVITY_STATE')).toBe(BigInt(ACTIVITY_STATE.HLT));
    expect(v.checked & CHECK_GUEST).toBe(0);
    expect(f.p.vmresume().kind).toBe('entered');
  });

  it('checks that read memory are never cached: VTPR below the TPR threshold fails the next entry (SDM 3C "VM-Execution Control Fields")', () => {
    const f = preparedFixture({ virtualApicPage: ADDR.VAPIC, fields: { TPR_THRESHOLD: 2 } });
    f.memory.write32(ADDR.VAPIC + 0x80, 0x30); // VTPR[7:4] = 3 >= 2
    launch(f);
    f.p.reportExit(EXIT_REASON.CPUID);
    expect(f.p.currentVmcs!.checked & CHECK_CONTROLS).toBe(0);
    f.memory.write32(ADDR.VAPIC + 0x80, 0x10);
    expect(f.p.vmresume()).toEqual({ kind: 'fail-valid', error: 7 });
    expect(f.p.lastEntryCheck).toMatch(/TPR threshold/);
  });

  it('the VMCS link pointer target is read at every entry (qualification 4)', () => {
    const f = exited({ fields: { VMCS_LINK_POINTER: ADDR.VMCS2 } });
    // VMCS2 holds the revision identifier: the first entry (and the resume) passed.
    expect(f.p.vmresume().kind).toBe('entered');
    f.p.reportExit(EXIT_REASON.CPUID);
    f.memory.write32(ADDR.VMCS2, 0);
    const r = f.p.vmresume();
    expect(r.kind === 'exit' && r.exit.qualification).toBe(4);
  });

  it('nothing is allocated per entry: the entered outcome, the descriptor view and the exit outcome are reused', () => {
    const f = exited();
    const a = f.p.vmresume();
    const pidA = f.p.postedInterruptDescriptorAddress;
    const exitA = f.p.reportExit(EXIT_REASON.CPUID);
    const b = f.p.vmresume();
    const exitB = f.p.reportExit(EXIT_REASON.CPUID);
    expect(b).toBe(a);
    expect(exitB).toBe(exitA);
    expect(pidA).toBe(ADDR.PID);
  });

  it('a control VMWRITE between runs takes effect (the derived non-root controls are reloaded)', () => {
    const f = exited();
    const proc = Number(f.p.currentVmcs!.get('CPU_BASED_VM_EXEC_CONTROL'));
    f.p.vmwrite(F.CPU_BASED_VM_EXEC_CONTROL, (proc | CPU_BASED.INTR_WINDOW_EXITING) >>> 0);
    f.p.vmresume();
    const o = f.p.instructionBoundary(true);
    expect(o.kind === 'exit' && o.exit.basicReason).toBe(EXIT_REASON.INTERRUPT_WINDOW);
    f.p.vmwrite(F.CPU_BASED_VM_EXEC_CONTROL, proc);
    f.p.vmresume();
    expect(f.p.instructionBoundary(true).kind).toBe('continue');
  });
});

describe('check-dependencies.ts lists every field each check group reads', () => {
  // Property: on a VMCS that passes (and on variants that fail a check), writing any value to a field outside a
  // group's list does not change that group's verdict.
  const caps = new VmxCapabilities();
  const groups: [string, readonly VmcsFieldName[], (f: Fixture) => unknown][] = [
    ['controls', CONTROL_CHECK_FIELDS, (f) => checkControls(f.p.currentVmcs!, caps, (a) => f.memory.read32(a))],
    ['host', HOST_CHECK_FIELDS, (f) => checkHostState(f.p.currentVmcs!, caps, true)],
    ['guest', GUEST_CHECK_FIELDS, (f) => checkGuestState(f.p.currentVmcs!, caps, (a) => f.memory.read32(a))],
  ];
  const bases: PrepareVmcsOptions[] = [{}, apicvOptions(), { proc2: SECONDARY.VIRTUALIZE_APIC_ACCESSES, apicAccessPage: ADDR.APIC_ACCESS, virtualApicPage: ADDR.VAPIC }];
  for (const [name, list, check] of groups) {
    it(`${name}: fields outside the list do not change the verdict`, () => {
      const outside = VMCS_FIELD_SPECS.map((s) => s.name as VmcsFieldName).filter((n) => !list.includes(n));
      fc.assert(
        fc.property(fc.integer({ min: 0, max: bases.length - 1 }), fc.constantFrom(...outside), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (b, field, value) => {
          const f = preparedFixture(bases[b]);
          const before = check(f);
          f.p.currentVmcs!.set(field, value);
          expect(check(f)).toEqual(before);
        }),
        { seed, numRuns },
      );
    });
  }
});

describe('the cache never changes a verdict', () => {
  function verdict(o: VmEntryOutcome): string {
    return o.kind === 'fail-valid' ? `fail-valid ${o.error}` : o.kind === 'exit' ? `exit ${o.exit.reason} ${o.exit.qualification}` : o.kind;
  }
  const fields = [...new Set([...CONTROL_CHECK_FIELDS, ...HOST_CHECK_FIELDS, ...GUEST_CHECK_FIELDS])];

  // Four quarters of the runs (seeds seed to seed + 3), so that no test depends on the machine's speed:
  // each run copies the memory and the processor through their snapshots.
  it.each([0, 1, 2, 3])('property (quarter %i): after random bit flips in checked fields, VMRESUME with the cache equals VMRESUME of a fresh copy (every check run)', (quarter) => {
    fc.assert(
      fc.property(fc.array(fc.record({ field: fc.constantFrom(...fields), bit: fc.integer({ min: 0, max: 63 }) }), { maxLength: 3 }), fc.boolean(), (flips, reenter) => {
        const f = exited();
        if (reenter) {
          f.p.vmresume();
          f.p.reportExit(EXIT_REASON.CPUID);
        }
        const v = f.p.currentVmcs!;
        for (const { field, bit } of flips) {
          const value = BigInt.asUintN(64, v.get(field) ^ (1n << BigInt(bit)));
          f.p.vmwrite(F[field], value);
        }
        const memory = new PhysicalMemory();
        memory.restoreState(f.memory.saveState());
        const clock = new Clock();
        clock.restoreState(f.clock.saveState());
        const fresh = new VmxProcessor({ memory, clock });
        fresh.restoreState(JSON.parse(JSON.stringify(f.p.saveState())));
        expect(fresh.currentVmcs!.checked).toBe(0);
        expect(verdict(f.p.vmresume())).toBe(verdict(fresh.vmresume()));
        expect(f.p.lastEntryCheck).toBe(fresh.lastEntryCheck);
      }),
      { seed: seed + quarter, numRuns: Math.ceil(numRuns / 4) },
    );
  });
});
