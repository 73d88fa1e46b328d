// kvm-unit-tests arm/gic.c IPI behaviours on the vGICv3 with three vCPUs: an IPI to self, to a target list, and to
// all but self (ICC_SGI1R_EL1.IRM, IHI0069 12.2.22), each received exactly once with its INTID from ICC_IAR1_EL1 and
// completed with ICC_EOIR1_EL1; each ICC_SGI1R_EL1 write traps to KVM (HCR_EL2.IMO, SGI generation) and is sent by
// the vGIC (vgic_v3_dispatch_sgi); the receivers' acknowledge and EOI do not exit.
import { describe, expect, it } from 'vitest';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { KVM_EXIT } from '../generic/constants.js';
import { PSCI_FN } from './constants.js';
import { smcccHvc } from './smccc.js';
import { ARM_GUEST, IRQ_ENTRY, arm64Vmm, exitsBetween, guestGicInit } from './test-support/arm64-vmm.js';

type Routine = Generator<Op, void, number>;
const { ENTRY, SECONDARY, DATA, MARK } = ARM_GUEST;
const READY = DATA;
const DONE = DATA + 4;
const SGIS = 0xffff; // every SGI enabled (GICR_ISENABLER0 bits 15:0)

/** ICC_SGI1R_EL1 (IHI0069 12.2.22): TargetList 15:0, INTID 27:24, IRM bit 40. */
function sgi1r(intid: number, targets: number, irm = false): { lo: number; hi: number } {
  return { lo: (intid << 24) | targets, hi: irm ? 1 << 8 : 0 };
}

describe('kvm-unit-tests arm/gic.c: IPIs through the vGICv3', () => {
  it('self, target list and broadcast IPIs arrive once each; only the senders exit', () => {
    const received: number[][] = [[], [], []];
    const vmm = arm64Vmm({
      vcpus: 3,
      code: (vm) => {
        vm.program.define(IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
          const iar = yield g.mrs('ICC_IAR1_EL1');
          const cpu = (yield g.mrs('MPIDR_EL1')) & 0xff;
          received[cpu]!.push(iar);
          yield g.msr('ICC_EOIR1_EL1', iar);
          yield g.eret();
        });
        vm.program.define(SECONDARY, function* secondary(g: Arm64Guest): Routine {
          const cpu = (yield g.mrs('MPIDR_EL1')) & 0xff;
          yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
          yield* guestGicInit(g, cpu, SGIS);
          yield g.daifClr(2);
          yield g.st32(READY, (yield g.ld32(READY)) + 1);
          while ((yield g.ld32(DONE)) === 0) yield g.wfi();
          yield smcccHvc(g, PSCI_FN.CPU_OFF);
        });
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
          yield* guestGicInit(g, 0, SGIS);
          yield g.ld32(ARM_GUEST.VECTORS);
          for (const cpu of [1, 2]) yield smcccHvc(g, PSCI_FN.CPU_ON_64, cpu, SECONDARY);
          yield g.daifClr(2);
          while ((yield g.ld32(READY)) < 2) yield g.wfe();
          yield g.st32(MARK, 1);
          let s = sgi1r(1, 0b001); // ipi_test_self
          yield g.msrHalves('ICC_SGI1R_EL1', s.lo, s.hi);
          while (received[0]!.length < 1) yield g.wfi();
          s = sgi1r(2, 0b110); // ipi_test_smp: a target list of CPUs 1 and 2
          yield g.msrHalves('ICC_SGI1R_EL1', s.lo, s.hi);
          while (received[1]!.length < 1 || received[2]!.length < 1) yield g.wfe();
          s = sgi1r(3, 0, true); // broadcast: all but self (IRM = 1)
          yield g.msrHalves('ICC_SGI1R_EL1', s.lo, s.hi);
          while (received[1]!.length < 2 || received[2]!.length < 2) yield g.wfe();
          yield g.st32(MARK, 2);
          yield g.st32(DONE, 1);
          yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
        });
      },
    });
    let r = -1;
    r = vmm.runUntilStop(200, 100_000);
    expect(r).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(received).toEqual([[1], [2, 3], [2, 3]]);
    const [a, b] = vmm.marks;
    const sender = exitsBetween(a!.stats, b!.stats);
    expect(sender['SYS64']).toBe(3); // one trap per ICC_SGI1R_EL1 write; the self-IPI then arrives through an LR
  });
});
