/**
 * What an arm64 `micro` run leaves to read: CPU 0's batches timed in
 * counter ticks at boot (arm64-micro-guest.ts) and the VMM's times of the
 * notifications that reached the backend. Each row is the median sample
 * (robust to a sample that also paid a first touch or the VMM's KVM_RUN
 * ending), in cycles: ticks × cycles per tick / the batch, so to within a
 * tick over the batch (5 cycles for 8 operations, 10 for 4 completions).
 */
import { ARM64_MICRO_BATCH, ARM64_MICRO_ROW, ARM64_MICRO_SGIS } from '../guest/arm64-micro-guest.js';
import { ARM64_GUEST } from '../guest/arm64-layout.js';
import { MICRO_MAX_REPS } from '../guest/layout.js';
import type { Arm64SimHost } from '../host/arm64-host.js';
import { summarize } from '../report/stats.js';
import type { MicroRows, MicroSamples } from './micro-samples.js';

/**
 * The paper's KVM ARM column (papers.md 4.1: Dall et al., ISCA 2016,
 * Table II, APM X-Gene; Hypercall, Interrupt Controller Trap, Virtual IRQ
 * Completion and I/O Latency Out read in a secondary source [S], the others
 * unconfirmed [U]).
 */
export const MICRO_PAPER_KVM_ARM: Readonly<Record<keyof MicroRows, number>> = {
  hypercall: 6500,
  interruptControllerTrap: 7370,
  virtualIpi: 11557,
  virtualIrqCompletion: 71,
  vmSwitch: 10387,
  ioLatencyOut: 6024,
  ioLatencyIn: 13872,
};

/** Reads the samples of a run whose kernel booted with `reps` repetitions; `virtual`: under KVM. */
export function readArm64MicroSamples(host: Arm64SimHost, reps: number, virtual: boolean): MicroSamples {
  const n = Math.min(reps, MICRO_MAX_REPS);
  const row = (r: number, perSample: number): number | null => {
    const ticks = summarize(Array.from({ length: n }, (_, k) => host.read32(ARM64_GUEST.MICRO + (r * MICRO_MAX_REPS + k) * 4)))?.p50;
    return ticks === undefined ? null : Math.round((ticks * host.cyclesPerTick) / perSample);
  };
  return {
    hypercall: virtual ? row(ARM64_MICRO_ROW.HYPERCALL, ARM64_MICRO_BATCH) : null, // natively there is no hypervisor to call
    interruptControllerTrap: row(ARM64_MICRO_ROW.TRAP, ARM64_MICRO_BATCH),
    virtualIrqCompletion: row(ARM64_MICRO_ROW.IRQ_COMPLETION, ARM64_MICRO_SGIS),
    ioLatencyOut: summarize(host.ioOutLatencies?.() ?? [])?.p50 ?? null,
  };
}
