/**
 * The guest kernel: TypeScript generators against `@hvsim/cpu`'s X86Guest, so
 * every access goes through the (v)CPU — LIDT, APIC bring-up in xAPIC or
 * x2APIC mode, the LAPIC timer, the interrupt handlers with their EOI, and
 * the busy loop whose progress is the throughput. The same code runs natively
 * and under KVM; only the host around it differs.
 */
import type { GuestProgram, Op, X86Guest } from '@hvsim/cpu';
import { APIC, IA32_APIC_BASE_MSR, X2APIC, x2apicMsrForOffset } from '@hvsim/lapic';
import { definePageFaultHandler, memoryWorkload } from './memory-guest.js';
import { microbenchmarks } from './micro-guest.js';
import { nicBringUp, nicServe } from './nic-driver.js';
import * as layout from './layout.js';

// Module-local copies: under Node's ESM loader an imported binding is a getter on every use (the handlers' hot path).
const { BOOT, GUEST, LOG_ENTRIES, LOG_ENTRY, LOG_SENT, PERCPU, VECTOR } = layout;
const percpuBase = layout.percpuBase;
const cpuOfStack = layout.cpuOfStack;
const APIC_EOI = APIC.EOI;
const X2APIC_EOI = X2APIC.EOI;

/** How the kernel was built. */
export interface KernelConfig {
  /** Use the x2APIC (MSRs) instead of the xAPIC page. */
  readonly x2apic: boolean;
  /** CPU 0 runs the `memory` workload's processes (their number and size are boot parameters) instead of the work loop. */
  readonly memory?: boolean;
}

type Routine = Generator<Op, void, number>;

/** IA32_APIC_BASE: EN (bit 11) and EXTD (bit 10), SDM 3A 11.12.1. */
const APIC_BASE_EN_EXTD = 0xc00;
/** SVR: APIC software enable (bit 8) with the spurious vector. */
const SVR_VALUE = 0x100 | VECTOR.SPURIOUS;
/** LVT timer mode bits 18:17 = 01, periodic (SDM 3A 11.5.4.1). */
const LVT_TIMER_PERIODIC = 1 << 17;
/** Divide configuration 1011b: divide by 1. */
const DIVIDE_BY_1 = 0xb;

