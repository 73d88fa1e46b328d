// Halt polling on arm64 WFI (arch/arm64/kvm/arm.c kvm_vcpu_wfi → virt/kvm/kvm_main.c kvm_vcpu_halt,
// grow_halt_poll_ns, shrink_halt_poll_ns, update_halt_poll_stats; Documentation/virt/kvm/halt-polling.rst;
// api.rst 7.27 KVM_CAP_HALT_POLL). The guest sleeps in WFI until its virtual timer fires (Arm ARM D11.2.4);
// arm64's halt_poll_ns default is 500000 ns (arch/arm64/include/asm/kvm_host.h KVM_HALT_POLL_NS_DEFAULT).
import { describe, expect, it } from 'vitest';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { ARM64_DEFAULT_COSTS } from '@hvsim/cpu';
import { KVM_CAP, KVM_EXIT } from '../generic/constants.js';
import { ARM64_HALT_POLL_DEFAULTS, type HaltPollParams } from '../generic/halt-poll.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { KVM_ARM_IRQ_TYPE, PSCI_FN } from './constants.js';
import { smcccHvc } from './smccc.js';
import { ARM_GUEST, IRQ_ENTRY, arm64Vmm, guestGicInit, guestSpiInit } from './test-support/arm64-vmm.js';

type Routine = Generator<Op, void, number>;
const { ENTRY, DEVICE } = ARM_GUEST;
const SPI = 40;
/** Timer ticks per ns: the counter runs at 1/40 of the 2.5 GHz CPU clock (62.5 MHz), 16 ns a tick. */
const NS_PER_TICK = 16;
const CYCLES_PER_NS = ARM64_DEFAULT_COSTS.clockHz / 1e9;

/**
 * A one-vCPU VM whose guest halts once per entry of `halts` (ns): it arms its virtual timer that far ahead,
 * WFIs until the timer's PPI 27 is taken (the handler stops the timer and EOIs it), and records
 * vcpu->halt_poll_ns after each halt.
 */
function halter(halts: readonly number[], haltPoll?: Partial<HaltPollParams>, maxHaltPoll?: number) {
  const pollAfter: number[] = [];
  let taken = 0;
  const vmm = arm64Vmm({
    vcpus: 1,
    ...(haltPoll ? { haltPoll } : {}),
    code: (vm) => {
      vm.program.define(IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
        const intid = yield g.mrs('ICC_IAR1_EL1');
        yield g.msr('CNTV_CTL_EL0', 0);
        yield g.msr('ICC_EOIR1_EL1', intid);
        taken++;
        pollAfter.push(vmm.vcpus[0]!.haltPoll.haltPollNs);
        yield g.eret();
      });
      vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
        yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
        yield* guestGicInit(g, 0, 1 << 27);
        yield g.daifClr(2);
        for (let i = 0; i < halts.length; i++) {
          yield g.msr('CNTV_TVAL_EL0', Math.round(halts[i]! / NS_PER_TICK));
          yield g.msr('CNTV_CTL_EL0', 1);
          while (taken <= i) yield g.wfi();
        }
        yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
      });
    },
  });
  if (maxHaltPoll !== undefined) vmm.vm.enableCap(KVM_CAP.HALT_POLL, { args: [maxHaltPoll] });
  const run = (): void => {
    expect(vmm.runUntilStop(100, 10_000_000)).toBe(KVM_EXIT.SYSTEM_EVENT);
  };
  return { vmm, vcpu: vmm.vcpus[0]!, pollAfter, run };
}

