/**
 * What a `micro` run leaves to read: CPU 0's timed samples in guest RAM,
 * the device handler's timed EOIs, and the VMM's times of the
 * notifications that reached the backend (the I/O-latency-out row).
 */
import { GUEST, MICRO_MAX_REPS, MICRO_ROW, PERCPU, percpuBase } from '../guest/layout.js';
import type { SimHost } from '../host/host.js';
import { summarize } from '../report/stats.js';

/** The rows of ISCA 2016 Table II, in its order. */
export const MICRO_ROWS = ['hypercall', 'interruptControllerTrap', 'virtualIpi', 'virtualIrqCompletion', 'vmSwitch', 'ioLatencyOut', 'ioLatencyIn'] as const;
/** A row. */
export type MicroRow = (typeof MICRO_ROWS)[number];
/** Cycles per row (medians; null where the host has no such path or the model none yet). */
export type MicroRows = Record<MicroRow, number | null>;

/**
 * The paper's KVM x86 column (papers.md 4.1: Dall et al., ISCA 2016,
 * Table II, Xeon E5-2450; Hypercall, Virtual IRQ Completion and I/O Latency
 * Out read in a secondary source [S], the others unconfirmed [U]).
 */
export const MICRO_PAPER_KVM_X86: Readonly<Record<MicroRow, number>> = {
  hypercall: 1300,
  interruptControllerTrap: 2384,
  virtualIpi: 5230,
  virtualIrqCompletion: 1556,
  vmSwitch: 4812,
  ioLatencyOut: 560,
  ioLatencyIn: 18923,
};

/** The rows measured inside one run. */
export type MicroSamples = Pick<MicroRows, 'hypercall' | 'interruptControllerTrap' | 'virtualIrqCompletion' | 'ioLatencyOut'>;

/** Reads the samples of a run whose kernel booted with `reps` microbenchmark repetitions. */
export function readMicroSamples(host: SimHost, reps: number, virtual: boolean): MicroSamples {
  const row = (r: number): number[] => Array.from({ length: Math.min(reps, MICRO_MAX_REPS) }, (_, k) => host.read32(GUEST.MICRO + (r * MICRO_MAX_REPS + k) * 4));
  const median = (xs: readonly number[]): number | null => summarize(xs)?.p50 ?? null;
  const eois = host.read32(percpuBase(0) + PERCPU.EOI_COUNT);
  return {
    hypercall: virtual ? median(row(MICRO_ROW.HYPERCALL)) : null, // natively CPUID is an instruction, not a hypercall
    interruptControllerTrap: median(row(MICRO_ROW.TRAP)),
    virtualIrqCompletion: eois > 0 ? Math.round(host.read32(percpuBase(0) + PERCPU.EOI_SUM) / eois) : null,
    ioLatencyOut: median(host.ioOutLatencies?.() ?? []),
  };
}
