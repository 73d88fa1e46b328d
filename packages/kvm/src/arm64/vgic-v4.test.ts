// GICv4 / v4.1 direct injection (Linux vgic-v4.c; IHI 0069 5.4 "Virtual LPIs", 12.11.38 GICR_VPENDBASER): an assigned
// device's MSI whose irqfd route translates in the vITS to an LPI of one vCPU is forwarded to that vCPU's vPE; while the
// vPE is resident the vLPI reaches the guest with no exit at all; while the vCPU waits in WFI a doorbell wakes it;
// a route the vITS cannot translate stays a host LPI whose handler signals the eventfd (irqfd → vITS → list register);
// the guest's MOVI moves the vLPI (VMOVI), DISCARD unforwards it; a vCPU loaded on another pCPU is moved (VMOVP).
import { describe, expect, it } from 'vitest';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { KVM_EXIT, KVM_IRQ_ROUTING, KVM_MSI_VALID_DEVID } from '../generic/constants.js';
import { EventFd } from '../generic/eventfd.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { KVM_DEV_ARM_VGIC_CTRL, KVM_DEV_ARM_VGIC_GRP, PSCI_FN } from './constants.js';
import { smcccHvc } from './smccc.js';
import { ARM_GUEST, IRQ_ENTRY, arm64Vmm, exitsBetween, guestGicInit, guestSpiInit, type Arm64Vmm } from './test-support/arm64-vmm.js';
import { GITS_TRANSLATER_ADDR, GuestItsDriver, ITS_GUEST, LPI_BASE } from './test-support/its-guest.js';
import type { Arm64AssignedDevice } from './assigned-device.js';
import { msiMachine } from './test-support/msi-machine.js';

type Routine = Generator<Op, void, number>;
const { ENTRY, SECONDARY, DATA, MARK, DEVICE } = ARM_GUEST;
const READY = DATA;
const DONE = DATA + 4;
const GUEST_DEVID = 2;
const HOST_DEVID = 0x10;
const LPI = LPI_BASE + 3;
const MSIS = 20;
const PERIOD = 20_000;
/** The SPI of the irqchip route (GSI 40 → pin 40). */
const SPI = 72;

/** A guest that only waits (no vCPU runs in these tests). */
function idle(vm: Arm64Vmm['vm']): void {
  vm.program.define(ENTRY, function* wait(g: Arm64Guest): Routine {
    yield g.wfi();
  });
}

interface V4Machine {
  vmm: Arm64Vmm;
  dev: Arm64AssignedDevice;
  fd: EventFd;
  received: number[][];
  /** Per vCPU: MSIs forwarded to it that found its vPE not resident (it was blocked in WFI, or in userspace). */
  whileNotResident: number[];
}

/**
 * Two vCPUs; the guest maps its DeviceID 2 / EventID 0 to LPI 8195 in
 * collection 0 (vCPU 0); the VMM assigns host device 0x10 whose vector 0's
 * eventfd is the irqfd of GSI 40, routed as the MSI (DeviceID 2, EventID
 * `routedEvent`) to the vITS. The guest then starts the device (a DEVICE
 * write) and waits for `MSIS` LPIs by computing (`wait: 'compute'`) or in
 * WFI; the device raises one MSI every PERIOD cycles.
 */
