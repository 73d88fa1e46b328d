/**
 * The machine of the MSI benches: one vCPU computing with interrupts on;
 * its guest maps DeviceID 2 / EventID 0 to LPI 8195 through its vITS. A
 * device's MSIs reach it either as GICv4.1 direct vLPIs (`direct`: an
 * assigned device on a v4.1 host, its vector forwarded from its irqfd's MSI
 * route) or through the vITS and the list registers (the VMM's
 * KVM_SIGNAL_MSI: the vGIC kicks the vCPU, one IRQ exit, the flush puts the
 * LPI in a list register). `burst(n, period)` sends `n` MSIs, one every
 * `period` cycles once the guest took the previous one, and runs the vCPU
 * until it took them all: the steady state, without the set-up.
 */
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { KVM_EXIT, KVM_IRQ_ROUTING, KVM_MSI_VALID_DEVID } from '../../generic/constants.js';
import { EventFd } from '../../generic/eventfd.js';
import { ARM_GUEST, IRQ_ENTRY, arm64Vmm, guestGicInit, type Arm64Vmm } from './arm64-vmm.js';
import { GITS_TRANSLATER_ADDR, GuestItsDriver, ITS_GUEST, LPI_BASE } from './its-guest.js';

type Routine = Generator<Op, void, number>;

/** A running MSI machine. */
export interface MsiMachine {
  vmm: Arm64Vmm;
  /** vLPIs / LPIs the guest took. */
  count(): number;
  /** Sends `n` MSIs `period` cycles apart and runs until the guest took them; returns the KVM_RUN calls it took. */
  burst(n: number, period: number): number;
}

/** Builds the machine and runs its guest until the device is started. */
export function msiMachine(direct: boolean): MsiMachine {
  let lpis = 0;
  const driver = new GuestItsDriver();
  const vmm = arm64Vmm({
    vcpus: 1,
    its: true,
    ...(direct ? { hostGic: 'v4.1' as const } : {}),
    code: (vm) => {
      vm.program.define(IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
        const intid = yield g.mrs('ICC_IAR1_EL1');
        lpis++;
        yield g.msr('ICC_EOIR1_EL1', intid);
        yield g.eret();
      });
      vm.program.define(ARM_GUEST.ENTRY, function* main(g: Arm64Guest): Routine {
        yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
        yield* guestGicInit(g, 0, 0);
        yield* driver.initRedistributor(g, 0, 4);
        yield* driver.initIts(g);
        yield* driver.command(g, 'MAPD', { deviceId: 2, size: 4, ittAddress: ITS_GUEST.ITT, valid: 1 });
        yield* driver.command(g, 'MAPC', { icid: 0, rdbase: 0, valid: 1 });
        yield* driver.command(g, 'MAPTI', { deviceId: 2, eventId: 0, intid: LPI_BASE + 3, icid: 0 });
        yield g.ld32(ARM_GUEST.VECTORS);
        yield g.daifClr(2);
        yield g.st32(ARM_GUEST.DEVICE, 1); // ready
        for (;;) yield g.compute(1000);
      });
    },
  });
  const { vm } = vmm;
  const vcpu = vmm.vcpus[0]!;
  let send: () => void;
  if (direct) {
    const fd = new EventFd();
    const dev = vm.assignDevice({ deviceId: 0x10, msis: [{ fd, gsi: 40 }] });
    vm.setGsiRouting([{ gsi: 40, type: KVM_IRQ_ROUTING.MSI, flags: KVM_MSI_VALID_DEVID, msi: { addressLo: GITS_TRANSLATER_ADDR, data: 0, devid: 2 } }]);
    vm.irqfd({ fd, gsi: 40 });
    send = () => void dev.raiseMsi(0);
  } else {
    const msi = { addressLo: GITS_TRANSLATER_ADDR, data: 0, flags: KVM_MSI_VALID_DEVID, devid: 2 };
    send = () => void vm.signalMsi(msi);
  }
  // Up to the guest's "ready" write (KVM_EXIT_MMIO), then completed by the next run.
  while (vcpu.run({ maxCycles: 1e8 }).exit_reason !== KVM_EXIT.MMIO);
  const burst = (n: number, period: number): number => {
    const base = lpis;
    let sent = 0;
    const raise = (): void => {
      if (lpis - base === sent) {
        send();
        sent++;
      }
      if (sent < n) vm.clock.scheduleAfter(period, raise);
    };
    vm.clock.scheduleAfter(period, raise);
    // KVM_RUN in slices of 1024 periods (the VMM's signal ends each: one IRQ exit per slice, not per MSI).
    let runs = 0;
    while (lpis - base < n) {
      vcpu.run({ maxCycles: 1024 * period });
      runs++;
    }
    return runs;
  };
  return { vmm, count: () => lpis, burst };
}
