// An arm64 guest with two vCPUs booted by a small VMM through the KVM API alone (api.rst 4.82 KVM_ARM_VCPU_INIT,
// PSCI CPU_ON, devices/arm-vgic-v3.rst), taking an SPI and virtual-timer interrupts through list registers.
import { describe, expect, it } from 'vitest';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { KVM_EXIT, KVM_SYSTEM_EVENT } from '../generic/constants.js';
import { GICD } from '@hvsim/gic';
import { KVM_ARM_IRQ_TYPE, PSCI_FN, PSCI_RET } from './constants.js';
import { smcccHvc, smcccResult } from './smccc.js';
import { ARM_GUEST, IRQ_ENTRY, arm64Vmm, exitsBetween, guestGicInit, guestSpiInit } from './test-support/arm64-vmm.js';

type Routine = Generator<Op, void, number>;
const { ENTRY, SECONDARY, DATA, DEVICE, MARK } = ARM_GUEST;

describe('an arm64 VM with two vCPUs through the API', () => {
  it('vCPU 0 boots, starts vCPU 1 with PSCI CPU_ON, MMIO reaches userspace, SYSTEM_OFF ends it', () => {
    const log: string[] = [];
    const vmm = arm64Vmm({
      code: (vm) => {
        vm.program.define(SECONDARY, function* secondary(g: Arm64Guest): Routine {
          log.push('cpu1 up');
          yield g.st32(DATA + 4, 1);
          yield smcccHvc(g, PSCI_FN.CPU_OFF);
        });
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          const v = yield smcccHvc(g, PSCI_FN.PSCI_VERSION);
          log.push(`version ${v.toString(16)}`);
          yield g.st32(DEVICE, 0x41);
          log.push(`read ${(yield g.ld32(DEVICE)).toString(16)}`);
          const on = yield smcccHvc(g, PSCI_FN.CPU_ON_64, 1, SECONDARY);
          log.push(`cpu_on ${on}`);
          log.push(`again ${smcccResult(g, yield smcccHvc(g, PSCI_FN.CPU_ON_64, 1, SECONDARY))}`); // X0 as a signed PSCI code
          while ((yield g.ld32(DATA + 4)) === 0) yield g.wfe();
          yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
        });
      },
    });
    const reason = vmm.runUntilStop();
    expect(reason).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(vmm.vcpus[0]!.kvmRun.system_event.type).toBe(KVM_SYSTEM_EVENT.SHUTDOWN);
    expect(log).toEqual(['version 10001', 'read 5a', 'cpu_on 0', `again ${PSCI_RET.ALREADY_ON}`, 'cpu1 up']);
    expect(vmm.written).toEqual([0x41]);
    expect(vmm.userExits).toEqual(['mmio write 0x9000000', 'mmio read 0x9000000']);
  });

  it('an SPI and virtual-timer PPIs go through list registers: the guest acknowledges and completes them with no exit', () => {
    const ticks = [0, 0];
    let spis = 0;
    const vmm = arm64Vmm({
      code: (vm) => {
        vm.program.define(IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
          const intid = yield g.mrs('ICC_IAR1_EL1'); // ICV_IAR1_EL1 under HCR_EL2.IMO: no exit (IHI0069 12.3.x)
          if (intid === 27) {
            ticks[(yield g.mrs('MPIDR_EL1')) & 0xff]!++;
            yield g.msr('CNTV_TVAL_EL0', 2000); // re-arm: the timer's level falls (Arm ARM D11.2.4)
          } else if (intid === 40) spis++;
          yield g.msr('ICC_EOIR1_EL1', intid); // ICV_EOIR1_EL1: the LR goes invalid, no exit
          yield g.eret();
        });
        vm.program.define(SECONDARY, function* secondary(g: Arm64Guest): Routine {
          yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
          yield* guestGicInit(g, 1, 1 << 27);
          yield g.msr('CNTV_TVAL_EL0', 2000);
          yield g.msr('CNTV_CTL_EL0', 1);
          yield g.st32(MARK, 10);
          yield g.daifClr(2);
          while (ticks[1]! < 3) yield g.wfi();
          yield g.st32(MARK, 11);
          yield g.msr('CNTV_CTL_EL0', 0);
          yield g.st32(DATA + 4, 1);
          yield smcccHvc(g, PSCI_FN.CPU_OFF);
        });
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
          yield* guestGicInit(g, 0, 0);
          yield* guestSpiInit(g, 40, 0);
          yield smcccHvc(g, PSCI_FN.CPU_ON_64, 1, SECONDARY);
          yield g.daifClr(2);
          yield g.ld32(DATA + 4); // fault the data and vector pages in before measuring (stage 2 is filled on faults)
          yield g.ld32(ARM_GUEST.VECTORS);
          yield g.st32(MARK, 1);
          for (let i = 0; i < 5; i++) {
            yield g.st32(DEVICE, 40); // the doorbell: the VMM raises SPI 40
            while (spis <= i) yield g.wfi();
          }
          yield g.st32(MARK, 2);
          yield g.ld32(ARM_GUEST.GICD + GICD.ISPENDR + 4); // a distributor access: one exit, handled in the kernel
          yield g.st32(MARK, 3);
          while ((yield g.ld32(DATA + 4)) === 0) yield g.wfi();
          yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
        });
      },
    });
    vmm.onData = (value) => {
      vmm.vm.irqLine((KVM_ARM_IRQ_TYPE.SPI << 24) | value, 1); // api.rst 4.25: type SPI, irq_id 40; an edge
      vmm.vm.irqLine((KVM_ARM_IRQ_TYPE.SPI << 24) | value, 0);
    };
    expect(vmm.runUntilStop(100, 2_000_000)).toBe(KVM_EXIT.SYSTEM_EVENT); // a quantum longer than the three ticks
    expect(spis).toBe(5);
    expect(ticks).toEqual([0, 3]);
    const mark = (v: number) => vmm.marks.find((m) => m.value === v)!.stats;
    // Five SPIs: each costs only its doorbell's MMIO exit (plus the closing MARK's own exit); acknowledge and EOI none.
    expect(exitsBetween(mark(1), mark(2))).toEqual({ DATA_ABORT_LOWER: 5 + 1, KVM_EXIT_MMIO: 5 + 1 });
    // The distributor read traps and is emulated in the kernel: one exit, no return to userspace for it.
    expect(exitsBetween(mark(2), mark(3))).toEqual({ DATA_ABORT_LOWER: 1 + 1, KVM_EXIT_MMIO: 1 });
    // Three timer ticks on vCPU 1: each is a WFI that blocks (the timer saved, a background timer armed) and, once
    // loaded again, the physical PPI 27 that exits as an IRQ and goes to the vGIC; the guest's EOI through the
    // hardware-mapped list register deactivates it with no exit. Never a SYS64 exit for ICV accesses.
    expect(exitsBetween(mark(10), mark(11))).toEqual({ WFX: 3, IRQ: 3, DATA_ABORT_LOWER: 1, KVM_EXIT_MMIO: 1 });
  });
});