function v4Machine(version: 'v4.0' | 'v4.1', wait: 'compute' | 'wfi', route: 'its' | 'spi' = 'its', extra?: (g: Arm64Guest, driver: GuestItsDriver, received: number[][]) => Routine): V4Machine {
  const received: number[][] = [[], []];
  const driver = new GuestItsDriver();
  const vmm = arm64Vmm({
    vcpus: 2,
    its: true,
    hostGic: version,
    code: (vm) => {
      vm.program.define(IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
        const iar = yield g.mrs('ICC_IAR1_EL1');
        const cpu = (yield g.mrs('MPIDR_EL1')) & 0xff;
        received[cpu]!.push(iar);
        yield g.msr('ICC_EOIR1_EL1', iar);
        yield g.eret();
      });
      vm.program.define(SECONDARY, function* secondary(g: Arm64Guest): Routine {
        yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
        yield* guestGicInit(g, 1, 0);
        yield* driver.initRedistributor(g, 1, 0);
        yield g.daifClr(2);
        yield g.st32(READY, 1);
        while ((yield g.ld32(DONE)) === 0) yield g.wfi();
        yield smcccHvc(g, PSCI_FN.CPU_OFF);
      });
      vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
        yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
        yield* guestGicInit(g, 0, 0);
        yield* driver.initRedistributor(g, 0, 16);
        yield* driver.initIts(g);
        yield smcccHvc(g, PSCI_FN.CPU_ON_64, 1, SECONDARY);
        yield g.daifClr(2);
        while ((yield g.ld32(READY)) === 0) yield g.wfe();
        yield* driver.command(g, 'MAPD', { deviceId: GUEST_DEVID, size: 4, ittAddress: ITS_GUEST.ITT, valid: 1 });
        yield* driver.command(g, 'MAPC', { icid: 0, rdbase: 0, valid: 1 });
        yield* driver.command(g, 'MAPC', { icid: 1, rdbase: 1, valid: 1 });
        yield* driver.command(g, 'MAPTI', { deviceId: GUEST_DEVID, eventId: 0, intid: LPI, icid: 0 });
        if (route === 'spi') yield* guestSpiInit(g, SPI, 0);
        yield g.ld32(ARM_GUEST.VECTORS);
        yield g.st32(MARK, 1);
        yield g.st32(DEVICE, 1); // start the device
        if (wait === 'compute') while (received[0]!.length < MSIS) yield g.compute(1000);
        else while (received[0]!.length < MSIS) yield g.wfi();
        yield g.st32(MARK, 2);
        if (extra) yield* extra(g, driver, received);
        yield g.st32(DONE, 1);
        yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
      });
    },
  });
  const { vm } = vmm;
  const fd = new EventFd();
  const dev = vm.assignDevice({ deviceId: HOST_DEVID, msis: [{ fd, gsi: 40 }] });
  if (route === 'its') vm.setGsiRouting([{ gsi: 40, type: KVM_IRQ_ROUTING.MSI, flags: KVM_MSI_VALID_DEVID, msi: { addressLo: GITS_TRANSLATER_ADDR, data: 0, devid: GUEST_DEVID } }]);
  else vm.setGsiRouting([{ gsi: 40, type: KVM_IRQ_ROUTING.IRQCHIP, irqchip: { irqchip: 0, pin: SPI - 32 } }]);
  vm.irqfd({ fd, gsi: 40 });
  // Each DEVICE write starts a burst of MSIS MSIs, one every PERIOD cycles once the guest took the previous one (a
  // device with one interrupt outstanding: the vCPUs run one after the other here, so an MSI sent while its vCPU is
  // out of KVM_RUN would coalesce with the next in the VPT, as the architecture allows).
  const taken = (): number => received[0]!.length + received[1]!.length;
  const whileNotResident = [0, 0];
  vmm.onData = () => {
    let sent = 0;
    const base = taken();
    const raise = (): void => {
      if (taken() - base === sent) {
        const f = vm.v4?.forwardOf(HOST_DEVID * 65536);
        if (f !== undefined && !vm.v4!.isResident(f.vcpu)) whileNotResident[f.vcpu]!++;
        dev.raiseMsi(0);
        sent++;
      }
      if (sent < MSIS || taken() - base < sent) vm.clock.scheduleAfter(PERIOD, raise);
    };
    vm.clock.scheduleAfter(PERIOD, raise);
  };
  return { vmm, dev, fd, received, whileNotResident };
}

