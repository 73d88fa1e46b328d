// Level-triggered SPIs (IHI0069 4.1.1; Linux vgic-v3.c vgic_v3_populate_lr sets ICH_LR_EL2.EOI for a level-triggered
// software interrupt, vgic_v3_fold_lr_state calls kvm_notify_acked_irq): the guest's EOI of a level SPI exits through
// the EOI maintenance interrupt so KVM can resample the line (a resampling irqfd, api.rst 4.75 KVM_IRQFD_FLAG_RESAMPLE);
// an edge SPI's EOI does not exit.
import { describe, expect, it } from 'vitest';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { KVM_EXIT, KVM_IRQFD_FLAG } from '../generic/constants.js';
import { EventFd } from '../generic/eventfd.js';
import { PSCI_FN } from './constants.js';
import { smcccHvc } from './smccc.js';
import { ARM_GUEST, IRQ_ENTRY, arm64Vmm, exitsBetween, guestGicInit, guestSpiInit } from './test-support/arm64-vmm.js';

type Routine = Generator<Op, void, number>;
const { ENTRY, DEVICE, MARK } = ARM_GUEST;

describe('a level-triggered SPI through a resampling irqfd', () => {
  it('each EOI exits once (EOI maintenance), lowers the line and signals the resamplefd; the device re-raises it', () => {
    let taken = 0;
    const vmm = arm64Vmm({
      vcpus: 1,
      code: (vm) => {
        vm.program.define(IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
          const intid = yield g.mrs('ICC_IAR1_EL1');
          if (intid === 41) taken++;
          yield g.msr('ICC_EOIR1_EL1', intid);
          yield g.eret();
        });
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
          yield* guestGicInit(g, 0, 0);
          yield* guestSpiInit(g, 41, 0, 0xa0, false); // level-sensitive
          yield g.ld32(ARM_GUEST.VECTORS);
          yield g.daifClr(2);
          yield g.st32(MARK, 1);
          yield g.st32(DEVICE, 1); // the device gets three events to signal
          while (taken < 3) yield g.wfi();
          yield g.st32(MARK, 2);
          yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
        });
      },
    });
    const fd = new EventFd();
    const resample = new EventFd();
    let work = 0;
    vmm.vm.irqfd({ fd, gsi: 9, flags: KVM_IRQFD_FLAG.RESAMPLE, resamplefd: resample }); // GSI 9: SPI 41
    resample.addWaiter(() => {
      resample.drain();
      if (--work > 0) fd.write(1); // the device still has an event: assert the line again
    });
    vmm.onData = () => {
      work = 3;
      fd.write(1);
    };
    expect(vmm.runUntilStop()).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(taken).toBe(3);
    expect(work).toBe(0);
    const [a, b] = vmm.marks;
    // The doorbell and the closing MARK (MMIO exits), and one EOI maintenance IRQ exit per level interrupt.
    expect(exitsBetween(a!.stats, b!.stats)).toEqual({ DATA_ABORT_LOWER: 2, KVM_EXIT_MMIO: 2, IRQ: 3 });
  });
});
