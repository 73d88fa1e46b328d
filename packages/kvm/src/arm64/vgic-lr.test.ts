// More pending interrupts than list registers (IHI0069 4.9 "List registers", 12.4.5 ICH_HCR_EL2.UIE, 12.4.7
// ICH_MISR_EL2.U): KVM fills the four LRs in priority order, asks for the underflow maintenance interrupt, and refills
// at that exit (vgic_flush_lr_state / vgic_fold_lr_state); with EOImode 0 (EOIR deactivates) and EOImode 1 (EOIR drops
// priority, DIR deactivates: ICC_CTLR_EL1.EOImode, 12.2.6) nothing is lost.
import { describe, expect, it } from 'vitest';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { KVM_EXIT } from '../generic/constants.js';
import { KVM_ARM_IRQ_TYPE, PSCI_FN } from './constants.js';
import { smcccHvc } from './smccc.js';
import { ARM_GUEST, IRQ_ENTRY, arm64Vmm, exitsBetween, guestGicInit, guestSpiInit } from './test-support/arm64-vmm.js';

type Routine = Generator<Op, void, number>;
const { ENTRY, DEVICE, MARK, DATA } = ARM_GUEST;
/** SPI → priority: six SPIs, two more than the list registers. */
const PRIORITIES: Record<number, number> = { 40: 0xa0, 41: 0x80, 42: 0x90, 43: 0x70, 44: 0xb0, 45: 0x60 };

function overflow(eoiMode: 0 | 1) {
  const taken: number[] = [];
  const vmm = arm64Vmm({
    vcpus: 1,
    code: (vm) => {
      vm.program.define(IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
        const intid = yield g.mrs('ICC_IAR1_EL1');
        taken.push(intid);
        yield g.msr('ICC_EOIR1_EL1', intid);
        if (eoiMode === 1) yield g.msr('ICC_DIR_EL1', intid); // EOImode 1: the EOIR only dropped the priority
        yield g.eret();
      });
      vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
        yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
        yield* guestGicInit(g, 0, 0);
        if (eoiMode === 1) yield g.msr('ICC_CTLR_EL1', 1 << 1);
        for (const [id, prio] of Object.entries(PRIORITIES)) yield* guestSpiInit(g, Number(id), 0, prio);
        yield g.ld32(ARM_GUEST.VECTORS); // fault the vector page in
        yield g.ld32(DATA);
        yield g.st32(MARK, 1);
        yield g.st32(DEVICE, 1); // the VMM raises all six SPIs
        yield g.daifClr(2);
        while (taken.length < 6) yield g.wfi();
        yield g.st32(MARK, 2);
        yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
      });
    },
  });
  vmm.onData = () => {
    for (const id of Object.keys(PRIORITIES)) {
      vmm.vm.irqLine((KVM_ARM_IRQ_TYPE.SPI << 24) | Number(id), 1);
      vmm.vm.irqLine((KVM_ARM_IRQ_TYPE.SPI << 24) | Number(id), 0);
    }
  };
  expect(vmm.runUntilStop()).toBe(KVM_EXIT.SYSTEM_EVENT);
  const [a, b] = vmm.marks;
  return { taken, exits: exitsBetween(a!.stats, b!.stats) };
}

describe('list-register overflow', () => {
  for (const mode of [0, 1] as const) {
    it(`six SPIs through four LRs, EOImode ${mode}: all taken in priority order; one underflow maintenance exit refills`, () => {
      const { taken, exits } = overflow(mode);
      expect(taken).toEqual([45, 43, 41, 42, 40, 44]);
      // The doorbell's MMIO exit, one IRQ exit for the maintenance interrupt (PPI 25 on the physical CPU) once at
      // most one LR is valid, and the closing MARK's exit: the acknowledges, EOIs and DIRs themselves never exit.
      expect(exits).toEqual({ DATA_ABORT_LOWER: 2, KVM_EXIT_MMIO: 2, IRQ: 1 });
    });
  }
});

describe('ICH_HCR_EL2.EOIcount (IHI0069 12.4.5)', () => {
  it('the fold deactivates as many active interrupts that were in no list register, and clears the count', () => {
    const vmm = arm64Vmm({
      vcpus: 1,
      code: (vm) => {
        vm.program.define(ENTRY, function* main(): Routine {
          // nothing runs
        });
      },
    });
    const { vm, vgic } = vmm;
    const ISACTIVER1 = 0x300 + 4;
    vgic.setAttr({ group: 1, attr: ISACTIVER1, value: (1 << 8) | (1 << 9) }); // SPIs 40 and 41 active (DIST_REGS)
    vgic.distributor!.distributorFor(0).mmioWrite(0x6000 + 8 * 40, 4, 0); // IROUTER: vCPU 0
    vgic.distributor!.distributorFor(0).mmioWrite(0x6000 + 8 * 41, 4, 0);
    const v = vm.hostGic.virtualInterface(0);
    v.writeHcr(1 | (1 << 27)); // the guest EOId one active interrupt no LR held
    vgic.fold(0, 0);
    expect(Number(vgic.getAttr({ group: 1, attr: ISACTIVER1 })) >>> 8).toBe(0b10); // the first in INTID order (40) deactivated
    expect(v.readHcr()).toBe(0);
  });
});
