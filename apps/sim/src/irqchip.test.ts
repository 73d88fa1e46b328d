// --irqchip kernel|split (x86): KVM_CREATE_IRQCHIP, or KVM_CAP_SPLIT_IRQCHIP with the LAPICs in KVM and the PIC and
// IOAPIC left to the VMM (api.rst 7.8). The workloads' interrupts are MSIs and LAPIC timers, which never pass
// through an IOAPIC: under either choice every one is raised, delivered, coalesced or dropped as before.
import { Kvm, type X86Vm } from '@hvsim/kvm';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SimUsageError } from './errors.js';
import { parseOptions } from './options.js';
import { loadProfile } from './profiles.js';
import { simulate, type SimResults } from './simulate.js';

const profile = loadProfile('x86-sandybridge');
const createVm = Kvm.prototype.createVm; // eslint-disable-line @typescript-eslint/unbound-method -- called with its Kvm below

/** Runs `argv` and returns its results with the VMs the VMM created. */
function runWithVms(argv: string[]): { results: SimResults; vms: X86Vm[] } {
  const vms: X86Vm[] = [];
  vi.spyOn(Kvm.prototype, 'createVm').mockImplementation(function (this: Kvm) {
    const vm = createVm.call(this);
    vms.push(vm as X86Vm); // only x86 runs here
    return vm;
  });
  return { results: simulate(parseOptions(argv), profile), vms };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('--irqchip', () => {
  it.each(['kernel', 'split'] as const)('%s: storm and timer account for every interrupt, and the VM has the irqchip asked for', (irqchip) => {
    for (const [workload, rate] of [
      ['storm', '500000'],
      ['timer', '300000'],
    ] as const) {
      const { results, vms } = runWithVms(['--workload', workload, '--rate', rate, '--mode', 'apicv', '--guest', 'idle', '--duration', '150000', '--irqchip', irqchip]);
      expect(results.config.irqchip).toBe(irqchip);
      expect(vms.map((vm) => vm.irqchipSplit)).toEqual([irqchip === 'split']);
      if (irqchip === 'split') expect(vms[0]!.nrReservedIoapicPins).toBe(24);
      const i = results.runs[0]!.interrupts;
      expect(i.raised, workload).toBeGreaterThan(10);
      expect(i.delivered + i.coalesced + i.dropped, workload).toBe(i.raised);
    }
  });

  it('defaults to kernel and rejects anything else, naming it; arm64 has no choice', () => {
    expect(parseOptions([]).irqchip).toBe('kernel');
    expect(() => parseOptions(['--irqchip', 'user'])).toThrow(SimUsageError);
    expect(() => parseOptions(['--irqchip', 'user'])).toThrow(/--irqchip must be kernel or split, got 'user'/);
    expect(() => parseOptions(['--arch', 'arm64', '--irqchip', 'split'])).toThrow(/--irqchip is for --arch x86/);
  });
});
