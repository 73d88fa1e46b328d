// The vITS (arm-vgic-its.rst; Linux vgic-its.c; IHI 0069 chapter 5 and 12.19): the KVM_DEV_TYPE_ARM_VGIC_ITS device's
// attribute groups, the kvm-unit-tests arm/gic.c ITS flow run by a small guest (MAPD/MAPC/MAPTI/INT → LPI taken, INV,
// MOVI, DISCARD) with device MSIs through KVM_SIGNAL_MSI, MSI routes and irqfds, and the SAVE_TABLES/RESTORE_TABLES
// round trip into a second VM.
import { describe, expect, it } from 'vitest';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { GICR, GITS } from '@hvsim/gic';
import { KVM_EXIT, KVM_IRQ_ROUTING, KVM_MSI_VALID_DEVID } from '../generic/constants.js';
import { EventFd } from '../generic/eventfd.js';
import { Kvm } from '../kvm.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { KVM_DEV_ARM_VGIC_CTRL, KVM_DEV_ARM_VGIC_GRP, KVM_DEV_TYPE, KVM_VGIC_V3_ADDR_TYPE, PSCI_FN } from './constants.js';
import { restoreArm64Vm, saveArm64Vm } from './migration.js';
import { smcccHvc } from './smccc.js';
import { ARM_GUEST, IRQ_ENTRY, arm64Vmm, exitsBetween, guestGicInit, type Arm64Vmm } from './test-support/arm64-vmm.js';
import { GITS_TRANSLATER_ADDR, GuestItsDriver, ITS_GUEST, LPI_BASE, lpiConfig } from './test-support/its-guest.js';
import { VGIC_ADDR_UNDEF } from './vgic.js';
import type { Arm64Vits } from './vits.js';

type Routine = Generator<Op, void, number>;
const { ENTRY, SECONDARY, DATA, MARK, DEVICE } = ARM_GUEST;
const READY = DATA;
const DONE = DATA + 4;
const { ADDR, CTRL, ITS_REGS, REDIST_REGS } = KVM_DEV_ARM_VGIC_GRP;
const DEVID = 2;
const ITS_TYPE = KVM_VGIC_V3_ADDR_TYPE.ITS;

/** A guest that only waits (the attribute tests run no vCPU). */
function idle(vm: Arm64Vmm['vm']): void {
  vm.program.define(ENTRY, function* wait(g: Arm64Guest): Routine {
    yield g.wfi();
  });
}

/** A VM with a vGICv3 and (after its CTRL_INIT) a vITS, vCPUs `vcpus`. */
function vmWithIts(vcpus = 1): { vm: Arm64Vmm['vm']; its: Arm64Vits; vmm: Arm64Vmm } {
  const vmm = arm64Vmm({ vcpus, its: true, code: idle });
  return { vm: vmm.vm, its: vmm.its!, vmm };
}

