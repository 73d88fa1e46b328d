/**
 * The arm64 guest kernel: TypeScript generators against `@hvsim/cpu`'s
 * Arm64Guest, so every access goes through the (v)CPU — the vector table
 * (VBAR_EL1), the GICv3 bring-up (distributor, this CPU's redistributor, the
 * ICC_* system registers), the EL1 virtual timer, the IRQ handler (ICC_IAR1,
 * ICC_EOIR1), SGIs through ICC_SGI1R_EL1, PSCI CPU_ON for the secondaries
 * under KVM, and the busy loop whose progress is the throughput. The same
 * code runs natively and under KVM; only the host around it differs.
 */
import type { Arm64Guest, GuestProgram, Op } from '@hvsim/cpu';
import { GICD, GICR, GICR_SGI, GICR_SGI_BASE, GITS } from '@hvsim/gic';
import { PSCI_FN, smcccHvc } from '@hvsim/kvm';
import { LOG_ENTRIES, LOG_ENTRY, LOG_SENT, PERCPU } from './layout.js';
import { ARM64_BOOT, ARM64_GICR_STRIDE, ARM64_GUEST, ARM64_INTID, ARM64_IRQ_ENTRY, ARM64_NIC_MSI, ARM64_PERCPU, arm64PercpuBase } from './arm64-layout.js';
import { itsInitNic, itsRedistributorInit } from './arm64-its-driver.js';
import { ARM64_MICRO_SGI_MASK, arm64Microbenchmarks } from './arm64-micro-guest.js';
import { nicBringUp, nicServe, type NicDriverLayout } from './nic-driver.js';

type Routine = Generator<Op, void, number>;

/** The priority of every interrupt the kernel uses; the PMR lets it through (IHI0069 4.8). */
const PRIORITY = 0xa0;
/** GICD_CTLR.EnableGrp1 with GICD_CTLR.DS = 1 (IHI0069 12.9.4). */
const GICD_CTLR_ENABLE_GRP1 = 0x2;
/** CNTV_CTL_EL0.ENABLE, IMASK clear (Arm ARM D11.2.4). */
const CNTV_CTL_ENABLE = 1;
/** DAIFClr's I bit: unmask IRQs. */
const DAIF_I = 2;

/** The NIC driver's rings, buffers and state in the arm64 layout; its MSI writes EventID 0 to GITS_TRANSLATER (IHI0069 12.19.17). */
export const ARM64_NIC_LAYOUT: NicDriverLayout = {
  bar: ARM64_GUEST.NIC_BAR,
  rxRing: ARM64_GUEST.NIC_RX_RING,
  txRing: ARM64_GUEST.NIC_TX_RING,
  state: ARM64_GUEST.NIC_STATE,
  buffers: ARM64_GUEST.NIC_BUFFERS,
  msiAddress: ARM64_GUEST.ITS + GITS.TRANSLATER,
  msiData: ARM64_NIC_MSI.eventId,
};

/** The CPU number: MPIDR_EL1.Aff0 (the kernel's machines number CPUs 0-7 in Aff0). */
function* cpuNumber(g: Arm64Guest): Generator<Op, number, number> {
  return (yield g.mrs('MPIDR_EL1')) & 0xff;
}

