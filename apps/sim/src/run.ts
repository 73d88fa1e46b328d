/**
 * One run: build the host of a mode, boot the kernel, measure a window of
 * simulated time (exits, work done, every interrupt and its latency from the
 * guest's own log), then let in-flight interrupts land and account for them.
 */
import { LOG_ENTRIES, LOG_ENTRY, PERCPU, percpuBase } from './guest/layout.js';
import type { SimHost } from './host/host.js';
import { buildHost, type X86Mode } from './host/modes.js';
import type { SimProfile } from './profiles.js';
import { summarize, type Summary } from './report/stats.js';
import { accountIpis, accountStorm, accountTimer, type Accounting, type LogEntry } from './workloads/accounting.js';
import { accountNetperfRr, startNetperfRr, transactionsIn, type PacketAccounting } from './workloads/netperf-rr.js';
import { readMicroSamples, type MicroRows } from './workloads/micro-samples.js';
import { StormDevice } from './workloads/storm-device.js';
import { TSC_PER_APIC_TIMER_TICK, bootParams, workloadVector, type Workload } from './workloads/workloads.js';

/** What one run is asked to do. */
export interface RunSpec {
  readonly mode: X86Mode;
  readonly workload: Workload;
  readonly vcpus: number;
  readonly profile: SimProfile;
  readonly seed: number;
  /** The measured window, in cycles. */
  readonly durationCycles: number;
  readonly rateHz: number;
  /** The kernel runs its work loop (else it idles in HLT). */
  readonly busy: boolean;
  /** KVM_CREATE_IRQCHIP or the split irqchip (default kernel; no effect natively). */
  readonly irqchip?: 'kernel' | 'split';
  /** The VM's MMU: EPT (default) or shadow paging (`vm.setMmu`; no effect natively). */
  readonly mmu?: 'ept' | 'shadow';
  /** Called with the fraction of the run done (progress on a terminal). */
  readonly progress?: (fraction: number) => void;
}

/** What one run measured. */
export interface RunMeasurement {
  readonly interrupts: { raised: number; delivered: number; coalesced: number; dropped: number; coalescedBy: Record<string, number> };
  readonly exits: { total: number; byReason: Record<string, number> };
  readonly latencyCycles: Summary | null;
  /** Work units of the busy loop completed in the window, all CPUs. */
  readonly work: number;
  /** Cycles the CPUs spent in guest code (not in world switches or the host), summed over CPUs. */
  readonly guestCycles: number;
  /** Cycles the window lasted (its end is where the slowest CPU stopped, at or just past the duration). */
  readonly elapsedCycles: number;
  /** What `work` counts when not the busy loop's units (netperf-rr: transactions/s). */
  readonly workUnit?: string;
  /** netperf-rr: each transaction's round trip at the client, and every frame accounted for. */
  readonly transactionLatencyCycles?: Summary | null;
  readonly packets?: PacketAccounting;
  /** memory: the guest #PFs its handler served (boot to the end of the run). */
  readonly pageFaults?: number;
  /** micro: the rows measured in this run (the others come from runs of other workloads, micro.ts). */
  readonly micro?: Partial<MicroRows>;
}

/** The host checks whether every CPU finished bring-up this often (cycles); the window opens then. */
const BOOT_STEP = 20_000;
/** A kernel not up after this many cycles is broken. */
const BOOT_LIMIT = 10_000_000;
/** Cycles after the window for interrupts in flight to reach their handlers. */
const DRAIN_CYCLES = 100_000;
/** The hosts' scheduler quantum: how far one CPU may run ahead of another or of the clock. */
export const QUANTUM = 2000;
/**
 * The quantum for IPIs, whose latency compares two CPUs' TSCs: it bounds the
 * error of each sample (and costs wall time: the CPUs take turns more often).
 */
const IPI_QUANTUM = 100;
/** How far a CPU may run ahead of the clock the timer schedule is read at. */
const SKEW = 2 * QUANTUM;
/** The host reads the guests' logs at least this often (in cycles), so a ring never laps. */
const LOG_READ_STEP = 500_000;

/** The `memory` workload raises no interrupts. */
function noInterrupts(): Accounting {
  return { raised: 0, delivered: 0, coalesced: 0, dropped: 0, coalescedBy: {}, latencies: [] };
}

