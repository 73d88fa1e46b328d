// Whole-VM snapshots of an arm64 VM (api.rst 4.68 KVM_GET/SET_ONE_REG with the timer's KVM_REG_ARM_TIMER_*,
// arm-vgic-v3.rst DIST_REGS / REDIST_REGS / CPU_SYSREGS and SAVE_PENDING_TABLES, arm-vgic-its.rst "ITS Restore
// Sequence"): a storm of SPIs saved mid-flight — one vCPU inside its handler with an SPI active (IHI 0069 4.1.2),
// others pending in the distributor — restored into a VM on a new host, where the guest continues and every
// interrupt raised is taken exactly once, as in a run that never stopped.
import { describe, expect, it } from 'vitest';
import { SnapshotError } from '@hvsim/core';
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { KVM_EXIT } from '../generic/constants.js';
import { KVM_ARM_IRQ_TYPE, KVM_REG_ARM_TIMER, PSCI_FN } from './constants.js';
import { restoreArm64Vm, saveArm64Vm } from './migration.js';
import { smcccHvc } from './smccc.js';
import { ARM_GUEST, IRQ_ENTRY, arm64Vmm, guestGicInit, guestSpiInit, type Arm64Vmm } from './test-support/arm64-vmm.js';

type Routine = Generator<Op, void, number>;
const { ENTRY, SECONDARY, DATA } = ARM_GUEST;
/** SPI → the vCPU it is routed to. */
const SPIS: Record<number, number> = { 40: 0, 41: 0, 42: 1 };
const ROUNDS = 7;
const SAVE_AT = 3;
/** Guest memory: the count of each SPI taken (DATA + 4 × (INTID − 40)), and the "done" flag. */
const COUNT = (intid: number): number => DATA + 4 * (intid - 40);
const DONE = DATA + 0x100;

/** The same VM shape on any host: two vCPUs (the second started by CPU_ON), each counting its SPIs in guest memory. */
function machine(): Arm64Vmm {
  return arm64Vmm({
    vcpus: 2,
    snapshots: true,
    code: (vm) => {
      vm.program.define(IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
        const intid = yield g.mrs('ICC_IAR1_EL1');
        if (intid >= 1020) {
          yield g.eret();
          return;
        }
        yield g.st32(COUNT(intid), (yield g.ld32(COUNT(intid))) + 1);
        yield g.compute(8000); // a long handler: the VMM's budget may end inside it, the SPI active
        yield g.msr('ICC_EOIR1_EL1', intid);
        yield g.eret();
      });
      const idle = function* (g: Arm64Guest): Routine {
        yield g.daifClr(2);
        while ((yield g.ld32(DONE)) === 0) yield g.wfi();
        yield g.daifSet(2);
      };
      vm.program.define(SECONDARY, function* secondary(g: Arm64Guest): Routine {
        yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
        yield* guestGicInit(g, 1, 0);
        yield* idle(g);
        yield smcccHvc(g, PSCI_FN.CPU_OFF);
      });
      vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
        yield g.msr('VBAR_EL1', ARM_GUEST.VECTORS);
        yield* guestGicInit(g, 0, 0);
        for (const [id, cpu] of Object.entries(SPIS)) yield* guestSpiInit(g, Number(id), cpu);
        yield g.ld32(ARM_GUEST.VECTORS);
        yield smcccHvc(g, PSCI_FN.CPU_ON_64, 1, SECONDARY, 0x77);
        yield* idle(g);
        yield smcccHvc(g, PSCI_FN.SYSTEM_OFF);
      });
    },
  });
}

const spi = (id: number): number => (KVM_ARM_IRQ_TYPE.SPI << 24) | id;

/**
 * One round of the VMM: each vCPU runs (the edges of the round before are all taken, so none coalesces), an edge on
 * every SPI, then each vCPU runs `quantum` cycles.
 */
function round(m: Arm64Vmm, raised: Record<number, number>, quantum: number): void {
  for (const v of m.vcpus) expect(v.run({ maxCycles: 30_000 }).exit_reason).toBe(KVM_EXIT.INTR);
  for (const id of Object.keys(SPIS).map(Number)) {
    m.vm.irqLine(spi(id), 1);
    m.vm.irqLine(spi(id), 0);
    raised[id] = (raised[id] ?? 0) + 1;
  }
  for (const v of m.vcpus) expect(v.run({ maxCycles: quantum }).exit_reason).toBe(KVM_EXIT.INTR);
}

