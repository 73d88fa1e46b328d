// The README's examples, extracted from README.md and run as written (issue 18 item 3), so the
// documentation cannot drift from what is tested. Each test checks what its block leaves behind
// against the section it documents.
import { describe, expect, it } from 'vitest';
import * as core from '@hvsim/core';
import { DELIVERY_STATUS } from '@hvsim/core';
import * as lapic from '@hvsim/lapic';
import { APIC, type LocalApic, type PostedInterruptDescriptor } from '@hvsim/lapic';
import * as iommuModule from './index.js';
import { blockUnder, readmeBlocks, runBlock } from '../../../test-support/readme-blocks.js';

const blocks = readmeBlocks(new URL('../README.md', import.meta.url));
const modules = { '@hvsim/core': core, '@hvsim/lapic': lapic, '@hvsim/iommu': iommuModule };
const run = (heading: string, names: string[]): Record<string, unknown> => runBlock(blockUnder(blocks, heading), modules, names).scope;

describe('README examples (run from README.md as written)', () => {
  it('every ```ts block is one of those checked below', () => {
    expect(blocks.map((b) => b.heading)).toEqual(['Usage', 'Host driver (Linux intel-iommu, VFIO, KVM IRQ bypass)', 'Registers']);
  });

  it('Usage: remapping, source-ID verification, a fault record, pass-through DMA (VT-d 5.1, 9.10, 7.2)', () => {
    const s = run('Usage', ['outcome', 'reason', 'record', 'dma', 'cpu', 'memory', 'irte']);
    expect(s.outcome).toBe('remapped');
    expect(s.reason).toBe(0x26);
    expect(s.record).toMatchObject({ fault: true, sourceId: 0x200, reason: 0x26, interruptIndex: 5 });
    expect(s.dma).toMatchObject({ status: 'ok', value: 7, physicalAddress: 0x2000 });
    expect(((s.cpu as LocalApic).mmioRead(APIC.IRR0 + 0x20, 4) >>> 1) & 1).toBe(1); // vector 0x41
    const memory = s.memory as core.PhysicalMemory;
    expect([memory.read32(0x10_0000 + 5 * 16), memory.read32(0x10_0000 + 5 * 16 + 8)]).toEqual([(0x41 << 16) | 1, 0x0100 | (1 << 18)]);
  });

  it('Host driver: VFIO mapping, unmap with invalidation, a posted MSI (VT-d 3.7, 6.5.2, 5.2.3)', () => {
    const s = run('Host driver (Linux intel-iommu, VFIO, KVM IRQ bypass)', ['reached', 'afterUnmap', 'posted', 'pid']);
    expect(s.reached).toBe(0x40_1000);
    expect(s.afterUnmap).toBe('fault');
    expect(s.posted).toMatchObject({ outcome: 'posted', status: DELIVERY_STATUS.DELIVERED, notified: true });
    expect((s.pid as PostedInterruptDescriptor).testPir(0x61)).toBe(true);
  });

  it('Registers: one description per register, reserved and read-only bits (VT-d 11.4, 11.4.1)', () => {
    const s = run('Registers', ['irta', 'readBack', 'version', 'noEim']);
    expect(s.irta).toMatchObject({ offset: 0xb8, width: 64, access: 'RW', reset: 0n, writable: 0xffff_ffff_ffff_f80fn, w1c: 0n });
    expect(s.readBack).toBe(0xffff_ffff_ffff_f80fn);
    expect(s.version).toBe(0x10);
    expect(s.noEim).toMatchObject({ writable: 0xffff_ffff_ffff_f00fn });
  });
});
