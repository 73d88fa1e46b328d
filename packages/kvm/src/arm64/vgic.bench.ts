// One SPI through list registers end to end (the "vITS and list registers" path without the ITS): a device
// raises SPI 40 while the guest computes (KVM_IRQ_LINE from a clock event), the vGIC kicks the running vCPU (the
// reschedule IPI: one IRQ exit), the flush puts the SPI in a list register, and the guest acknowledges and completes
// it through ICV_IAR1_EL1 / ICV_EOIR1_EL1 with no exit.
import { bench, describe } from 'vitest';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { KVM_ARM_IRQ_TYPE, PSCI_FN } from './constants.js';
import { smcccHvc } from './smccc.js';
import { ARM_GUEST, IRQ_ENTRY, arm64Vmm, guestGicInit, guestSpiInit } from './test-support/arm64-vmm.js';

type Routine = Generator<Op, void, number>;
const SPIS = 5000;
const PERIOD = 5000;

function machine() {
  let spis = 0;
  const vmm = arm64Vmm({
    vcpus: 1,
    code: (vm) => {
      vm.program.define(IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
        const intid = yield g.mrs('ICC_IAR1_EL1');
        spis++;
        yield g.msr('ICC_EOIR1_EL1', intid);
        yield g.eret();
      });
      vm.program.define(ARM_GUEST.ENTRY, function* main(g: Arm64Guest): Routine {
        yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
        yield* guestGicInit(g, 0, 0);
        yield* guestSpiInit(g, 40, 0);
        yield g.ld32(ARM_GUEST.VECTORS);
        yield g.st32(ARM_GUEST.DEVICE, 1); // start the device
        yield g.daifClr(2);
        while (spis < SPIS) yield g.compute(1000);
        yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
      });
    },
  });
  const { vm } = vmm;
  const raise = (): void => {
    vm.irqLine((KVM_ARM_IRQ_TYPE.SPI << 24) | 40, 1);
    vm.irqLine((KVM_ARM_IRQ_TYPE.SPI << 24) | 40, 0);
    if (spis < SPIS) vm.clock.scheduleAfter(PERIOD, raise);
  };
  vmm.onData = () => void vm.clock.scheduleAfter(PERIOD, raise);
  return { vmm, count: () => spis };
}

describe('vGICv3 list registers', () => {
  bench(`${SPIS} SPIs, one IRQ exit each, acknowledge and EOI without exits`, () => {
    const { vmm, count } = machine();
    vmm.runUntilStop(100, 1e9);
    if (count() !== SPIS || vmm.vcpus[0]!.stats.count('IRQ') < SPIS) throw new Error(`expected ${SPIS} SPIs with an IRQ exit each, got ${count()} and ${vmm.vcpus[0]!.stats.count('IRQ')}`);
  }, { iterations: 5 });
});
