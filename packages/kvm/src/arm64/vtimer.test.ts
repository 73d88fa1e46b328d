// The virtual timer (Linux arch/arm64/kvm/arch_timer.c; Arm ARM D11.2.4; IHI0069 4.9.3 hardware interrupts): the
// guest's CNTV_* reach the timer without traps; its PPI 27 exits as an IRQ, becomes the vCPU's PPI 27 in the vGIC and
// stays active in the host GIC until the guest deactivates it through the list register's HW bit. A WFI saves the
// timer context (the physical timer disabled, vcpu_put) and a background timer wakes the vCPU.
import { describe, expect, it } from 'vitest';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { GICR_SGI, GICR_SGI_BASE } from '@hvsim/gic';
import { KVM_EXIT } from '../generic/constants.js';
import { PSCI_FN } from './constants.js';
import { smcccHvc } from './smccc.js';
import { ARM_GUEST, IRQ_ENTRY, arm64Vmm, guestGicInit } from './test-support/arm64-vmm.js';

type Routine = Generator<Op, void, number>;
const { ENTRY, DEVICE } = ARM_GUEST;

describe('the virtual timer as a hardware-mapped PPI 27', () => {
  it('physical PPI 27 stays active until the guest EOI; the WFI puts the timer and its deadline wakes the vCPU', () => {
    const active: string[] = [];
    let ctlAfterWake = -1;
    const vmm = arm64Vmm({
      vcpus: 1,
      code: (vm) => {
        vm.program.define(IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
          const intid = yield g.mrs('ICC_IAR1_EL1');
          ctlAfterWake = yield g.mrs('CNTV_CTL_EL0'); // the restored context: ENABLE | ISTATUS
          yield g.st32(DEVICE, 1); // the VMM looks at the host GIC before the EOI
          yield g.msr('CNTV_CTL_EL0', 0); // the guest stops its timer: the level falls
          yield g.msr('ICC_EOIR1_EL1', intid); // deactivates the physical interrupt (HW = 1)
          yield g.st32(DEVICE, 2); // ... and after it
          yield g.eret();
        });
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
          yield* guestGicInit(g, 0, 1 << 27);
          yield g.msr('CNTV_TVAL_EL0', 5000); // 5000 ticks: 200,000 cycles
          yield g.msr('CNTV_CTL_EL0', 1);
          yield g.daifClr(2);
          yield g.wfi();
          yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
        });
      },
    });
    const { vm } = vmm;
    const hostActive = (): boolean => ((vm.hostGic.redistributorRegion.mmioRead(GICR_SGI_BASE + GICR_SGI.ISACTIVER0, 4) >>> 27) & 1) === 1;
    let ctlWhileBlocked = -1n;
    vm.clock.schedule(100_000, () => {
      ctlWhileBlocked = vm.hostTimer.read(0, 'CNTV_CTL_EL0'); // the vCPU is blocked in WFI: its timer is saved
    });
    vmm.onData = (value) => active.push(`${value}: ${hostActive() ? 'active' : 'inactive'}`);
    expect(vmm.runUntilStop(10, 1_000_000)).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(ctlWhileBlocked).toBe(0n);
    expect(ctlAfterWake).toBe(0b101);
    expect(active).toEqual(['1: active', '2: inactive']);
    expect(vmm.vcpus[0]!.stats.count('WFX')).toBe(1);
    expect(vmm.vcpus[0]!.stats.count('IRQ')).toBe(1);
    expect(vm.clock.now()).toBeGreaterThanOrEqual(200_000);
  });
});