describe.each(['v4.1', 'v4.0'] as const)('GICv4 direct injection, host %s (vgic-v4.c)', (version) => {
  it('a device MSI forwarded to a resident vCPU is a vLPI taken through ICV_IAR1_EL1 / ICV_EOIR1_EL1 with no exit', () => {
    const { vmm, fd, received } = v4Machine(version, 'compute');
    expect(vmm.runUntilStop(400, 200_000)).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(received[0]).toEqual(new Array<number>(MSIS).fill(LPI));
    expect(vmm.vm.v4!.forwardOf(HOST_DEVID * 65536)).toEqual({ vcpu: 0, vintid: LPI });
    const [a, b] = vmm.marks;
    // Between the marks vCPU 0 only computes and takes vLPIs: the device's write reached it with no exit.
    const exits = exitsBetween(a!.stats, b!.stats);
    // The only IRQ exits are the VMM's signals at the end of each KVM_RUN quantum (one KVM_EXIT_INTR each).
    expect(exits['IRQ'] ?? 0).toBe(exits['KVM_EXIT_INTR'] ?? 0);
    expect(exits['SYS64']).toBeUndefined();
    expect(vmm.vm.irqfdInjections(fd)).toBe(0); // never through the host's eventfd
    expect(vmm.vm.v4!.doorbellCount(0)).toBe(0);
  });

  it('a vCPU waiting in WFI is woken by its doorbell; the vLPI is then taken without a list register', () => {
    const { vmm, fd, received, whileNotResident } = v4Machine(version, 'wfi');
    // A KVM_RUN quantum that holds the whole burst: every MSI finds vCPU 0 blocked in its WFI (in userspace, put
    // without a doorbell, the vLPI would wait in the VPT until the next load).
    expect(vmm.runUntilStop(400, 2_000_000)).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(received[0]).toEqual(new Array<number>(MSIS).fill(LPI));
    // Every MSI that found the vCPU blocked rang its doorbell (the first may find it still resident: the VMM's
    // device starts on the clock, which lags the vCPU that ran ahead).
    expect(whileNotResident[0]).toBeGreaterThanOrEqual(MSIS - 1);
    expect(vmm.vm.v4!.doorbellCount(0)).toBe(whileNotResident[0]);
    expect(vmm.vm.irqfdInjections(fd)).toBe(0);
    const exits = exitsBetween(vmm.marks[0]!.stats, vmm.marks[1]!.stats);
    expect(exits['WFX']).toBeGreaterThanOrEqual(whileNotResident[0]!); // a WFI per wait; the doorbell is the host's, no guest exit
    expect(exits['IRQ'] ?? 0).toBe(0);
  });

  it('a vector routed to an SPI is not forwarded: its host LPI signals the eventfd and the irqfd injects the SPI', () => {
    const { vmm, fd, received } = v4Machine(version, 'wfi', 'spi');
    expect(vmm.runUntilStop(400, 200_000)).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(received[0]).toEqual(new Array<number>(MSIS).fill(SPI));
    expect(vmm.vm.v4!.forwardOf(HOST_DEVID * 65536)).toBeUndefined();
    expect(vmm.vm.irqfdInjections(fd)).toBe(MSIS);
    expect(vmm.vm.v4!.doorbellCount(0)).toBe(0);
  });

  it("the guest's MOVI moves the vLPI to vCPU 1 (VMOVI); DISCARD unforwards it (the host LPI again, translated to nothing)", () => {
    const { vmm, fd, dev, received, whileNotResident } = v4Machine(version, 'compute', 'its', function* extra(g, driver, got): Routine {
      yield* driver.command(g, 'MOVI', { deviceId: GUEST_DEVID, eventId: 0, icid: 1 });
      yield g.st32(DEVICE, 2); // a second burst
      while (got[1]!.length < MSIS) yield g.compute(1000);
      yield* driver.command(g, 'DISCARD', { deviceId: GUEST_DEVID, eventId: 0 });
    });
    expect(vmm.runUntilStop(400, 200_000)).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(received[1]).toEqual(new Array<number>(MSIS).fill(LPI));
    // vCPU 1 waits in WFI: an MSI rings its doorbell, unless it finds vCPU 1 in userspace (put without one).
    expect(vmm.vm.v4!.doorbellCount(1)).toBeLessThanOrEqual(whileNotResident[1]!);
    expect(vmm.vm.v4!.forwardOf(HOST_DEVID * 65536)).toBeUndefined();
    expect(vmm.vm.irqfdInjections(fd)).toBe(0);
    dev.raiseMsi(0); // now a host LPI on pCPU 0, whose vCPU is in userspace: the host takes it at once
    expect(vmm.vm.irqfdInjections(fd)).toBe(1);
  });

  it('a vCPU loaded on another physical CPU moves its vPE there (VMOVP) before it is resident', () => {
    const { vmm, dev } = v4Machine(version, 'compute');
    vmm.runUntilStop(400, 200_000);
    const v4 = vmm.vm.v4!;
    v4.load(0, 1);
    expect(v4.isResident(0)).toBe(true);
    dev.raiseMsi(0);
    expect(vmm.vm.hostGic.vpeRedistributor(1).residentPending()).toEqual([LPI]);
    expect(vmm.vm.hostGic.vpeRedistributor(0).isResident).toBe(false);
    expect(v4.put(0, false)).toBe(true); // PendingLast: the vLPI waits in the VPT
  });
});

