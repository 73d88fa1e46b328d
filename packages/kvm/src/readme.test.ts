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
    expect(blocks.map((b) => b.heading)).toEqual(['A VMM in a few lines']);
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
});
