// The README's examples, extracted from README.md and run as written (issue 18), so
// the documentation cannot drift from what is tested. Each test checks what its
// block leaves behind against the section of SDM 3C it documents.
import { describe, expect, it } from 'vitest';
import * as core from '@hvsim/core';
import * as lapic from '@hvsim/lapic';
import * as vmcs from './index.js';
import type { NonRootOutcome, VmxProcessor } from './index.js';
import { blockUnder, readmeBlocks, runBlock } from '../../../test-support/readme-blocks.js';

const blocks = readmeBlocks(new URL('../README.md', import.meta.url));
const modules = { '@hvsim/core': core, '@hvsim/lapic': lapic, '@hvsim/vmcs': vmcs };
const run = (heading: string, names: string[]): ReturnType<typeof runBlock> => runBlock(blockUnder(blocks, heading), modules, names);

describe('README examples (run from README.md as written)', () => {
  it('every ```ts block is one of those checked below', () => {
    expect(blocks.map((b) => b.heading)).toEqual([
      'Usage',
      'Skipping instruction boundaries (`boundaryPending`)',
      'Decisions for instructions that exit conditionally',
      'Root-operation PIR sync (`syncPirToVirr`)',
      'Errors',
    ]);
  });

  it('Usage: posted-interrupt processing, virtual-interrupt delivery, EOI virtualization, an external-interrupt exit (SDM 3C "Posted-Interrupt Processing")', () => {
    const { scope } = run('Usage', ['entry', 'posted', 'delivered', 'eoi', 'exit', 'info', 'cpu']);
    expect(scope.entry).toEqual({ kind: 'entered', inject: null });
    expect(scope.posted).toBe('posted');
    expect(scope.delivered).toBe(0x41);
    expect(scope.eoi).toBe('continue');
    const exit = scope.exit as NonRootOutcome;
    expect(exit.kind === 'exit' && exit.exit.reasonName).toBe('EXTERNAL_INTERRUPT');
    expect(scope.info).toBe(0x8000_00ec);
    const cpu = scope.cpu as VmxProcessor;
    expect(cpu.vmread32(vmcs.VMCS_FIELD.VM_EXIT_REASON)).toBe(vmcs.EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(cpu.vmxOperation).toBe('root');
  });

  it('Skipping instruction boundaries: nothing to do is skipped, an STI shadow is not (SDM 3C "Interruptibility State")', () => {
    const { scope } = run('Skipping instruction boundaries (`boundaryPending`)', ['calls', 'pending', 'cpu', 'boundary']);
    expect(scope.pending).toBe(true);
    expect(scope.calls).toBe(1);
    // The shadow blocks at the boundary right after STI and is gone at the next one; then boundaries are skipped again.
    const boundary = scope.boundary as (rflagsIf: boolean, nmiPending: boolean) => void;
    const cpu = scope.cpu as VmxProcessor;
    for (let i = 0; i < 3 && cpu.boundaryPending; i++) boundary(true, false);
    expect(cpu.boundaryPending).toBe(false);
  });

  it('Decisions for instructions that exit conditionally: unconditional I/O exiting, the exit qualification (SDM 3C "Exit Qualification for I/O Instructions")', () => {
    const { scope } = run('Decisions for instructions that exit conditionally', ['qualification', 'cpu']);
    expect(scope.qualification).toBe(0x03f8_0000);
    const cpu = scope.cpu as VmxProcessor;
    expect(cpu.vmread32(vmcs.VMCS_FIELD.VM_EXIT_REASON)).toBe(vmcs.EXIT_REASON.IO_INSTRUCTION);
    expect(cpu.vmread32(vmcs.VMCS_FIELD.VM_EXIT_INSTRUCTION_LEN)).toBe(1);
  });

  it('Root-operation PIR sync: PIR to VIRR and RVI in root operation, delivered after VMRESUME (KVM vmx_sync_pir_to_irr)', () => {
    const { scope } = run('Root-operation PIR sync (`syncPirToVirr`)', ['highest', 'delivered', 'memory']);
    expect(scope.highest).toBe(0x61);
    expect(scope.delivered).toBe(0x61);
    const pid = new lapic.PostedInterruptDescriptor(scope.memory as core.Memory, 0x7000);
    expect([pid.on, pid.testPir(0x61)]).toEqual([false, false]);
  });

  it('Errors: host misuse is a UsageError with its kind (docs/conventions.md "Errors")', () => {
    const { scope } = run('Errors', ['isUsageError', 'kind', 'caught']);
    expect(scope.isUsageError).toBe(true);
    expect(scope.kind).toBe('bad-state');
    expect((scope.caught as Error).message).toBe('instructionBoundary is a VMX non-root event, but the processor is in no VMX operation');
  });
});