/** Defines the arm64 kernel in `program`: CPU 0's entry, the secondaries' entry and the IRQ vector. */
export function defineArm64Kernel(program: GuestProgram<Arm64Guest>): void {
  /** Appends (counter bits 31:0, bits 63:32, what) to the log of the CPU whose data is at `base`. */
  function* log(g: Arm64Guest, base: number, lo: number, hi: number, what: number): Routine {
    const n = yield g.ld32(base + PERCPU.LOGGED);
    const entry = base + PERCPU.LOG + (n % LOG_ENTRIES) * LOG_ENTRY;
    yield g.st32(entry, lo);
    yield g.st32(entry + 4, hi);
    yield g.st32(entry + 8, what);
    yield g.st32(base + PERCPU.LOGGED, n + 1);
  }

  /** Sends the ipi SGI to CPU `dest` (Aff0 < 16, Aff1-3 0) through ICC_SGI1R_EL1 (IHI0069 12.2.22), logged first. */
  function* sendSgi(g: Arm64Guest, base: number, dest: number): Routine {
    yield g.mrs('CNTVCT_EL0');
    yield* log(g, base, g.lo, g.hi, LOG_SENT + dest);
    yield g.msr('ICC_SGI1R_EL1', ARM64_INTID.IPI * 2 ** 24 + (1 << dest)); // INTID in bits 27:24, TargetList in 15:0
  }

  /** This CPU's redistributor, its private interrupts and its CPU interface (IHI0069 12.11.42, 12.10, 12.2). */
  function* cpuGicInit(g: Arm64Guest, cpu: number, timer: boolean, microSgis = false): Routine {
    const rd = ARM64_GUEST.GICR + cpu * ARM64_GICR_STRIDE;
    const sgi = rd + GICR_SGI_BASE;
    yield g.st32(rd + GICR.WAKER, 0); // ProcessorSleep = 0
    yield g.st32(sgi + GICR_SGI.IGROUPR0, 0xffff_ffff); // SGIs and PPIs Group 1
    for (let i = 0; i < 8; i++) yield g.st32(sgi + GICR_SGI.IPRIORITYR0 + 4 * i, PRIORITY * 0x0101_0101);
    yield g.st32(sgi + GICR_SGI.ISENABLER0, ((1 << ARM64_INTID.IPI) | (timer ? 1 << ARM64_INTID.TIMER : 0) | (microSgis ? ARM64_MICRO_SGI_MASK : 0)) >>> 0);
    yield g.msr('ICC_PMR_EL1', 0xf0);
    yield g.msr('ICC_IGRPEN1_EL1', 1);
  }

  /** The storm device's SPI: Group 1, edge-triggered, routed to CPU 0, enabled (IHI0069 12.9). */
  function* spiInit(g: Arm64Guest): Routine {
    const d = ARM64_GUEST.GICD;
    const intid = ARM64_INTID.DEVICE;
    const word = 4 * (intid >>> 5);
    yield g.st32(d + GICD.IGROUPR + word, 0xffff_ffff);
    yield g.st8(d + GICD.IPRIORITYR + intid, PRIORITY);
    const cfg = d + GICD.ICFGR + 4 * (intid >>> 4);
    const old = yield g.ld32(cfg);
    yield g.st32(cfg, (old | (2 << (2 * (intid & 15)))) >>> 0); // Int_config[1] = 1: edge (12.9.9)
    yield g.st64(d + GICD.IROUTER + 8 * intid, 0); // Aff0 = 0, IRM = 0 (12.9.22)
    yield g.st32(d + GICD.ISENABLER + word, 1 << (intid & 31));
  }

  /** The virtual timer's first expiry, `ticks` from now (CNTV_CVAL_EL0 absolute, D11.2.4). */
  function* timerStart(g: Arm64Guest, base: number, ticks: number): Routine {
    yield g.mrs('CNTVCT_EL0');
    const next = g.lo + g.hi * 2 ** 32 + ticks;
    yield* setNextExpiry(g, base, next);
    yield g.msr('CNTV_CTL_EL0', CNTV_CTL_ENABLE);
  }

  function* setNextExpiry(g: Arm64Guest, base: number, next: number): Routine {
    const lo = next >>> 0;
    const hi = Math.floor(next / 2 ** 32);
    yield g.st32(base + ARM64_PERCPU.TIMER_NEXT, lo);
    yield g.st32(base + ARM64_PERCPU.TIMER_NEXT + 4, hi);
    yield g.msrHalves('CNTV_CVAL_EL0', lo, hi);
  }

  /** What every CPU does once its GIC is up: clear its data area, say it is ready, then work or idle. */
  function* run(g: Arm64Guest, cpu: number): Routine {
    const base = arm64PercpuBase(cpu);
    // Initialize the per-CPU log as a kernel clears its per-CPU areas at boot (one store per 4 KiB page).
    for (let off = 0; off < PERCPU.LOG + LOG_ENTRIES * LOG_ENTRY; off += 0x1000) yield g.st32(base + off, 0);
    const ticks = yield g.ld32(ARM64_GUEST.BOOT + ARM64_BOOT.TIMER_TICKS);
    if (ticks !== 0) yield* timerStart(g, base, ticks);
    yield g.st32(base + PERCPU.READY, 1);
    yield g.daifClr(DAIF_I);
    const chunk = yield g.ld32(ARM64_GUEST.BOOT + ARM64_BOOT.WORK_CHUNK);
    if (chunk === 0) {
      for (;;) yield g.wfi(); // the IRQ is taken when WFI wakes (D1.16.2)
    }
    const ipiEvery = cpu === 0 ? yield g.ld32(ARM64_GUEST.BOOT + ARM64_BOOT.IPI_EVERY) : 0;
    for (let done = 0; ; ) {
      yield g.compute(chunk);
      yield g.st32(base + PERCPU.WORK, ++done);
      if (ipiEvery !== 0 && done % ipiEvery === 0) yield* sendSgi(g, base, 1); // CPU 0 pings CPU 1
    }
  }

  program.define(ARM64_IRQ_ENTRY, function* irq(g: Arm64Guest): Routine {
    const intid = yield g.mrs('ICC_IAR1_EL1'); // acknowledge (IHI0069 12.2.11)
    if (intid === ARM64_INTID.SPURIOUS) {
      yield g.eret();
      return;
    }
    yield g.mrs('CNTVCT_EL0');
    const lo = g.lo;
    const hi = g.hi;
    const cpu = yield* cpuNumber(g);
    const base = arm64PercpuBase(cpu);
    if (intid === ARM64_INTID.TIMER) {
      // The next period: the compare moves past the counter, the timer's level output drops (D11.2.4).
      const ticks = yield g.ld32(ARM64_GUEST.BOOT + ARM64_BOOT.TIMER_TICKS);
      const nlo = yield g.ld32(base + ARM64_PERCPU.TIMER_NEXT);
      const nhi = yield g.ld32(base + ARM64_PERCPU.TIMER_NEXT + 4);
      yield* setNextExpiry(g, base, nlo + nhi * 2 ** 32 + ticks);
    }
    yield* log(g, base, lo, hi, intid);
    yield g.msr('ICC_EOIR1_EL1', intid); // EOImode 0: priority drop and deactivation (12.2.9; an LPI has no active state, 5.1)
    // As Linux does with NAPI: the hard interrupt ends with its EOI, then the softirq polls the ring.
    if (intid === ARM64_INTID.NIC) yield* nicServe(g, yield g.ld32(ARM64_GUEST.BOOT + ARM64_BOOT.NIC_WORK), ARM64_NIC_LAYOUT);
    if (intid === ARM64_INTID.IPI && cpu === 1) yield* sendSgi(g, base, 0); // CPU 1 answers each ping with a pong
    yield g.eret();
  });

  program.define(ARM64_GUEST.SECONDARY, function* secondary(g: Arm64Guest): Routine {
    yield g.msr('VBAR_EL1', ARM64_GUEST.VECTORS);
    const cpu = yield* cpuNumber(g);
    const ticks = yield g.ld32(ARM64_GUEST.BOOT + ARM64_BOOT.TIMER_TICKS);
    yield* cpuGicInit(g, cpu, ticks !== 0);
    yield* run(g, cpu);
  });

  program.define(ARM64_GUEST.ENTRY, function* kernel(g: Arm64Guest): Routine {
    yield g.msr('VBAR_EL1', ARM64_GUEST.VECTORS);
    yield g.st32(ARM64_GUEST.GICD + GICD.CTLR, GICD_CTLR_ENABLE_GRP1);
    yield* spiInit(g);
    const ticks = yield g.ld32(ARM64_GUEST.BOOT + ARM64_BOOT.TIMER_TICKS);
    const microReps = yield g.ld32(ARM64_GUEST.BOOT + ARM64_BOOT.MICRO_REPS);
    yield* cpuGicInit(g, 0, ticks !== 0, microReps !== 0);
    if (microReps !== 0) yield* arm64Microbenchmarks(g, microReps, (yield g.ld32(ARM64_GUEST.BOOT + ARM64_BOOT.PSCI)) !== 0);
    if ((yield g.ld32(ARM64_GUEST.BOOT + ARM64_BOOT.NIC_WORK)) !== 0) {
      yield* itsRedistributorInit(g, 0);
      yield* itsInitNic(g);
      yield* nicBringUp(g, yield g.ld32(ARM64_GUEST.BOOT + ARM64_BOOT.NIC_ITR), ARM64_NIC_LAYOUT);
    }
    const cpus = yield g.ld32(ARM64_GUEST.BOOT + ARM64_BOOT.CPUS);
    if ((yield g.ld32(ARM64_GUEST.BOOT + ARM64_BOOT.PSCI)) !== 0) {
      // PSCI CPU_ON (DEN 0022 5.1.4) for each secondary: target MPIDR, entry point.
      for (let cpu = 1; cpu < cpus; cpu++) yield smcccHvc(g, PSCI_FN.CPU_ON, cpu, ARM64_GUEST.SECONDARY);
    }
    yield* run(g, 0);
  });
}