describe('KVM_CREATE_DEVICE(KVM_DEV_TYPE_ARM_VGIC_ITS) and its attributes (arm-vgic-its.rst "Groups")', () => {
  it('GRP_ADDR: KVM_VGIC_ITS_ADDR_TYPE 64 KiB aligned, inside the IPA space, set once; other types ENODEV', () => {
    const vm = new Kvm({ arch: 'arm64' }).createVm();
    vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_V3 });
    expect(vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_ITS, flags: 1 })).toBeUndefined();
    const its = vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_ITS });
    expect(its.hasAttr({ group: ADDR, attr: ITS_TYPE })).toBe(true);
    expect(its.hasAttr({ group: ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.DIST })).toBe(false);
    expect(its.getAttr({ group: ADDR, attr: ITS_TYPE })).toBe(VGIC_ADDR_UNDEF);
    expectErrno(() => its.setAttr({ group: ADDR, attr: ITS_TYPE, value: 0x0808_8000 }), 'EINVAL', /0x8088000 is not 64 KiB aligned/);
    expectErrno(() => its.setAttr({ group: ADDR, attr: ITS_TYPE, value: 2 ** 40 - 0x1_0000 }), 'E2BIG', /40-bit IPA space/);
    expectErrno(() => its.setAttr({ group: ADDR, attr: KVM_VGIC_V3_ADDR_TYPE.DIST, value: 0 }), 'ENODEV', /address type 2/);
    its.setAttr({ group: ADDR, attr: ITS_TYPE, value: ARM_GUEST.ITS });
    expect(its.getAttr({ group: ADDR, attr: ITS_TYPE })).toBe(BigInt(ARM_GUEST.ITS));
    expectErrno(() => its.setAttr({ group: ADDR, attr: ITS_TYPE, value: 0x0900_0000 }), 'EEXIST', /already 0x8080000/);
    // Before the vGIC is initialized the ITS has no redistributors: its registers are not reachable yet (ENXIO).
    expectErrno(() => its.getAttr({ group: ITS_REGS, attr: GITS.TYPER }), 'ENXIO', /not initialized/);
    expectErrno(() => its.setAttr({ group: 9, attr: 0, value: 0 }), 'ENXIO', /group 9/);
  });

  it('GRP_ITS_REGS: 64-bit registers whole (EINVAL misaligned), ENXIO for no register; CREADR, CWRITER and IIDR as the restore rules say', () => {
    const { its } = vmWithIts();
    const get = (off: number): bigint => its.getAttr({ group: ITS_REGS, attr: off });
    const set = (off: number, value: bigint | number): void => {
      its.setAttr({ group: ITS_REGS, attr: off, value });
    };
    expect(its.hasAttr({ group: ITS_REGS, attr: GITS.CBASER })).toBe(true);
    expect(its.hasAttr({ group: ITS_REGS, attr: GITS.CBASER + 4 })).toBe(false);
    expect(its.hasAttr({ group: ITS_REGS, attr: 0x20 })).toBe(false);
    expectErrno(() => get(GITS.TYPER + 4), 'EINVAL', /offset 0xc is not aligned/);
    expectErrno(() => get(0x20), 'ENXIO', /offset 0x20 is not a register/);
    // GITS_TYPER (IHI 0069 12.19.x): Physical = 1, ITT_entry_size, Devbits and ID_bits as the ITS reports them; PTA = 0.
    const typer = get(GITS.TYPER);
    expect(typer & 1n).toBe(1n);
    expect((typer >> 19n) & 1n).toBe(0n);
    set(GITS.TYPER, 0n); // read-only: ignored
    expect(get(GITS.TYPER)).toBe(typer);
    const iidr = get(GITS.IIDR);
    set(GITS.IIDR, iidr);
    expectErrno(() => set(GITS.IIDR, iidr + 0x1000n), 'EINVAL', /GITS_IIDR 0x/);
    // Restore order (arm-vgic-its.rst "ITS Restore Sequence"): CBASER, then CREADR/CWRITER, then CTLR.
    const cbaser = (1n << 63n) | BigInt(ITS_GUEST.QUEUE);
    set(GITS.CBASER, cbaser);
    expect(get(GITS.CBASER)).toBe(cbaser);
    set(GITS.CREADR, 0x40);
    set(GITS.CWRITER, 0x40);
    expect(get(GITS.CREADR)).toBe(0x40n);
    expect(get(GITS.CWRITER)).toBe(0x40n);
    set(GITS.CREADR, 0x2000); // beyond the 4 KiB queue: ignored
    expect(get(GITS.CREADR)).toBe(0x40n);
    set(GITS.CTLR, 1);
    expect(get(GITS.CTLR) & 1n).toBe(1n);
    set(GITS.CREADR, 0x80); // the ITS is enabled: ignored
    expect(get(GITS.CREADR)).toBe(0x40n);
    // ITS_CTRL_RESET ("ITS Reset State"): disabled, CBASER, CREADR, CWRITER and the BASERs' Valid cleared.
    its.setAttr({ group: CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.ITS_RESET });
    expect(get(GITS.CTLR) & 1n).toBe(0n);
    expect([get(GITS.CBASER), get(GITS.CREADR), get(GITS.CWRITER), get(GITS.BASER) >> 63n]).toEqual([0n, 0n, 0n, 0n]);
    expect(its.hasAttr({ group: CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.SAVE_PENDING_TABLES })).toBe(false);
    expectErrno(() => its.setAttr({ group: CTRL, attr: 7 }), 'ENXIO', /control attribute 7/);
  });

  it('without a vITS the guest sees no LPIs (GICD_TYPER.LPIS, GICR_TYPER.PLPIS); with one it does', () => {
    const plain = arm64Vmm({ vcpus: 1, code: idle });
    const gicdTyper = (v: Arm64Vmm): bigint => v.vgic.getAttr({ group: KVM_DEV_ARM_VGIC_GRP.DIST_REGS, attr: 0x4 });
    const gicrTyper = (v: Arm64Vmm): bigint => v.vgic.getAttr({ group: REDIST_REGS, attr: GICR.TYPER });
    expect((gicdTyper(plain) >> 17n) & 1n).toBe(0n);
    expect((gicdTyper(plain) >> 19n) & 0x1fn).toBe(9n);
    expect(gicrTyper(plain) & 1n).toBe(0n);
    const { vmm } = vmWithIts();
    expect((gicdTyper(vmm) >> 17n) & 1n).toBe(1n);
    expect((gicdTyper(vmm) >> 19n) & 0x1fn).toBe(15n);
    expect(gicrTyper(vmm) & 1n).toBe(1n);
  });

  it('KVM_SIGNAL_MSI: ENODEV without a vITS, EINVAL without KVM_MSI_VALID_DEVID or off the ITS, EBUSY while it is disabled', () => {
    const plain = arm64Vmm({ vcpus: 1, code: idle });
    expectErrno(() => plain.vm.signalMsi({ addressLo: GITS_TRANSLATER_ADDR, data: 0, flags: 1, devid: 0 }), 'ENODEV', /needs a vITS/);
    const { vm } = vmWithIts();
    expectErrno(() => vm.signalMsi({ addressLo: GITS_TRANSLATER_ADDR, data: 0, flags: 2 }), 'EINVAL', /flags 2/);
    expectErrno(() => vm.signalMsi({ addressLo: GITS_TRANSLATER_ADDR, data: 0 }), 'EINVAL', /KVM_MSI_VALID_DEVID/);
    expectErrno(() => vm.signalMsi({ addressLo: 0x0900_0000, data: 0, flags: 1, devid: 0 }), 'EINVAL', /0x9000000 is in no vITS/);
    expectErrno(() => vm.signalMsi({ addressLo: GITS_TRANSLATER_ADDR, data: 0, flags: 1, devid: 0 }), 'EBUSY', /not enabled/);
  });
});