describe('GICv4 host set-up errors', () => {
  it('assignDevice needs a host ITS (ENODEV), a 16-bit DeviceID, vectors with eventfds', () => {
    const plain = arm64Vmm({ vcpus: 1, its: true, code: idle });
    expectErrno(() => plain.vm.assignDevice({ deviceId: 1, msis: [{ fd: new EventFd(), gsi: 1 }] }), 'ENODEV', /host ITS/);
    const v4 = arm64Vmm({ vcpus: 1, its: true, hostGic: 'v4.1', code: idle });
    expectErrno(() => v4.vm.assignDevice({ deviceId: 0x1_0000, msis: [{ fd: new EventFd(), gsi: 1 }] }), 'EINVAL', /above 16 bits/);
    expectErrno(() => v4.vm.assignDevice({ deviceId: 1, msis: [] }), 'EINVAL', /1 to 64 vectors/);
    expectErrno(() => v4.vm.assignDevice({ deviceId: 1, msis: [{ fd: 3 as unknown as EventFd, gsi: 1 }] }), 'EBADF', /msis\[0\]\.fd/);
    v4.vm.assignDevice({ deviceId: 1, msis: [{ fd: new EventFd(), gsi: 1 }] });
    expectErrno(() => v4.vm.assignDevice({ deviceId: 1, msis: [{ fd: new EventFd(), gsi: 2 }] }), 'EINVAL', /already assigned/);
  });
});

describe('KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES with GICv4 (vgic_v3_save_pending_tables → vgic_v4_get_vlpi_state)', () => {
  it('a forwarded vLPI pending in the descheduled vPE is written into the guest pending table, and a restored vGIC has it pending', () => {
    const m = msiMachine(true);
    const { vm, vgic } = m.vmm;
    const vintid = LPI_BASE + 3;
    // The vCPU is out of KVM_RUN (its vPE not resident): the device's MSI lands in the vPE's pending table.
    vm.assignedDevices[0]!.raiseMsi(0);
    expect(vm.v4!.pendingVlpis(0)).toEqual([vintid]);
    expect(vgic.distributor!.lpiRedistributor(0).isPending(vintid)).toBe(false); // not in the emulated redistributor
    vgic.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.SAVE_PENDING_TABLES });
    // GICR_PENDBASER.PA (IHI 0069 12.11.29) of vCPU 0: the vINTID's bit is set there.
    const pendbaser = vgic.getAttr({ group: KVM_DEV_ARM_VGIC_GRP.REDIST_REGS, attr: 0x78 }) | (vgic.getAttr({ group: KVM_DEV_ARM_VGIC_GRP.REDIST_REGS, attr: 0x7c }) << 32n);
    const table = Number(pendbaser & 0x000f_ffff_ffff_0000n);
    expect((vm.guestMemory.read8(table + (vintid >>> 3)) >>> (vintid & 7)) & 1).toBe(1);
  });
});
