import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { VMCS_FIELD, type VmcsFieldName } from '../fields/field-table.js';
import { ADDR, apicvOptions, launch, preparedFixture, type Fixture } from '../internal/test-setup.js';
import { CPU_BASED, INTR_TYPE, PIN_BASED, SECONDARY, VM_ENTRY, VM_EXIT } from './controls.js';
import { EXIT_REASON } from './exit-reasons.js';
import type { PrepareVmcsOptions } from './prepare-vmcs.js';

const F = VMCS_FIELD;
const ed = 'SDM 3C (083) "VM Entries"';

function entryWith(options: PrepareVmcsOptions, writes: Partial<Record<VmcsFieldName, number | bigint>> = {}): { f: Fixture; r: ReturnType<Fixture['p']['vmlaunch']> } {
  const f = preparedFixture(options);
  for (const [name, value] of Object.entries(writes)) {
    const res = f.p.vmwrite(F[name as VmcsFieldName], typeof value === 'number' && value < 0 ? value >>> 0 : value);
    if (res.kind !== 'succeed') throw new Error(`vmwrite ${name}: ${res.kind}`);
  }
  return { f, r: f.p.vmlaunch() };
}

function expectControlFailure(options: PrepareVmcsOptions, writes: Partial<Record<VmcsFieldName, number | bigint>>, check: RegExp): void {
  const { f, r } = entryWith(options, writes);
  expect(r).toEqual({ kind: 'fail-valid', error: 7 });
  expect(f.p.lastEntryCheck).toMatch(check);
  expect(f.p.vmxOperation).toBe('root');
  expect(f.p.currentVmcs?.launchState).toBe('clear');
}

