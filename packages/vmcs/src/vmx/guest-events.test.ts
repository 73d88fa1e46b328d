import { describe, expect, it } from 'vitest';
import { VMCS_FIELD } from '../fields/field-table.js';
import { Clock, PhysicalMemory, UsageError } from '@hvsim/core';
import { ADDR, launch, preparedFixture, type Fixture } from '../internal/test-setup.js';
import { VmxProcessor } from './processor.js';
import { prepareVmcs } from './prepare-vmcs.js';
import { ACTIVITY_STATE, CPU_BASED, INTR_TYPE, PIN_BASED, VM_EXIT } from './controls.js';
import { EXIT_REASON } from './exit-reasons.js';
import type { PrepareVmcsOptions } from './prepare-vmcs.js';
import type { NonRootOutcome } from './outcomes.js';

const F = VMCS_FIELD;
const ed = 'SDM 3C (083)';

function running(options: PrepareVmcsOptions = {}, fields: PrepareVmcsOptions['fields'] = {}): Fixture {
  const f = preparedFixture({ ...options, fields: { ...options.fields, ...fields } });
  launch(f);
  return f;
}

function exitReason(o: NonRootOutcome): number {
  if (o.kind !== 'exit') throw new Error(`expected an exit, got ${o.kind}`);
  return o.exit.reason;
}

describe(`${ed} "Event Injection" and IDT-vectoring information`, () => {
  it('injects an external interrupt, an NMI, a hardware exception with error code, and a software interrupt with its length', () => {
    const cases = [
      { info: 0x8000_0030, rflags: 0x202, expect: { vector: 0x30, type: INTR_TYPE.EXTERNAL_INTERRUPT, errorCode: -1, instructionLength: 0 } },
      { info: 0x8000_0202, rflags: 0x2, expect: { vector: 2, type: INTR_TYPE.NMI, errorCode: -1, instructionLength: 0 } },
      { info: 0x8000_0b0e, rflags: 0x2, expect: { vector: 14, type: INTR_TYPE.HARDWARE_EXCEPTION, errorCode: 6, instructionLength: 0 } },
      { info: 0x8000_0480, rflags: 0x2, expect: { vector: 0x80, type: INTR_TYPE.SOFTWARE_INTERRUPT, errorCode: -1, instructionLength: 2 } },
      { info: 0x8000_0603, rflags: 0x2, expect: { vector: 3, type: INTR_TYPE.SOFTWARE_EXCEPTION, errorCode: -1, instructionLength: 1 } },
    ];
    for (const c of cases) {
      const f = preparedFixture({ fields: { VM_ENTRY_INTR_INFO_FIELD: c.info, GUEST_RFLAGS: c.rflags, VM_ENTRY_EXCEPTION_ERROR_CODE: 6, VM_ENTRY_INSTRUCTION_LEN: c.expect.instructionLength || 1 } });
      const r = f.p.vmlaunch();
      expect(r.kind).toBe('entered');
      if (r.kind !== 'entered') continue;
      expect(r.inject).toMatchObject(c.expect);
    }
  });

  it('an exit during delivery of an injected event records it in the IDT-vectoring information; the next exit clears the entry valid bit', () => {
    const f = running({ fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0b0e, VM_ENTRY_EXCEPTION_ERROR_CODE: 2, EXCEPTION_BITMAP: 1 << 14 } });
    // Delivery of the injected #PF faults on the IDT with another #PF that the exception bitmap intercepts.
    const o = f.p.exception(14, { errorCode: 0, qualification: 0xdead_0000 });
    expect(exitReason(o)).toBe(EXIT_REASON.EXCEPTION_NMI);
    expect(f.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0x8000_0b0e);
    expect(f.p.vmread32(F.IDT_VECTORING_ERROR_CODE)).toBe(2);
    expect(f.p.vmread32(F.VM_EXIT_INTR_INFO)).toBe(0x8000_0b0e);
    expect(f.p.vmreadNumber(F.EXIT_QUALIFICATION)).toBe(0xdead_0000);
    expect(f.p.vmread32(F.VM_ENTRY_INTR_INFO_FIELD)).toBe(0x0000_0b0e);
  });

  it('once the delivery reached an instruction boundary, later exits carry no IDT-vectoring information', () => {
    const f = running({ fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0030, GUEST_RFLAGS: 0x202 } });
    expect(f.p.deliveringEvent).toBe(true);
    expect(f.p.instructionBoundary(true).kind).toBe('continue');
    f.p.reportExit(EXIT_REASON.CPUID, { instructionLength: 2 });
    expect(f.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0);
    expect(f.p.vmread32(F.VM_EXIT_INSTRUCTION_LEN)).toBe(2);
  });

  it('injection into a halted guest wakes it (kvm-unit-tests "interrupt": injecting an event into a halted guest)', () => {
    const f = running({}, { GUEST_ACTIVITY_STATE: ACTIVITY_STATE.HLT, VM_ENTRY_INTR_INFO_FIELD: 0x8000_0040, GUEST_RFLAGS: 0x202 });
    expect(f.p.guestActivityState).toBe(ACTIVITY_STATE.ACTIVE);
    expect(f.p.instructionBoundary(true).kind).toBe('continue');
  });
});

