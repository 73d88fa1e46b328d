import { PhysicalMemory } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { apicvOptions, launch, preparedFixture } from '../internal/test-setup.js';
import { EXIT_REASON } from './exit-reasons.js';
import { VmxProcessor } from './processor.js';

describe('VMX operation as the guest-event paths see it (SDM 3C "Introduction to Virtual Machine Extensions")', () => {
  it('the non-root flag follows every transition: VMLAUNCH, a VM exit, VMRESUME, VMXOFF', () => {
    const f = preparedFixture(apicvOptions());
    expect(() => f.p.externalInterrupt(0x30, true)).toThrow(/externalInterrupt is a VMX non-root event, but the processor is in VMX root operation/);
    launch(f);
    expect(f.p.externalInterrupt(0x30, true).kind).toBe('exit'); // external-interrupt exiting: a VM exit, back to root
    expect(f.p.vmxOperation).toBe('root');
    expect(() => f.p.instructionBoundary(true)).toThrow(/instructionBoundary is a VMX non-root event/);
    expect(f.p.vmresume().kind).toBe('entered');
    expect(f.p.instructionBoundary(true).kind).toBe('continue');
    f.p.reportExit(EXIT_REASON.CPUID);
    expect(f.p.vmxoff().kind).toBe('succeed');
    expect(() => f.p.wrmsr(0x80b, 0)).toThrow(/wrmsr is a VMX non-root event, but the processor is in no VMX operation/);
  });

  it('a processor restored from JSON (strings not interned) is in non-root operation for the guest events', () => {
    const f = preparedFixture(apicvOptions());
    launch(f);
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x10_0000);
    memory.restoreState(f.memory.saveState());
    const fresh = new VmxProcessor({ memory });
    fresh.restoreState(JSON.parse(JSON.stringify(f.p.saveState())));
    expect(fresh.vmxOperation).toBe('non-root');
    expect(fresh.instructionBoundary(true).kind).toBe('continue');
  });
});

describe('the event being delivered (SDM 3C "Information for VM Exits During Event Delivery")', () => {
  it('interruption information with the valid bit (bit 31) reads back unsigned: deliveringEventInfo, IDT-vectoring information, snapshots', () => {
    const f = preparedFixture(); // no external-interrupt exiting: delivered through the guest IDT
    launch(f);
    expect(f.p.externalInterrupt(0x31, true).kind).toBe('deliver');
    expect(f.p.deliveringEventInfo).toBe(0x8000_0031);
    expect((f.p.saveState().nonRoot?.inFlight?.info)).toBe(0x8000_0031);
    const o = f.p.reportExit(EXIT_REASON.EPT_VIOLATION);
    expect(o.kind === 'exit' && o.exit.idtVectoringInfo).toBe(0x8000_0031);
  });
});