describe(`${ed}: "Checks on VM-Execution Control Fields" (VMfailValid 7)`, () => {
  it('a minimal VMCS and a full APICv VMCS both enter', () => {
    launch(preparedFixture());
    launch(preparedFixture(apicvOptions()));
  });

  it('rejects control bits the capability MSRs do not allow, and default-1 bits cleared', () => {
    expectControlFailure({}, { PIN_BASED_VM_EXEC_CONTROL: 0 }, /pin-based/);
    expectControlFailure({}, { PIN_BASED_VM_EXEC_CONTROL: 0x16 | (1 << 8) }, /pin-based/);
    expectControlFailure({}, { CPU_BASED_VM_EXEC_CONTROL: 0 }, /primary/);
    expectControlFailure({ proc2: SECONDARY.ENABLE_EPT }, { SECONDARY_VM_EXEC_CONTROL: 1 << 30 }, /secondary/);
    expectControlFailure({}, { VM_EXIT_CONTROLS: VM_EXIT.HOST_ADDRESS_SPACE_SIZE }, /VM-exit controls/);
    expectControlFailure({}, { VM_ENTRY_CONTROLS: VM_ENTRY.IA32E_MODE_GUEST }, /VM-entry controls/);
  });

  it('a processor without posted interrupts rejects "process posted interrupts"', () => {
    const { postedInterruptDescriptor: _d, notificationVector: _n, ...options } = apicvOptions();
    const f = preparedFixture(options, { postedInterrupts: false });
    expect(f.p.vmlaunch()).toEqual({ kind: 'fail-valid', error: 7 });
  });

  it('secondary controls are ignored unless "activate secondary controls" is 1', () => {
    const f = preparedFixture({});
    f.p.vmwrite(F.SECONDARY_VM_EXEC_CONTROL, 0xffff_ffff); // would be invalid, but inactive
    launch(f);
  });

  it('APICv dependencies (SDM 3C "VM-Execution Control Fields" checks)', () => {
    const vid = SECONDARY.VIRTUAL_INTERRUPT_DELIVERY;
    // virtual-interrupt delivery needs external-interrupt exiting
    expectControlFailure({ proc2: vid, virtualApicPage: ADDR.VAPIC }, {}, /needs "external-interrupt exiting"/);
    // x2APIC virtualization / register virtualization / VID need the TPR shadow
    for (const bit of [SECONDARY.VIRTUALIZE_X2APIC_MODE, SECONDARY.APIC_REGISTER_VIRTUALIZATION, vid]) {
      expectControlFailure({ pin: PIN_BASED.EXT_INTR_EXITING, proc2: bit }, {}, /need "use TPR shadow"/);
    }
    // virtualize x2APIC mode excludes virtualize APIC accesses
    expectControlFailure({ proc2: SECONDARY.VIRTUALIZE_X2APIC_MODE | SECONDARY.VIRTUALIZE_APIC_ACCESSES, virtualApicPage: ADDR.VAPIC, apicAccessPage: ADDR.APIC_ACCESS }, {}, /excludes/);
    // posted interrupts: VID, ack-on-exit, NV[15:8] = 0, 64-byte aligned descriptor
    const pi = apicvOptions();
    expectControlFailure({ ...pi, proc2: SECONDARY.VIRTUALIZE_X2APIC_MODE }, {}, /needs "virtual-interrupt delivery"/);
    expectControlFailure({ ...pi, exit: 0 }, {}, /acknowledge interrupt on exit/);
    expectControlFailure(pi, { POSTED_INTR_NV: 0x1f2 }, /bits 15:8/);
    expectControlFailure(pi, { POSTED_INTR_DESC_ADDR: ADDR.PID + 0x20 }, /64-byte aligned/);
    expectControlFailure(pi, { POSTED_INTR_DESC_ADDR: 2 ** 50 }, /64-byte aligned or beyond MAXPHYADDR/);
  });

  it('address, TPR-threshold, NMI, VPID and EPT checks', () => {
    expectControlFailure({ virtualApicPage: ADDR.VAPIC + 4 }, {}, /virtual-APIC address/);
    expectControlFailure({ virtualApicPage: ADDR.VAPIC }, { TPR_THRESHOLD: 0x10 }, /TPR threshold/);
    // TPR threshold above VTPR[7:4] (use TPR shadow, no VID, no APIC-access virtualization): VTPR is 0 here.
    expectControlFailure({ virtualApicPage: ADDR.VAPIC }, { TPR_THRESHOLD: 1 }, /greater than VTPR/);
    launch(preparedFixture({ proc2: SECONDARY.VIRTUALIZE_APIC_ACCESSES, apicAccessPage: ADDR.APIC_ACCESS, virtualApicPage: ADDR.VAPIC, fields: { TPR_THRESHOLD: 1 } }));
    expectControlFailure({ msrBitmap: ADDR.MSR_BITMAP + 1 }, {}, /MSR-bitmap/);
    expectControlFailure({ proc2: SECONDARY.VIRTUALIZE_APIC_ACCESSES, apicAccessPage: ADDR.APIC_ACCESS + 0x800 }, {}, /APIC-access address/);
    expectControlFailure({ pin: PIN_BASED.VIRTUAL_NMIS }, {}, /"virtual NMIs" needs "NMI exiting"/);
    expectControlFailure({ pin: PIN_BASED.NMI_EXITING, proc: CPU_BASED.NMI_WINDOW_EXITING }, {}, /NMI-window/);
    expectControlFailure({ proc2: SECONDARY.ENABLE_VPID }, {}, /VPID is 0/);
    expectControlFailure({ proc2: SECONDARY.ENABLE_EPT }, { EPT_POINTER: 0x9000 }, /EPT pointer/);
    launch(preparedFixture({ proc2: SECONDARY.ENABLE_EPT, fields: { EPT_POINTER: 0x9000 | (3 << 3) | 6 } }));
    expectControlFailure({ proc2: SECONDARY.UNRESTRICTED_GUEST }, {}, /needs "enable EPT"/);
    expectControlFailure({}, { CR3_TARGET_COUNT: 5 }, /CR3-target count/);
    expectControlFailure({ pin: 0, exit: VM_EXIT.SAVE_PREEMPTION_TIMER }, {}, /save VMX-preemption timer/);
  });

  it('event-injection checks (SDM 3C "Checks on VM-Entry Control Fields")', () => {
    const inj = (info: number, extra: Partial<Record<VmcsFieldName, number>> = {}): void => expectControlFailure({}, { VM_ENTRY_INTR_INFO_FIELD: info, ...extra }, /inject|interruption|error code|instruction length/);
    const valid = 0x8000_0000;
    inj(valid | (1 << 8) | 0x20); // type 1 reserved
    inj(valid | (INTR_TYPE.NMI << 8) | 3); // NMI vector must be 2
    inj(valid | (INTR_TYPE.HARDWARE_EXCEPTION << 8) | 32); // vector > 31
    inj(valid | (INTR_TYPE.HARDWARE_EXCEPTION << 8) | 13); // #GP needs deliver-error-code
    inj(valid | (INTR_TYPE.HARDWARE_EXCEPTION << 8) | (1 << 11) | 6); // #UD has no error code
    inj(valid | (INTR_TYPE.HARDWARE_EXCEPTION << 8) | (1 << 11) | 14, { VM_ENTRY_EXCEPTION_ERROR_CODE: 0x1_0000 }); // error code bits 31:16
    inj(valid | (1 << 12) | 0x30); // reserved bits 30:12
    inj(valid | (INTR_TYPE.SOFTWARE_INTERRUPT << 8) | 0x80, { VM_ENTRY_INSTRUCTION_LEN: 0 }); // length 0
    inj(valid | (INTR_TYPE.SOFTWARE_INTERRUPT << 8) | 0x80, { VM_ENTRY_INSTRUCTION_LEN: 16 });
    inj(valid | (INTR_TYPE.OTHER_EVENT << 8) | 1); // other event needs vector 0
    // IA32_VMX_BASIC[56] lifts the error-code consistency check
    const f = preparedFixture({}, { noErrorCodeConsistencyCheck: true });
    f.p.vmwrite(F.VM_ENTRY_INTR_INFO_FIELD, (valid | (INTR_TYPE.HARDWARE_EXCEPTION << 8) | 13) >>> 0);
    expect(f.p.vmlaunch().kind).toBe('entered');
    const g = preparedFixture({}, { noErrorCodeConsistencyCheck: true });
    g.p.vmwrite(F.VM_ENTRY_INTR_INFO_FIELD, (valid | (1 << 11) | 0x30) >>> 0); // external interrupt with an error code
    g.p.vmwrite(F.GUEST_RFLAGS, 0x202);
    expect(g.p.vmlaunch()).toEqual({ kind: 'fail-valid', error: 7 });
  });
});