describe(`${ed} "Other Causes of VM Exits": external interrupts (kvm-unit-tests "interrupt")`, () => {
  it('without external-interrupt exiting the guest takes it through its IDT when RFLAGS.IF=1', () => {
    const f = running();
    expect(f.p.externalInterrupt(0x40, false).kind).toBe('blocked');
    const o = f.p.externalInterrupt(0x40, true);
    expect(o).toMatchObject({ kind: 'deliver', event: { vector: 0x40, type: 0, acknowledge: true, virtual: false } });
  });

  it('with external-interrupt exiting it exits (reason 1) whatever RFLAGS.IF is; no vector without acknowledge-on-exit', () => {
    const f = running({ pin: PIN_BASED.EXT_INTR_EXITING });
    const o = f.p.externalInterrupt(0x40, false);
    expect(exitReason(o)).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(o.kind === 'exit' && o.exit.acknowledgedVector).toBe(-1);
    expect(f.p.vmread32(F.VM_EXIT_INTR_INFO)).toBe(0);
  });

  it('"acknowledge interrupt on exit" puts the vector in the exit interruption information', () => {
    const f = running({ pin: PIN_BASED.EXT_INTR_EXITING, exit: VM_EXIT.ACK_INTR_ON_EXIT });
    const o = f.p.externalInterrupt(0x41, true);
    expect(o.kind === 'exit' && o.exit.acknowledgedVector).toBe(0x41);
    expect(f.p.vmread32(F.VM_EXIT_INTR_INFO)).toBe(0x8000_0041);
  });

  it('exits from the HLT state, keeping HLT as the saved activity state (kvm-unit-tests "interrupt" with L2 in HLT)', () => {
    const f = running({ pin: PIN_BASED.EXT_INTR_EXITING });
    expect(f.p.hlt().kind).toBe('halted');
    expect(f.p.instructionBoundary(false).kind).toBe('halted');
    expect(exitReason(f.p.externalInterrupt(0x30, false))).toBe(1);
    expect(f.p.vmread32(F.GUEST_ACTIVITY_STATE)).toBe(ACTIVITY_STATE.HLT);
  });

  it('a pending interrupt exits before the first guest instruction, also when entering in HLT (vmx_pending_event_test, _hlt_test)', () => {
    for (const activity of [ACTIVITY_STATE.ACTIVE, ACTIVITY_STATE.HLT]) {
      const f = running({ pin: PIN_BASED.EXT_INTR_EXITING }, { GUEST_ACTIVITY_STATE: activity });
      expect(exitReason(f.p.externalInterrupt(0x50, false))).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
      expect(f.p.vmreadNumber(F.GUEST_RIP)).toBe(0x10_0000);
    }
  });

  it('blocking by STI and MOV SS holds external interrupts off for one instruction', () => {
    const f = running({ pin: PIN_BASED.EXT_INTR_EXITING }, { GUEST_RFLAGS: 0x2 });
    f.p.sti(false);
    expect(f.p.instructionBoundary(true).kind).toBe('continue'); // boundary after STI: still blocked
    expect(f.p.externalInterrupt(0x30, true).kind).toBe('blocked');
    expect(f.p.instructionBoundary(true).kind).toBe('continue'); // after the next instruction
    expect(exitReason(f.p.externalInterrupt(0x30, true))).toBe(1);
  });
});