/** Lets the guest finish: DONE set, both vCPUs run until SYSTEM_OFF; returns the counts in guest memory. */
function finish(m: Arm64Vmm): Record<number, number> {
  for (let i = 0; i < 2; i++) for (const v of m.vcpus) v.run({ maxCycles: 40_000 });
  m.vm.guestMemory.write32(DONE, 1);
  for (let i = 0; i < 20 && m.vcpus[0]!.kvmRun.exit_reason !== KVM_EXIT.SYSTEM_EVENT; i++) for (const v of m.vcpus) if (!v.poweredOff) v.run({ maxCycles: 50_000 });
  expect(m.vcpus[0]!.kvmRun.exit_reason).toBe(KVM_EXIT.SYSTEM_EVENT);
  return Object.fromEntries(Object.keys(SPIS).map((id) => [id, m.vm.guestMemory.read32(COUNT(Number(id)))]));
}

describe('arm64 whole-VM snapshots (saveArm64Vm / restoreArm64Vm)', () => {
  it('a storm saved mid-flight continues on a new host: every SPI raised is taken once, as without the stop', () => {
    // The reference: the same schedule, never stopped.
    const ref = machine();
    const refRaised: Record<number, number> = {};
    for (let r = 0; r < ROUNDS; r++) round(ref, refRaised, r === SAVE_AT ? 3000 : 40_000);
    const refCounts = finish(ref);
    expect(refCounts).toEqual(refRaised);

    const src = machine();
    const raised: Record<number, number> = {};
    for (let r = 0; r <= SAVE_AT; r++) round(src, raised, r === SAVE_AT ? 3000 : 40_000);
    // Mid-flight: vCPU 0 stopped inside its handler with an SPI active; edges not yet taken wait in the distributor.
    const active = Number(src.vgic.getAttr({ group: 1, attr: 0x300 + 4 })) & 0x700;
    const pending = Number(src.vgic.getAttr({ group: 1, attr: 0x200 + 4 })) & 0x700;
    expect(active).not.toBe(0);
    expect(pending).not.toBe(0);
    const cnt = src.vcpus[0]!.getOneReg(KVM_REG_ARM_TIMER.CNT);
    const state = JSON.stringify(saveArm64Vm(src.vm));

    const dst = machine(); // another host (its own clock and memory), the same VM shape
    dst.kvm.clock.advance(1_000_000);
    restoreArm64Vm(dst.vm, JSON.parse(state));
    expect(Number(dst.vgic.getAttr({ group: 1, attr: 0x300 + 4 })) & 0x700).toBe(active);
    expect(Number(dst.vgic.getAttr({ group: 1, attr: 0x200 + 4 })) & 0x700).toBe(pending);
    // The guest's virtual counter continues from its saved value (CNTVOFF_EL2 moved), not the new host's count.
    expect(dst.vcpus[0]!.getOneReg(KVM_REG_ARM_TIMER.CNT) - cnt).toBeLessThan(1000n);
    for (let r = SAVE_AT + 1; r < ROUNDS; r++) round(dst, raised, 40_000);
    const counts = finish(dst);
    expect(raised).toEqual(refRaised);
    expect(counts).toEqual(raised);
  });

  it('checks the whole state first: a foreign state or another shape changes nothing; without snapshots no save', () => {
    const src = machine();
    round(src, {}, 10_000);
    const state = saveArm64Vm(src.vm);
    const dst = machine();
    const before = JSON.stringify(saveArm64Vm(dst.vm));
    expect(() => restoreArm64Vm(dst.vm, { ...state, type: 'hvsim.kvm.x86-vm' })).toThrow(SnapshotError);
    expect(() => restoreArm64Vm(dst.vm, { ...state, vgic: { ...state.vgic!, nrIrqs: 256 } })).toThrow(/nrIrqs 256 differs/);
    expect(() => restoreArm64Vm(dst.vm, { ...state, vcpus: state.vcpus.slice(0, 1) })).toThrow(/1 vCPUs, the target VM 2/);
    const badReg = structuredClone(state);
    badReg.vcpus[0]!.regs[0] = ['0x6030000000139999', '0x0'];
    expect(() => restoreArm64Vm(dst.vm, badReg)).toThrow(/not a register the target vCPU saves/);
    expect(JSON.stringify(saveArm64Vm(dst.vm))).toBe(before);
    // Without snapshots the guest code's position cannot be saved.
    const plain = arm64Vmm({ vcpus: 1, code: (vm) => vm.program.define(ENTRY, function* main(g: Arm64Guest): Routine {
      for (;;) yield g.compute(100);
    }) });
    plain.vcpus[0]!.run({ maxCycles: 1000 });
    expect(() => saveArm64Vm(plain.vm)).toThrow(/snapshots: true/);
  });
});
