import { describe, expect, it } from 'vitest';
import { CpuException, PhysicalMemory, UsageError } from '@hvsim/core';
import { VMCS_FIELD } from '../fields/field-table.js';
import { VmxProcessor, INVALID_VMCS_POINTER } from './processor.js';
import { VM_INSTRUCTION_ERROR as E } from './instruction-errors.js';
import { ADDR, rootFixture, preparedFixture, launch } from '../internal/test-setup.js';
import { prepareVmcs } from './prepare-vmcs.js';
import { VMCS_REGION } from '../vmcs/vmcs.js';
import { EXIT_REASON } from './exit-reasons.js';

const F = VMCS_FIELD;
const ed = 'SDM 3C (083) "VMX Instruction Reference"';

function fresh(): { p: VmxProcessor; memory: PhysicalMemory } {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x10_0000);
  const p = new VmxProcessor({ memory });
  memory.write32(ADDR.VMXON, p.capabilities.revisionId);
  memory.write32(ADDR.VMCS, p.capabilities.revisionId);
  return { p, memory };
}

describe(`VMXON / VMXOFF (${ed}: VMXON—Enter VMX Operation, VMXOFF—Leave VMX Operation)`, () => {
  it('#UD with CR4.VMXE = 0, in real mode, virtual-8086 mode or compatibility mode', () => {
    for (const change of [{ cr4: 0x20 }, { cr0: 0x10 }, { rflags: 0x2_0002 }, { csL: false }] as const) {
      const { p } = fresh();
      Object.assign(p.mode, change);
      expect(() => p.vmxon(ADDR.VMXON)).toThrow(CpuException);
      try {
        p.vmxon(ADDR.VMXON);
      } catch (e) {
        expect(CpuException.isVector(e, 6)).toBe(true);
      }
    }
  });

  it('#GP(0) at CPL > 0, with IA32_FEATURE_CONTROL unlocked or VMX disabled, or with CR0 not meeting IA32_VMX_CR0_FIXED0', () => {
    for (const change of [{ cpl: 3 }, { featureControl: 0x4 }, { featureControl: 0x1 }, { cr0: 0x11 }] as const) {
      const { p } = fresh();
      Object.assign(p.mode, change);
      expect(() => p.vmxon(ADDR.VMXON)).toThrow(/#GP/);
    }
    const { p } = fresh();
    Object.assign(p.mode, { inSmx: true, featureControl: 0x5 });
    expect(() => p.vmxon(ADDR.VMXON)).toThrow(/#GP/); // SMX needs bit 1
  });

  it('VMfailInvalid for a misaligned pointer, a pointer beyond MAXPHYADDR, or a wrong revision identifier', () => {
    const { p, memory } = fresh();
    expect(p.vmxon(ADDR.VMXON + 8)).toEqual({ kind: 'fail-invalid' });
    expect(p.vmxon(2 ** 46)).toEqual({ kind: 'fail-invalid' });
    expect(p.vmxon(0xffff_ffff_ffff_f000n)).toEqual({ kind: 'fail-invalid' });
    memory.write32(ADDR.VMXON, 2);
    expect(p.vmxon(ADDR.VMXON).kind).toBe('fail-invalid');
    memory.write32(ADDR.VMXON, (1 | 0x8000_0000) >>> 0); // bit 31 set
    expect(p.vmxon(ADDR.VMXON).kind).toBe('fail-invalid');
    expect(p.vmxOperation).toBe('off');
    memory.write32(ADDR.VMXON, 1);
    expect(p.vmxon(ADDR.VMXON).kind).toBe('succeed');
    expect(p.vmxOperation).toBe('root');
    expect(p.currentVmcsPointer).toBe(INVALID_VMCS_POINTER);
  });

  it('VMXON in VMX root operation fails with error 15 (VMfailInvalid without a current VMCS)', () => {
    const { p } = rootFixture();
    expect(p.vmxon(ADDR.VMXON)).toEqual({ kind: 'fail-valid', error: E.VMXON_IN_VMX_ROOT });
    expect(p.vmread32(F.VM_INSTRUCTION_ERROR)).toBe(15);
    expect(p.vmclear(ADDR.VMCS).kind).toBe('succeed');
    expect(p.vmxon(ADDR.VMXON)).toEqual({ kind: 'fail-invalid' });
  });

  it('VMXOFF leaves VMX operation; VMX instructions then raise #UD', () => {
    const { p } = rootFixture();
    expect(p.vmxoff().kind).toBe('succeed');
    expect(p.vmxOperation).toBe('off');
    for (const f of [() => p.vmxoff(), () => p.vmclear(ADDR.VMCS), () => p.vmptrld(ADDR.VMCS), () => p.vmread32(0), () => p.vmwrite(0, 1), () => p.vmlaunch(), () => p.vmresume(), () => p.vmptrst(ADDR.SCRATCH)]) {
      expect(f).toThrow(/#UD/);
    }
  });

  it('every VMX instruction but VMXON raises #GP(0) at CPL 3 in VMX root operation', () => {
    const { p } = rootFixture();
    p.mode.cpl = 3;
    for (const f of [() => p.vmxon(ADDR.VMXON), () => p.vmxoff(), () => p.vmclear(ADDR.VMCS), () => p.vmptrld(ADDR.VMCS), () => p.vmread32(0), () => p.vmwrite(0, 1), () => p.vmlaunch(), () => p.vmresume(), () => p.vmptrst(ADDR.SCRATCH)]) {
      expect(f).toThrow(/#GP/);
    }
  });
});

describe(`VMCLEAR / VMPTRLD / VMPTRST (${ed})`, () => {
  it('VMCLEAR errors 2 (invalid address) and 3 (VMXON pointer)', () => {
    const { p } = rootFixture();
    expect(p.vmclear(ADDR.VMCS + 0x10)).toEqual({ kind: 'fail-valid', error: E.VMCLEAR_INVALID_ADDRESS });
    expect(p.vmclear(ADDR.VMXON)).toEqual({ kind: 'fail-valid', error: E.VMCLEAR_VMXON_POINTER });
    expect(p.vmread32(F.VM_INSTRUCTION_ERROR)).toBe(3);
  });

  it('VMPTRLD errors 9 (invalid address), 10 (VMXON pointer) and 11 (revision identifier)', () => {
    const { p, memory } = rootFixture();
    expect(p.vmptrld(0x1234)).toEqual({ kind: 'fail-valid', error: E.VMPTRLD_INVALID_ADDRESS });
    expect(p.vmptrld(ADDR.VMXON)).toEqual({ kind: 'fail-valid', error: E.VMPTRLD_VMXON_POINTER });
    memory.write32(ADDR.VMCS2, 7);
    expect(p.vmptrld(ADDR.VMCS2)).toEqual({ kind: 'fail-valid', error: E.VMPTRLD_INCORRECT_REVISION_ID });
    expect(p.vmptrld(0x20_0000)).toEqual({ kind: 'fail-valid', error: E.VMPTRLD_INCORRECT_REVISION_ID }); // no memory there: reads as all ones
    memory.write32(ADDR.VMCS2, 0x8000_0001); // shadow-VMCS indicator without VMCS shadowing support
    expect(p.vmptrld(ADDR.VMCS2).kind).toBe('fail-valid');
    expect(p.currentVmcsPointer).toBe(BigInt(ADDR.VMCS));
  });

  it('VMPTRST stores the current-VMCS pointer, FFFFFFFF_FFFFFFFFH when there is none', () => {
    const { p, memory } = rootFixture();
    expect(p.vmptrst(ADDR.SCRATCH).kind).toBe('succeed');
    expect(memory.read64(ADDR.SCRATCH)).toBe(BigInt(ADDR.VMCS));
    p.vmclear(ADDR.VMCS);
    p.vmptrst(ADDR.SCRATCH);
    expect(memory.read64(ADDR.SCRATCH)).toBe(0xffff_ffff_ffff_ffffn);
  });

  it('VMCLEAR writes the VMCS data and launch state "clear" to its region; VMPTRLD reads them back', () => {
    const { p, memory } = rootFixture();
    p.vmwrite(F.GUEST_RIP, 0xffff_8000_1234_5678n);
    p.vmwrite(F.TSC_OFFSET, 0x1122_3344_5566_7788n);
    expect(p.vmclear(ADDR.VMCS).kind).toBe('succeed');
    expect(p.currentVmcsPointer).toBe(INVALID_VMCS_POINTER);
    expect(memory.read32(ADDR.VMCS + VMCS_REGION.REVISION_ID)).toBe(1);
    expect(memory.read32(ADDR.VMCS + VMCS_REGION.LAUNCH_STATE)).toBe(1);
    expect(p.vmread32(F.GUEST_RIP)).toBe(-1);
    expect(p.lastResult.kind).toBe('fail-invalid');
    p.vmptrld(ADDR.VMCS);
    expect(p.vmread(F.GUEST_RIP)).toEqual({ kind: 'value', value: 0xffff_8000_1234_5678n });
    expect(p.vmread(F.TSC_OFFSET)).toEqual({ kind: 'value', value: 0x1122_3344_5566_7788n });
    expect(p.currentVmcs?.launchState).toBe('clear');
  });

  it('a VMCS never cleared has an undefined launch state: neither VMLAUNCH nor VMRESUME accepts it', () => {
    const { p } = rootFixture();
    p.vmptrld(ADDR.VMCS2);
    prepareVmcs(p);
    expect(p.vmlaunch()).toEqual({ kind: 'fail-valid', error: E.VMLAUNCH_NONCLEAR_VMCS });
    expect(p.vmresume()).toEqual({ kind: 'fail-valid', error: E.VMRESUME_NONLAUNCHED_VMCS });
  });

  it('switching VMCSs keeps each active VMCS\'s data and launch state', () => {
    const { p } = rootFixture();
    prepareVmcs(p);
    p.vmwrite(F.GUEST_RSP, 0xaaaa);
    p.vmclear(ADDR.VMCS2);
    p.vmptrld(ADDR.VMCS2);
    p.vmwrite(F.GUEST_RSP, 0xbbbb);
    p.vmptrld(ADDR.VMCS);
    expect(p.vmreadNumber(F.GUEST_RSP)).toBe(0xaaaa);
    p.vmptrld(ADDR.VMCS2);
    expect(p.vmreadNumber(F.GUEST_RSP)).toBe(0xbbbb);
  });
});

describe(`VMREAD / VMWRITE (${ed}: VMREAD, VMWRITE)`, () => {
  it('error 12 for an unsupported component: a non-field, reserved encoding bits, bits 63:32 of the operand, a _HIGH alias of a non-64-bit field, or a field the processor lacks', () => {
    const { p } = rootFixture({ ept: false });
    for (const enc of [0x4001, 0x6c1e, 0x1_4000, 0x1000, 0x681f]) {
      expect(p.vmread(enc)).toEqual({ kind: 'fail-valid', error: E.UNSUPPORTED_VMCS_COMPONENT });
      expect(p.vmwrite(enc, 0)).toEqual({ kind: 'fail-valid', error: E.UNSUPPORTED_VMCS_COMPONENT });
    }
    expect(p.vmread(0x1_0000_4000n).kind).toBe('fail-valid');
    expect(p.vmread32(F.EPT_POINTER)).toBe(-1); // no EPT on this processor
    expect(p.lastResult).toEqual({ kind: 'fail-valid', error: 12 });
    expect(p.supportsField(F.EPT_POINTER)).toBe(false);
    expect(p.supportsField(F.GUEST_RIP)).toBe(true);
    expect(p.supportsField(F.GUEST_RIP + 0.5)).toBe(false);
  });

  it('an encoding operand that is no register value (fraction, negative, NaN) is API misuse, not error 12', () => {
    const { p } = rootFixture();
    for (const enc of [F.PIN_BASED_VM_EXEC_CONTROL + 0.5, -1, Number.NaN]) {
      expect(() => p.vmread(enc)).toThrow(UsageError);
      expect(() => p.vmread32(enc)).toThrow(/VMREAD field encoding must be a non-negative safe integer or a bigint, got/);
      expect(() => p.vmwrite32(enc, 0)).toThrow(/VMWRITE field encoding/);
    }
    expect(p.vmread32(F.PIN_BASED_VM_EXEC_CONTROL)).toBeGreaterThanOrEqual(0); // the processor is unharmed
  });

  it('error 13 for VMWRITE to a read-only field unless IA32_VMX_MISC[29] allows it', () => {
    const { p } = rootFixture();
    expect(p.vmwrite(F.VM_EXIT_REASON, 1)).toEqual({ kind: 'fail-valid', error: E.VMWRITE_READ_ONLY_COMPONENT });
    expect(p.vmwrite(F.EXIT_QUALIFICATION, 1).kind).toBe('fail-valid');
    const any = rootFixture({ vmwriteAnyField: true }).p;
    expect(any.vmwrite(F.VM_EXIT_REASON, 1).kind).toBe('succeed');
    expect(any.vmread32(F.VM_EXIT_REASON)).toBe(1);
  });

  it('VMfailInvalid without a current VMCS', () => {
    const { p } = rootFixture();
    p.vmclear(ADDR.VMCS);
    expect(p.vmwrite(F.GUEST_RIP, 1)).toEqual({ kind: 'fail-invalid' });
    expect(p.vmread(F.GUEST_RIP)).toEqual({ kind: 'fail-invalid' });
  });

  it('conformance: width truncation and the _HIGH alias (SDM 3C "VMREAD, VMWRITE, and Encodings of VMCS Fields")', () => {
    const { p } = rootFixture();
    // field, written, read back
    const rows: [number, bigint, bigint][] = [
      [F.GUEST_ES_SELECTOR, 0x1234_5678n, 0x5678n], // 16-bit: high bits of the source ignored
      [F.GUEST_INTR_STATUS, 0xffff_ffff_ffffn, 0xffffn],
      [F.EXCEPTION_BITMAP, 0x1_8000_0001n, 0x8000_0001n], // 32-bit
      [F.TSC_OFFSET, 0xfedc_ba98_7654_3210n, 0xfedc_ba98_7654_3210n], // 64-bit
      [F.TSC_OFFSET | 1, 0x1_0000_0002n, 0x2n], // _HIGH: bits 31:0 of the source into bits 63:32
      [F.GUEST_RIP, 0xffff_ffff_ffff_fff0n, 0xffff_ffff_ffff_fff0n], // natural width (64-bit mode)
    ];
    for (const [enc, written, expected] of rows) {
      expect(p.vmwrite(enc, written).kind).toBe('succeed');
      expect(p.vmread(enc)).toEqual({ kind: 'value', value: expected });
    }
    expect(p.vmread(F.TSC_OFFSET)).toEqual({ kind: 'value', value: 0x0000_0002_7654_3210n });
    expect(p.vmread32(F.TSC_OFFSET)).toBe(0x7654_3210);
    expect(p.vmread32(F.TSC_OFFSET | 1)).toBe(2);
    expect(p.vmwrite32(F.TSC_OFFSET | 1, 0xffff_ffff).kind).toBe('succeed');
    expect(p.vmread(F.TSC_OFFSET)).toEqual({ kind: 'value', value: 0xffff_ffff_7654_3210n });
    expect(() => p.vmreadNumber(F.TSC_OFFSET)).toThrow(UsageError);
    p.vmwrite(F.GUEST_RSP, 2 ** 40 + 5);
    expect(p.vmreadNumber(F.GUEST_RSP)).toBe(2 ** 40 + 5);
    expect(() => p.vmwrite(F.GUEST_RSP, -1)).toThrow(/non-negative safe integer/);
  });
});

describe(`VMLAUNCH / VMRESUME launch state (${ed}: VMLAUNCH/VMRESUME)`, () => {
  it('VMLAUNCH needs "clear" (error 4), VMRESUME needs "launched" (error 5); a successful VMLAUNCH sets "launched"', () => {
    const f = preparedFixture();
    expect(f.p.vmresume()).toEqual({ kind: 'fail-valid', error: E.VMRESUME_NONLAUNCHED_VMCS });
    launch(f);
    expect(f.p.currentVmcs?.launchState).toBe('launched');
    expect(f.p.reportExit(EXIT_REASON.CPUID, { instructionLength: 2 }).kind).toBe('exit');
    expect(f.p.vmlaunch()).toEqual({ kind: 'fail-valid', error: E.VMLAUNCH_NONCLEAR_VMCS });
    expect(f.p.vmread32(F.VM_INSTRUCTION_ERROR)).toBe(4);
    expect(f.p.vmresume().kind).toBe('entered');
    f.p.reportExit(EXIT_REASON.VMCALL, { instructionLength: 3 });
    // VMCLEAR makes it clear again, and launch state survives the region round trip.
    f.p.vmclear(ADDR.VMCS);
    f.p.vmptrld(ADDR.VMCS);
    expect(f.p.currentVmcs?.launchState).toBe('clear');
    expect(f.p.vmresume()).toEqual({ kind: 'fail-valid', error: 5 });
    expect(f.p.vmlaunch().kind).toBe('entered');
  });

  it('error 6: VMRESUME of a VMCS launched before VMXOFF without VMCLEAR; VMCLEAR and VMLAUNCH recover it', () => {
    const f = preparedFixture();
    launch(f);
    f.p.reportExit(EXIT_REASON.HLT, { instructionLength: 1 });
    expect(f.p.vmxoff().kind).toBe('succeed');
    expect(f.memory.read32(ADDR.VMCS + VMCS_REGION.LAUNCH_STATE)).toBe(3);
    f.p.vmxon(ADDR.VMXON);
    f.p.vmptrld(ADDR.VMCS);
    expect(f.p.vmresume()).toEqual({ kind: 'fail-valid', error: E.VMRESUME_AFTER_VMXOFF });
    expect(f.p.vmlaunch()).toEqual({ kind: 'fail-valid', error: 4 });
    f.p.vmclear(ADDR.VMCS);
    f.p.vmptrld(ADDR.VMCS);
    expect(f.p.vmlaunch().kind).toBe('entered');
  });

  it('VMfailInvalid without a current VMCS; error 26 with blocking by MOV SS, checked before the launch state', () => {
    const f = preparedFixture();
    f.p.rootMovSsBlocking = true;
    expect(f.p.vmlaunch()).toEqual({ kind: 'fail-valid', error: E.ENTRY_EVENTS_BLOCKED_BY_MOV_SS });
    expect(f.p.vmresume()).toEqual({ kind: 'fail-valid', error: 26 });
    f.p.rootMovSsBlocking = false;
    f.p.vmclear(ADDR.VMCS);
    expect(f.p.vmlaunch()).toEqual({ kind: 'fail-invalid' });
  });

  it('VMX instructions in VMX non-root operation cause VM exits with their basic exit reasons (SDM 3C "Instructions That Cause VM Exits Unconditionally")', () => {
    const f = preparedFixture();
    const cases: [() => unknown, number][] = [
      [() => f.p.vmclear(ADDR.VMCS), EXIT_REASON.VMCLEAR],
      [() => f.p.vmlaunch(), EXIT_REASON.VMLAUNCH],
      [() => f.p.vmptrld(ADDR.VMCS), EXIT_REASON.VMPTRLD],
      [() => f.p.vmptrst(ADDR.SCRATCH), EXIT_REASON.VMPTRST],
      [() => f.p.vmread32(F.GUEST_RIP), EXIT_REASON.VMREAD],
      [() => f.p.vmresume(), EXIT_REASON.VMRESUME],
      [() => f.p.vmwrite(F.GUEST_RIP, 0), EXIT_REASON.VMWRITE],
      [() => f.p.vmxoff(), EXIT_REASON.VMXOFF],
      [() => f.p.vmxon(ADDR.VMXON), EXIT_REASON.VMXON],
    ];
    let first = true;
    for (const [run, reason] of cases) {
      if (first) launch(f);
      else expect(f.p.vmresume().kind).toBe('entered');
      first = false;
      f.p.mode.instructionLength = 3;
      run();
      expect(f.p.vmxOperation).toBe('root');
      expect(f.p.vmread32(F.VM_EXIT_REASON)).toBe(reason);
      expect(f.p.vmread32(F.VM_EXIT_INSTRUCTION_LEN)).toBe(3);
    }
  });

  it('non-root events are refused in VMX root operation with a clear error', () => {
    const f = preparedFixture();
    expect(() => f.p.instructionBoundary(true)).toThrow('instructionBoundary is a VMX non-root event, but the processor is in VMX root operation');
    expect(() => f.p.hlt()).toThrow(UsageError);
    expect(() => f.p.msrAccessExits(0x808, true)).toThrow('msrAccessExits is a VMX non-root event, but the processor is in VMX root operation');
  });
});
