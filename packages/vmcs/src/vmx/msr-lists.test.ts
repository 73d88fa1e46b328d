import { describe, expect, it } from 'vitest';
import { Clock, CpuException, PhysicalMemory, type MsrDevice } from '@hvsim/core';
import { VMCS_FIELD } from '../fields/field-table.js';
import { ADDR } from '../internal/test-setup.js';
import { VmxProcessor } from './processor.js';
import { prepareVmcs, type PrepareVmcsOptions } from './prepare-vmcs.js';
import { EXIT_REASON } from './exit-reasons.js';
import { VMCS_REGION } from '../vmcs/vmcs.js';

const F = VMCS_FIELD;
const ed = 'SDM 3C (083) "VM-Entry Controls for MSRs", "Loading MSRs", "Saving MSRs", "Loading Host MSRs", "VMX Aborts"';

/** A CPU's MSR file: known MSRs read and write; others raise #GP(0) like RDMSR/WRMSR would. */
class MsrFile implements MsrDevice {
  readonly values = new Map<number, bigint>([
    [0x10, 0n],
    [0x174, 0n],
    [0x277, 0x0007_0406_0007_0406n],
    [0xc000_0080, 0x500n],
  ]);
  readMsr(index: number): bigint {
    const v = this.values.get(index);
    if (v === undefined) throw CpuException.gp(`RDMSR 0x${index.toString(16)}`);
    return v;
  }
  writeMsr(index: number, value: bigint): void {
    if (!this.values.has(index)) throw CpuException.gp(`WRMSR 0x${index.toString(16)}`);
    this.values.set(index, value);
  }
}

const LIST = 0x9000;
function list(memory: PhysicalMemory, at: number, entries: [number, bigint, number?][]): void {
  entries.forEach(([index, data, reserved], i) => {
    memory.write32(at + i * 16, index);
    memory.write32(at + i * 16 + 4, reserved ?? 0);
    memory.write64(at + i * 16 + 8, data);
  });
}

function setup(options: PrepareVmcsOptions = {}): { p: VmxProcessor; memory: PhysicalMemory; msrs: MsrFile } {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x10_0000);
  const msrs = new MsrFile();
  const p = new VmxProcessor({ memory, msrs, clock: new Clock() });
  memory.write32(ADDR.VMXON, 1);
  memory.write32(ADDR.VMCS, 1);
  p.vmxon(ADDR.VMXON);
  p.vmclear(ADDR.VMCS);
  p.vmptrld(ADDR.VMCS);
  prepareVmcs(p, options);
  return { p, memory, msrs };
}

describe(ed, () => {
  it('VM entry loads the guest MSRs of the MSR-load list', () => {
    const { p, memory, msrs } = setup({ fields: { VM_ENTRY_MSR_LOAD_ADDR: LIST, VM_ENTRY_MSR_LOAD_COUNT: 2 } });
    list(memory, LIST, [[0x174, 0x10n], [0x10, 0x1234_5678_9abcn]]);
    expect(p.vmlaunch().kind).toBe('entered');
    expect(msrs.values.get(0x174)).toBe(0x10n);
    expect(msrs.values.get(0x10)).toBe(0x1234_5678_9abcn);
  });

  it('an entry fails with reason 34 (bit 31 set) and the failing entry number for FS/GS base, x2APIC MSRs, SMBASE, reserved bits or a WRMSR that would fault', () => {
    const bad: [number, bigint, number?][] = [
      [0xc000_0100, 0n],
      [0xc000_0101, 0n],
      [0x808, 0n],
      [0x9e, 0n],
      [0x174, 0n, 1],
      [0x4242, 0n],
    ];
    for (const entry of bad) {
      const { p, memory } = setup({ fields: { VM_ENTRY_MSR_LOAD_ADDR: LIST, VM_ENTRY_MSR_LOAD_COUNT: 2 } });
      list(memory, LIST, [[0x174, 1n], entry]);
      const r = p.vmlaunch();
      expect(r.kind === 'exit' && [r.exit.reason, r.exit.qualification]).toEqual([(0x8000_0000 | EXIT_REASON.MSR_LOADING) >>> 0, 2]);
      expect(p.currentVmcs?.launchState).toBe('clear');
    }
  });

  it('a VM exit stores guest MSRs into the MSR-store list, then loads host MSRs from the MSR-load list', () => {
    const { p, memory, msrs } = setup({ fields: { VM_EXIT_MSR_STORE_ADDR: LIST, VM_EXIT_MSR_STORE_COUNT: 1, VM_EXIT_MSR_LOAD_ADDR: LIST + 0x100, VM_EXIT_MSR_LOAD_COUNT: 1 } });
    list(memory, LIST, [[0x277, 0n]]);
    list(memory, LIST + 0x100, [[0x174, 0x77n]]);
    expect(p.vmlaunch().kind).toBe('entered');
    msrs.values.set(0x277, 0x0606_0606_0606_0606n); // the guest changed its PAT
    p.reportExit(EXIT_REASON.CPUID, { instructionLength: 2 });
    expect(memory.read64(LIST + 8)).toBe(0x0606_0606_0606_0606n);
    expect(msrs.values.get(0x174)).toBe(0x77n);
    expect(p.vmxAbort).toBe(0);
  });

  it('a failure while loading host MSRs is a VMX abort: indicator 4 in the VMCS region', () => {
    const { p, memory } = setup({ fields: { VM_EXIT_MSR_LOAD_ADDR: LIST, VM_EXIT_MSR_LOAD_COUNT: 1 } });
    list(memory, LIST, [[0xc000_0100, 0n]]);
    p.vmlaunch();
    p.reportExit(EXIT_REASON.HLT);
    expect(p.vmxAbort).toBe(4);
    expect(memory.read32(ADDR.VMCS + VMCS_REGION.ABORT_INDICATOR)).toBe(4);
    expect(p.vmread32(F.VM_EXIT_REASON)).toBe(EXIT_REASON.HLT);
  });

  it('a failure while saving guest MSRs is VMX abort 1', () => {
    const { p, memory } = setup({ fields: { VM_EXIT_MSR_STORE_ADDR: LIST, VM_EXIT_MSR_STORE_COUNT: 1 } });
    list(memory, LIST, [[0x4242, 0n]]);
    p.vmlaunch();
    p.reportExit(EXIT_REASON.HLT);
    expect(p.vmxAbort).toBe(1);
  });
});