describe(`${ed} "Interrupt-Window Exiting and Virtual-Interrupt Delivery", "NMI-Window Exiting" (vmx_intr_window_test, vmx_nmi_window_test)`, () => {
  it('exits before the next instruction when RFLAGS.IF=1 and nothing blocks; not with IF=0', () => {
    const f = running({ proc: CPU_BASED.INTR_WINDOW_EXITING });
    expect(f.p.instructionBoundary(false).kind).toBe('continue');
    expect(exitReason(f.p.instructionBoundary(true))).toBe(EXIT_REASON.INTERRUPT_WINDOW);
    expect(f.p.vmreadNumber(F.GUEST_RIP)).toBe(0x10_0000);
  });

  it('with STI or MOV-SS blocking the exit comes one instruction later', () => {
    for (const block of ['sti', 'movss'] as const) {
      const f = running({ proc: CPU_BASED.INTR_WINDOW_EXITING });
      if (block === 'sti') f.p.sti(false);
      else f.p.movSs();
      expect(f.p.instructionBoundary(true).kind).toBe('continue');
      expect(exitReason(f.p.instructionBoundary(true))).toBe(7);
      expect(f.p.vmread32(F.GUEST_INTERRUPTIBILITY_INFO)).toBe(0);
    }
  });

  it('STI with IF already 1 does not block; blocking at entry lasts one instruction', () => {
    const f = running({ proc: CPU_BASED.INTR_WINDOW_EXITING });
    f.p.sti(true);
    expect(exitReason(f.p.instructionBoundary(true))).toBe(7);
    const g = running({ proc: CPU_BASED.INTR_WINDOW_EXITING }, { GUEST_INTERRUPTIBILITY_INFO: 1, GUEST_RFLAGS: 0x202 });
    expect(g.p.instructionBoundary(true).kind).toBe('continue');
    expect(exitReason(g.p.instructionBoundary(true))).toBe(7);
  });

  it('an injected event is delivered before the window exit; the window exit also ends HLT', () => {
    const f = running({ proc: CPU_BASED.INTR_WINDOW_EXITING }, { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0030, GUEST_RFLAGS: 0x202 });
    expect(f.p.deliveringEvent).toBe(true); // VM entry answered with the injected event
    expect(exitReason(f.p.instructionBoundary(true))).toBe(7);
    expect(f.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0);
    const g = running({ proc: CPU_BASED.INTR_WINDOW_EXITING });
    g.p.hlt();
    expect(exitReason(g.p.instructionBoundary(true))).toBe(7);
  });

  it('no interrupt-window exit in the shutdown or wait-for-SIPI state; no NMI-window exit in wait-for-SIPI (SDM 3C "Interrupt-Window Exiting", "NMI-Window Exiting" after VM entry)', () => {
    for (const activity of [ACTIVITY_STATE.SHUTDOWN, ACTIVITY_STATE.WAIT_FOR_SIPI]) {
      const f = running({ proc: CPU_BASED.INTR_WINDOW_EXITING }, { GUEST_ACTIVITY_STATE: activity, GUEST_RFLAGS: 0x202 });
      expect(f.p.instructionBoundary(true).kind, `activity ${activity}`).toBe('halted');
    }
    const nmi = { pin: PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS, proc: CPU_BASED.NMI_WINDOW_EXITING };
    expect(running(nmi, { GUEST_ACTIVITY_STATE: ACTIVITY_STATE.WAIT_FOR_SIPI }).p.instructionBoundary(false).kind).toBe('halted');
    expect(exitReason(running(nmi, { GUEST_ACTIVITY_STATE: ACTIVITY_STATE.SHUTDOWN }).p.instructionBoundary(false))).toBe(EXIT_REASON.NMI_WINDOW); // wakes shutdown
  });

  it('NMI-window exiting with virtual NMIs: exits unless virtual-NMI or MOV-SS blocking; IRET unblocks', () => {
    const nmi = { pin: PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS, proc: CPU_BASED.NMI_WINDOW_EXITING };
    const f = running(nmi, { GUEST_INTERRUPTIBILITY_INFO: 8 });
    expect(f.p.instructionBoundary(false).kind).toBe('continue');
    f.p.iret();
    expect(exitReason(f.p.instructionBoundary(false))).toBe(EXIT_REASON.NMI_WINDOW);
    const g = running(nmi);
    g.p.movSs();
    expect(g.p.instructionBoundary(false).kind).toBe('continue');
    expect(exitReason(g.p.instructionBoundary(false))).toBe(8);
    const h = running(nmi);
    h.p.hlt();
    expect(exitReason(h.p.instructionBoundary(false))).toBe(8);
  });
});

describe(`${ed} "NMI-Window Exiting" with event injection (vmx_nmi_window_test)`, () => {
  const nmi = { pin: PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS, proc: CPU_BASED.NMI_WINDOW_EXITING };
  it('an injected event is delivered first; the NMI-window exit follows at the next boundary without IDT-vectoring information', () => {
    const f = preparedFixture({ ...nmi, fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0030, GUEST_RFLAGS: 0x202 } });
    const r = f.p.vmlaunch();
    expect(r).toMatchObject({ kind: 'entered', inject: { vector: 0x30, type: INTR_TYPE.EXTERNAL_INTERRUPT } });
    expect(exitReason(f.p.instructionBoundary(true))).toBe(EXIT_REASON.NMI_WINDOW);
    expect(f.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0);
  });

  it('an injected NMI sets virtual-NMI blocking, so no NMI-window exit until the guest executes IRET', () => {
    const f = preparedFixture({ ...nmi, fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0202 } });
    expect(f.p.vmlaunch()).toMatchObject({ kind: 'entered', inject: { vector: 2, type: INTR_TYPE.NMI } });
    expect(f.p.guestInterruptibility & 8).toBe(8);
    expect(f.p.instructionBoundary(false).kind).toBe('continue');
    expect(f.p.instructionBoundary(false).kind).toBe('continue');
    f.p.iret();
    expect(exitReason(f.p.instructionBoundary(false))).toBe(EXIT_REASON.NMI_WINDOW);
    expect(f.p.vmread32(F.GUEST_INTERRUPTIBILITY_INFO)).toBe(0);
  });
});

