/**
 * The `micro` workload on arm64: ISCA 2016 Table II's rows measured by
 * running the arm64 kernel booted with the microbenchmarks (HVC, a trapped
 * GICD_CTLR read, SGI acknowledge and completion, the notification store
 * timed by CPU 0; then the storm's SPI at a low rate to the idle CPU 0,
 * whose latency is the I/O-latency-in row). The virtual IPI is not
 * measured: @hvsim/kvm's arm64 has no vCPU scheduler, so this VMM runs
 * several vCPUs by turns whose ends cost world switches of their own and
 * bound a cross-vCPU latency only to within a turn; VM Switch needs two VMs
 * on one physical CPU. Both are null.
 */
import { runArm64, type Arm64RunSpec } from '../arm64-run.js';
import type { RunMeasurement } from '../run.js';
import { MICRO_IN_RATE } from './micro.js';
import type { MicroRows } from './micro-samples.js';

/** Runs the arm64 microbenchmarks in `spec.mode` (vCPUs, rate and guest are the workload's own). */
export function runArm64Micro(spec: Arm64RunSpec): RunMeasurement & { micro: MicroRows } {
  const main = runArm64({ ...spec, workload: 'micro', vcpus: 1, busy: false, rateHz: MICRO_IN_RATE });
  const s = main.micro!;
  return {
    ...main,
    micro: {
      hypercall: s.hypercall ?? null,
      interruptControllerTrap: s.interruptControllerTrap ?? null,
      virtualIpi: null,
      virtualIrqCompletion: s.virtualIrqCompletion ?? null,
      vmSwitch: null,
      ioLatencyOut: s.ioLatencyOut ?? null,
      ioLatencyIn: main.latencyCycles?.p50 ?? null,
    },
  };
}
