/**
 * Guest-physical layout of the simulated machine, shared by the loader (the
 * VMM or the native host writes the IDT, page tables and boot parameters into
 * RAM) and the guest kernel (which reads them back with loads).
 */

/** Where things live in guest-physical memory. */
export const GUEST = {
  /** Bytes of guest RAM (one memslot from 0; host pages are only allocated when touched). */
  RAM: 32 << 20,
  /** The IDT the loader fills and the kernel loads with LIDT. */
  IDT: 0x1000,
  /** Boot parameters the loader writes (see BOOT). */
  BOOT: 0x7000,
  /** Top of CPU 0's stack; each CPU's stack is STACK_SIZE below the previous one's. */
  STACK_TOP: 0xf0_0000,
  /** Bytes of each CPU's stack (MAX_CPUS of them end at 0xd0_0000, above MICRO). */
  STACK_SIZE: 0x2000,
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
  /** The NIC driver's receive interrupt handler. */
  NIC_HANDLER: 0x20_4000,
  /** The page-fault (#PF, vector 14) handler of the `memory` workload. */
  PF_HANDLER: 0x20_5000,
  /** Page tables the VMM's loader builds. */
  TABLES: 0x30_0000,
  /** Per-CPU data: PERCPU_SIZE each (counters, then the interrupt log), MAX_CPUS of them up to the end of RAM. */
  PERCPU: 0x100_0000,
  /** The NIC driver's state (NIC_STATE words). */
  NIC_STATE: 0x60_0000,
  /** The NIC's receive and transmit descriptor rings (NIC_RING_ENTRIES 16-byte descriptors each). */
  NIC_RX_RING: 0x60_1000,
  NIC_TX_RING: 0x60_2000,
  /** Packet buffers: NIC_RING_ENTRIES receive buffers, then as many transmit buffers, NIC_BUFFER bytes each. */
  NIC_BUFFERS: 0x61_0000,
  /** The NIC's BAR: registers (page 0), MSI-X table (page 1). */
  NIC_BAR: 0xfebf_0000,
  /** The microbenchmarks' samples (MICRO_ROW). */
  MICRO: 0x68_0000,
  /** The `memory` workload's page tables, built by the guest: MEM_TABLES_SIZE per process (PML4, PDPT, PD, PT). */
  MEM_TABLES: 0x70_0000,
  /** The `memory` workload's data frames: MEM_MAX_PAGES 4 KiB frames per process. */
  MEM_DATA: 0x80_0000,
  /** The xAPIC page. */
  APIC: 0xfee0_0000,
  /** ELI's shadow IDT (`eli` mode): a page with no memslot that the page tables map to itself. */
  SHADOW_IDT: 0xfeb0_0000,
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
  /** Nonzero: CPU 0 brings up the NIC and serves its receive interrupts, computing this many cycles per request (the server's work). */
  NIC_WORK: 0xc,
  /** The NIC's interrupt throttle interval in cycles (its ITR register; 0: off). */
  NIC_ITR: 0x10,
  /** Nonzero: CPU 0 runs the microbenchmarks this many times each at boot, and the device handler times its EOI. */
  MICRO_REPS: 0x14,
  /** The `memory` workload's address spaces ("processes"), read by CPU 0 when the kernel is built to run it (KernelConfig.memory). */
  MEM_PROCS: 0x18,
  /** Pages each process touches per time slice (the `memory` workload). */
  MEM_PAGES: 0x1c,
} as const;

/** Bytes of one process's page tables in the `memory` workload: a PML4, a PDPT, a PD and a PT, 4 KiB each. */
export const MEM_TABLES_SIZE = 0x4000;
/** The most processes and pages per process of the `memory` workload (the layout's room: 8 × 16 KiB of tables, 8 × 64 frames). */
export const MEM_MAX_PROCS = 8;
export const MEM_MAX_PAGES = 64;
/** The linear address of each process's user pages: PML4 entry 1 (512 GiB), entry 0 being the kernel's shared mapping. */
export const MEM_USER_BASE = 2 ** 39;

/** The microbenchmarks CPU 0 times at boot (MICRO_REPS samples each, 32-bit cycle counts at GUEST.MICRO + (row × MICRO_MAX_REPS + k) × 4). */
export const MICRO_ROW = {
  /** CPUID: an exit handled in the kernel that does nothing else (the hypercall of kvm-unit-tests' vmexit). */
  HYPERCALL: 0,
  /** A write of an APIC register that traps in every virtual mode (LVT LINT0). */
  TRAP: 1,
  /** An OUT to the notification port, guest side (the VMM's ioeventfd records when it reached the backend). */
  IO_OUT: 2,
} as const;
/** Samples per microbenchmark row at most. */
export const MICRO_MAX_REPS = 256;
/** The notification port of the I/O-latency microbenchmarks (an ioeventfd in the VMM). */
export const NOTIFY_PORT = 0x6000;
/** Where CPU 0 writes the TSC (low, high) just before each OUT to NOTIFY_PORT. */
export const MICRO_IO_SENT = 0x67_f000;

/** The NIC driver's state: 32-bit words at GUEST.NIC_STATE + offset. */
export const NIC_STATE = {
  /** The next receive descriptor to look at. */
  RX_NEXT: 0x0,
  /** The next transmit descriptor to fill. */
  TX_NEXT: 0x4,
  /** Requests served (responses queued). */
  SERVED: 0x8,
} as const;

/** Descriptors in each NIC ring. */
export const NIC_RING_ENTRIES = 64;
/** Bytes of a packet buffer. */
export const NIC_BUFFER = 0x800;

/** Guest-physical address of receive buffer `i`. */
export function nicRxBuffer(i: number): number {
  return GUEST.NIC_BUFFERS + i * NIC_BUFFER;
}

/** Guest-physical address of transmit buffer `i`. */
export function nicTxBuffer(i: number): number {
  return GUEST.NIC_BUFFERS + (NIC_RING_ENTRIES + i) * NIC_BUFFER;
}

/** Per-CPU counters: 32-bit words at percpuBase(cpu) + offset. */
export const PERCPU = {
  /** Work units the busy loop completed. */
  WORK: 0x0,
  /** Interrupts the handlers logged (the log's head). */
  LOGGED: 0x4,
  /** 1 once the CPU finished bring-up. */
  READY: 0x8,
  /** With MICRO_REPS: cycles of the device handler's EOIs summed (low 32 bits), and their count. */
  EOI_SUM: 0xc,
  EOI_COUNT: 0x10,
  /** The `memory` workload: page faults the #PF handler served (the unmapped pages touched again). */
  PAGE_FAULTS: 0x14,
  /** The `memory` workload: the process running (the kernel's `current`, so the #PF handler needs no CR3 read). */
  CURRENT: 0x18,
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
  NIC: 0x43,
  SPURIOUS: 0xff,
} as const;

/** Guest-physical base of a CPU's data area. */
export function percpuBase(cpu: number): number {
  return GUEST.PERCPU + cpu * PERCPU_SIZE;
}

/** The most CPUs the layout has room for (stacks and per-CPU areas; 8-bit xAPIC IDs 0-255). */
export const MAX_CPUS = 256;

/** A CPU's initial stack pointer. */
export function stackTop(cpu: number): number {
  return GUEST.STACK_TOP - cpu * GUEST.STACK_SIZE;
}

/** The CPU whose stack holds `rsp`, from its initial top to just above the next CPU's (how the kernel finds its per-CPU data, as Linux once did through the stack's thread_info). */
export function cpuOfStack(rsp: number): number {
  return Math.floor((GUEST.STACK_TOP - rsp) / GUEST.STACK_SIZE);
}
