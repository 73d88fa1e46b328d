/**
 * The workloads: what the kernel is told at boot and which interrupts come.
 * `timer`: each CPU's LAPIC timer, periodic at `rateHz`. `storm`: a device
 * raising MSIs at CPU 0 at `rateHz` on average (Poisson arrivals). `ipi`:
 * CPU 0 pings CPU 1 with an IPI about `rateHz` times a second of its work,
 * and CPU 1's handler answers with a pong. `netperf-rr`: request/response
 * over the assigned NIC (netperf-rr.ts); `--rate` does not apply (the
 * client is closed-loop). `micro`: the ISCA 2016 Table II rows (micro.ts);
 * its interrupts are the I/O-latency-in device's, MSIs to an idle CPU 0.
 * `memory`: CPU 0 runs page-table-heavy processes (guest/memory-guest.ts);
 * no interrupts, its work is memory operations.
 */
import { VECTOR } from '../guest/layout.js';
import type { BootParams } from '../guest/loader.js';
import { NETPERF_RR } from './netperf-rr.js';

/** The workloads of this increment. */
export const WORKLOADS = ['timer', 'storm', 'ipi', 'netperf-rr', 'micro', 'memory'] as const;
/** A workload. */
export type Workload = (typeof WORKLOADS)[number];

/** One line per workload for `--help` and the README. */
export const WORKLOAD_HELP: Record<Workload, string> = {
  timer: 'a periodic LAPIC timer on every CPU at --rate ticks per second',
  storm: 'a device raising MSIs (KVM_SIGNAL_MSI) at CPU 0, --rate per second on average (Poisson)',
  ipi: 'CPU 0 pings CPU 1 with an IPI --rate times per second of its work, CPU 1 answers with a pong (2+ vCPUs, busy guest)',
  'netperf-rr': 'request/response over the assigned NIC (netperf TCP_RR, the ELI paper\'s setting): transactions/s and round trip',
  micro: 'the microbenchmarks of Dall et al., ISCA 2016, Table II, beside the paper\'s cycles',
  memory: 'a page-table-heavy guest: process switches (MOV CR3), page faults, INVLPG; memory operations/s (compare --mmu ept and shadow)',
};

/** The default --rate of each workload, per second. */
export const DEFAULT_RATE: Record<Workload, number> = { timer: 10_000, storm: 100_000, ipi: 20_000, 'netperf-rr': 0, micro: 0, memory: 0 };

/** The `memory` workload's guest: its processes (address spaces) and the pages each touches per time slice. */
export const MEMORY = { processes: 4, pagesPerSlice: 16 } as const;

/** Cycles of the TSC per tick of the APIC timer's input: the LAPIC model's default 2.5 GHz TSC over its 25 MHz crystal, in KVM and natively. */
export const TSC_PER_APIC_TIMER_TICK = 100;
/** Samples of each microbenchmark row CPU 0 takes at boot. */
export const MICRO_REPS = 32;
/** Cycles of computation per unit of the busy loop's work. */
export const WORK_CHUNK = 1000;

/** The interrupt vector a workload measures. */
export function workloadVector(w: Workload): number {
  return w === 'timer' ? VECTOR.TIMER : w === 'storm' || w === 'micro' ? VECTOR.DEVICE : w === 'ipi' ? VECTOR.IPI : VECTOR.NIC;
}

/** Boot parameters for a workload; `busy` runs the work loop, else the kernel idles in HLT. */
export function bootParams(w: Workload, options: { rateHz: number; clockHz: number; busy: boolean }): BootParams {
  const timerCount = w === 'timer' ? Math.max(1, Math.round(options.clockHz / options.rateHz / TSC_PER_APIC_TIMER_TICK)) : 0;
  const ipiEvery = w === 'ipi' ? Math.max(1, Math.round(options.clockHz / options.rateHz / WORK_CHUNK)) : 0;
  const nic = w === 'netperf-rr';
  const nicItr = nic ? Math.round((NETPERF_RR.throttleNs * options.clockHz) / 1e9) : 0;
  const microReps = w === 'micro' ? MICRO_REPS : 0;
  const memory = w === 'memory';
  return {
    timerCount,
    workChunk: options.busy ? WORK_CHUNK : 0,
    ipiEvery,
    nicWork: nic ? NETPERF_RR.serverWorkCycles : 0,
    nicItr,
    microReps,
    memProcs: memory ? MEMORY.processes : 0,
    memPages: memory ? MEMORY.pagesPerSlice : 0,
  };
}
