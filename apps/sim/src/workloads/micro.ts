/**
 * The `micro` workload: ISCA 2016 Table II's rows measured by running small
 * guests through the models on the profile — one run of the kernel booted
 * with the microbenchmarks (CPUID, a trapped LVT write and the notification
 * OUT timed by CPU 0; then MSIs at a low rate to the idle CPU 0, whose
 * latency is the I/O-latency-in row and whose timed EOIs the IRQ
 * completion), and one `ipi` run (the virtual IPI: send to handler entry on
 * a running vCPU). VM Switch needs two VMs on one physical CPU, which the
 * host does not run yet: null.
 */
import { runOne, type RunMeasurement, type RunSpec } from '../run.js';
import type { MicroRows } from './micro-samples.js';

/** MSIs per second of the I/O-latency-in device (each one finds CPU 0 halted again). */
export const MICRO_IN_RATE = 20_000;
/** Pings per second of the virtual-IPI run, and its window at most. */
export const MICRO_IPI_RATE = 100_000;
const MICRO_IPI_CYCLES = 400_000;

/** Runs the microbenchmarks in `spec.mode` (workload, vCPUs, rate and guest are the workload's own). */
export function runMicro(spec: RunSpec): RunMeasurement & { micro: MicroRows } {
  const main = runOne({ ...spec, workload: 'micro', vcpus: 1, busy: false, rateHz: MICRO_IN_RATE });
  const ipi = runOne({ ...spec, workload: 'ipi', vcpus: 2, busy: true, rateHz: MICRO_IPI_RATE, durationCycles: Math.min(spec.durationCycles, MICRO_IPI_CYCLES) });
  const s = main.micro!;
  return {
    ...main,
    micro: {
      hypercall: s.hypercall ?? null,
      interruptControllerTrap: s.interruptControllerTrap ?? null,
      virtualIpi: ipi.latencyCycles?.p50 ?? null,
      virtualIrqCompletion: s.virtualIrqCompletion ?? null,
      vmSwitch: null,
      ioLatencyOut: s.ioLatencyOut ?? null,
      ioLatencyIn: main.latencyCycles?.p50 ?? null,
    },
  };
}