describe(`${ed} NMIs, HLT, exceptions and the preemption timer`, () => {
  it('NMI exiting exits with NMI interruption information; otherwise the NMI is delivered and blocks further NMIs until IRET', () => {
    const f = running({ pin: PIN_BASED.NMI_EXITING });
    expect(exitReason(f.p.nmi())).toBe(0);
    expect(f.p.vmread32(F.VM_EXIT_INTR_INFO)).toBe(0x8000_0202);
    const g = running();
    expect(g.p.nmi()).toMatchObject({ kind: 'deliver', event: { vector: 2, type: INTR_TYPE.NMI } });
    expect(g.p.nmi().kind).toBe('blocked');
    g.p.iret();
    expect(g.p.nmi().kind).toBe('deliver');
  });

  it('HLT exiting (reason 12, instruction length 1); without it the guest halts until an interrupt', () => {
    const f = running({ proc: CPU_BASED.HLT_EXITING });
    expect(exitReason(f.p.hlt())).toBe(EXIT_REASON.HLT);
    expect(f.p.vmread32(F.VM_EXIT_INSTRUCTION_LEN)).toBe(1);
    const g = running();
    g.p.hlt();
    expect(g.p.instructionBoundary(true).kind).toBe('halted');
    expect(g.p.externalInterrupt(0x30, true).kind).toBe('deliver');
    expect(g.p.guestActivityState).toBe(ACTIVITY_STATE.ACTIVE);
  });

  it('the exception bitmap and the #PF error-code mask/match decide exception exits (SDM 3C "Exceptions")', () => {
    const f = running({ fields: { EXCEPTION_BITMAP: (1 << 6) | (1 << 14), PAGE_FAULT_ERROR_CODE_MASK: 1, PAGE_FAULT_ERROR_CODE_MATCH: 1 } });
    expect(f.p.exception(13, { errorCode: 0 })).toMatchObject({ kind: 'deliver', event: { vector: 13, errorCode: 0 } });
    expect(f.p.exception(14, { errorCode: 2 })).toMatchObject({ kind: 'deliver' }); // no match: bit 14 inverted
    expect(exitReason(f.p.exception(14, { errorCode: 3 }))).toBe(0);
    expect(f.p.vmread32(F.VM_EXIT_INTR_ERROR_CODE)).toBe(3);
    expect(f.p.vmresume().kind).toBe('entered');
    expect(exitReason(f.p.exception(6))).toBe(0);
    expect(f.p.vmread32(F.VM_EXIT_INTR_INFO)).toBe(0x8000_0306);
    const g = running({ fields: { EXCEPTION_BITMAP: 1 << 3 } });
    g.p.exception(3, { software: 'int3', instructionLength: 1 });
    expect(g.p.vmread32(F.VM_EXIT_INTR_INFO)).toBe(0x8000_0603);
    expect(g.p.vmread32(F.VM_EXIT_INSTRUCTION_LEN)).toBe(1);
  });

  it('the VMX-preemption timer counts down at TSC >> rate and exits (reason 52), saving 0 with "save VMX-preemption timer value" (SDM 3C "VMX-Preemption Timer")', () => {
    const f = preparedFixture({ pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER, exit: VM_EXIT.SAVE_PREEMPTION_TIMER, fields: { VMX_PREEMPTION_TIMER_VALUE: 3 } });
    f.clock.advance(40); // rate 5: units of 32 cycles; entry at cycle 40 -> deadline (1 + 3) * 32 = 128
    launch(f);
    f.clock.advance(87);
    expect(f.p.instructionBoundary(true).kind).toBe('continue');
    f.clock.advance(1);
    expect(exitReason(f.p.instructionBoundary(true))).toBe(EXIT_REASON.PREEMPTION_TIMER);
    expect(f.p.vmread32(F.VMX_PREEMPTION_TIMER_VALUE)).toBe(0);
  });

  it('saves the remaining timer value on another exit; a zero timer exits before the first instruction', () => {
    const f = preparedFixture({ pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER, exit: VM_EXIT.SAVE_PREEMPTION_TIMER, fields: { VMX_PREEMPTION_TIMER_VALUE: 10 } });
    launch(f);
    f.clock.advance(100); // 3 units of 32
    f.p.reportExit(EXIT_REASON.CPUID);
    expect(f.p.vmread32(F.VMX_PREEMPTION_TIMER_VALUE)).toBe(7);
    f.p.vmwrite(F.VMX_PREEMPTION_TIMER_VALUE, 0);
    expect(f.p.vmresume().kind).toBe('entered');
    expect(exitReason(f.p.instructionBoundary(true))).toBe(52);
  });

  it('a timer at zero causes no exit in the wait-for-SIPI state; the SIPI exit saves 0 (SDM 3C "VMX-Preemption Timer")', () => {
    const f = running({ pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER, exit: VM_EXIT.SAVE_PREEMPTION_TIMER }, { VMX_PREEMPTION_TIMER_VALUE: 0, GUEST_ACTIVITY_STATE: ACTIVITY_STATE.WAIT_FOR_SIPI });
    expect(f.p.preemptionTimerExpired).toBe(true);
    expect(f.p.instructionBoundary(true).kind).toBe('halted');
    expect(exitReason(f.p.sipi(0x12))).toBe(EXIT_REASON.SIPI);
    expect(f.p.vmread32(F.VMX_PREEMPTION_TIMER_VALUE)).toBe(0);
  });

  it('the timer ends the HLT state and calls onEvent so a halted CPU model wakes', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x10_0000);
    const clock = new Clock();
    let wakes = 0;
    const p = new VmxProcessor({ memory, clock, onEvent: () => wakes++ });
    memory.write32(ADDR.VMXON, 1);
    memory.write32(ADDR.VMCS, 1);
    p.vmxon(ADDR.VMXON);
    p.vmclear(ADDR.VMCS);
    p.vmptrld(ADDR.VMCS);
    prepareVmcs(p, { pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER, fields: { VMX_PREEMPTION_TIMER_VALUE: 1 } });
    expect(p.vmlaunch().kind).toBe('entered');
    p.hlt();
    expect(p.instructionBoundary(false).kind).toBe('halted');
    clock.advance(31);
    expect(wakes).toBe(0);
    clock.advance(1);
    expect(wakes).toBe(1);
    expect(exitReason(p.instructionBoundary(false))).toBe(52);
  });

  it('exits the CPU model reports carry its information (SDM 3C "VM-Exit Information Fields")', () => {
    const f = running();
    f.p.reportExit(EXIT_REASON.EPT_VIOLATION, { qualification: 0x181, guestPhysicalAddress: 0x1234_5000, guestLinearAddress: 0x7fff_0000 });
    expect(f.p.vmreadNumber(F.GUEST_PHYSICAL_ADDRESS)).toBe(0x1234_5000);
    expect(f.p.vmreadNumber(F.GUEST_LINEAR_ADDRESS)).toBe(0x7fff_0000);
    expect(f.p.vmreadNumber(F.EXIT_QUALIFICATION)).toBe(0x181);
    expect(() => running().p.reportExit(0x1_0000)).toThrow('exit reason must be an integer in [0, 65535]');
  });
});

