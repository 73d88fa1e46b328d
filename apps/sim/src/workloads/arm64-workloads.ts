/**
 * The workloads on arm64: what the kernel is told at boot, which INTID each
 * measures, and the storm's accounting. `timer`: each CPU's EL1 virtual
 * timer (PPI 27), re-armed by its handler every period. `storm`: a device's
 * edge-triggered SPI at CPU 0, Poisson arrivals. `ipi`: CPU 0 pings CPU 1
 * with an SGI through ICC_SGI1R_EL1, CPU 1 pongs. `netperf-rr`: the
 * assigned NIC's receive LPI, mapped by the kernel's ITS driver (x86's
 * workload, netperf-rr.ts). `micro`: the storm's SPI at an idle CPU 0 after
 * the boot-time microbenchmarks (arm64-micro.ts).
 */
import { DEFAULT_COUNTER_FREQUENCY_HZ, DEFAULT_CPU_FREQUENCY_HZ } from '@hvsim/gic';
import type { Arm64BootParams } from '../guest/arm64-kernel.js';
import { ARM64_INTID } from '../guest/arm64-layout.js';
import { stormLatencies, type Accounting } from './accounting.js';
import { NETPERF_RR } from './netperf-rr.js';
import type { StormCounts } from './storm-device.js';
import { MICRO_REPS, WORK_CHUNK, type Workload } from './workloads.js';

/**
 * Cycles per tick of the system counter in every arm64 mode: the generic
 * timer's defaults (its CPU clock over the 62.5 MHz counter), which
 * @hvsim/kvm's arm64 host uses and the native host copies. Only the profile's
 * clockHz turns cycles into time.
 */
export const ARM64_CYCLES_PER_TICK = DEFAULT_CPU_FREQUENCY_HZ / DEFAULT_COUNTER_FREQUENCY_HZ;

/** The INTID a workload measures. */
export function arm64WorkloadIntid(w: Workload): number {
  return w === 'timer' ? ARM64_INTID.TIMER : w === 'storm' || w === 'micro' ? ARM64_INTID.DEVICE : w === 'netperf-rr' ? ARM64_INTID.NIC : ARM64_INTID.IPI;
}

/** Boot parameters for a workload on `cpus` CPUs; `busy` runs the work loop, else the kernel idles in WFI. */
export function arm64BootParams(w: Workload, options: { rateHz: number; clockHz: number; busy: boolean; cpus: number }): Omit<Arm64BootParams, 'psci'> {
  const periodCycles = options.clockHz / options.rateHz;
  const nic = w === 'netperf-rr';
  return {
    timerTicks: w === 'timer' ? Math.max(1, Math.round(periodCycles / ARM64_CYCLES_PER_TICK)) : 0,
    workChunk: options.busy ? WORK_CHUNK : 0,
    ipiEvery: w === 'ipi' ? Math.max(1, Math.round(periodCycles / WORK_CHUNK)) : 0,
    cpus: options.cpus,
    nicWork: nic ? NETPERF_RR.serverWorkCycles : 0,
    nicItr: nic ? Math.round((NETPERF_RR.throttleNs * options.clockHz) / 1e9) : 0,
    microReps: w === 'micro' ? MICRO_REPS : 0,
  };
}

/**
 * The SPI storm: every raise was accepted (a wire, or KVM_IRQ_LINE, has no
 * "already pending" answer on arm64); an edge that finds the SPI pending
 * merges into that pending state (IHI0069 4.1, edge-triggered), so each
 * handler entry served the raises since the one before: coalesced
 * `pending` = accepted − handled.
 */
export function accountSpiStorm(c: StormCounts, handled: readonly number[]): Accounting {
  const pending = c.accepted - handled.length;
  return {
    raised: c.raised,
    delivered: handled.length,
    coalesced: c.coalesced + pending,
    dropped: c.dropped,
    coalescedBy: { pending: c.coalesced + pending },
    latencies: stormLatencies(c.acceptedAt, handled),
  };
}

/** The workloads the arm64 kernel runs. */
export const ARM64_WORKLOADS = ['netperf-rr', 'micro', 'timer', 'storm', 'ipi'] as const satisfies readonly Workload[];
