import { describe, expect, it } from 'vitest';
import { loadArm64Profile } from './arm64-profile.js';
import { main } from './cli.js';
import { arm64BootParams } from './workloads/arm64-workloads.js';
import { arm64VmmHost } from './vmm/arm64-vmm.js';
import { parseOptions } from './options.js';
import { simulate, type RunResult } from './simulate.js';

const xgene = loadArm64Profile('arm64-xgene');
const run = (argv: string[], profile = xgene): RunResult[] => simulate(parseOptions(['--arch', 'arm64', '--workload', 'storm', '--mode', 'native,gicv3', '--duration', '300000', ...argv]), profile).runs;
const byMode = (runs: RunResult[], mode: string): RunResult => runs.find((r) => r.mode === mode)!;
/** `count` is `per` × `n`, give or take one interrupt at each edge of the window. */
const expectPer = (count: number | undefined, per: number, n: number, what: string): void => {
  expect(Math.abs((count ?? 0) - per * n), `${what}: ${count ?? 0} for ${n} interrupts`).toBeLessThanOrEqual(per);
};

describe('arm64: native and gicv3 (KVM with the in-kernel vGICv3)', () => {
  it('storm: the guest\'s acknowledge (ICC_IAR1_EL1) and EOI (ICC_EOIR1_EL1) of an edge SPI cost no exit under gicv3; native has no exits at all', () => {
    const runs = run(['--rate', '100000', '--duration', '1200000']);
    const v = byMode(runs, 'gicv3');
    expect(v.interrupts.delivered).toBeGreaterThan(20);
    // IHI0069 6.1, 6.2: with HCR_EL2.IMO the guest's ICC_* accesses go to the virtual CPU interface (ICV_*),
    // which the list registers serve without a trap (ICH_HCR_EL2 has no trap bit set): no SYS64 exit; the
    // kernel touches no distributor register in its handler, so no data abort either.
    expect(v.exits.byReason.SYS64 ?? 0).toBe(0);
    expect(v.exits.byReason.DATA_ABORT_LOWER ?? 0).toBe(0);
    // What remains is delivery: KVM kicks the running vCPU (a physical IRQ routed to EL2) and writes a list
    // register at the next entry; at most one first fetch of the vector page in the window.
    expect(v.exits.byReason.IRQ ?? 0).toBeGreaterThanOrEqual(v.interrupts.delivered - 1);
    expect(v.exits.total - (v.exits.byReason.IRQ ?? 0)).toBeLessThanOrEqual(1);
    expect(byMode(runs, 'native').exits.total).toBe(0);
    expect(v.throughput.pctOfNative!).toBeLessThan(100);
    expect(v.latencyCycles!.p50).toBeGreaterThan(xgene.host.exit); // at least one world switch per delivery
  });

  it('storm: every SPI raised is delivered or coalesced in its pending state, in both modes (raised = delivered + coalesced + dropped)', () => {
    for (const r of run(['--rate', '2000000', '--duration', '200000'])) {
      const i = r.interrupts;
      expect(i.raised, r.mode).toBeGreaterThan(50);
      expect(i.delivered + i.coalesced + i.dropped, r.mode).toBe(i.raised);
      expect(i.coalescedBy, r.mode).toEqual({ pending: i.coalesced });
      expect(i.dropped, r.mode).toBe(0);
      expect(i.delivered, r.mode).toBeGreaterThan(0);
    }
  });

  it('a distributor or redistributor access exits: every GIC register access of the kernel\'s bring-up is a stage 2 data abort KVM emulates', () => {
    // The kernel's GIC accesses at boot (arm64-kernel.ts): GICD_CTLR and the storm SPI's IGROUPR, IPRIORITYR,
    // ICFGR (read and write), IROUTER, ISENABLER on CPU 0; per CPU GICR_WAKER, IGROUPR0, IPRIORITYR0-7,
    // ISENABLER0. The other data aborts are first touches of RAM pages: the boot page and each CPU's data area.
    const GICD_ACCESSES = 7;
    const GICR_ACCESSES_PER_CPU = 11;
    const PERCPU_PAGES = 9;
    for (const cpus of [1, 2]) {
      const boot = arm64BootParams('storm', { rateHz: 100_000, clockHz: xgene.clockHz, busy: false, cpus });
      const host = arm64VmmHost({ cpus, profile: xgene, boot: { ...boot, psci: true }, quantum: 20_000, hostGic: 'v3' });
      host.runUntil(1_000_000);
      // Arm ARM D19 (ESR_EL2, EC 0x24): no memslot backs the GIC's frames, so each access faults at stage 2.
      expect(host.exits().byReason.DATA_ABORT_LOWER, `${cpus} vCPU(s)`).toBe(GICD_ACCESSES + GICR_ACCESSES_PER_CPU * cpus + 1 + PERCPU_PAGES * cpus);
      if (cpus === 2) expect(host.exits().byReason.HVC64).toBe(1); // PSCI CPU_ON for vCPU 1 (DEN 0022 5.1.4)
    }
  });

  it('timer: the virtual timer\'s PPI exits once per tick under gicv3 (the host takes it, KVM injects it hardware-mapped); its EOI does not exit', () => {
    const runs = run(['--workload', 'timer', '--rate', '50000', '--duration', '400000']);
    const v = byMode(runs, 'gicv3');
    expect(v.interrupts.delivered).toBeGreaterThanOrEqual(7);
    expect(v.interrupts.delivered + v.interrupts.coalesced).toBe(v.interrupts.raised);
    expectPer(v.exits.byReason.IRQ, 1, v.interrupts.delivered, 'IRQ');
    expect(v.exits.byReason.SYS64 ?? 0).toBe(0);
    expect(v.latencyCycles!.mean).toBeGreaterThan(byMode(runs, 'native').latencyCycles!.mean);
  });

  it('ipi: each SGI costs the sender one ICC_SGI1R_EL1 trap (SYS64) under gicv3, none natively; both directions are delivered', () => {
    const runs = run(['--workload', 'ipi', '--rate', '200000', '--duration', '400000']);
    for (const r of runs) {
      expect(r.interrupts.delivered, r.mode).toBeGreaterThan(5);
      expect(r.interrupts.delivered + r.interrupts.coalesced, r.mode).toBe(r.interrupts.raised);
    }
    const v = byMode(runs, 'gicv3');
    // IHI0069 12.2.22, Arm ARM D19: with HCR_EL2.IMO set, a write of ICC_SGI1R_EL1 at EL1 traps to EL2 (EC 0x18).
    expectPer(v.exits.byReason.SYS64, 1, v.interrupts.raised, 'SYS64');
    expect(byMode(runs, 'native').exits.total).toBe(0);
  });

  // An edge on an SPI that sits in a list register (taken active and pending, then completed by the guest
  // without an exit) kicks the vCPU, as Linux's vgic_queue_irq_unlock does when the IRQ is already on a vCPU's
  // ap_list; without the kick the edge would wait for the next exit for another reason (the VMM's KVM_RUN budget).
  it('storm at 50,000/s: every SPI reaches the guest within a few world switches (KVM kicks for an IRQ already in a list register)', () => {
    const v = byMode(run(['--mode', 'gicv3', '--rate', '50000', '--duration', '2400000']), 'gicv3');
    expect(v.interrupts.delivered).toBeGreaterThan(20);
    expect(v.latencyCycles!.p99).toBeLessThan(10 * (xgene.host.exit + xgene.cpu.trapToEl2 + xgene.cpu.eretFromEl2));
  });

  it('split mode costs more than VHE: arm64-vhe\'s gicv3 keeps more of native\'s throughput and delivers sooner', () => {
    const argv = ['--rate', '200000'];
    const split = byMode(run(argv), 'gicv3');
    const vhe = byMode(run(argv, loadArm64Profile('arm64-vhe')), 'gicv3');
    expect(vhe.throughput.pctOfNative!).toBeGreaterThan(split.throughput.pctOfNative!);
    expect(vhe.latencyCycles!.p50).toBeLessThan(split.latencyCycles!.p50);
  });

  it('gives byte-identical JSON for the same seed and configuration; the seed drives the storm', () => {
    const argv = ['--arch', 'arm64', '--mode', 'gicv3', '--duration', '150000', '--rate', '500000'];
    const once = (seed: string): string => JSON.stringify(simulate(parseOptions([...argv, '--seed', seed]), xgene));
    expect(once('42')).toBe(once('42'));
    expect(once('43')).not.toBe(once('42'));
  });

  it('the CLI runs --arch arm64 with its default profile, prints arm64 runs as JSON, and refuses an x86 profile', () => {
    let out = '';
    expect(main(['--arch', 'arm64', '--mode', 'native', '--workload', 'storm', '--duration', '100000', '--json'], (t) => (out += t), () => undefined, false)).toBe(0);
    const json = JSON.parse(out) as { config: { profile: { name: string; host: { mode: string } } }; runs: RunResult[] };
    expect(json.config.profile).toMatchObject({ name: 'arm64-xgene', host: { mode: 'nvhe' } });
    expect(json.runs[0]).toMatchObject({ arch: 'arm64', mode: 'native', workload: 'storm' });
    let err = '';
    expect(main(['--arch', 'arm64', '--profile', 'x86-sandybridge'], () => undefined, (t) => (err += t), false)).toBe(2);
    expect(err).toMatch(/arch "x86" is not arm64/);
    err = '';
    expect(main(['--profile', 'arm64-xgene'], () => undefined, (t) => (err += t), false)).toBe(2);
    expect(err).toMatch(/arch "arm64" is not x86: an arm64 profile needs --arch arm64/);
  });
});
