import { describe, expect, it } from 'vitest';
import { VMCS_FIELD, type VmcsFieldName } from '../fields/field-table.js';
import { launch, preparedFixture } from '../internal/test-setup.js';
import { CHECK_ALL } from '../vmcs/check-dependencies.js';
import type { VmxCapabilityConfig } from './capabilities.js';
import { INTR_TYPE, PIN_BASED } from './controls.js';
import { EXIT_REASON } from './exit-reasons.js';
import type { PrepareVmcsOptions } from './prepare-vmcs.js';

const F = VMCS_FIELD;
const VALID = 0x8000_0000;
type Writes = Partial<Record<VmcsFieldName, number>>;

interface Case {
  /** The SDM section the check is in. */
  section: string;
  /** Guest state valid without an event, written before the first entry (so every check group is cached). */
  state?: Writes;
  /** The event to inject at the second entry. */
  event: Writes;
  check: RegExp;
  options?: PrepareVmcsOptions;
  config?: VmxCapabilityConfig;
}

/**
 * Enters once with `state` and no event (every check group passes and is cached), exits, writes the event
 * (which clears no group), and re-enters: the checks on the event must still fail the entry.
 */
function reenterWithEvent(c: Case): { outcome: ReturnType<ReturnType<typeof preparedFixture>['p']['vmresume']>; check: string | null } {
  const f = preparedFixture(c.options ?? {}, c.config ?? {});
  const write = (writes: Writes): void => {
    for (const [name, value] of Object.entries(writes)) expect(f.p.vmwrite(F[name as VmcsFieldName], value >>> 0).kind).toBe('succeed');
  };
  write(c.state ?? {});
  launch(f);
  f.p.reportExit(EXIT_REASON.CPUID, { instructionLength: 2 });
  const v = f.p.currentVmcs!;
  expect(v.checked).toBe(CHECK_ALL);
  write(c.event);
  expect(v.checked).toBe(CHECK_ALL);
  const outcome = f.p.vmresume();
  return { outcome, check: f.p.lastEntryCheck };
}

const GP = VALID | (INTR_TYPE.HARDWARE_EXCEPTION << 8) | 13;
const strict: VmxCapabilityConfig = { noErrorCodeConsistencyCheck: false };

describe('SDM 3C 27.2.1.3 "Checks on VM-Entry Control Fields": the event to inject, checked at every injecting entry (VMfailValid 7)', () => {
  const cases: Case[] = [
    { section: '27.2.1.3: interruption type 1 is reserved', event: { VM_ENTRY_INTR_INFO_FIELD: VALID | (1 << 8) | 0x20 }, check: /^injected event type 1 is reserved$/ },
    { section: '27.2.1.3: an NMI has vector 2', event: { VM_ENTRY_INTR_INFO_FIELD: VALID | (INTR_TYPE.NMI << 8) | 3 }, check: /^injected NMI must have vector 2$/ },
    { section: '27.2.1.3: a hardware exception has a vector of at most 31', event: { VM_ENTRY_INTR_INFO_FIELD: VALID | (INTR_TYPE.HARDWARE_EXCEPTION << 8) | 32 }, check: /vector of at most 31/ },
    { section: '27.2.1.3: other event (type 7) has vector 0', event: { VM_ENTRY_INTR_INFO_FIELD: VALID | (INTR_TYPE.OTHER_EVENT << 8) | 1 }, check: /other event must have vector 0/ },
    { section: '27.2.1.3: #GP in protected mode needs "deliver error code"', event: { VM_ENTRY_INTR_INFO_FIELD: GP }, check: /needs "deliver error code"/, config: strict },
    { section: '27.2.1.3: #UD has no error code', event: { VM_ENTRY_INTR_INFO_FIELD: VALID | (INTR_TYPE.HARDWARE_EXCEPTION << 8) | (1 << 11) | 6 }, check: /set for an event without an error code/, config: strict },
    { section: '27.2.1.3 with IA32_VMX_BASIC[56]: only hardware exceptions carry an error code', event: { VM_ENTRY_INTR_INFO_FIELD: VALID | (1 << 11) | 0x30 }, check: /not a hardware exception in protected mode/, config: { noErrorCodeConsistencyCheck: true } },
    { section: '27.2.1.3: interruption-information bits 30:12 are 0', event: { VM_ENTRY_INTR_INFO_FIELD: VALID | (1 << 12) | 0x30 }, check: /bits 30:12 not 0/ },
    { section: '27.2.1.3: error code bits 31:16 are 0', event: { VM_ENTRY_INTR_INFO_FIELD: GP | (1 << 11), VM_ENTRY_EXCEPTION_ERROR_CODE: 0x1_0000 }, check: /error code bits 31:16 not 0/ },
    { section: '27.2.1.3: a software interrupt has an instruction length of 1-15', event: { VM_ENTRY_INTR_INFO_FIELD: VALID | (INTR_TYPE.SOFTWARE_INTERRUPT << 8) | 0x80, VM_ENTRY_INSTRUCTION_LEN: 16 }, check: /instruction length must be 1-15/ },
    { section: '27.2.1.3: length 0 only with IA32_VMX_MISC[30]', event: { VM_ENTRY_INTR_INFO_FIELD: VALID | (INTR_TYPE.SOFTWARE_EXCEPTION << 8) | 3, VM_ENTRY_INSTRUCTION_LEN: 0 }, check: /instruction length must be 1-15/, config: { zeroLengthInjection: false } },
  ];
  for (const c of cases) {
    it(c.section, () => {
      const { outcome, check } = reenterWithEvent(c);
      expect(outcome).toEqual({ kind: 'fail-valid', error: 7 });
      expect(check).toMatch(c.check);
    });
  }

  it('27.2: the control failure of the event comes before a host-state failure (error 7, not 8)', () => {
    const f = preparedFixture();
    launch(f);
    f.p.reportExit(EXIT_REASON.CPUID, { instructionLength: 2 });
    f.p.vmwrite(F.VM_ENTRY_INTR_INFO_FIELD, (VALID | (1 << 8) | 0x20) >>> 0);
    f.p.vmwrite(F.HOST_RIP, 0x8000_0000_0000n); // not canonical
    expect(f.p.vmresume()).toEqual({ kind: 'fail-valid', error: 7 });
    expect(f.p.lastEntryCheck).toMatch(/type 1/);
  });

  it('a valid event after an exit that cleared the valid bit is injected without re-running the cached groups', () => {
    const f = preparedFixture();
    launch(f);
    f.p.reportExit(EXIT_REASON.CPUID, { instructionLength: 2 });
    f.p.vmwrite(F.GUEST_RFLAGS, 0x202);
    f.p.vmwrite(F.VM_ENTRY_INTR_INFO_FIELD, (VALID | 0x30) >>> 0);
    const first = f.p.vmresume();
    expect(first.kind === 'entered' && first.inject?.vector).toBe(0x30);
    f.p.reportExit(EXIT_REASON.CPUID, { instructionLength: 2 });
    // SDM 3C 27.2.3 / 28.2: the exit cleared the valid bit; no group was cleared for it.
    expect(f.p.vmread32(F.VM_ENTRY_INTR_INFO_FIELD)).toBe(0x30);
    expect(f.p.currentVmcs!.checked).toBe(CHECK_ALL);
    const plain = f.p.vmresume();
    expect(plain.kind === 'entered' && plain.inject).toBe(null);
  });
});

