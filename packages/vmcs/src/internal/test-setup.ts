/**
 * Shared fixtures for this package's tests: memory with VMXON and VMCS
 * regions, a processor in VMX root operation with a current VMCS, and an
 * APICv configuration like KVM's. Not exported.
 */
import { Clock, PhysicalMemory } from '@hvsim/core';
import { VmxProcessor } from '../vmx/processor.js';
import type { VmxCapabilityConfig } from '../vmx/capabilities.js';
import { prepareVmcs, type PrepareVmcsOptions } from '../vmx/prepare-vmcs.js';
import { PIN_BASED, SECONDARY, VM_EXIT } from '../vmx/controls.js';

/** Physical addresses the fixtures use. */
export const ADDR = {
  VMXON: 0x1000,
  VMCS: 0x2000,
  VMCS2: 0x3000,
  VAPIC: 0x4000,
  APIC_ACCESS: 0x5000,
  MSR_BITMAP: 0x6000,
  PID: 0x7040,
  SCRATCH: 0x8000,
} as const;

export interface Fixture {
  p: VmxProcessor;
  memory: PhysicalMemory;
  clock: Clock;
}

/** A processor after VMXON, VMCLEAR and VMPTRLD of ADDR.VMCS. */
export function rootFixture(config: VmxCapabilityConfig = {}, memory = new PhysicalMemory(), clock = new Clock()): Fixture {
  if (memory.getRegions().length === 0) memory.addRegion(0, 0x10_0000);
  const p = new VmxProcessor({ memory, capabilities: config, clock });
  const rev = p.capabilities.revisionId;
  memory.write32(ADDR.VMXON, rev);
  memory.write32(ADDR.VMCS, rev);
  memory.write32(ADDR.VMCS2, rev);
  expectOk(p.vmxon(ADDR.VMXON).kind);
  expectOk(p.vmclear(ADDR.VMCS).kind);
  expectOk(p.vmptrld(ADDR.VMCS).kind);
  return { p, memory, clock };
}

function expectOk(kind: string): void {
  if (kind !== 'succeed') throw new Error(`fixture: VMX instruction gave ${kind}`);
}

/** KVM's APICv settings: TPR shadow, virtualize x2APIC mode, APIC-register virtualization, virtual-interrupt delivery, posted interrupts, MSR bitmaps. */
export function apicvOptions(extra: PrepareVmcsOptions = {}): PrepareVmcsOptions {
  return {
    pin: PIN_BASED.EXT_INTR_EXITING | PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS | PIN_BASED.PROCESS_POSTED_INTERRUPTS | (extra.pin ?? 0),
    proc: extra.proc ?? 0,
    proc2: SECONDARY.VIRTUALIZE_X2APIC_MODE | SECONDARY.APIC_REGISTER_VIRTUALIZATION | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY | (extra.proc2 ?? 0),
    exit: VM_EXIT.ACK_INTR_ON_EXIT | (extra.exit ?? 0),
    entry: extra.entry ?? 0,
    virtualApicPage: ADDR.VAPIC,
    msrBitmap: ADDR.MSR_BITMAP,
    postedInterruptDescriptor: ADDR.PID,
    notificationVector: 0xf2,
    fields: extra.fields ?? {},
  };
}

/** A processor with a prepared VMCS (not yet launched). */
export function preparedFixture(options: PrepareVmcsOptions = {}, config: VmxCapabilityConfig = {}): Fixture {
  const f = rootFixture(config);
  prepareVmcs(f.p, options);
  return f;
}

/** Launches and checks the entry succeeded. */
export function launch(f: Fixture): void {
  const r = f.p.vmlaunch();
  if (r.kind !== 'entered') throw new Error(`fixture: VMLAUNCH gave ${r.kind}${r.kind === 'fail-valid' ? ` ${r.error}` : ''} (${f.p.lastEntryCheck ?? ''})`);
}
