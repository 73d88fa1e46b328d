// The README's examples, extracted from README.md and run as written, so the
// documentation cannot drift from what is tested. Each test checks what its
// block leaves behind against the section it documents.
import { describe, expect, it } from 'vitest';
import * as core from '@hvsim/core';
import * as gic from '@hvsim/gic';
import * as lapic from '@hvsim/lapic';
import * as mmu from '@hvsim/mmu';
import * as vmcs from '@hvsim/vmcs';
import { PageAllocator, Stage2Builder, Stage2Walker } from '@hvsim/mmu';
import * as cpu from './index.js';
import type { Arm64Cpu, Arm64Guest, Op, X86Cpu, X86Guest } from './index.js';
import { ARM_LAYOUT, SYNC_VECTOR, arm64GuestMachine, arm64Machine } from './test-support/arm64-machine.js';
import { GUEST, vmxMachine } from './test-support/vmx-machine.js';
import { blockUnder, readmeBlocks, runBlock } from '../../../test-support/readme-blocks.js';

const blocks = readmeBlocks(new URL('../README.md', import.meta.url));
const modules = { '@hvsim/core': core, '@hvsim/gic': gic, '@hvsim/lapic': lapic, '@hvsim/mmu': mmu, '@hvsim/vmcs': vmcs, '@hvsim/cpu': cpu };
const run = (heading: string, names: string[]): ReturnType<typeof runBlock> => runBlock(blockUnder(blocks, heading), modules, names);
type Routine = Generator<Op, void, number>;

