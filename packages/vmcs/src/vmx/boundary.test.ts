// Instruction boundaries: the cheap "can anything happen here?" predicate
// (issue 11, G6e), the posted-interrupt two-call rule (G6c), and the
// activity-state blocking of SDM 3C "Activity State" (VM Entries) for INIT,
// SIPI and external interrupts (issue 12, bugs 1 and 2).
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import { ADDR, apicvOptions, launch, preparedFixture, rootFixture, type Fixture } from '../internal/test-setup.js';
import { ACTIVITY_STATE, CPU_BASED, PIN_BASED, VM_EXIT } from './controls.js';
import { EXIT_REASON } from './exit-reasons.js';
import type { NonRootOutcome } from './outcomes.js';
import type { PrepareVmcsOptions } from './prepare-vmcs.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

function run(options: PrepareVmcsOptions = {}): Fixture {
  const f = preparedFixture(options);
  launch(f);
  return f;
}

function exitReason(o: NonRootOutcome): number {
  return o.kind === 'exit' ? o.exit.basicReason : -1;
}

describe('boundaryPending: the cheap predicate (contract in the README, "Skipping instruction boundaries")', () => {
  it('is false for a running guest with nothing pending, and outside non-root operation', () => {
    const f = run(apicvOptions());
    expect(f.p.boundaryPending).toBe(false);
    expect(rootFixture().p.boundaryPending).toBe(false);
  });

  it('is true for each thing the processor tracks itself', () => {
    const cases: [string, () => Fixture][] = [
      ['STI shadow', () => { const f = run(); f.p.sti(false); return f; }],
      ['MOV-SS shadow', () => { const f = run(); f.p.movSs(); return f; }],
      ['an event delivery not yet ended by a boundary', () => { const f = run(); f.p.exception(3, { software: 'int3' }); return f; }],
      ['HLT activity state', () => { const f = run(); f.p.hlt(); return f; }],
      ['monitor trap flag', () => run({ proc: CPU_BASED.MONITOR_TRAP_FLAG })],
      ['interrupt-window exiting', () => run({ proc: CPU_BASED.INTR_WINDOW_EXITING })],
      ['NMI-window exiting', () => run({ pin: PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS, proc: CPU_BASED.NMI_WINDOW_EXITING })],
      ['a recognized virtual interrupt (self IPI)', () => { const f = run(apicvOptions()); f.p.wrmsr(0x83f, 0x40); return f; }],
      ['posted-interrupt processing left the boundary open', () => { const f = run(apicvOptions()); new PostedInterruptDescriptor(f.memory, ADDR.PID).postFromSoftware(0x41); f.p.externalInterrupt(0xf2, true); return f; }],
      ['an INIT latched in root operation', () => { const f = preparedFixture(); f.p.init(); launch(f); return f; }],
      ['an expired preemption timer', () => { const f = run({ pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER, fields: { VMX_PREEMPTION_TIMER_VALUE: 1 } }); f.clock.advance(1 << 10); return f; }],
      ['a TPR-below-threshold exit due after VM entry', () => run({ proc2: 1, apicAccessPage: ADDR.APIC_ACCESS, virtualApicPage: ADDR.VAPIC, fields: { TPR_THRESHOLD: 1 } })],
    ];
    for (const [what, make] of cases) expect([what, make().p.boundaryPending]).toEqual([what, true]);
  });

  // Two halves of the runs (seeds seed and seed + 1), so that no test depends on the machine's speed.
  it.each([0, 1])('property (half %i): whenever it is false, instructionBoundary (no NMI, no external interrupt) answers continue and changes nothing', (half) => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('boundary' as const), ifl: fc.boolean() }),
      fc.record({ k: fc.constant('sti' as const), was: fc.boolean() }),
      fc.record({ k: fc.constant('movss' as const) }),
      fc.record({ k: fc.constant('selfipi' as const), v: fc.integer({ min: 16, max: 255 }) }),
      fc.record({ k: fc.constant('eoi' as const) }),
      fc.record({ k: fc.constant('post' as const), v: fc.integer({ min: 16, max: 255 }) }),
      fc.record({ k: fc.constant('hlt' as const) }),
      fc.record({ k: fc.constant('tpr' as const), v: fc.integer({ min: 0, max: 15 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 30 }), (ops) => {
        const f = run(apicvOptions());
        const pid = new PostedInterruptDescriptor(f.memory, ADDR.PID);
        for (const o of ops) {
          if (f.p.vmxOperation === 'root') f.p.vmresume();
          if (!f.p.boundaryPending) {
            const before = JSON.stringify(f.p.saveState());
            expect(f.p.instructionBoundary(true).kind).toBe('continue');
            expect(JSON.stringify(f.p.saveState())).toBe(before);
          }
          switch (o.k) {
            case 'boundary': f.p.instructionBoundary(o.ifl); break;
            case 'sti': f.p.sti(o.was); break;
            case 'movss': f.p.movSs(); break;
            case 'selfipi': f.p.wrmsr(0x83f, o.v); break;
            case 'eoi': f.p.wrmsr(0x80b, 0); break;
            case 'post': if (pid.postFromSoftware(o.v)) f.p.externalInterrupt(0xf2, true); break;
            case 'hlt': f.p.hlt(); break;
            case 'tpr': f.p.movToCr8(o.v); break;
          }
        }
      }),
      { seed: seed + half, numRuns: Math.ceil(numRuns / 2) },
    );
  });
});

