// The README's example, extracted from README.md and run as written, so the
// documentation cannot drift from what is tested.
import { describe, expect, it } from 'vitest';
import * as core from '@hvsim/core';
import * as cpu from '@hvsim/cpu';
import * as mmu from '@hvsim/mmu';
import * as kvm from './index.js';
import { blockUnder, readmeBlocks, runBlock } from '../../../test-support/readme-blocks.js';

const blocks = readmeBlocks(new URL('../README.md', import.meta.url));
const modules = { '@hvsim/core': core, '@hvsim/cpu': cpu, '@hvsim/mmu': mmu, '@hvsim/kvm': kvm };

describe('README examples (run from README.md as written)', () => {
  it('every ```ts block is one of those checked below', () => {
    expect(blocks.map((b) => b.heading)).toEqual(['A VMM in a few lines', "KVM's own work in cycles (`x86KvmCosts`)", 'Multiprocessing: INIT, SIPI and the MP state', 'Save, restore and live migration', 'arm64 (`src/arm64/`)', 'The vITS and KVM_SIGNAL_MSI (`src/arm64/vits.ts`)']);
  });

  it('A VMM in a few lines: serial output through KVM_EXIT_IO, an MSI to a halted guest, exits by reason', () => {
    const { scope, logs } = runBlock(blockUnder(blocks, 'A VMM in a few lines'), modules, ['apiVersion', 'serial', 'interrupts', 'stats']);
    expect(scope.apiVersion).toBe(12);
    expect(scope.serial).toBe('ok!');
    expect(scope.interrupts).toBe(1);
    const stats = scope.stats as Record<string, number>;
    expect(stats.HLT).toBe(1);
    expect(stats.KVM_EXIT_IO).toBe(3);
    expect(stats.KVM_EXIT_INTR).toBe(1);
    expect(stats.EXTERNAL_INTERRUPT).toBeUndefined();
    expect(stats.EPT_MISCONFIG).toBe(1); // the EOI; the APIC enable was the first access (an EPT violation)
    expect(logs).toEqual(['12 ok! 1']);
  });

  it("KVM's own work: one OUT costs exactly one exit handler and one return to userspace more; a negative cost is EINVAL", () => {
    const { logs } = runBlock(blockUnder(blocks, "KVM's own work in cycles (`x86KvmCosts`)"), modules);
    expect(logs).toEqual([`${String(1128 + 4167)} EINVAL: x86KvmCosts.exitHandler must be a non-negative number of cycles, got -1`]);
  });

  it('Multiprocessing: an AP brought up by INIT-SIPI-SIPI from the BSP, KVM_RUN EAGAIN then the trampoline at vector << 12', () => {
    const { logs } = runBlock(blockUnder(blocks, 'Multiprocessing: INIT, SIPI and the MP state'), modules);
    expect(logs).toEqual(['true EAGAIN 8000 0 501']);
  });

  it('Save, restore and live migration: a VM saved after a completed OUT continues on another host', () => {
    const { logs } = runBlock(blockUnder(blocks, 'Save, restore and live migration'), modules);
    expect(logs).toEqual(['2 3 1 3']);
  });

  it('arm64: a vGICv3 VM takes an SPI through a list register, MMIO reaches userspace, PSCI SYSTEM_OFF ends it', () => {
    const { logs } = runBlock(blockUnder(blocks, 'arm64 (`src/arm64/`)'), modules);
    expect(logs).toEqual(['9000000 1 1 0']);
  });
});