/**
 * The guest of kvm-unit-tests arm/gic.c's ITS tests on two vCPUs: the guest's
 * ITS driver maps DeviceID 2's event 20 to LPI 8195 in collection 0 (vCPU 0)
 * and its event 5 to LPI 8200 in collection 1 (vCPU 1); each step writes
 * the step number to the VMM's DATA register, whose handler injects the
 * device's MSI (`onStep`), then the guest waits for the LPIs it expects.
 */
function itsGuest(onStep: (step: number, vmm: Arm64Vmm, vcpu: Arm64Vmm['vcpus'][number]) => void, snapshots = false): { vmm: Arm64Vmm; received: number[][]; driver: GuestItsDriver } {
  const received: number[][] = [[], []];
  const driver = new GuestItsDriver();
  const got = (cpu: number, lpi: number): boolean => received[cpu]!.includes(lpi);
  const vmm = arm64Vmm({
    vcpus: 2,
    its: true,
    snapshots,
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
        // its_send_mapd / mapc / mapti (IHI 0069 5.3.x): 32 events (Size = 4), ITT at ITS_GUEST.ITT.
        yield* driver.command(g, 'MAPD', { deviceId: DEVID, size: 4, ittAddress: ITS_GUEST.ITT, valid: 1 });
        yield* driver.command(g, 'MAPC', { icid: 0, rdbase: 0, valid: 1 });
        yield* driver.command(g, 'MAPC', { icid: 1, rdbase: 1, valid: 1 });
        yield* driver.command(g, 'MAPTI', { deviceId: DEVID, eventId: 20, intid: LPI_BASE + 3, icid: 0 });
        yield* driver.command(g, 'MAPTI', { deviceId: DEVID, eventId: 5, intid: LPI_BASE + 8, icid: 1 });
        yield g.st32(MARK, 1);
        // 1. its_send_int: the guest's own INT command; LPI 8195 taken on vCPU 0.
        yield* driver.command(g, 'INT', { deviceId: DEVID, eventId: 20 });
        while (!got(0, LPI_BASE + 3)) yield g.wfi();
        // 2. The device's MSI (event 5): LPI 8200 taken on vCPU 1.
        yield g.st32(DEVICE, 2);
        while (!got(1, LPI_BASE + 8)) yield g.wfe();
        yield g.st32(MARK, 2);
        // 3. LPI 8195 disabled in the configuration table + INV: the MSI leaves it pending, not taken;
        //    enabled again + INV, it is taken (IHI 0069 5.1.1: the configuration is read on INV).
        yield g.st8(ITS_GUEST.PROP + 3, lpiConfig(0xa0, false));
        yield* driver.command(g, 'INV', { deviceId: DEVID, eventId: 20 });
        yield g.st32(DEVICE, 3);
        yield g.st32(DEVICE, 30); // the VMM checks nothing arrived
        yield g.st8(ITS_GUEST.PROP + 3, lpiConfig(0xa0, true));
        yield* driver.command(g, 'INV', { deviceId: DEVID, eventId: 20 });
        while (received[0]!.filter((x) => x === LPI_BASE + 3).length < 2) yield g.wfi();
        // 4. its_send_movi: event 20 to collection 1; the next MSI lands on vCPU 1.
        yield* driver.command(g, 'MOVI', { deviceId: DEVID, eventId: 20, icid: 1 });
        yield g.st32(DEVICE, 4);
        while (!got(1, LPI_BASE + 3)) yield g.wfe();
        // 5. its_send_discard: the MSI translates to nothing (KVM_SIGNAL_MSI returns 0).
        yield* driver.command(g, 'DISCARD', { deviceId: DEVID, eventId: 20 });
        yield g.st32(DEVICE, 5);
        yield g.st32(MARK, 3);
        yield g.st32(DONE, 1);
        yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
      });
    },
  });
  vmm.onData = (value, vcpu) => {
    onStep(value, vmm, vcpu);
  };
  return { vmm, received, driver };
}