describe('posted-interrupt processing and the boundary (SDM 3C "Posted-Interrupt Processing")', () => {
  it('externalInterrupt(NV) answers posted; the next instructionBoundary continues the same boundary and delivers', () => {
    const f = run(apicvOptions());
    new PostedInterruptDescriptor(f.memory, ADDR.PID).postFromSoftware(0x41);
    expect(f.p.externalInterrupt(0xf2, true)).toEqual({ kind: 'posted', notificationVector: 0xf2 });
    const o = f.p.instructionBoundary(true);
    expect(o.kind === 'deliver' && o.event.vector).toBe(0x41);
  });

  it('instructionBoundary(IF, nmi, NV) answers posted, and the second call for the same boundary does not age or re-evaluate higher priorities', () => {
    const f = run(apicvOptions({ proc: CPU_BASED.MONITOR_TRAP_FLAG }));
    expect(exitReason(f.p.instructionBoundary(true))).toBe(-1); // first boundary: an MTF exit becomes pending after it
    f.p.wrmsr(0x80b, 0); // an instruction (EOI of nothing)
    const vmcsBefore = f.p.mtfPending;
    expect(vmcsBefore).toBe(true);
    // The MTF exit is the boundary's highest-priority event: it comes first.
    expect(exitReason(f.p.instructionBoundary(true, false, 0xf2))).toBe(EXIT_REASON.MONITOR_TRAP_FLAG);
    f.p.vmresume();
    new PostedInterruptDescriptor(f.memory, ADDR.PID).postFromSoftware(0x42);
    expect(f.p.instructionBoundary(true, false, 0xf2).kind).toBe('posted');
    // Same boundary: the virtual interrupt is delivered, not a second MTF evaluation.
    const o = f.p.instructionBoundary(true);
    expect(o.kind === 'deliver' && o.event.vector).toBe(0x42);
    // The next boundary (after the delivery) takes the MTF exit.
    expect(exitReason(f.p.instructionBoundary(true))).toBe(EXIT_REASON.MONITOR_TRAP_FLAG);
  });

  it('any other event in between ends the open boundary', () => {
    const f = run(apicvOptions());
    f.p.externalInterrupt(0xf2, true);
    f.p.sti(false);
    expect(f.p.boundaryOpen).toBe(false);
  });
});

describe('SDM 3C "Activity State": the wait-for-SIPI state blocks INIT (issue 12, bug 1)', () => {
  const sipiState = { fields: { GUEST_ACTIVITY_STATE: ACTIVITY_STATE.WAIT_FOR_SIPI } };

  it('an INIT in wait-for-SIPI causes no VM exit and stays pending; the SIPI exits; INIT is taken after the guest leaves the state', () => {
    const f = run(sipiState);
    expect(f.p.init().kind).toBe('blocked');
    expect(f.p.vmxOperation).toBe('non-root');
    expect(f.p.initPending).toBe(true);
    expect(f.p.instructionBoundary(true).kind).toBe('halted');
    const s = f.p.sipi(0x9a);
    expect(exitReason(s)).toBe(EXIT_REASON.SIPI);
    expect(s.kind === 'exit' && s.exit.qualification).toBe(0x9a);
    f.p.vmwrite(0x4826, ACTIVITY_STATE.ACTIVE); // GUEST_ACTIVITY_STATE: the VMM starts the AP
    f.p.vmresume();
    expect(exitReason(f.p.instructionBoundary(true))).toBe(EXIT_REASON.INIT_SIGNAL);
  });

  it('an INIT latched in root operation is not taken at the first boundary after an entry into wait-for-SIPI', () => {
    const f = preparedFixture(sipiState);
    expect(f.p.init().kind).toBe('blocked');
    launch(f);
    expect(f.p.instructionBoundary(true).kind).toBe('halted');
    expect(f.p.vmxOperation).toBe('non-root');
    expect(f.p.initPending).toBe(true);
  });

  it('outside wait-for-SIPI an INIT still exits (SDM 3C "Other Causes of VM Exits")', () => {
    const f = run({ fields: { GUEST_ACTIVITY_STATE: ACTIVITY_STATE.HLT } });
    expect(exitReason(f.p.init())).toBe(EXIT_REASON.INIT_SIGNAL);
  });
});

