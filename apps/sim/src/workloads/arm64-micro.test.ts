import { describe, expect, it } from 'vitest';
import { loadArm64Profile } from '../arm64-profile.js';
import { runArm64Micro } from './arm64-micro.js';
import { MICRO_PAPER_KVM_ARM } from './arm64-micro-samples.js';

const xgene = loadArm64Profile('arm64-xgene');
const micro = (mode: 'native' | 'gicv3') => runArm64Micro({ mode, workload: 'micro', vcpus: 1, profile: xgene, seed: 1, durationCycles: 300_000, rateHz: 0, busy: false }).micro;

describe('arm64 micro: ISCA 2016 Table II\'s ARM rows measured by small guests', () => {
  it('gicv3 on arm64-xgene: the hypercall is one world switch (the profile\'s 6,500 cycles), a distributor access traps at that cost too; completing an SGI costs no exit', () => {
    const m = micro('gicv3');
    const worldSwitch = xgene.cpu.trapToEl2 + xgene.host.exit + xgene.cpu.eretFromEl2;
    // HVC PSCI_VERSION (DEN 0022 5.1.1): trap, KVM's handling, ERET; the batch adds the HVC's own operation.
    expect(m.hypercall).toBeGreaterThanOrEqual(worldSwitch);
    expect(m.hypercall).toBeLessThan(worldSwitch + 100);
    // A GICD_CTLR read: a stage 2 data abort the vGIC emulates (Arm ARM D19, EC 0x24).
    expect(m.interruptControllerTrap).toBeGreaterThanOrEqual(worldSwitch);
    expect(m.interruptControllerTrap).toBeLessThan(worldSwitch + 200);
    // IHI0069 6.1: ICV_IAR1_EL1 and ICV_EOIR1_EL1 are served by the list registers, no trap.
    expect(m.virtualIrqCompletion).toBeLessThan(200);
    expect(m.ioLatencyOut).toBeGreaterThan(xgene.host.exit); // the store's data abort reaches the ioeventfd in KVM
    expect(m.ioLatencyIn).not.toBeNull();
    expect([m.virtualIpi, m.vmSwitch]).toEqual([null, null]);
    expect(MICRO_PAPER_KVM_ARM.hypercall).toBe(6500); // papers.md 4.1
  });

  it('native: no hypercall nor notification backend; the distributor access is an MMIO access, the completion the same ICC_* accesses', () => {
    const m = micro('native');
    expect([m.hypercall, m.ioLatencyOut]).toEqual([null, null]);
    expect(m.interruptControllerTrap).toBeLessThan(500);
    expect(m.virtualIrqCompletion).toBeLessThan(200);
  });
});