describe(`${ed} INIT and SIPI ("INIT Signals", "Start-up IPIs"; vmx_init_signal_test, vmx_sipi_signal_test)`, () => {
  it('INIT is blocked in VMX root operation, exits (3) in non-root operation, and a blocked INIT exits right after the next entry', () => {
    const f = running();
    expect(exitReason(f.p.init())).toBe(EXIT_REASON.INIT_SIGNAL);
    expect(f.p.init().kind).toBe('blocked'); // root: latched
    expect(f.p.initPending).toBe(true);
    expect(f.p.vmresume().kind).toBe('entered');
    expect(exitReason(f.p.instructionBoundary(true))).toBe(3);
    expect(f.p.initPending).toBe(false); // consumed by the exit
  });

  it('an INIT sent in root operation is processed when the CPU leaves VMX operation (VMXOFF)', () => {
    const f = running();
    f.p.reportExit(EXIT_REASON.VMCALL, { instructionLength: 3 });
    f.p.init();
    expect(f.p.takePendingInit()).toBe(false); // still in VMX root operation
    f.p.vmxoff();
    expect(f.p.takePendingInit()).toBe(true);
    expect(f.p.takePendingInit()).toBe(false);
    expect(f.p.init().kind).toBe('native');
  });

  it('in the wait-for-SIPI state the first SIPI exits (4) with the vector; SIPIs are ignored otherwise; interrupts stay blocked', () => {
    const f = running({ pin: PIN_BASED.EXT_INTR_EXITING }, { GUEST_ACTIVITY_STATE: ACTIVITY_STATE.WAIT_FOR_SIPI });
    expect(f.p.instructionBoundary(true).kind).toBe('halted');
    expect(f.p.externalInterrupt(0x30, true).kind).toBe('blocked');
    expect(f.p.nmi().kind).toBe('blocked');
    const o = f.p.sipi(0x9a);
    expect(exitReason(o)).toBe(EXIT_REASON.SIPI);
    expect(f.p.vmreadNumber(F.EXIT_QUALIFICATION)).toBe(0x9a);
    f.p.vmwrite(F.GUEST_ACTIVITY_STATE, ACTIVITY_STATE.ACTIVE);
    f.p.vmresume();
    expect(f.p.sipi(0x9b).kind).toBe('continue'); // a second SIPI is ignored outside wait-for-SIPI
    expect(f.p.vmxOperation).toBe('non-root');
  });
});