describe('SDM 3C 27.3.1.4-5: guest-state checks on the event to inject, at every injecting entry (exit 33 | bit 31, qualification 0)', () => {
  const EXT = VALID | 0x30;
  const NMI = VALID | (INTR_TYPE.NMI << 8) | 2;
  const cases: Case[] = [
    { section: '27.3.1.4: an external interrupt needs RFLAGS.IF = 1', state: { GUEST_RFLAGS: 0x2 }, event: { VM_ENTRY_INTR_INFO_FIELD: EXT }, check: /RFLAGS.IF must be 1/ },
    {
      section: '27.3.1.5: in the HLT state only external interrupts, NMIs, #DB, #MC and pending MTF',
      state: { GUEST_ACTIVITY_STATE: 1, GUEST_RFLAGS: 0x202 },
      event: { VM_ENTRY_INTR_INFO_FIELD: VALID | (INTR_TYPE.SOFTWARE_INTERRUPT << 8) | 0x80, VM_ENTRY_INSTRUCTION_LEN: 2 },
      check: /not injectable in the HLT state/,
    },
    { section: '27.3.1.5: in the shutdown state only NMIs and #MC', state: { GUEST_ACTIVITY_STATE: 2, GUEST_RFLAGS: 0x202 }, event: { VM_ENTRY_INTR_INFO_FIELD: EXT }, check: /not injectable in the shutdown state/ },
    { section: '27.3.1.5: nothing in the wait-for-SIPI state', state: { GUEST_ACTIVITY_STATE: 3 }, event: { VM_ENTRY_INTR_INFO_FIELD: NMI }, check: /wait-for-SIPI/ },
    { section: '27.3.1.5: no external interrupt under blocking by STI', state: { GUEST_INTERRUPTIBILITY_INFO: 1, GUEST_RFLAGS: 0x202 }, event: { VM_ENTRY_INTR_INFO_FIELD: EXT }, check: /external-interrupt injection with blocking/ },
    { section: '27.3.1.5: no external interrupt under blocking by MOV SS', state: { GUEST_INTERRUPTIBILITY_INFO: 2, GUEST_RFLAGS: 0x202 }, event: { VM_ENTRY_INTR_INFO_FIELD: EXT }, check: /external-interrupt injection with blocking/ },
    { section: '27.3.1.5: no NMI under blocking by MOV SS', state: { GUEST_INTERRUPTIBILITY_INFO: 2 }, event: { VM_ENTRY_INTR_INFO_FIELD: NMI }, check: /NMI injection with blocking by MOV SS/ },
    {
      section: '27.3.1.5: with "virtual NMIs", no NMI under (virtual-)NMI blocking',
      state: { GUEST_INTERRUPTIBILITY_INFO: 8 },
      event: { VM_ENTRY_INTR_INFO_FIELD: NMI },
      check: /virtual-NMI blocking/,
      options: { pin: PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS },
    },
  ];
  for (const c of cases) {
    it(c.section, () => {
      const { outcome, check } = reenterWithEvent(c);
      expect(outcome.kind === 'exit' && outcome.exit.reason).toBe((EXIT_REASON.INVALID_GUEST_STATE | 0x8000_0000) >>> 0);
      expect(outcome.kind === 'exit' && outcome.exit.qualification).toBe(0);
      expect(check).toMatch(c.check);
    });
  }

  it('27.3.1.5: without "virtual NMIs", blocking by NMI does not stop an injected NMI', () => {
    const { outcome } = reenterWithEvent({ section: '', state: { GUEST_INTERRUPTIBILITY_INFO: 8 }, event: { VM_ENTRY_INTR_INFO_FIELD: NMI }, check: /./ });
    expect(outcome.kind === 'entered' && outcome.inject?.type).toBe(INTR_TYPE.NMI);
  });
});
