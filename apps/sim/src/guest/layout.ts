/**
 * Guest-physical layout of the simulated machine, shared by the loader (the
 * VMM or the native host writes the IDT, page tables and boot parameters into
 * RAM) and the guest kernel (which reads them back with loads).
 */

/** Where things live in guest-physical memory. */
export const GUEST = {
  /** Bytes of guest RAM (one memslot from 0). */
  RAM: 8 << 20,
  /** The IDT the loader fills and the kernel loads with LIDT. */
  IDT: 0x1000,
  /** Boot parameters the loader writes (see BOOT). */
  BOOT: 0x7000,
  /** Top of CPU 0's stack; each CPU's stack is STACK_SIZE below the previous one's. */
  STACK_TOP: 0x8_0000,
  /** Bytes of each CPU's stack. */
  STACK_SIZE: 0x4000,
  /** The kernel's entry point (every CPU starts there, as the loader sets it up). */
  ENTRY: 0x10_0000,
  /** The LAPIC timer handler. */
  TIMER_HANDLER: 0x20_0000,
  /** The storm device's MSI handler. */
  DEVICE_HANDLER: 0x20_1000,
  /** The IPI handler (the ipi workload's ping and pong). */
  IPI_HANDLER: 0x20_3000,
  /** The spurious-interrupt handler (SVR vector). */
  SPURIOUS_HANDLER: 0x20_2000,
  /** Page tables the VMM's loader builds. */
  TABLES: 0x30_0000,
  /** Per-CPU data: 64 KiB each (counters, then the interrupt log). */
  PERCPU: 0x40_0000,
  /** The xAPIC page. */
  APIC: 0xfee0_0000,
  /** The serial console's port (COM1). */
  SERIAL: 0x3f8,
} as const;

/** Boot parameters: 32-bit words at GUEST.BOOT + offset. */
export const BOOT = {
  /** LAPIC timer initial count (0: no timer). */
  TIMER_COUNT: 0x0,
  /** Cycles of computation per work unit of the busy loop (0: the kernel idles with HLT). */
  WORK_CHUNK: 0x4,
  /** CPU 0 sends CPU 1 a ping IPI every this many work units, and CPU 1 answers with a pong (0: no IPIs). */
  IPI_EVERY: 0x8,
} as const;

/** Per-CPU counters: 32-bit words at percpuBase(cpu) + offset. */
export const PERCPU = {
  /** Work units the busy loop completed. */
  WORK: 0x0,
  /** Interrupts the handlers logged (the log's head). */
  LOGGED: 0x4,
  /** 1 once the CPU finished bring-up. */
  READY: 0x8,
  /** The interrupt log: LOG_ENTRIES entries of LOG_ENTRY bytes (TSC low, TSC high, vector). */
  LOG: 0x100,
} as const;

/** A log entry's vector field for an IPI sent (not received): this plus the destination CPU. */
export const LOG_SENT = 0x1000;
/** Bytes of one log entry. */
export const LOG_ENTRY = 16;
/** Entries in a CPU's log ring (the host reads it often enough that it never laps). */
export const LOG_ENTRIES = 2048;
/** Bytes of one CPU's data area. */
export const PERCPU_SIZE = 0x1_0000;

/** The vectors the kernel uses. */
export const VECTOR = {
  TIMER: 0x30,
  DEVICE: 0x41,
  IPI: 0x42,
  SPURIOUS: 0xff,
} as const;

/** Guest-physical base of a CPU's data area. */
export function percpuBase(cpu: number): number {
  return GUEST.PERCPU + cpu * PERCPU_SIZE;
}

/** The most CPUs the layout has room for (their stacks stay above 0x4_0000). */
export const MAX_CPUS = 16;

/** A CPU's initial stack pointer. */
export function stackTop(cpu: number): number {
  return GUEST.STACK_TOP - cpu * GUEST.STACK_SIZE;
}

/** The CPU whose stack holds `rsp`, from its initial top to just above the next CPU's (how the kernel finds its per-CPU data, as Linux once did through the stack's thread_info). */
export function cpuOfStack(rsp: number): number {
  return Math.floor((GUEST.STACK_TOP - rsp) / GUEST.STACK_SIZE);
}