describe(`${ed} priority at an instruction boundary (SDM 3C "Interrupt-Window Exiting and Virtual-Interrupt Delivery": NMIs above, external interrupts below)`, () => {
  it('a pending NMI (exiting) comes before the interrupt window; the window exit comes before a pending external interrupt', () => {
    const f = running({ pin: PIN_BASED.NMI_EXITING | PIN_BASED.EXT_INTR_EXITING, proc: CPU_BASED.INTR_WINDOW_EXITING });
    expect(exitReason(f.p.instructionBoundary(true, true, 0x30))).toBe(EXIT_REASON.EXCEPTION_NMI);
    f.p.vmresume();
    expect(exitReason(f.p.instructionBoundary(true, false, 0x30))).toBe(EXIT_REASON.INTERRUPT_WINDOW);
    f.p.vmresume();
    expect(exitReason(f.p.instructionBoundary(false, false, 0x30))).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
  });

  it('an external interrupt right after an injected event\'s delivery carries no IDT-vectoring information', () => {
    const f = running({ pin: PIN_BASED.EXT_INTR_EXITING }, { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0030, GUEST_RFLAGS: 0x202 });
    expect(exitReason(f.p.instructionBoundary(true, false, 0x31))).toBe(1);
    expect(f.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0);
  });

  it('a blocked NMI lets lower-priority events through', () => {
    const f = running();
    expect(f.p.nmi().kind).toBe('deliver'); // now blocked by NMI until IRET
    f.p.instructionBoundary(true);
    expect(f.p.instructionBoundary(true, true, 0x40)).toMatchObject({ kind: 'deliver', event: { vector: 0x40, acknowledge: true } });
  });
});

describe('misuse of the model', () => {
  it('a VMCS activating the preemption timer needs a clock (UsageError bad-state)', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x10_0000);
    const p = new VmxProcessor({ memory });
    memory.write32(ADDR.VMXON, 1);
    memory.write32(ADDR.VMCS, 1);
    p.vmxon(ADDR.VMXON);
    p.vmclear(ADDR.VMCS);
    p.vmptrld(ADDR.VMCS);
    prepareVmcs(p, { pin: PIN_BASED.ACTIVATE_PREEMPTION_TIMER, fields: { VMX_PREEMPTION_TIMER_VALUE: 5 } });
    const before = JSON.stringify(p.saveState());
    expect(() => p.vmlaunch()).toThrow('the VMX-preemption timer is active but the processor has no clock');
    // Refused before the entry changed anything: still in root operation, the VMCS still clear.
    expect(p.vmxOperation).toBe('root');
    expect(JSON.stringify(p.saveState())).toBe(before);
    expect(() => p.vmlaunch()).toThrow(expect.objectContaining({ name: 'VmxError', kind: 'bad-state' }));
    expect(() => p.vmlaunch()).toThrow(UsageError);
    // A timer value of 0 needs no clock: it expires at the entry (SDM 3C 26.5.1).
    p.vmwrite(VMCS_FIELD.VMX_PREEMPTION_TIMER_VALUE, 0);
    expect(p.vmlaunch().kind).toBe('entered');
    expect(exitReason(p.instructionBoundary(true))).toBe(EXIT_REASON.PREEMPTION_TIMER);
  });

  it('rejects bad arguments with the value named', () => {
    const f = running();
    expect(() => f.p.externalInterrupt(256, true)).toThrow('vector must be an integer in [0, 255], got 256');
    expect(() => f.p.apicAccess(0x1000, 4, 'read')).toThrow('offset must be an integer in [0, 4095], got 4096');
    expect(() => f.p.apicAccess(0x80, 3, 'read')).toThrow('APIC-access size must be 1, 2, 4 or 8 bytes, got 3');
    expect(() => f.p.wrmsr(0x10, -1)).toThrow('WRMSR value must be a non-negative safe integer or a bigint, got -1');
    expect(() => f.p.exception(32)).toThrow('vector must be an integer in [0, 31], got 32');
    expect(() => f.p.movToCr8(1, 16)).toThrow('gpr must be an integer in [0, 15], got 16');
    expect(() => f.p.wrmsr(-1, 0)).toThrow('MSR index (ECX) must be an integer in [0, 4294967295], got -1');
    expect(() => f.p.rdmsr(2 ** 32)).toThrow(/MSR index \(ECX\) must be an integer/);
    expect(() => f.p.msrAccessExits(0.5, false)).toThrow(/MSR index \(ECX\) must be an integer/);
    expect(() => f.p.movToCr8(1.5)).toThrow('MOV to CR8 source must be a non-negative safe integer, got 1.5');
    expect(() => f.p.memoryAccess(Number.NaN, 4, 'read')).toThrow('physical address must be a non-negative safe integer, got NaN');
  });
});