describe('SDM 3C "Activity State": the shutdown state blocks external interrupts and SIPIs (issue 12, bug 2)', () => {
  const shutdown = (extra: PrepareVmcsOptions = {}): Fixture => run({ ...extra, fields: { ...extra.fields, GUEST_ACTIVITY_STATE: ACTIVITY_STATE.SHUTDOWN } });

  it('no exit even with external-interrupt exiting; the interrupt stays pending at the physical APIC', () => {
    const f = shutdown({ pin: PIN_BASED.EXT_INTR_EXITING, exit: VM_EXIT.ACK_INTR_ON_EXIT });
    expect(f.p.externalInterrupt(0x20, true).kind).toBe('blocked');
    expect(f.p.instructionBoundary(true, false, 0x20).kind).toBe('halted');
    expect(f.p.vmxOperation).toBe('non-root');
  });

  it('without external-interrupt exiting nothing is delivered through the IDT', () => {
    const f = shutdown();
    expect(f.p.externalInterrupt(0x20, true).kind).toBe('blocked');
  });

  it('no posted-interrupt processing: PIR and ON are left alone', () => {
    const f = shutdown(apicvOptions());
    const pid = new PostedInterruptDescriptor(f.memory, ADDR.PID);
    pid.postFromSoftware(0x51);
    expect(f.p.externalInterrupt(0xf2, true).kind).toBe('blocked');
    expect(pid.on).toBe(true);
    expect(pid.testPir(0x51)).toBe(true);
    expect(f.p.vapic.testVirr(0x51)).toBe(false);
  });

  it('a SIPI is discarded (no exit); an NMI still exits with NMI exiting', () => {
    const f = shutdown({ pin: PIN_BASED.NMI_EXITING });
    expect(f.p.sipi(0x10).kind).toBe('continue');
    expect(f.p.vmxOperation).toBe('non-root');
    expect(exitReason(f.p.nmi())).toBe(EXIT_REASON.EXCEPTION_NMI);
  });
});

describe('memory with nothing behind it (issue 12, bug 8): reads all ones, writes dropped, never a host exception', () => {
  const NOWHERE = 0x40_0000; // beyond the fixture's 1 MiB of RAM

  it('VMCLEAR of a region with no memory succeeds (the launch-state write is dropped)', () => {
    const { p } = rootFixture();
    expect(p.vmclear(NOWHERE).kind).toBe('succeed');
  });

  it('VMPTRST to an address with no memory succeeds (the store is dropped)', () => {
    const { p } = rootFixture();
    expect(p.vmptrst(NOWHERE).kind).toBe('succeed');
  });

  it('VMXON and VMPTRLD read such a region as all ones: a revision mismatch', () => {
    const { p } = rootFixture();
    expect(p.vmptrld(NOWHERE)).toEqual({ kind: 'fail-valid', error: 11 });
    p.vmxoff();
    expect(p.vmxon(NOWHERE).kind).toBe('fail-invalid');
  });

  it('VMXOFF writing back a VMCS whose region lost its memory does not throw', () => {
    const f = rootFixture();
    f.memory.removeRegion(0);
    expect(f.p.vmxoff().kind).toBe('succeed');
  });

  it('a virtual-APIC page, MSR bitmap and posted-interrupt descriptor with no memory: no host exception', () => {
    const f = preparedFixture({ ...apicvOptions(), virtualApicPage: NOWHERE, msrBitmap: NOWHERE + 0x1000, postedInterruptDescriptor: NOWHERE + 0x2000 });
    launch(f);
    expect(f.p.rdmsr(0x808).kind).toBe('exit'); // the bitmap reads as all ones
    f.p.vmresume();
    expect(['posted', 'blocked', 'continue']).toContain(f.p.externalInterrupt(0xf2, true).kind);
    expect(() => f.p.instructionBoundary(true)).not.toThrow();
  });
});