describe('halt polling on WFI (kvm_vcpu_halt)', () => {
  it('arm64 takes halt_poll_ns 500000 by default, KVM_CAP_HALT_POLL caps it per VM (api.rst 7.27)', () => {
    const { vmm } = halter([]);
    expect(vmm.kvm.createVm().maxHaltPollNs).toBe(ARM64_HALT_POLL_DEFAULTS.haltPollNs);
    expect(vmm.vm.maxHaltPollNs).toBe(500_000);
    expect(vmm.vm.checkExtension(KVM_CAP.HALT_POLL)).toBe(1);
    vmm.vm.enableCap(KVM_CAP.HALT_POLL, { args: [1234n] });
    expect(vmm.vm.maxHaltPollNs).toBe(1234);
    expectErrno(() => vmm.vm.enableCap(KVM_CAP.HALT_POLL, { args: [2 ** 32] }), 'EINVAL', /KVM_CAP_HALT_POLL args\[0\] must be a 32-bit number of ns, got 4294967296/);
    expectErrno(() => vmm.vm.enableCap(KVM_CAP.HALT_POLL, { flags: 1 }), 'EINVAL', /flags must be 0, got 1/);
    expectErrno(() => vmm.vm.enableCap(KVM_CAP.SPLIT_IRQCHIP, { args: [24] }), 'EINVAL', new RegExp(`capability ${KVM_CAP.SPLIT_IRQCHIP} cannot be enabled`));
    expect(vmm.vm.maxHaltPollNs).toBe(1234); // a failed KVM_ENABLE_CAP changed nothing
  });

  it('the first WFI blocks (poll 0, halt_wakeup from the background timer); a short halt grows the poll, the next one is woken within it', () => {
    const { vmm, vcpu, pollAfter, run } = halter([4000, 4000]);
    run();
    const s = vcpu.haltPoll.stats;
    // Halt 1: no poll; the vCPU scheduled out and kvm_bg_timer_expire woke it. 4 µs < 500 µs: grow to halt_poll_ns_grow_start.
    // Halt 2: polled 10 µs, the timer fired after ~4 µs on the loaded timer: a successful poll, the poll unchanged.
    expect(pollAfter).toEqual([10_000, 10_000]);
    expect(s).toMatchObject({ haltAttemptedPoll: 1, haltSuccessfulPoll: 1, haltWakeup: 1, haltPollFailNs: 0 });
    expect(s.haltPollSuccessNs).toBeGreaterThan(3000);
    expect(s.haltPollSuccessNs).toBeLessThanOrEqual(4000);
    // The polling's cycles are the pCPU's: exactly the successful poll's time.
    const spun = vmm.vm.haltPollCycles[vcpu.pcpu]!;
    expect(Math.round(spun / CYCLES_PER_NS)).toBe(s.haltPollSuccessNs);
    expect(s.haltWaitNs).toBeGreaterThan(3000); // the first halt's sleep
    expect(vcpu.stats.count('WFX')).toBe(2);
  });

  it('a halt longer than the poll but shorter than halt_poll_ns grows it (×halt_poll_ns_grow) until it covers the halts', () => {
    const { vcpu, pollAfter, run } = halter([50_000, 50_000, 50_000, 50_000, 50_000, 50_000]);
    run();
    // grow_halt_poll_ns: 0 → 10000 (grow start) → 20000 → 40000 → 80000, which covers 50 µs: kept.
    expect(pollAfter).toEqual([10_000, 20_000, 40_000, 80_000, 80_000, 80_000]);
    const s = vcpu.haltPoll.stats;
    expect(s).toMatchObject({ haltAttemptedPoll: 5, haltSuccessfulPoll: 2, haltWakeup: 4 });
    expect(s.haltPollFailNs).toBe(10_000 + 20_000 + 40_000);
  });

  it('a halt longer than halt_poll_ns shrinks the poll (÷halt_poll_ns_shrink), to 0 below the grow start', () => {
    const { vcpu, pollAfter, run } = halter([50_000, 50_000, 50_000, 600_000, 600_000]);
    run();
    // 10000, 20000, 40000; a 600 µs halt outlasts the 500 µs maximum: 20000, then 10000... → shrink to 0 below 10000.
    expect(pollAfter).toEqual([10_000, 20_000, 40_000, 20_000, 10_000]);
    const { vcpu: v2, pollAfter: p2, run: run2 } = halter([4000, 600_000], { haltPollNsShrink: 4 });
    run2();
    expect(p2).toEqual([10_000, 0]); // 10000 / 4 = 2500 < halt_poll_ns_grow_start: polling ends
    expect(v2.haltPoll.stats).toMatchObject({ haltAttemptedPoll: 1, haltSuccessfulPoll: 0, haltPollFailNs: 10_000 });
    expect(vcpu.haltPoll.stats.haltWaitNs).toBeGreaterThan(1_000_000);
  });

  it('off with the module parameter halt_poll_ns 0 or KVM_CAP_HALT_POLL 0: every WFI blocks, nothing polls', () => {
    for (const h of [halter([4000, 4000, 4000], { haltPollNs: 0 }), halter([4000, 4000, 4000], undefined, 0)]) {
      h.run();
      expect(h.pollAfter).toEqual([0, 0, 0]);
      expect(h.vcpu.haltPoll.stats).toMatchObject({ haltAttemptedPoll: 0, haltSuccessfulPoll: 0, haltWakeup: 3 });
      expect(h.vmm.vm.haltPollCycles[0]).toBe(0);
    }
  });

  it('an SPI from the VMM (KVM_IRQ_LINE kicks the vCPU) within the poll window is a successful poll; one after it wakes the scheduled-out vCPU', () => {
    const taken: number[] = [];
    const vmm = arm64Vmm({
      vcpus: 1,
      code: (vm) => {
        vm.program.define(IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
          const intid = yield g.mrs('ICC_IAR1_EL1');
          if (intid === 27) yield g.msr('CNTV_CTL_EL0', 0);
          yield g.msr('ICC_EOIR1_EL1', intid);
          taken.push(intid);
          yield g.eret();
        });
        vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
          yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
          yield* guestGicInit(g, 0, 1 << 27);
          yield* guestSpiInit(g, SPI, 0);
          yield g.daifClr(2);
          // A 4 µs timer halt grows the poll to 10 µs.
          yield g.msr('CNTV_TVAL_EL0', 4000 / NS_PER_TICK);
          yield g.msr('CNTV_CTL_EL0', 1);
          while (taken.length < 1) yield g.wfi();
          yield g.st32(DEVICE, 6000); // the VMM raises SPI 40 6 µs from now (the exit to userspace takes ~3): inside the 10 µs poll
          while (taken.length < 2) yield g.wfi();
          yield g.st32(DEVICE, 30_000); // 30 µs from now: after the 10 µs poll
          while (taken.length < 3) yield g.wfi();
          yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
        });
      },
    });
    const edge = (): void => {
      vmm.vm.irqLine((KVM_ARM_IRQ_TYPE.SPI << 24) | SPI, 1);
      vmm.vm.irqLine((KVM_ARM_IRQ_TYPE.SPI << 24) | SPI, 0);
    };
    vmm.onData = (ns) => vmm.kvm.clock.scheduleAfter(ns * CYCLES_PER_NS, edge);
    expect(vmm.runUntilStop(100, 10_000_000)).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(taken).toEqual([27, SPI, SPI]);
    const v = vmm.vcpus[0]!;
    // Halt 1 waited (timer); halt 2 polled and the kick came within it; halt 3 polled 10 µs in vain, then slept
    // until the SPI's kick woke it (halt_wakeup), and grew the poll (30 µs < 500 µs).
    expect(v.haltPoll.stats).toMatchObject({ haltAttemptedPoll: 2, haltSuccessfulPoll: 1, haltWakeup: 2, haltPollFailNs: 10_000 });
    expect(v.haltPoll.haltPollNs).toBe(20_000);
  });
});