describe('README examples (run from README.md as written)', () => {
  it('every ```ts block is one of those checked below', () => {
    expect(blocks.map((b) => b.heading)).toEqual([
      'A guest kernel in a few lines',
      'Guest code in the step form',
      'In VMX non-root operation',
      'Saving a CPU in the middle of guest code',
      'Time and costs',
      'arm64: `Arm64Cpu`',
      'Under a hypervisor (EL2 is the host)',
      'Hypervisor calls and injected exceptions',
    ]);
  });

  it('a guest kernel: LAPIC timer interrupts through the IDT, EOI, IRET (SDM 3A 6.12, 11.5.4)', () => {
    const { logs } = run('A guest kernel in a few lines', []);
    expect(logs).toEqual(['finished 3 3']);
  });

  it('the step form: a timer handler that allocates nothing, taken after each HLT (SDM 3A 6.12; SDM 2B STI)', () => {
    const { logs, scope } = run('Guest code in the step form', ['program']);
    expect(logs).toEqual(['finished 3']);
    expect((scope.program as cpu.GuestProgram<X86Guest>).at(0x20_0000)!.steps).not.toBeNull();
  });

  it('VMX non-root: the host loop sees exactly the exits CPUID and VMCALL cause (SDM 3C 26.1.2, 26.1.3)', () => {
    const { scope } = run('In VMX non-root operation', ['runVcpu']);
    const runVcpu = scope.runVcpu as (vmx: vmcs.VmxProcessor, c: X86Cpu, emulate: (op: Readonly<Op>) => number) => number[];
    const m = vmxMachine();
    m.program.define(GUEST.ENTRY, function* main(g: X86Guest): Routine {
      yield g.st32(GUEST.DATA, yield g.cpuid(0));
      yield g.st32(GUEST.DATA + 4, yield g.vmcall(7));
    });
    m.cpu.start(GUEST.ENTRY);
    expect(runVcpu(m.vmx, m.cpu, (op) => op.code + 0x100)).toEqual([10, 18]);
    expect([m.memory.read32(m.toHost(GUEST.DATA)), m.memory.read32(m.toHost(GUEST.DATA + 4))]).toEqual([cpu.OP.CPUID + 0x100, cpu.OP.VMCALL + 0x100]);
  });

  it('saving in the middle of guest code: the restored CPU continues as the one that never stopped', () => {
    const { logs } = run('Saving a CPU in the middle of guest code', []);
    expect(logs).toEqual(['finished finished 100 true']);
  });

  it('time: the scheduler runs two CPUs to the same cycle', () => {
    const { logs } = run('Time and costs', ['cpu0', 'cpu1']);
    expect(logs).toEqual(['time']);
  });

  it('arm64: generic timer PPI 30 through the GICv3 and the vector table (D1.3.1, D11.2, IHI0069 12.2.10)', () => {
    const { logs, scope } = run('arm64: `Arm64Cpu`', ['cpu']);
    expect(logs).toEqual(['finished 3 3']);
    expect((scope.cpu as Arm64Cpu).currentEl).toBe(1);
  });

  it('under a hypervisor: a stage 2 abort on MMIO and an HVC trap to EL2 and are emulated (D19 HCR_EL2, ESR_EL2)', () => {
    const { scope } = run('Under a hypervisor (EL2 is the host)', ['runGuest']);
    const runGuest = scope.runGuest as (c: Arm64Cpu, s2: Stage2Walker, emulate: (op: Readonly<Op>) => number) => string[];
    const m = arm64Machine({}, { trace: false });
    const s2 = new Stage2Builder(m.memory, new PageAllocator(0x300_0000, 0x10_0000));
    for (let a = 0; a < ARM_LAYOUT.RAM; a += 0x20_0000) s2.map(a, a, { pageSize: 0x20_0000 });
    const stage2 = new Stage2Walker(m.memory);
    stage2.setVtcr(s2.vtcr());
    stage2.setVttbr(s2.vttbr(1));
    const UART = 0x0900_0000; // no stage 2 mapping: an emulated device
    m.program.define(ARM_LAYOUT.MAIN, function* main(g: Arm64Guest): Routine {
      yield g.st32(ARM_LAYOUT.DATA, yield g.ld32(UART + 0x18));
      yield g.st32(ARM_LAYOUT.DATA + 4, yield g.hvc(1));
    });
    m.cpu.start(ARM_LAYOUT.MAIN);
    expect(runGuest(m.cpu, stage2, (op) => (op.code === cpu.OP.LOAD ? 0x90 : 0x55))).toEqual(['DATA_ABORT_LOWER', 'HVC64']);
    expect([m.memory.read32(ARM_LAYOUT.DATA), m.memory.read32(ARM_LAYOUT.DATA + 4)]).toEqual([0x90, 0x55]);
  });

  it('hypervisor calls and injected exceptions: SMCCC X0-X3 both ways, UNDEFINED and an external abort in the guest (DEN 0028 2.5; Arm ARM D1.10)', () => {
    const { scope } = run('Hypervisor calls and injected exceptions', ['handleTrap']);
    const handleTrap = scope.handleTrap as (c: Arm64Cpu) => void;
    const m = arm64GuestMachine();
    const got: number[] = [];
    m.program.define(SYNC_VECTOR, function* sync(g: Arm64Guest): Routine {
      got.push(yield g.mrs('ESR_EL1'));
      yield g.msr('ELR_EL1', (yield g.mrs('ELR_EL1')) + 1); // skip the operation
      yield g.eret();
    });
    m.program.define(ARM_LAYOUT.MAIN, function* main(g: Arm64Guest): Routine {
      got.push(yield g.hvc(0, 0x8400_0000), ...g.hvcResults);
      yield g.hvc(0, 0xc400_0003, 1, 0x8_0000, 42);
      got.push(g.hvcResults[0]!);
      yield g.ld32(0x0900_0000);
      yield g.msr('ICC_SGI1R_EL1', 1);
    });
    m.cpu.attachHypervisor({ hcr: cpu.HCR_EL2.VM | cpu.HCR_EL2.IMO, stage2: m.stage2 });
    m.cpu.start(ARM_LAYOUT.MAIN);
    for (;;) {
      m.cpu.enterGuest();
      if (m.cpu.run(m.cpu.localTime + 1_000_000) !== 'exit') break;
      handleTrap(m.cpu);
    }
    expect(got).toEqual([2, 2, 0, 0, 0, -1, 0x9600_0010, 0x0200_0000]);
  });
});
