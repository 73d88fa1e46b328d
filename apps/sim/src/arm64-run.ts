/**
 * One arm64 run: build the host of a mode, boot the kernel, measure a window
 * of simulated time (exits, work done, every interrupt and its latency from
 * the guest's own log of CNTVCT_EL0 at handler entry), then let in-flight
 * interrupts land and account for them — the arm64 counterpart of `runOne`.
 */
import { PERCPU } from './guest/layout.js';
import { ARM64_GUEST, arm64PercpuBase } from './guest/arm64-layout.js';
import { buildArm64Host, type Arm64Mode } from './host/arm64-modes.js';
import type { Arm64SimProfile } from './arm64-profile.js';
import { summarize } from './report/stats.js';
import { readLog, snapshot, type RunMeasurement } from './run.js';
import { accountIpis, accountTimer, type Accounting, type LogEntry } from './workloads/accounting.js';
import { ARM64_CYCLES_PER_TICK, accountSpiStorm, arm64BootParams, arm64WorkloadIntid } from './workloads/arm64-workloads.js';
import { accountNetperfRr, startNetperfRr, transactionsIn, type PacketAccounting } from './workloads/netperf-rr.js';
import { StormDevice } from './workloads/storm-device.js';
import { readArm64MicroSamples } from './workloads/arm64-micro-samples.js';
import type { Workload } from './workloads/workloads.js';

/** What one arm64 run is asked to do. */
export interface Arm64RunSpec {
  readonly mode: Arm64Mode;
  readonly workload: Workload;
  readonly vcpus: number;
  readonly profile: Arm64SimProfile;
  readonly seed: number;
  /** The measured window, in cycles. */
  readonly durationCycles: number;
  readonly rateHz: number;
  /** The kernel runs its work loop (else it idles in WFI). */
  readonly busy: boolean;
  /** Called with the fraction of the run done. */
  readonly progress?: (fraction: number) => void;
}

const BOOT_STEP = 20_000;
const BOOT_LIMIT = 20_000_000;
/** Cycles after the window for interrupts in flight to reach their handlers. */
const DRAIN_CYCLES = 100_000;
/** The native scheduler's quantum (as x86's), and for IPIs, whose latency compares two CPUs' counters. */
const QUANTUM = 2000;
const IPI_QUANTUM = 100;
/**
 * A vCPU's turn in the VMM when there are several (arm64 KVM_RUN budgets: each
 * turn ends with KVM_EXIT_INTR, see arm64-vmm.ts): it bounds the cross-vCPU
 * error of an IPI's latency in `gicv3`.
 */
const VM_TURN = 20_000;
/** The host reads the guests' logs at least this often (cycles). */
const LOG_READ_STEP = 2_000_000;

/** Runs `spec` and returns what it measured. */
export function runArm64(spec: Arm64RunSpec): RunMeasurement {
  const { profile, workload } = spec;
  const boot = arm64BootParams(workload, { rateHz: spec.rateHz, clockHz: profile.clockHz, busy: spec.busy, cpus: spec.vcpus });
  const quantum = spec.mode === 'native' ? (workload === 'ipi' ? IPI_QUANTUM : QUANTUM) : VM_TURN;
  const host = buildArm64Host(spec.mode, { cpus: spec.vcpus, profile, boot: { ...boot, psci: spec.mode !== 'native' }, quantum });
  if (host.cyclesPerTick !== ARM64_CYCLES_PER_TICK) throw new Error(`${spec.mode}: the generic timer ticks every ${host.cyclesPerTick} cycles, not ${ARM64_CYCLES_PER_TICK}`);
  const booted = (): boolean => Array.from({ length: host.cpus }, (_, i) => host.read32(arm64PercpuBase(i) + PERCPU.READY)).every((r) => r === 1);
  while (!booted()) {
    if (host.now() >= BOOT_LIMIT) throw new Error(`${spec.mode}: the arm64 kernel did not finish booting in ${BOOT_LIMIT} cycles`);
    // The microbenchmarks run at boot: long KVM_RUNs, so that few of their batches also pay a KVM_RUN's end.
    host.runUntil(host.now() + (workload === 'micro' ? LOG_READ_STEP : BOOT_STEP));
  }
  const t0 = host.now();
  const end = t0 + spec.durationCycles;
  const intid = arm64WorkloadIntid(workload);
  const logs = Array.from({ length: host.cpus }, (_, i) => ({ cpu: i, next: host.read32(arm64PercpuBase(i) + PERCPU.LOGGED), entries: [] as LogEntry[] }));
  const storm = workload === 'storm' || workload === 'micro' ? new StormDevice(host, { rateHz: spec.rateHz, clockHz: profile.clockHz, dest: 0, vector: intid, seed: spec.seed }) : undefined;
  storm?.start(t0, end);
  const rr = workload === 'netperf-rr' ? startNetperfRr(host, { clockHz: profile.clockHz, device: profile.device, seed: spec.seed, start: t0, stop: end }) : undefined;
  const timerFirst = workload === 'timer' ? Array.from({ length: host.cpus }, (_, i) => host.timerNextExpiry(i)) : [];
  const before = snapshot(host, arm64PercpuBase);
  host.resetExits();
  const total = spec.durationCycles + DRAIN_CYCLES;
  const step = (until: number): void => {
    for (let t = host.now(); t < until; t = host.now()) {
      host.runUntil(Math.min(until, t + LOG_READ_STEP));
      for (const log of logs) readLog(host, log, arm64PercpuBase);
      spec.progress?.(Math.min(1, (host.now() - t0) / total));
    }
  };
  step(end);
  const exits = host.exits();
  const after = snapshot(host, arm64PercpuBase);
  step(end + DRAIN_CYCLES);
  // The logs hold CNTVCT_EL0 ticks: in cycles, to within a tick. With several CPUs a CPU's clock may trail
  // another's (or a timer's expiry) by up to the scheduler's quantum, or a vCPU's turn in the VMM.
  const skew = (host.cpus > 1 ? quantum : 0) + ARM64_CYCLES_PER_TICK;
  const cycleLogs = logs.map((l) => l.entries.map((e) => ({ t: host.counterToCycles(e.t), what: e.what })));
  const received = (i: number): number[] => cycleLogs[i]!.filter((e) => e.what === intid).map((e) => e.t);
  const a: Accounting & { packets?: PacketAccounting } = rr
    ? accountNetperfRr(host, rr, received(0), ARM64_GUEST.NIC_STATE)
    : storm
      ? accountSpiStorm(storm.counts, received(0))
      : workload === 'timer'
        ? accountTimer(timerFirst.map((first, i) => ({ first, handled: received(i) })), boot.timerTicks * ARM64_CYCLES_PER_TICK, end, skew)
        : accountIpis(cycleLogs, intid, t0, end, skew);
  const switches = exits.total * (profile.cpu.trapToEl2 + profile.cpu.eretFromEl2);
  return {
    interrupts: { raised: a.raised, delivered: a.delivered, coalesced: a.coalesced, dropped: a.dropped, coalescedBy: a.coalescedBy },
    exits,
    latencyCycles: summarize(a.latencies),
    work: rr ? transactionsIn(rr, t0, end).length : after.work - before.work,
    guestCycles: after.cpuCycles - before.cpuCycles - switches,
    elapsedCycles: after.now - t0,
    ...(rr && { workUnit: 'transactions/s', transactionLatencyCycles: summarize(transactionsIn(rr, t0, end)), packets: a.packets }),
    ...(workload === 'micro' && { micro: readArm64MicroSamples(host, boot.microReps ?? 0, spec.mode !== 'native') }),
  };
}