const msi = (eventId: number): { addressLo: number; data: number; flags: number; devid: number } => ({ addressLo: GITS_TRANSLATER_ADDR, data: eventId, flags: 1, devid: DEVID });

describe('kvm-unit-tests arm/gic.c ITS flow through the vITS (IHI 0069 5.3)', () => {
  it('MAPD/MAPC/MAPTI/INT → LPI taken; MSIs through KVM_SIGNAL_MSI; INV; MOVI; DISCARD; acknowledge and EOI without exits', () => {
    const results: number[] = [];
    const seen: number[][] = [];
    const { vmm, received } = itsGuest((step, v) => {
      if (step === 2) results.push(v.vm.signalMsi(msi(5)));
      if (step === 3 || step === 4 || step === 5) results.push(v.vm.signalMsi(msi(20)));
      if (step === 30) seen.push([...received[0]!]);
    });
    expect(vmm.runUntilStop(300, 100_000)).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(received[0]).toEqual([LPI_BASE + 3, LPI_BASE + 3]);
    expect(received[1]).toEqual([LPI_BASE + 8, LPI_BASE + 3]);
    // 1 delivered (event 5), 1 pending while disabled, 1 after MOVI, 0 once discarded.
    expect(results).toEqual([1, 1, 1, 0]);
    expect(seen).toEqual([[LPI_BASE + 3]]); // the disabled LPI was not taken
    expect(vmm.its!.translator!.commandErrorCount).toBe(0);
    const m = vmm.marks;
    // Between marks 1 and 2 vCPU 0 takes an LPI: its ICC_IAR1_EL1 / ICC_EOIR1_EL1 do not trap (no SYS64 exit).
    expect(exitsBetween(m[0]!.stats, m[1]!.stats)['SYS64']).toBeUndefined();
  });

  it('irqfds on MSI routes with KVM_MSI_VALID_DEVID reach the vITS (kvm_set_msi → vgic_its_inject_msi)', () => {
    const fd5 = new EventFd();
    const fd20 = new EventFd();
    const { vmm, received } = itsGuest((step) => {
      if (step === 2) fd5.write(1);
      if (step === 3 || step === 4 || step === 5) fd20.write(1);
    });
    vmm.vm.setGsiRouting([
      { gsi: 40, type: KVM_IRQ_ROUTING.MSI, flags: KVM_MSI_VALID_DEVID, msi: { addressLo: GITS_TRANSLATER_ADDR, data: 5, devid: DEVID } },
      { gsi: 41, type: KVM_IRQ_ROUTING.MSI, flags: KVM_MSI_VALID_DEVID, msi: { addressLo: GITS_TRANSLATER_ADDR, data: 20, devid: DEVID } },
    ]);
    vmm.vm.irqfd({ fd: fd5, gsi: 40 });
    vmm.vm.irqfd({ fd: fd20, gsi: 41 });
    expect(vmm.runUntilStop(300, 100_000)).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(received).toEqual([
      [LPI_BASE + 3, LPI_BASE + 3],
      [LPI_BASE + 8, LPI_BASE + 3],
    ]);
    expect([vmm.vm.irqfdInjections(fd5), vmm.vm.irqfdInjections(fd20)]).toEqual([1, 3]);
    // A route without KVM_MSI_VALID_DEVID: vgic_msi_to_its answers -EINVAL (the ITS needs the DeviceID), nothing is
    // pending; the same MSI with the flag makes the LPI pending.
    const msi = { addressLo: GITS_TRANSLATER_ADDR, data: 5, devid: DEVID };
    vmm.vm.setGsiRouting([{ gsi: 42, type: KVM_IRQ_ROUTING.MSI, msi }, { gsi: 43, type: KVM_IRQ_ROUTING.MSI, flags: KVM_MSI_VALID_DEVID, msi }]);
    const [fd42, fd43] = [new EventFd(), new EventFd()];
    vmm.vm.irqfd({ fd: fd42, gsi: 42 });
    vmm.vm.irqfd({ fd: fd43, gsi: 43 });
    const pending = (): boolean[] => vmm.vcpus.map((v) => vmm.vgic.hasPending(v.id));
    fd42.write(1);
    expect(pending()).toEqual([false, false]);
    fd43.write(1);
    expect(pending()).toContain(true);
  });
});