describe(`${ed}: "Checks on Host Control Registers, MSRs, and SSP", "Checks on Host Segment and Descriptor-Table Registers", "Checks Related to Address-Space Size" (VMfailValid 8)`, () => {
  const host = (writes: Partial<Record<VmcsFieldName, number | bigint>>, check: RegExp, options: PrepareVmcsOptions = {}): void => {
    const { f, r } = entryWith(options, writes);
    expect(r).toEqual({ kind: 'fail-valid', error: 8 });
    expect(f.p.lastEntryCheck).toMatch(check);
  };
  it('rejects bad host state', () => {
    host({ HOST_CR0: 0x31 }, /host CR0/);
    host({ HOST_CR4: 0x20 }, /host CR4/);
    host({ HOST_CR3: 2 ** 47 }, /host CR3/);
    host({ HOST_CS_SELECTOR: 0x0b }, /HOST_CS_SELECTOR RPL or TI/);
    host({ HOST_CS_SELECTOR: 0 }, /host CS selector is 0/);
    host({ HOST_TR_SELECTOR: 0 }, /host TR selector is 0/);
    host({ HOST_FS_BASE: 0x0000_8000_0000_0000n }, /HOST_FS_BASE not canonical/);
    host({ HOST_RIP: 0x0001_0000_0000_0000n }, /host RIP not canonical/);
    host({ HOST_IA32_SYSENTER_EIP: 0x8000_0000_0000_0000n }, /SYSENTER/);
    host({ VM_EXIT_CONTROLS: 0x0003_6dfb }, /must be 1 when the processor is in IA-32e mode/);
    host({ HOST_IA32_EFER: 0x100 }, /LMA\/LME/, { exit: VM_EXIT.LOAD_IA32_EFER });
    host({ HOST_IA32_PAT: 0x03n }, /IA32_PAT/, { exit: VM_EXIT.LOAD_IA32_PAT });
  });

  it('a 32-bit host (processor outside IA-32e mode) needs "host address-space size" 0 and no IA-32e guest', () => {
    const f = preparedFixture({});
    f.p.mode.efer = 0;
    expect(f.p.vmlaunch()).toEqual({ kind: 'fail-valid', error: 8 });
    f.p.vmwrite(F.VM_EXIT_CONTROLS, 0x0003_6dfb);
    expect(f.p.vmlaunch()).toEqual({ kind: 'fail-valid', error: 8 });
    expect(f.p.lastEntryCheck).toMatch(/IA-32e mode guest/);
  });

  it('control checks come before host-state checks (SDM order)', () => {
    const { r } = entryWith({ virtualApicPage: ADDR.VAPIC + 1 }, { HOST_CR0: 0 });
    expect(r).toEqual({ kind: 'fail-valid', error: 7 });
  });
});

