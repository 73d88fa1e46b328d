import { describe, expect, it } from 'vitest';
import { CpuException } from '@hvsim/core';
import { VmxCapabilities, VMX_MSR, DEFAULT1 } from './capabilities.js';
import { CPU_BASED, PIN_BASED, SECONDARY, VM_EXIT } from './controls.js';

const ed = 'SDM 3C (083) Appendix A "VMX Capability Reporting Facility"';

describe(ed, () => {
  it('IA32_VMX_BASIC: revision, region size 4096, WB memory type, INS/OUTS info, TRUE controls (A.1 "Basic VMX Information")', () => {
    const c = new VmxCapabilities({ revisionId: 0x12 });
    const basic = c.readMsr(VMX_MSR.IA32_VMX_BASIC);
    expect(basic & 0x7fff_ffffn).toBe(0x12n);
    expect((basic >> 32n) & 0x1fffn).toBe(4096n);
    expect((basic >> 48n) & 1n).toBe(0n); // 64-bit physical addresses
    expect((basic >> 50n) & 0xfn).toBe(6n);
    expect((basic >> 54n) & 1n).toBe(1n);
    expect((basic >> 55n) & 1n).toBe(1n);
    expect((basic >> 56n) & 1n).toBe(0n);
    expect((new VmxCapabilities({ trueControls: false }).readMsr(VMX_MSR.IA32_VMX_BASIC) >> 55n) & 1n).toBe(0n);
  });

  it('control MSRs: allowed-0 in bits 31:0, allowed-1 in bits 63:32; default-1 bits in the non-TRUE MSRs (A.2-A.5)', () => {
    const c = new VmxCapabilities();
    const pin = c.readMsr(VMX_MSR.IA32_VMX_PINBASED_CTLS);
    expect(Number(pin & 0xffff_ffffn)).toBe(DEFAULT1.PIN);
    expect(Number(pin >> 32n) & PIN_BASED.PROCESS_POSTED_INTERRUPTS).not.toBe(0);
    expect(Number(c.readMsr(VMX_MSR.IA32_VMX_PROCBASED_CTLS) & 0xffff_ffffn)).toBe(DEFAULT1.PROC);
    expect(Number(c.readMsr(VMX_MSR.IA32_VMX_EXIT_CTLS) & 0xffff_ffffn)).toBe(DEFAULT1.EXIT);
    expect(Number(c.readMsr(VMX_MSR.IA32_VMX_ENTRY_CTLS) & 0xffff_ffffn)).toBe(DEFAULT1.ENTRY);
    // TRUE MSRs let CR3-load/store exiting be 0.
    const trueProc = c.readMsr(VMX_MSR.IA32_VMX_TRUE_PROCBASED_CTLS);
    expect(Number(trueProc & 0xffff_ffffn) & CPU_BASED.CR3_LOAD_EXITING).toBe(0);
    // every allowed-0 bit is also allowed-1
    for (const idx of [0x481, 0x482, 0x483, 0x484, 0x48b, 0x48d, 0x48e, 0x48f, 0x490]) {
      const v = c.readMsr(idx);
      const lo = Number(v & 0xffff_ffffn);
      const hi = Number(v >> 32n);
      expect((lo & ~hi) >>> 0, idx.toString(16)).toBe(0);
    }
  });

  it('describes a configurable processor: no APICv, no posted interrupts, no EPT/VPID, no preemption timer', () => {
    const bare = new VmxCapabilities({ apicv: false, ept: false, vpid: false, preemptionTimer: false });
    expect(bare.allows('proc', 21)).toBe(false);
    expect(bare.allows('proc2', 9)).toBe(false);
    expect(bare.allows('pin', 7)).toBe(false); // posted interrupts need APICv
    expect(bare.allows('pin', 6)).toBe(false);
    expect(bare.allows('proc2', 1)).toBe(false);
    expect(bare.readMsr(VMX_MSR.IA32_VMX_EPT_VPID_CAP)).toBe(0n);
    const full = new VmxCapabilities();
    expect((Number(full.readMsr(VMX_MSR.IA32_VMX_PROCBASED_CTLS2) >> 32n) & (SECONDARY.VIRTUAL_INTERRUPT_DELIVERY | SECONDARY.ENABLE_EPT | SECONDARY.ENABLE_VPID)) >>> 0).toBe(0x222);
    expect(full.readMsr(VMX_MSR.IA32_VMX_EPT_VPID_CAP) & (1n << 6n)).toBe(1n << 6n); // 4-level walks
    expect(new VmxCapabilities({ postedInterrupts: false }).allows('pin', 7)).toBe(false);
    expect(full.allows('exit', 15)).toBe(true);
    expect(VmxCapabilities.fits(full.exit, full.exit.allowed0 | VM_EXIT.ACK_INTR_ON_EXIT)).toBe(true);
    expect(VmxCapabilities.fits(full.exit, 0)).toBe(false);
  });

  it('IA32_VMX_MISC: timer rate, activity states, CR3 targets, VMWRITE to read-only fields (A.6 "Miscellaneous Data")', () => {
    const c = new VmxCapabilities({ preemptionTimerRate: 7, vmwriteAnyField: true, activityStates: { shutdown: false } });
    const misc = Number(c.readMsr(VMX_MSR.IA32_VMX_MISC) & 0xffff_ffffn);
    expect(misc & 0x1f).toBe(7);
    expect((misc >>> 6) & 7).toBe(0b101); // HLT and wait-for-SIPI
    expect((misc >>> 16) & 0x1ff).toBe(4);
    expect((misc >>> 29) & 1).toBe(1);
    expect(c.supportsActivityState(2)).toBe(false);
    expect(c.supportsActivityState(1)).toBe(true);
  });

  it('CR0/CR4 fixed bits and IA32_VMX_VMCS_ENUM (A.7, A.8, A.9)', () => {
    const c = new VmxCapabilities();
    expect(c.readMsr(VMX_MSR.IA32_VMX_CR0_FIXED0)).toBe(0x8000_0021n);
    expect(c.readMsr(VMX_MSR.IA32_VMX_CR4_FIXED0)).toBe(0x2000n);
    // Highest index without tertiary controls or secondary exit controls: PCONFIG-exiting bitmap (0x203E, index 0x1F).
    expect(c.readMsr(VMX_MSR.IA32_VMX_VMCS_ENUM)).toBe(BigInt(0x1f << 1));
  });

  it('is read-only: WRMSR and RDMSR of a non-capability MSR raise #GP(0)', () => {
    const c = new VmxCapabilities();
    expect(() => c.writeMsr(VMX_MSR.IA32_VMX_BASIC, 0n)).toThrow(CpuException);
    expect(() => c.readMsr(0x10)).toThrow(/#GP/);
    expect(() => c.readMsr(VMX_MSR.IA32_VMX_VMFUNC)).toThrow(/#GP/);
    expect(() => new VmxCapabilities({ trueControls: false }).readMsr(VMX_MSR.IA32_VMX_TRUE_PINBASED_CTLS)).toThrow(/#GP/);
    expect(() => new VmxCapabilities({ physicalAddressWidth: 60 })).toThrow('physicalAddressWidth must be an integer in [32, 52], got 60');
  });
});
