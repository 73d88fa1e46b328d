// Root-operation PIR → VIRR/RVI sync (KVM's vmx_sync_pir_to_irr; issue 11,
// G6d) and the public reads of the running guest's APIC-access page,
// descriptor and notification vector (G6f). SDM 3C "Posted-Interrupt
// Processing", "Software Access to Related Structures".
import { describe, expect, it } from 'vitest';
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import { VMCS_FIELD } from '../fields/field-table.js';
import { ADDR, apicvOptions, launch, preparedFixture } from '../internal/test-setup.js';
import { prepareVmcs } from '../vmx/prepare-vmcs.js';
import { EXIT_REASON } from '../vmx/exit-reasons.js';
import { SECONDARY } from '../vmx/controls.js';
import { setMsrIntercept } from './msr-bitmap.js';

const F = VMCS_FIELD;
const IRR0 = 0x200;

describe('syncPirToVirr (root operation)', () => {
  it('moves the PIR into the VIRR of the virtual-APIC page, clears PIR and ON, raises RVI; the next entry delivers', () => {
    const f = preparedFixture(apicvOptions());
    launch(f);
    f.p.reportExit(EXIT_REASON.HLT); // the vCPU blocks: KVM syncs while it is out of guest mode
    const pid = new PostedInterruptDescriptor(f.memory, ADDR.PID);
    pid.postFromSoftware(0x61);
    pid.postFromSoftware(0xa3);
    expect(f.p.syncPirToVirr()).toBe(0xa3);
    expect(pid.on).toBe(false);
    expect(pid.hasPending()).toBe(false);
    expect(f.memory.read32(ADDR.VAPIC + IRR0 + 0x10 * (0x61 >>> 5))).toBe((1 << (0x61 & 31)) >>> 0);
    expect(f.memory.read32(ADDR.VAPIC + IRR0 + 0x10 * (0xa3 >>> 5))).toBe((1 << (0xa3 & 31)) >>> 0);
    expect(Number(f.p.currentVmcs!.get('GUEST_INTR_STATUS')) & 0xff).toBe(0xa3);
    f.p.vmresume();
    const o = f.p.instructionBoundary(true);
    expect(o.kind === 'deliver' && o.event.vector).toBe(0xa3);
  });

  it('works on any VMCS active on the processor, not only the current one, and leaves RVI when the PIR is empty', () => {
    const f = preparedFixture(apicvOptions());
    const first = f.p.currentVmcs!;
    f.memory.write32(ADDR.VMCS2, f.p.capabilities.revisionId);
    f.p.vmclear(ADDR.VMCS2);
    f.p.vmptrld(ADDR.VMCS2);
    prepareVmcs(f.p, {});
    const pid = new PostedInterruptDescriptor(f.memory, ADDR.PID);
    pid.postFromSoftware(0x35);
    expect(f.p.syncPirToVirr(first)).toBe(0x35);
    expect(Number(first.get('GUEST_INTR_STATUS')) & 0xff).toBe(0x35);
    expect(f.p.syncPirToVirr(first)).toBe(0x35); // VIRR still holds it; nothing new
    expect(f.p.syncPirToVirr()).toBe(-1); // the current VMCS has no TPR shadow
  });

  it('refuses the running VMCS, a VMCS not active here, and a missing current VMCS', () => {
    const f = preparedFixture(apicvOptions());
    launch(f);
    expect(() => f.p.syncPirToVirr()).toThrow(/running in VMX non-root operation/);
    const other = preparedFixture(apicvOptions()).p.currentVmcs!;
    f.p.reportExit(EXIT_REASON.CPUID);
    expect(() => f.p.syncPirToVirr(other)).toThrow(/not active on this processor/);
    f.p.vmclear(ADDR.VMCS);
    expect(() => f.p.syncPirToVirr()).toThrow(/no current VMCS/);
  });
});

describe('public reads of the running VMCS (no @internal members needed)', () => {
  it('APIC-access page address, descriptor address and notification vector; -1 outside non-root operation', () => {
    const f = preparedFixture({ ...apicvOptions(), proc2: SECONDARY.VIRTUALIZE_APIC_ACCESSES | SECONDARY.APIC_REGISTER_VIRTUALIZATION | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY, apicAccessPage: ADDR.APIC_ACCESS });
    expect(f.p.apicAccessAddress).toBe(-1);
    launch(f);
    expect(f.p.apicAccessAddress).toBe(ADDR.APIC_ACCESS);
    expect(f.p.postedInterruptDescriptorAddress).toBe(ADDR.PID);
    expect(f.p.postedInterruptNotificationVector).toBe(0xf2);
    f.p.reportExit(EXIT_REASON.CPUID);
    expect(f.p.postedInterruptDescriptorAddress).toBe(-1);
    f.p.vmwrite(F.POSTED_INTR_NV, 0xf1);
    f.p.vmresume();
    expect(f.p.postedInterruptNotificationVector).toBe(0xf1);
  });
});

describe('setMsrIntercept checks its arguments (host misuse)', () => {
  it('names a bad bitmap address or MSR index', () => {
    const f = preparedFixture();
    expect(() => setMsrIntercept(f.memory, 0x6001, 0x808, { write: true })).toThrow(/4-KByte-aligned address of writable memory, got 24577/);
    expect(() => setMsrIntercept(f.memory, 0x4000_0000, 0x808, { write: true })).toThrow(/writable memory, got 1073741824/);
    expect(() => setMsrIntercept(f.memory, ADDR.MSR_BITMAP, -1, { write: true })).toThrow(/unsigned 32-bit integer, got -1/);
  });
});