describe(`${ed}: "Checks on the Guest State Area" (VM-entry failure, exit reason 33 with bit 31)`, () => {
  const guest = (writes: Partial<Record<VmcsFieldName, number | bigint>>, check: RegExp, qualification = 0, options: PrepareVmcsOptions = {}): void => {
    const { f, r } = entryWith(options, writes);
    expect(r.kind).toBe('exit');
    if (r.kind !== 'exit') return;
    expect(r.exit.reason).toBe((0x8000_0000 | EXIT_REASON.INVALID_GUEST_STATE) >>> 0);
    expect(r.exit.entryFailure).toBe(true);
    expect(r.exit.qualification).toBe(qualification);
    expect(f.p.lastEntryCheck).toMatch(check);
    expect(f.p.vmxOperation).toBe('root');
    expect(f.p.currentVmcs?.launchState).toBe('clear'); // unchanged by a failed VMLAUNCH
    expect(f.p.vmread32(F.VM_EXIT_REASON)).toBe(0x8000_0021);
    expect(f.p.vmread32(F.EXIT_QUALIFICATION)).toBe(qualification);
  };
  it('control registers and RFLAGS', () => {
    guest({ GUEST_CR0: 0x8000_0030 }, /guest CR0/);
    guest({ GUEST_CR4: 0x20 }, /guest CR4/);
    guest({ GUEST_RFLAGS: 0 }, /RFLAGS reserved/);
    guest({ GUEST_RFLAGS: 0x2 | (1 << 15) }, /RFLAGS reserved/);
    guest({ GUEST_RFLAGS: 0x2 | (1 << 17) }, /RFLAGS.VM/);
    guest({ VM_ENTRY_INTR_INFO_FIELD: 0x8000_0030 }, /RFLAGS.IF must be 1/);
    guest({ GUEST_IA32_PAT: 0x0007_0406_0007_0402n }, /IA32_PAT/, 0, { entry: VM_ENTRY.LOAD_IA32_PAT });
    guest({ GUEST_IA32_EFER: 0x100 }, /LMA differs/, 0, { entry: VM_ENTRY.LOAD_IA32_EFER });
    guest({ GUEST_IA32_EFER: 0x400 }, /LME differs/, 0, { entry: VM_ENTRY.LOAD_IA32_EFER });
    guest({ GUEST_IA32_EFER: 0x2000_0500 }, /reserved/, 0, { entry: VM_ENTRY.LOAD_IA32_EFER });
    launch(preparedFixture({ entry: VM_ENTRY.LOAD_IA32_EFER | VM_ENTRY.LOAD_IA32_PAT, fields: { GUEST_IA32_EFER: 0x500, GUEST_IA32_PAT: 0x0007_0406_0007_0406n } }));
  });

  it('unrestricted guest relaxes CR0.PE and CR0.PG', () => {
    const f = preparedFixture({ proc2: SECONDARY.ENABLE_EPT | SECONDARY.UNRESTRICTED_GUEST, entry: 0, fields: { EPT_POINTER: 0x9000 | (3 << 3) | 6, GUEST_CR0: 0x30, VM_ENTRY_CONTROLS: 0x11fb } });
    launch(f);
  });

  it('activity state and interruptibility (SDM 3C "Checks on Guest Non-Register State")', () => {
    guest({ GUEST_ACTIVITY_STATE: 4 }, /activity state not supported/);
    guest({ GUEST_ACTIVITY_STATE: 1, GUEST_SS_AR_BYTES: 0xc0f3 }, /SS.DPL/);
    guest({ GUEST_ACTIVITY_STATE: 1, GUEST_INTERRUPTIBILITY_INFO: 2 }, /needs the active state/);
    guest({ GUEST_ACTIVITY_STATE: 1, VM_ENTRY_INTR_INFO_FIELD: 0x8000_0000 | (INTR_TYPE.SOFTWARE_INTERRUPT << 8) | 0x80, VM_ENTRY_INSTRUCTION_LEN: 2, GUEST_RFLAGS: 0x202 }, /not injectable in the HLT state/);
    guest({ GUEST_ACTIVITY_STATE: 3, VM_ENTRY_INTR_INFO_FIELD: 0x8000_0202 }, /wait-for-SIPI/);
    guest({ GUEST_INTERRUPTIBILITY_INFO: 0x20 }, /bits 31:5/);
    guest({ GUEST_INTERRUPTIBILITY_INFO: 3, GUEST_RFLAGS: 0x202 }, /both set/);
    guest({ GUEST_INTERRUPTIBILITY_INFO: 1 }, /blocking by STI with RFLAGS.IF 0/);
    guest({ GUEST_INTERRUPTIBILITY_INFO: 2, GUEST_RFLAGS: 0x202, VM_ENTRY_INTR_INFO_FIELD: 0x8000_0030 }, /external-interrupt injection with blocking/);
    guest({ GUEST_INTERRUPTIBILITY_INFO: 2, VM_ENTRY_INTR_INFO_FIELD: 0x8000_0202 }, /NMI injection with blocking by MOV SS/);
    guest({ GUEST_INTERRUPTIBILITY_INFO: 4 }, /SMI/);
    guest({ GUEST_INTERRUPTIBILITY_INFO: 8, VM_ENTRY_INTR_INFO_FIELD: 0x8000_0202 }, /virtual-NMI blocking/, 0, { pin: PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS });
    guest({ GUEST_PENDING_DBG_EXCEPTIONS: 0x10 }, /pending debug exceptions reserved/);
    guest({ GUEST_INTERRUPTIBILITY_INFO: 2, GUEST_RFLAGS: 0x102 }, /BS must be 1/);
  });

  it('VMCS link pointer: qualification 4', () => {
    guest({ VMCS_LINK_POINTER: 0x9000 }, /revision identifier/, 4);
    guest({ VMCS_LINK_POINTER: 0x9010 }, /link pointer not 4-KByte aligned/, 4);
  });

  it('control and host checks come before guest-state checks; an entry MSR-load list fails with reason 34', () => {
    const { r } = entryWith({}, { HOST_TR_SELECTOR: 0, GUEST_RFLAGS: 0 });
    expect(r).toEqual({ kind: 'fail-valid', error: 8 });
    const m = entryWith({}, { VM_ENTRY_MSR_LOAD_COUNT: 1, VM_ENTRY_MSR_LOAD_ADDR: ADDR.SCRATCH });
    expect(m.r.kind === 'exit' && m.r.exit.reason).toBe((0x8000_0000 | EXIT_REASON.MSR_LOADING) >>> 0);
    expect(m.r.kind === 'exit' && m.r.exit.qualification).toBe(1);
  });
});

