/**
 * The guest half of the `micro` workload (Dall et al., ISCA 2016, Table II,
 * its x86 rows): CPU 0 times, between two RDTSCs, a null exit (CPUID), a
 * trapped interrupt-controller access (a write of LVT LINT0, which traps in
 * every virtual mode: an APIC-page access emulated, an x2APIC MSR write,
 * or an APIC-write exit under APICv) and an OUT to the notification port
 * (the VMM's ioeventfd times when it reached the backend: the TSC before
 * the OUT is left at MICRO_IO_SENT). The other rows come from the host
 * side and the device handler (micro.ts).
 */
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { GUEST, MICRO_IO_SENT, MICRO_MAX_REPS, MICRO_ROW, NOTIFY_PORT } from './layout.js';

type Routine = Generator<Op, void, number>;

/** LVT mask bit (SDM 3A 11.5.1). */
const LVT_MASKED = 0x1_0000;

/** Runs each microbenchmark `reps` times (0: none); `apicWrite` writes an APIC register the kernel's way (xAPIC page or x2APIC MSR). */
export function* microbenchmarks(g: X86Guest, reps: number, apicWrite: (g: X86Guest, offset: number, value: number) => Routine): Routine {
  const n = Math.min(reps, MICRO_MAX_REPS);
  const sample = (row: number, k: number): number => GUEST.MICRO + (row * MICRO_MAX_REPS + k) * 4;
  for (let k = 0; k < n; k++) {
    yield g.rdtsc();
    const t = g.lo;
    yield g.cpuid(0);
    yield g.rdtsc();
    yield g.st32(sample(MICRO_ROW.HYPERCALL, k), (g.lo - t) >>> 0);
  }
  for (let k = 0; k < n; k++) {
    yield g.rdtsc();
    const t = g.lo;
    yield* apicWrite(g, APIC.LVT_LINT0, LVT_MASKED);
    yield g.rdtsc();
    yield g.st32(sample(MICRO_ROW.TRAP, k), (g.lo - t) >>> 0);
  }
  for (let k = 0; k < n; k++) {
    yield g.rdtsc();
    const t = g.lo;
    yield g.st32(MICRO_IO_SENT, t);
    yield g.st32(MICRO_IO_SENT + 4, g.hi);
    yield g.out(NOTIFY_PORT, 0);
    yield g.rdtsc();
    yield g.st32(sample(MICRO_ROW.IO_OUT, k), (g.lo - t) >>> 0);
  }
}