/** Runs `spec` and returns what it measured. */
export function runOne(spec: RunSpec): RunMeasurement {
  const { profile, workload } = spec;
  const boot = bootParams(workload, { rateHz: spec.rateHz, clockHz: profile.clockHz, busy: spec.busy });
  const host = buildHost(spec.mode, { cpus: spec.vcpus, profile, boot, quantum: workload === 'ipi' ? IPI_QUANTUM : QUANTUM, irqchip: spec.irqchip ?? 'kernel', mmu: spec.mmu ?? 'ept' });
  bootHost(host, spec.mode);
  const t0 = host.now();
  const end = t0 + spec.durationCycles;
  const vector = workloadVector(workload);
  const logs = Array.from({ length: host.cpus }, (_, i) => ({ cpu: i, next: host.read32(percpuBase(i) + PERCPU.LOGGED), entries: [] as LogEntry[] }));
  // Interrupt sources.
  const storm = workload === 'storm' || workload === 'micro' ? new StormDevice(host, { rateHz: spec.rateHz, clockHz: profile.clockHz, dest: 0, vector, seed: spec.seed }) : undefined;
  storm?.start(t0, end);
  const rr = workload === 'netperf-rr' ? startNetperfRr(host, { clockHz: profile.clockHz, device: profile.device, seed: spec.seed, start: t0, stop: end }) : undefined;
  const timerFirst = workload === 'timer' ? Array.from({ length: host.cpus }, (_, i) => host.clock.now() + host.timerCurrentCount(i) * TSC_PER_APIC_TIMER_TICK) : [];
  const before = snapshot(host);
  host.resetExits();
  const total = spec.durationCycles + DRAIN_CYCLES;
  const step = (until: number): void => {
    for (let t = host.now(); t < until; t = host.now()) {
      host.runUntil(Math.min(until, t + LOG_READ_STEP));
      for (const log of logs) readLog(host, log);
      spec.progress?.(Math.min(1, (host.now() - t0) / total));
    }
  };
  step(end);
  const exits = host.exits();
  const after = snapshot(host);
  step(end + DRAIN_CYCLES);
  const received = (i: number): number[] => logs[i]!.entries.filter((e) => e.what === vector).map((e) => e.t);
  const a: Accounting & { packets?: PacketAccounting } = rr
    ? accountNetperfRr(host, rr, received(0))
    : workload === 'memory'
      ? noInterrupts()
      : storm
      ? accountStorm(storm.counts, received(0))
      : workload === 'timer'
        ? accountTimer(timerFirst.map((first, i) => ({ first, handled: received(i) })), boot.timerCount * TSC_PER_APIC_TIMER_TICK, end, SKEW)
        : accountIpis(logs.map((l) => l.entries), vector, t0, end, IPI_QUANTUM);
  const switches = exits.total * (profile.cpu.vmExit + profile.cpu.vmEntry);
  return {
    interrupts: { raised: a.raised, delivered: a.delivered, coalesced: a.coalesced, dropped: a.dropped, coalescedBy: a.coalescedBy },
    exits,
    latencyCycles: summarize(a.latencies),
    work: rr ? transactionsIn(rr, t0, end).length : after.work - before.work,
    guestCycles: after.cpuCycles - before.cpuCycles - switches,
    elapsedCycles: after.now - t0,
    ...(workload === 'memory' && { workUnit: 'memory operations/s', pageFaults: host.read32(percpuBase(0) + PERCPU.PAGE_FAULTS) }),
    ...(rr && { workUnit: 'transactions/s', transactionLatencyCycles: summarize(transactionsIn(rr, t0, end)), packets: a.packets }),
    ...(workload === 'micro' && { micro: readMicroSamples(host, boot.microReps, spec.mode !== 'native') }),
  };
}

/** Runs `host` until every CPU finished bring-up (its READY word), in steps of BOOT_STEP cycles. */
export function bootHost(host: SimHost, label: string): void {
  const booted = (): boolean => {
    for (let i = 0; i < host.cpus; i++) if (host.read32(percpuBase(i) + PERCPU.READY) !== 1) return false;
    return true;
  };
  while (!booted()) {
    if (host.now() >= BOOT_LIMIT) throw new Error(`${label}: the kernel did not finish booting in ${BOOT_LIMIT} cycles`);
    host.runUntil(host.now() + BOOT_STEP);
  }
}

/** Reads the new entries of a CPU's interrupt log (its data area at `baseOf(cpu)`: the x86 or the arm64 layout). */
export function readLog(host: SimHost, log: { cpu: number; next: number; entries: LogEntry[] }, baseOf: (cpu: number) => number = percpuBase): void {
  const base = baseOf(log.cpu);
  const head = host.read32(base + PERCPU.LOGGED);
  if (head - log.next > LOG_ENTRIES) throw new Error(`CPU ${log.cpu}: the interrupt log lapped (${head - log.next} new entries)`);
  for (; log.next < head; log.next++) {
    const e = base + PERCPU.LOG + (log.next % LOG_ENTRIES) * LOG_ENTRY;
    log.entries.push({ t: host.read32(e) + host.read32(e + 4) * 2 ** 32, what: host.read32(e + 8) });
  }
}

/** Work done and CPU cycles (busy and halted) so far, over all CPUs (data areas at `baseOf(cpu)`). */
export function snapshot(host: SimHost, baseOf: (cpu: number) => number = percpuBase): { work: number; cpuCycles: number; now: number } {
  let work = 0;
  let cpuCycles = 0;
  for (let i = 0; i < host.cpus; i++) {
    work += host.read32(baseOf(i) + PERCPU.WORK);
    const s = host.cpuStats(i);
    cpuCycles += s.busyCycles + s.haltedCycles;
  }
  return { work, cpuCycles, now: host.now() };
}