describe(`${ed}: order of the checks ("VM Entries": controls, then host state, then guest state, then MSR loading)`, () => {
  const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
  const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 200);
  const breakControls: Partial<Record<VmcsFieldName, number>>[] = [{ PIN_BASED_VM_EXEC_CONTROL: 0 }, { CR3_TARGET_COUNT: 9 }, { VM_ENTRY_INTR_INFO_FIELD: 0x8000_0100 }];
  const breakHost: Partial<Record<VmcsFieldName, number>>[] = [{ HOST_CR0: 0 }, { HOST_TR_SELECTOR: 0 }, { HOST_CS_SELECTOR: 9 }];
  const breakGuest: Partial<Record<VmcsFieldName, number>>[] = [{ GUEST_RFLAGS: 0 }, { GUEST_ACTIVITY_STATE: 7 }, { GUEST_INTERRUPTIBILITY_INFO: 0x40 }];
  it('property: whatever else is wrong, the first failing area decides the outcome', () => {
    fc.assert(
      fc.property(
        fc.option(fc.constantFrom(...breakControls)),
        fc.option(fc.constantFrom(...breakHost)),
        fc.option(fc.constantFrom(...breakGuest)),
        fc.boolean(),
        (c, h, g, msrLoad) => {
          const writes = { ...(c ?? {}), ...(h ?? {}), ...(g ?? {}), ...(msrLoad ? { VM_ENTRY_MSR_LOAD_COUNT: 1, VM_ENTRY_MSR_LOAD_ADDR: ADDR.SCRATCH } : {}) };
          const { r } = entryWith({}, writes);
          if (c) expect(r).toEqual({ kind: 'fail-valid', error: 7 });
          else if (h) expect(r).toEqual({ kind: 'fail-valid', error: 8 });
          else if (g) expect(r.kind === 'exit' && r.exit.reason).toBe(0x8000_0021);
          else if (msrLoad) expect(r.kind === 'exit' && r.exit.reason).toBe(0x8000_0022);
          else expect(r.kind).toBe('entered');
        },
      ),
      { seed, numRuns },
    );
  });
});
