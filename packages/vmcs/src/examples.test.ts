// The README's usage example, run as a test so it keeps working.
import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from '@hvsim/core';
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import { VmxProcessor, VMCS_FIELD, PIN_BASED, SECONDARY, VM_EXIT, EXIT_REASON, CPU_BASED, prepareVmcs, ioExitQualification } from './index.js';

describe('README example (SDM 3C "Posted-Interrupt Processing")', () => {
  it('runs', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x10_0000);
    const cpu = new VmxProcessor({ memory }); // default: a processor with APICv and posted interrupts
    const rev = cpu.capabilities.revisionId; // IA32_VMX_BASIC[30:0]
    memory.write32(0x1000, rev); // VMXON region
    memory.write32(0x2000, rev); // VMCS region

    cpu.vmxon(0x1000);
    cpu.vmclear(0x2000);
    cpu.vmptrld(0x2000);
    prepareVmcs(cpu, {
      pin: PIN_BASED.EXT_INTR_EXITING | PIN_BASED.PROCESS_POSTED_INTERRUPTS,
      proc2: SECONDARY.VIRTUALIZE_X2APIC_MODE | SECONDARY.APIC_REGISTER_VIRTUALIZATION | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY,
      exit: VM_EXIT.ACK_INTR_ON_EXIT,
      virtualApicPage: 0x4000,
      msrBitmap: 0x6000, // all zero: no x2APIC MSR access exits
      postedInterruptDescriptor: 0x7000,
      notificationVector: 0xf2,
    });
    expect(cpu.vmlaunch()).toEqual({ kind: 'entered', inject: null });

    // Another agent posts vector 0x41 and sends the notification vector.
    const pid = new PostedInterruptDescriptor(memory, 0x7000);
    pid.postFromSoftware(0x41);
    expect(cpu.externalInterrupt(0xf2, true).kind).toBe('posted'); // no VM exit
    expect(cpu.vapic.rvi).toBe(0x41);

    const next = cpu.instructionBoundary(true); // guest has RFLAGS.IF = 1
    expect(next.kind === 'deliver' && next.event.vector).toBe(0x41);
    expect(cpu.vapic.svi).toBe(0x41); // in service

    expect(cpu.wrmsr(0x80b, 0).kind).toBe('continue'); // virtualized EOI
    const exit = cpu.externalInterrupt(0xec, true); // any other vector exits
    expect(exit.kind === 'exit' && exit.exit.reasonName).toBe('EXTERNAL_INTERRUPT');
    expect(cpu.vmread32(VMCS_FIELD.VM_EXIT_REASON)).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(cpu.vmread32(VMCS_FIELD.VM_EXIT_INTR_INFO)).toBe(0x8000_00ec);
  });
});

/** The README's set-up: a processor in non-root operation with APICv and posted interrupts. */
function running(extra: { proc?: number } = {}): { cpu: VmxProcessor; memory: PhysicalMemory } {
  const memory = new PhysicalMemory();
  memory.addRegion(0, 0x10_0000);
  const cpu = new VmxProcessor({ memory });
  memory.write32(0x1000, cpu.capabilities.revisionId);
  memory.write32(0x2000, cpu.capabilities.revisionId);
  cpu.vmxon(0x1000);
  cpu.vmclear(0x2000);
  cpu.vmptrld(0x2000);
  prepareVmcs(cpu, {
    pin: PIN_BASED.EXT_INTR_EXITING | PIN_BASED.PROCESS_POSTED_INTERRUPTS,
    proc: extra.proc,
    proc2: SECONDARY.VIRTUALIZE_X2APIC_MODE | SECONDARY.APIC_REGISTER_VIRTUALIZATION | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY,
    exit: VM_EXIT.ACK_INTR_ON_EXIT,
    virtualApicPage: 0x4000,
    msrBitmap: 0x6000,
    postedInterruptDescriptor: 0x7000,
    notificationVector: 0xf2,
  });
  cpu.vmlaunch();
  return { cpu, memory };
}

describe('README sections', () => {
  it('Skipping instruction boundaries', () => {
    const { cpu } = running();
    const hostApic = { highestDeliverableVector: (): number => -1, nmiPending: (): boolean => false };
    let calls = 0;
    if (cpu.boundaryPending || hostApic.nmiPending() || hostApic.highestDeliverableVector() >= 0) calls++;
    expect(calls).toBe(0);
    cpu.sti(false);
    expect(cpu.boundaryPending).toBe(true);
  });

  it('Decisions for instructions that exit conditionally', () => {
    const { cpu } = running({ proc: CPU_BASED.UNCOND_IO_EXITING });
    if (cpu.ioAccessExits(0x3f8, 1)) {
      cpu.reportExit(EXIT_REASON.IO_INSTRUCTION, { qualification: ioExitQualification({ port: 0x3f8, size: 1, direction: 'out' }), instructionLength: 1 });
    }
    expect(cpu.vmread32(VMCS_FIELD.EXIT_QUALIFICATION)).toBe(0x03f8_0000);
  });

  it('Root-operation PIR sync', () => {
    const { cpu, memory } = running();
    cpu.reportExit(EXIT_REASON.HLT); // the vCPU blocks
    new PostedInterruptDescriptor(memory, 0x7000).postFromSoftware(0x61);
    expect(cpu.syncPirToVirr()).toBe(0x61);
    cpu.vmresume();
    const o = cpu.instructionBoundary(true);
    expect(o.kind === 'deliver' && o.event.vector).toBe(0x61);
  });
});