/** The ITS registers userspace saves (arm-vgic-its.rst "ITS Restore Sequence" order: CBASER, the others, CTLR last). */
const SAVED_ITS_REGS = [GITS.CBASER, GITS.CREADR, GITS.CWRITER, ...Array.from({ length: 8 }, (_, n) => GITS.BASER + 8 * n), GITS.IIDR, GITS.CTLR];
/** The redistributor registers the LPIs need (GICR_CTLR last: EnableLPIs locks PROPBASER/PENDBASER). */
const SAVED_RD_REGS = [GICR.PROPBASER, GICR.PROPBASER + 4, GICR.PENDBASER, GICR.PENDBASER + 4, GICR.WAKER, GICR.CTLR];

interface ItsSnapshot {
  ram: Uint8Array;
  its: bigint[];
  rd: bigint[][];
  gicdCtlr: bigint;
}

function saveIts(vmm: Arm64Vmm): ItsSnapshot {
  const its = vmm.its!;
  vmm.vgic.setAttr({ group: CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.SAVE_PENDING_TABLES });
  its.setAttr({ group: CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.ITS_SAVE_TABLES });
  return {
    ram: vmm.vm.guestMemory.readBytes(ARM_GUEST.RAM_BASE, ARM_GUEST.RAM_SIZE),
    its: SAVED_ITS_REGS.map((attr) => its.getAttr({ group: ITS_REGS, attr })),
    rd: vmm.vcpus.map((v) => SAVED_RD_REGS.map((off) => vmm.vgic.getAttr({ group: REDIST_REGS, attr: (BigInt(v.mpidr) << 32n) | BigInt(off) }))),
    gicdCtlr: vmm.vgic.getAttr({ group: KVM_DEV_ARM_VGIC_GRP.DIST_REGS, attr: 0 }),
  };
}

