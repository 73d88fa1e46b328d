/**
 * The guest half of the `micro` workload on arm64 (Dall et al., ISCA 2016,
 * Table II, its ARM rows), run by CPU 0 at boot with IRQs masked. The
 * generic timer's counter ticks every 40 cycles, too coarse for one
 * operation, so each sample times a batch between two CNTVCT_EL0 reads and
 * stores ticks; the host divides by the batch (micro-samples, arm64). Rows:
 * a null hypercall (HVC PSCI_VERSION, which KVM answers in the kernel; only
 * under KVM), a trapped distributor access (a GICD_CTLR read), virtual IRQ
 * completion (the ICC_IAR1_EL1 + ICC_EOIR1_EL1 of SGIs 0-3, made pending to
 * this CPU with ICC_SGI1R_EL1 beforehand: four fit the list registers), and
 * the I/O-latency-out notification (a store to the ioeventfd's register,
 * CNTVCT_EL0 left at MICRO_IO_SENT just before; only under KVM).
 */
import type { Arm64Guest, Op } from '@hvsim/cpu';
import { GICD } from '@hvsim/gic';
import { PSCI_FN, smcccHvc } from '@hvsim/kvm';
import { MICRO_MAX_REPS } from './layout.js';
import { ARM64_GUEST } from './arm64-layout.js';

type Routine = Generator<Op, void, number>;

/** The arm64 rows CPU 0 samples (32-bit tick counts at ARM64_GUEST.MICRO + (row × MICRO_MAX_REPS + k) × 4). */
export const ARM64_MICRO_ROW = { HYPERCALL: 0, TRAP: 1, IRQ_COMPLETION: 2 } as const;
/** Operations per sample of the hypercall and trap rows. */
export const ARM64_MICRO_BATCH = 8;
/** Interrupts per sample of the completion row: SGIs 0-3, as many as the host GIC's list registers hold. */
export const ARM64_MICRO_SGIS = 4;
/** The SGIs the completion row uses must be enabled (GICR_ISENABLER0). */
export const ARM64_MICRO_SGI_MASK = (1 << ARM64_MICRO_SGIS) - 1;

/** Runs each microbenchmark `reps` times; `virtual`: under KVM (a hypercall and a notification backend exist). */
export function* arm64Microbenchmarks(g: Arm64Guest, reps: number, virtual: boolean): Routine {
  const n = Math.min(reps, MICRO_MAX_REPS);
  const sample = (row: number, k: number): number => ARM64_GUEST.MICRO + (row * MICRO_MAX_REPS + k) * 4;
  function* timed(row: number, k: number, body: () => Routine): Routine {
    yield g.mrs('CNTVCT_EL0');
    const t = g.lo;
    yield* body();
    yield g.mrs('CNTVCT_EL0');
    yield g.st32(sample(row, k), (g.lo - t) >>> 0);
  }
  for (let k = 0; k < n && virtual; k++) {
    yield* timed(ARM64_MICRO_ROW.HYPERCALL, k, function* () {
      for (let i = 0; i < ARM64_MICRO_BATCH; i++) yield smcccHvc(g, PSCI_FN.PSCI_VERSION);
    });
  }
  for (let k = 0; k < n; k++) {
    yield* timed(ARM64_MICRO_ROW.TRAP, k, function* () {
      for (let i = 0; i < ARM64_MICRO_BATCH; i++) yield g.ld32(ARM64_GUEST.GICD + GICD.CTLR);
    });
  }
  for (let k = 0; k < n; k++) {
    // SGIs 0-3 to this CPU (Aff0 0, TargetList bit 0; IHI0069 12.2.22), pending while PSTATE.I masks them.
    for (let sgi = 0; sgi < ARM64_MICRO_SGIS; sgi++) yield g.msr('ICC_SGI1R_EL1', sgi * 2 ** 24 + 1);
    yield g.isb();
    yield* timed(ARM64_MICRO_ROW.IRQ_COMPLETION, k, function* () {
      for (let i = 0; i < ARM64_MICRO_SGIS; i++) {
        const intid = yield g.mrs('ICC_IAR1_EL1');
        yield g.msr('ICC_EOIR1_EL1', intid);
      }
    });
  }
  for (let k = 0; k < n && virtual; k++) {
    yield g.mrs('CNTVCT_EL0');
    yield g.st32(ARM64_GUEST.MICRO_IO_SENT, g.lo);
    yield g.st32(ARM64_GUEST.MICRO_IO_SENT + 4, g.hi);
    yield g.st32(ARM64_GUEST.NOTIFY, 0);
  }
}