describe(`${ed} faults during event delivery (SDM 3A "Interrupt 8—Double Fault Exception", SDM 3C "Information for VM Exits During Event Delivery")`, () => {
  const injectPf = { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0b0e, VM_ENTRY_EXCEPTION_ERROR_CODE: 2 };
  it('a contributory fault while delivering a #PF becomes a #DF; a fault while delivering the #DF is a triple-fault exit (2)', () => {
    const f = running({ fields: injectPf });
    expect(f.p.exception(13, { errorCode: 0x10 })).toMatchObject({ kind: 'deliver', event: { vector: 8, type: 3, errorCode: 0 } });
    const o = f.p.exception(14, { errorCode: 0 });
    expect(exitReason(o)).toBe(EXIT_REASON.TRIPLE_FAULT);
    // "A VM exit is not considered to occur during event delivery ... [if] caused by a triple fault."
    expect(f.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0);
  });

  it('an intercepted #DF exits with #DF in the interruption information; the first event is not IDT-vectoring information', () => {
    const f = running({ fields: { ...injectPf, EXCEPTION_BITMAP: 1 << 8 } });
    expect(exitReason(f.p.exception(14, { errorCode: 0 }))).toBe(0);
    expect(f.p.vmread32(F.VM_EXIT_INTR_INFO)).toBe(0x8000_0b08);
    expect(f.p.vmread32(F.VM_EXIT_INTR_ERROR_CODE)).toBe(0);
    // "The original event results in a double-fault exception that causes the VM exit directly": not during event delivery.
    expect(f.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0);
    // A fault intercepted while delivering the same #PF (no #DF formed) is during event delivery.
    const g = running({ fields: { ...injectPf, EXCEPTION_BITMAP: 1 << 13 } });
    expect(exitReason(g.p.exception(13, { errorCode: 0 }))).toBe(0);
    expect(g.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0x8000_0b0e);
    expect(g.p.vmread32(F.IDT_VECTORING_ERROR_CODE)).toBe(2);
  });

  it('an exit during delivery of a software interrupt reports its instruction length (the VM-entry instruction length when injected)', () => {
    // SDM 3C "Information for VM Exits Due to Instruction Execution": VM-exit instruction length.
    const f = running({ fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0480, VM_ENTRY_INSTRUCTION_LEN: 2, EXCEPTION_BITMAP: 1 << 13 } });
    expect(exitReason(f.p.exception(13, { errorCode: 0x402 }))).toBe(0);
    expect(f.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0x8000_0480);
    expect(f.p.vmread32(F.VM_EXIT_INSTRUCTION_LEN)).toBe(2);
    // The same for an INT3 the guest executed whose delivery faults.
    const g = running({ fields: { EXCEPTION_BITMAP: 1 << 13 } });
    expect(g.p.exception(3, { software: 'int3', instructionLength: 1 })).toMatchObject({ kind: 'deliver', event: { vector: 3, type: INTR_TYPE.SOFTWARE_EXCEPTION } });
    expect(exitReason(g.p.exception(13, { errorCode: 0x1a }))).toBe(0);
    expect(g.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0x8000_0603);
    expect(g.p.vmread32(F.VM_EXIT_INSTRUCTION_LEN)).toBe(1);
    // A hardware event's delivery leaves the length as the exit sets it.
    const h = running({ fields: { ...injectPf, EXCEPTION_BITMAP: 1 << 13 } });
    h.p.exception(13, { errorCode: 0 });
    expect(h.p.vmread32(F.VM_EXIT_INSTRUCTION_LEN)).toBe(0);
  });

  it('benign faults, and faults while delivering an interrupt, are handled serially', () => {
    const f = running({ fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0b0d, VM_ENTRY_EXCEPTION_ERROR_CODE: 0 } });
    expect(f.p.exception(6)).toMatchObject({ kind: 'deliver', event: { vector: 6 } }); // #UD during #GP delivery
    const g = running({ fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0030, GUEST_RFLAGS: 0x202 } });
    expect(g.p.exception(13, { errorCode: 0x182 })).toMatchObject({ kind: 'deliver', event: { vector: 13, errorCode: 0x182 } });
    const h = running({ fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0b0d, VM_ENTRY_EXCEPTION_ERROR_CODE: 0 } });
    expect(h.p.exception(14, { errorCode: 0 })).toMatchObject({ kind: 'deliver', event: { vector: 14 } }); // #PF during #GP: serial
  });
});