function restoreIts(vmm: Arm64Vmm, s: ItsSnapshot): void {
  vmm.vm.guestMemory.writeBytes(ARM_GUEST.RAM_BASE, s.ram);
  vmm.vgic.setAttr({ group: KVM_DEV_ARM_VGIC_GRP.DIST_REGS, attr: 0, value: s.gicdCtlr });
  vmm.vcpus.forEach((v, i) => {
    SAVED_RD_REGS.forEach((off, k) => {
      vmm.vgic.setAttr({ group: REDIST_REGS, attr: (BigInt(v.mpidr) << 32n) | BigInt(off), value: s.rd[i]![k]! });
    });
  });
  const its = vmm.its!;
  SAVED_ITS_REGS.forEach((attr, k) => {
    if (attr === GITS.CTLR) its.setAttr({ group: CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.ITS_RESTORE_TABLES });
    its.setAttr({ group: ITS_REGS, attr, value: s.its[k]! });
  });
}

describe('KVM_DEV_ARM_ITS_SAVE_TABLES / RESTORE_TABLES (arm-vgic-its.rst "ITS Restore Sequence")', () => {
  it('tables saved mid-flight (after MOVI, before DISCARD) translate the same in a second VM, and written back into the first with RESTORE_TABLES', () => {
    let snap: ItsSnapshot | undefined;
    const { vmm } = itsGuest((step, v) => {
      if (step === 4) snap = saveIts(v);
      if (step === 2) v.vm.signalMsi(msi(5));
      else if (step >= 3 && step <= 5) v.vm.signalMsi(msi(20));
    });
    expect(vmm.runUntilStop(300, 100_000)).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(vmm.vm.signalMsi(msi(20))).toBe(0); // discarded in the first VM
    // The second VM: vCPUs and vGIC as the first, memory and redistributors, ITS base, registers, tables, GITS_CTLR.
    const { vmm: other } = vmWithIts(2);
    restoreIts(other, snap!);
    const out = new Int32Array(8);
    const pending = (cpu: number): number[] => Array.from(out.subarray(0, other.vgic.distributor!.pendingInterrupts(cpu, out)));
    expect(other.vm.signalMsi(msi(20))).toBe(1); // MOVI'd: collection 1, vCPU 1
    expect(other.vm.signalMsi(msi(5))).toBe(1);
    expect(other.vm.signalMsi(msi(6))).toBe(0); // never mapped
    expect(pending(1).sort()).toEqual([LPI_BASE + 3, LPI_BASE + 8]);
    expect(pending(0)).toEqual([]);
    // Back in the first VM: the saved tables written over the live ones, then RESTORE_TABLES: event 20 maps again.
    restoreIts(vmm, snap!);
    expect(vmm.vm.signalMsi(msi(20))).toBe(1);
  });

  it('saveArm64Vm / restoreArm64Vm carry the vITS mid-flow: its tables, the pending LPI, the translations', () => {
    let state = '';
    const src = itsGuest((step, v, vcpu) => {
      if (step === 2) v.vm.signalMsi(msi(5));
      else if (step >= 3 && step <= 5) v.vm.signalMsi(msi(20));
      if (step === 30) {
        // api.rst 5: KVM_RUN with immediate_exit completes the MMIO write, then returns EINTR; then the save.
        vcpu.kvmRun.immediate_exit = 1;
        expect(() => vcpu.run()).toThrow(/EINTR/);
        vcpu.kvmRun.immediate_exit = 0;
        state = JSON.stringify(saveArm64Vm(v.vm));
      }
    }, true);
    expect(src.vmm.runUntilStop(300, 100_000)).toBe(KVM_EXIT.SYSTEM_EVENT);
    const dst = itsGuest(() => undefined, true);
    restoreArm64Vm(dst.vmm.vm, JSON.parse(state));
    const rd = (cpu: number) => dst.vmm.vgic.distributor!.lpiRedistributor(cpu);
    // LPI 8195 was pending (disabled) at the save: pending on the new host (SAVE_PENDING_TABLES, EnableLPIs).
    expect(rd(0).isPending(LPI_BASE + 3)).toBe(true);
    expect(rd(1).isPending(LPI_BASE + 8)).toBe(false);
    // The tables (ITS_SAVE_TABLES / RESTORE_TABLES) translate as at the save: event 5 to vCPU 1, event 20 to vCPU 0
    // (MOVI came later), event 6 never mapped.
    expect(dst.vmm.vm.signalMsi(msi(5))).toBe(1);
    expect(rd(1).isPending(LPI_BASE + 8)).toBe(true);
    expect(dst.vmm.vm.signalMsi(msi(6))).toBe(0);
    // The command queue as the guest's driver left it (GITS_CWRITER = GITS_CREADR: all commands processed).
    const saved = (JSON.parse(state) as { vgic: { its: { regs: string[] }[] } }).vgic.its[0]!.regs;
    expect(dst.vmm.its!.getAttr({ group: ITS_REGS, attr: GITS.CWRITER })).toBe(BigInt(saved[2]!));
    expect(dst.vmm.its!.getAttr({ group: ITS_REGS, attr: GITS.CREADR })).toBe(BigInt(saved[2]!));
  });

  it('an LPI pending at the save (disabled, so not taken) is pending after the restore: SAVE_PENDING_TABLES, then EnableLPIs reads the table', () => {
    let snap: ItsSnapshot | undefined;
    const { vmm } = itsGuest((step, v) => {
      if (step === 2) v.vm.signalMsi(msi(5));
      else if (step >= 3 && step <= 5) v.vm.signalMsi(msi(20));
      if (step === 30) snap = saveIts(v); // LPI 8195 pending while disabled
    });
    expect(vmm.runUntilStop(300, 100_000)).toBe(KVM_EXIT.SYSTEM_EVENT);
    expect(vmm.vgic.hasAttr({ group: CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.SAVE_PENDING_TABLES })).toBe(true);
    const { vmm: other } = vmWithIts(2);
    restoreIts(other, snap!);
    const lpis = other.vgic.distributor!.lpiRedistributor(0);
    expect(lpis.isPending(LPI_BASE + 3)).toBe(true);
    expect(lpis.isPending(LPI_BASE + 8)).toBe(false);
    // Without SAVE_PENDING_TABLES the table holds nothing: a third VM restored from memory saved before it has no pending LPI.
    const bare = { ...snap!, ram: snap!.ram.slice() };
    bare.ram.fill(0, ITS_GUEST.PEND - ARM_GUEST.RAM_BASE, ITS_GUEST.PEND - ARM_GUEST.RAM_BASE + 0x2_0000);
    const { vmm: third } = vmWithIts(2);
    restoreIts(third, bare);
    expect(third.vgic.distributor!.lpiRedistributor(0).isPending(LPI_BASE + 3)).toBe(false);
  });

  it('RESTORE_TABLES and SAVE_TABLES need the address (ENXIO) and stopped vCPUs; the restore changes no register', () => {
    const vm = new Kvm({ arch: 'arm64' }).createVm();
    vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_V3 });
    const its = vm.createDevice({ type: KVM_DEV_TYPE.ARM_VGIC_ITS });
    expectErrno(() => its.setAttr({ group: CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.ITS_SAVE_TABLES }), 'ENXIO', /address is not set/);
    const { its: ready } = vmWithIts();
    ready.setAttr({ group: ITS_REGS, attr: GITS.CBASER, value: (1n << 63n) | BigInt(ITS_GUEST.QUEUE) });
    const before = SAVED_ITS_REGS.map((attr) => ready.getAttr({ group: ITS_REGS, attr }));
    ready.setAttr({ group: CTRL, attr: KVM_DEV_ARM_VGIC_CTRL.ITS_RESTORE_TABLES });
    expect(SAVED_ITS_REGS.map((attr) => ready.getAttr({ group: ITS_REGS, attr }))).toEqual(before);
  });
});