/** What the arm64 kernel is told at boot. */
export interface Arm64BootParams {
  /** The virtual timer's period in counter ticks, 0 for no timer. */
  readonly timerTicks: number;
  /** Cycles per work unit of the busy loop, 0 for an idle kernel. */
  readonly workChunk: number;
  /** Work units between CPU 0's ping SGIs to CPU 1, 0 for none. */
  readonly ipiEvery: number;
  /** The number of CPUs. */
  readonly cpus: number;
  /** CPU 0 starts the others with PSCI CPU_ON (under KVM; natively the firmware starts them). */
  readonly psci: boolean;
  /** Cycles of the server's work per netperf-rr request; 0: no NIC (and no ITS). */
  readonly nicWork?: number;
  /** The NIC's interrupt throttle in cycles (0: off). */
  readonly nicItr?: number;
  /** Samples of each microbenchmark CPU 0 takes at boot (0: none). */
  readonly microReps?: number;
}

/** Writes the boot parameters with `write32(guestPhysicalAddress, value)` (the vector table is code: `defineArm64Kernel`). */
export function loadArm64Guest(write32: (gpa: number, value: number) => void, boot: Arm64BootParams): void {
  const b = ARM64_GUEST.BOOT;
  write32(b + ARM64_BOOT.TIMER_TICKS, boot.timerTicks);
  write32(b + ARM64_BOOT.WORK_CHUNK, boot.workChunk);
  write32(b + ARM64_BOOT.IPI_EVERY, boot.ipiEvery);
  write32(b + ARM64_BOOT.CPUS, boot.cpus);
  write32(b + ARM64_BOOT.PSCI, boot.psci ? 1 : 0);
  write32(b + ARM64_BOOT.NIC_WORK, boot.nicWork ?? 0);
  write32(b + ARM64_BOOT.NIC_ITR, boot.nicItr ?? 0);
  write32(b + ARM64_BOOT.MICRO_REPS, boot.microReps ?? 0);
}
