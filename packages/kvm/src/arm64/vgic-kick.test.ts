// The lost kick (Linux vgic.c vgic_queue_irq_unlock): an edge on an SPI that a vCPU holds in a list register (here
// active: the guest acknowledged it, IHI 0069 4.9 "List registers", 12.4.6 ICH_LR<n>_EL2.State) makes the emulated
// distributor's copy active and pending, which is no new candidate, so nothing reports it; the guest then completes the
// listed interrupt without an exit (an edge-triggered one asks for no EOI maintenance interrupt). KVM kicks the vCPU
// whenever the interrupt is already on its ap_list, so the edge is taken at once, not at some unrelated later exit.
import { describe, expect, it } from 'vitest';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { KVM_EXIT } from '../generic/constants.js';
import { KVM_ARM_IRQ_TYPE, PSCI_FN } from './constants.js';
import { smcccHvc } from './smccc.js';
import { ARM_GUEST, IRQ_ENTRY, arm64Vmm, exitsBetween, guestGicInit, guestSpiInit } from './test-support/arm64-vmm.js';

type Routine = Generator<Op, void, number>;
const { ENTRY, DEVICE, MARK, DATA } = ARM_GUEST;
const SPI = 40;
const LOOPS = 100;

describe('an edge on an SPI already in a list register kicks its vCPU (vgic_queue_irq_unlock)', () => {
  it('the second edge, raised while the first is active in an LR and completed without an exit, is taken at once', () => {
    const taken: number[] = [];
    let takenAtLoop = -1;
    const vmm = arm64Vmm({
      vcpus: 1,
      code: (vm) => {
        vm.program.define(IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
          const intid = yield g.mrs('ICC_IAR1_EL1');
          taken.push(intid);
          if (taken.length === 1) {
            // An exit while SPI 40 is active: the fold keeps it active, the next flush lists it active (State 0b10).
            yield g.st32(DEVICE, 2); // the VMM's device raises the next edge 5,000 cycles after this exit
            yield g.compute(20_000); // ... which arrives here, while the LR holds SPI 40 active
          }
          yield g.msr('ICC_EOIR1_EL1', intid); // EOImode 0: priority drop and deactivation, no exit
          yield g.eret();
        });
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
          yield* guestGicInit(g, 0, 0);
          yield* guestSpiInit(g, SPI, 0); // edge-triggered
          yield g.ld32(ARM_GUEST.VECTORS);
          yield g.ld32(DATA);
          yield g.st32(MARK, 1);
          yield g.st32(DEVICE, 1); // the first edge
          yield g.daifClr(2);
          while (taken.length === 0) yield g.wfi();
          // No exit of the guest's own from here to the MARK: only a kick brings the second edge in.
          for (let i = 0; i < LOOPS; i++) {
            yield g.compute(1000);
            if (taken.length === 2 && takenAtLoop < 0) takenAtLoop = i;
          }
          yield g.st32(MARK, 2);
          yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
        });
      },
    });
    const edge = (): void => {
      vmm.vm.irqLine((KVM_ARM_IRQ_TYPE.SPI << 24) | SPI, 1);
      vmm.vm.irqLine((KVM_ARM_IRQ_TYPE.SPI << 24) | SPI, 0);
    };
    vmm.onData = (value) => {
      if (value === 1) edge();
      else vmm.kvm.clock.scheduleAfter(5000, edge);
    };
    expect(vmm.runUntilStop(1000, 10_000_000)).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(taken).toEqual([SPI, SPI]);
    // Taken in the first loop iteration after the handler's EOI, not after the loop (the next exit of its own).
    expect(takenAtLoop).toBe(0);
    const exits = exitsBetween(vmm.marks[0]!.stats, vmm.marks[1]!.stats);
    // The two doorbell writes (MMIO), the kick's IRQ exit (the reschedule IPI), the closing MARK (the first edge was
    // listed at the doorbell's entry: the WFI never ran).
    expect(exits).toEqual({ DATA_ABORT_LOWER: 3, KVM_EXIT_MMIO: 3, IRQ: 1 });
  });
});