describe(`${ed} "Monitor Trap Flag"`, () => {
  it('exits (37) at the boundary after the first instruction, not before it', () => {
    const f = running({ proc: CPU_BASED.MONITOR_TRAP_FLAG });
    expect(f.p.instructionBoundary(true).kind).toBe('continue'); // before the first instruction
    expect(exitReason(f.p.instructionBoundary(true))).toBe(EXIT_REASON.MONITOR_TRAP_FLAG); // after it
    f.p.vmresume();
    expect(f.p.instructionBoundary(true).kind).toBe('continue');
  });

  it('is pending right after an injected event\'s delivery, and an injected pending MTF (type 7) exits even without the control', () => {
    const f = running({ proc: CPU_BASED.MONITOR_TRAP_FLAG, fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0030, GUEST_RFLAGS: 0x202 } });
    expect(exitReason(f.p.instructionBoundary(true))).toBe(37);
    // SDM 3C "Injection of Pending MTF VM Exits": nothing is delivered through the IDT, nothing is being delivered.
    const g = preparedFixture({ fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0700 } });
    expect(g.p.vmlaunch()).toEqual({ kind: 'entered', inject: null });
    expect(g.p.deliveringEvent).toBe(false);
    expect(exitReason(g.p.instructionBoundary(true))).toBe(37);
    expect(g.p.vmread32(F.IDT_VECTORING_INFO_FIELD)).toBe(0);
    // Also into the HLT state, which it does not end before the exit.
    const h = preparedFixture({ fields: { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0700, GUEST_ACTIVITY_STATE: ACTIVITY_STATE.HLT } });
    expect(h.p.vmlaunch()).toEqual({ kind: 'entered', inject: null });
    expect(exitReason(h.p.instructionBoundary(false))).toBe(37);
    expect(h.p.vmread32(F.GUEST_ACTIVITY_STATE)).toBe(ACTIVITY_STATE.HLT);
  });

  it('does not fire while the guest stays halted', () => {
    const f = running({ proc: CPU_BASED.MONITOR_TRAP_FLAG }, { GUEST_ACTIVITY_STATE: ACTIVITY_STATE.HLT });
    expect(f.p.instructionBoundary(false).kind).toBe('halted');
    expect(f.p.instructionBoundary(false).kind).toBe('halted');
  });

  it('follows HLT and an event delivered at a boundary', () => {
    const f = running({ proc: CPU_BASED.MONITOR_TRAP_FLAG });
    f.p.instructionBoundary(true);
    f.p.hlt();
    expect(exitReason(f.p.instructionBoundary(true))).toBe(37);
    expect(f.p.vmread32(F.GUEST_ACTIVITY_STATE)).toBe(ACTIVITY_STATE.HLT);
    f.p.vmresume();
    expect(f.p.instructionBoundary(true, false, 0x40).kind).toBe('deliver');
    expect(exitReason(f.p.instructionBoundary(true))).toBe(37);
  });
});

describe(`${ed} "NMI unblocking due to IRET" (Information for VM Exits Due to Vectored Events)`, () => {
  it('a fault during IRET with virtual NMIs ends virtual-NMI blocking and sets bit 12 of the exit interruption information', () => {
    const f = running({ pin: PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS, fields: { EXCEPTION_BITMAP: 1 << 13, GUEST_INTERRUPTIBILITY_INFO: 8 } });
    expect(exitReason(f.p.exception(13, { errorCode: 0, duringIret: true }))).toBe(0);
    expect(f.p.vmread32(F.VM_EXIT_INTR_INFO)).toBe(0x8000_1b0d);
    expect(f.p.vmread32(F.GUEST_INTERRUPTIBILITY_INFO)).toBe(0);
    const g = running({ pin: PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS, fields: { EXCEPTION_BITMAP: 1 << 13 } });
    g.p.exception(13, { errorCode: 0, duringIret: true }); // NMIs were not blocked: nothing to report
    expect(g.p.vmread32(F.VM_EXIT_INTR_INFO)).toBe(0x8000_0b0d);
  });

  it('without "NMI exiting", blocking by NMI ends at the faulting IRET and bit 12 records it', () => {
    const f = running({ fields: { EXCEPTION_BITMAP: 1 << 13, GUEST_INTERRUPTIBILITY_INFO: 8 } });
    expect(exitReason(f.p.exception(13, { errorCode: 0, duringIret: true }))).toBe(0);
    expect(f.p.vmread32(F.VM_EXIT_INTR_INFO)).toBe(0x8000_1b0d);
    expect(f.p.vmread32(F.GUEST_INTERRUPTIBILITY_INFO)).toBe(0);
  });
});