/** Defines the kernel's code in `program` (the entry point and the handlers the loader's IDT points at). */
export function defineKernel(program: GuestProgram<X86Guest>, config: KernelConfig): void {
  const { x2apic } = config;
  function* apicWrite(g: X86Guest, offset: number, value: number): Routine {
    if (x2apic) yield g.wrmsr(x2apicMsrForOffset(offset), value);
    else yield g.st32(GUEST.APIC + offset, value);
  }
  function* eoi(g: X86Guest): Routine {
    if (x2apic) yield g.wrmsr(X2APIC_EOI, 0); // SDM 3A 11.12.1: an EOI write through the MSR
    else yield g.st32(GUEST.APIC + APIC_EOI, 0); // SDM 3A 11.8.5
  }
  /** Appends (TSC low, TSC high, what) to the log of the CPU whose data is at `base`. */
  function* log(g: X86Guest, base: number, lo: number, hi: number, what: number): Routine {
    const n = yield g.ld32(base + PERCPU.LOGGED);
    const entry = base + PERCPU.LOG + (n % LOG_ENTRIES) * LOG_ENTRY;
    yield g.st32(entry, lo);
    yield g.st32(entry + 4, hi);
    yield g.st32(entry + 8, what);
    yield g.st32(base + PERCPU.LOGGED, n + 1);
  }
  /** Logs the interrupt (TSC at entry, vector) in this CPU's ring, then EOIs and returns. */
  function* logAndEoi(g: X86Guest, vector: number): Routine {
    yield g.rdtsc();
    const lo = g.lo;
    const hi = g.hi;
    yield* log(g, percpuBase(cpuOfStack(yield g.rsp())), lo, hi, vector);
    yield* eoi(g);
    yield g.iret();
  }
  /** Sends a fixed, edge, physical-destination IPI with VECTOR.IPI to APIC `dest`, logged first (SDM 3A 11.6.1). */
  function* sendIpi(g: X86Guest, base: number, dest: number): Routine {
    yield g.rdtsc();
    yield* log(g, base, g.lo, g.hi, LOG_SENT + dest);
    if (x2apic) {
      yield g.wrmsrHalves(X2APIC.ICR_LOW, VECTOR.IPI, dest); // one 64-bit ICR write (SDM 3A 11.12.9)
    } else {
      yield g.st32(GUEST.APIC + APIC.ICR_HIGH, dest << 24);
      yield g.st32(GUEST.APIC + APIC.ICR_LOW, VECTOR.IPI); // the low half's write sends it
    }
  }
  program.define(GUEST.TIMER_HANDLER, function* timer(g: X86Guest, vector: number): Routine {
    yield* logAndEoi(g, vector);
  });
  program.define(GUEST.DEVICE_HANDLER, function* device(g: X86Guest, vector: number): Routine {
    if ((yield g.ld32(GUEST.BOOT + BOOT.MICRO_REPS)) === 0) {
      yield* logAndEoi(g, vector);
      return;
    }
    // Virtual IRQ completion (the microbenchmark): the EOI timed between two RDTSCs.
    yield g.rdtsc();
    const lo = g.lo;
    const hi = g.hi;
    const base = percpuBase(cpuOfStack(yield g.rsp()));
    yield* log(g, base, lo, hi, vector);
    yield g.rdtsc();
    const before = g.lo;
    yield* eoi(g);
    yield g.rdtsc();
    const cycles = (g.lo - before) >>> 0;
    yield g.st32(base + PERCPU.EOI_SUM, ((yield g.ld32(base + PERCPU.EOI_SUM)) + cycles) >>> 0);
    yield g.st32(base + PERCPU.EOI_COUNT, (yield g.ld32(base + PERCPU.EOI_COUNT)) + 1);
    yield g.iret();
  });
  program.define(GUEST.IPI_HANDLER, function* ipi(g: X86Guest, vector: number): Routine {
    yield g.rdtsc();
    const lo = g.lo;
    const hi = g.hi;
    const cpu = cpuOfStack(yield g.rsp());
    const base = percpuBase(cpu);
    yield* log(g, base, lo, hi, vector);
    yield* eoi(g);
    if (cpu === 1) yield* sendIpi(g, base, 0); // CPU 1 answers each ping with a pong
    yield g.iret();
  });
  program.define(GUEST.NIC_HANDLER, function* nic(g: X86Guest, vector: number): Routine {
    yield g.rdtsc();
    const lo = g.lo;
    const hi = g.hi;
    yield* log(g, percpuBase(cpuOfStack(yield g.rsp())), lo, hi, vector);
    // As Linux does with NAPI: the hard interrupt ends with its EOI (irq_exit), then the softirq polls the ring.
    yield* eoi(g);
    yield* nicServe(g, yield g.ld32(GUEST.BOOT + BOOT.NIC_WORK));
    yield g.iret();
  });
  definePageFaultHandler(program);
  program.define(GUEST.SPURIOUS_HANDLER, function* spurious(g: X86Guest): Routine {
    yield g.iret(); // no EOI for a spurious interrupt (SDM 3A 11.9)
  });
  program.define(GUEST.ENTRY, function* kernel(g: X86Guest): Routine {
    yield g.lidt(GUEST.IDT, 0xfff);
    if (x2apic) {
      const base = yield g.rdmsr(IA32_APIC_BASE_MSR);
      yield g.wrmsr(IA32_APIC_BASE_MSR, base | APIC_BASE_EN_EXTD); // xAPIC → x2APIC (SDM 3A 11.12.5)
    }
    yield* apicWrite(g, APIC.SVR, SVR_VALUE);
    const count = yield g.ld32(GUEST.BOOT + BOOT.TIMER_COUNT);
    if (count !== 0) {
      yield* apicWrite(g, APIC.TIMER_DIVIDE_CONFIG, DIVIDE_BY_1);
      yield* apicWrite(g, APIC.LVT_TIMER, LVT_TIMER_PERIODIC | VECTOR.TIMER);
      yield* apicWrite(g, APIC.TIMER_INITIAL_COUNT, count);
    }
    const base = percpuBase(cpuOfStack(yield g.rsp()));
    if (base === percpuBase(0) && (yield g.ld32(GUEST.BOOT + BOOT.NIC_WORK)) !== 0) yield* nicBringUp(g, yield g.ld32(GUEST.BOOT + BOOT.NIC_ITR));
    if (base === percpuBase(0)) yield* microbenchmarks(g, yield g.ld32(GUEST.BOOT + BOOT.MICRO_REPS), apicWrite);
    // Initialize the per-CPU log as a kernel clears its per-CPU areas at boot (one store per 4 KiB page).
    for (let off = 0; off < PERCPU.LOG + LOG_ENTRIES * LOG_ENTRY; off += 0x1000) yield g.st32(base + off, 0);
    yield g.st32(base + PERCPU.READY, 1);
    if (config.memory === true && base === percpuBase(0)) yield* memoryWorkload(g, base);
    const chunk = yield g.ld32(GUEST.BOOT + BOOT.WORK_CHUNK);
    if (chunk === 0) {
      for (;;) {
        yield g.sti(); // STI; HLT: the interrupt is taken after the HLT (SDM 2B STI)
        yield g.hlt();
        yield g.cli();
      }
    }
    const ipiEvery = base === percpuBase(0) ? yield g.ld32(GUEST.BOOT + BOOT.IPI_EVERY) : 0;
    yield g.sti();
    for (let done = 0; ; ) {
      yield g.compute(chunk);
      yield g.st32(base + PERCPU.WORK, ++done);
      if (ipiEvery !== 0 && done % ipiEvery === 0) yield* sendIpi(g, base, 1); // CPU 0 pings CPU 1
    }
  });
}
