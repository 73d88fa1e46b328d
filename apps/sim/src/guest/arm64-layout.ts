/**
 * Guest-physical layout of the simulated arm64 machine, the same natively and
 * in the VM (QEMU virt's: RAM from 1 GiB, the GICv3 distributor at
 * 0x0800_0000, the redistributors at 0x080a_0000), shared by the loader and
 * the arm64 guest kernel. The per-CPU area's words (PERCPU, the log) are the
 * x86 kernel's, so the host reads both logs the same way.
 */
import { ARM64_MAX_VCPUS } from '@hvsim/kvm';
import { NIC_SID } from '../devices/nic-attach.js';
import { PERCPU_SIZE } from './layout.js';

/** Where things live in guest-physical memory. */
export const ARM64_GUEST = {
  /** Guest RAM: one memslot from here. */
  RAM_BASE: 0x4000_0000,
  /** Bytes of guest RAM. */
  RAM: 8 << 20,
  /** VBAR_EL1 (2 KiB aligned): an IRQ taken from EL1 with SP_EL1 enters at + 0x280 (Arm ARM D1.3.1). */
  VECTORS: 0x4000_0000,
  /** Boot parameters the loader writes (see ARM64_BOOT). */
  BOOT: 0x4000_7000,
  /** CPU 0's entry point. */
  ENTRY: 0x4010_0000,
  /** The secondary CPUs' entry point (PSCI CPU_ON's, or where the native firmware starts them). */
  SECONDARY: 0x4011_0000,
  /** Per-CPU data: PERCPU_SIZE bytes each (the x86 kernel's PERCPU words, then the log). */
  PERCPU: 0x4040_0000,
  /** GICv3 distributor (64 KiB). */
  GICD: 0x0800_0000,
  /** GICv3 redistributors, 128 KiB (RD_base and SGI_base frames) per CPU. */
  GICR: 0x080a_0000,
  /** The GICv3 ITS (ITS_base: control and translation frames, 128 KiB; QEMU virt's address). */
  ITS: 0x0808_0000,
  /** The LPI configuration table (one byte per LPI from 8192; 64 KiB aligned, IHI0069 5.1.1). */
  LPI_PROP: 0x4050_0000,
  /** The redistributors' LPI pending tables, 64 KiB each (IHI0069 5.1.2). */
  LPI_PEND: 0x4060_0000,
  /** The ITS's device table, collection table and command queue (4 KiB each), and the NIC's ITT. */
  ITS_DEVICES: 0x4070_0000,
  ITS_COLLECTIONS: 0x4071_0000,
  ITS_QUEUE: 0x4072_0000,
  ITS_ITT: 0x4073_0000,
  /** The NIC driver's state (NIC_STATE words), its receive and transmit rings, and its packet buffers. */
  NIC_STATE: 0x4074_0000,
  NIC_RX_RING: 0x4074_1000,
  NIC_TX_RING: 0x4074_2000,
  NIC_BUFFERS: 0x4075_0000,
  /** The micro workload's samples: 32-bit words, MICRO_ROW rows of MICRO_MAX_REPS each (arm64-micro-guest.ts). */
  MICRO: 0x407a_0000,
  /** Where CPU 0 leaves CNTVCT_EL0 (low, high) just before each store to NOTIFY. */
  MICRO_IO_SENT: 0x407b_0000,
  /** The I/O-latency-out notification register: no memslot, an ioeventfd in the VMM (a virtio-mmio QueueNotify in QEMU virt's region). */
  NOTIFY: 0x0a00_0050,
  /** The NIC's BAR in the PCIe MMIO window (QEMU virt's starts here): registers (page 0), MSI-X table (page 1). */
  NIC_BAR: 0x1000_0000,
} as const;

/** The IRQ entry of the vector table: current EL with SP_ELx, IRQ (Arm ARM D1.3.1, offset 0x280). */
export const ARM64_IRQ_ENTRY = ARM64_GUEST.VECTORS + 0x280;
/** Bytes between two CPUs' redistributors (RD_base + SGI_base, IHI0069 12.10). */
export const ARM64_GICR_STRIDE = 0x2_0000;

/** Boot parameters: 32-bit words at ARM64_GUEST.BOOT + offset. */
export const ARM64_BOOT = {
  /** The virtual timer's period in counter ticks (0: no timer). */
  TIMER_TICKS: 0x0,
  /** Cycles of computation per work unit of the busy loop (0: the kernel idles in WFI). */
  WORK_CHUNK: 0x4,
  /** CPU 0 pings CPU 1 with an SGI every this many work units, CPU 1 pongs (0: no IPIs). */
  IPI_EVERY: 0x8,
  /** The number of CPUs. */
  CPUS: 0xc,
  /** 1: CPU 0 powers the others on with PSCI CPU_ON (an HVC, KVM); 0: firmware started them. */
  PSCI: 0x10,
  /** Nonzero: CPU 0 brings up the ITS and the NIC and serves its receive interrupts, computing this many cycles per request. */
  NIC_WORK: 0x14,
  /** The NIC's interrupt throttle interval in cycles (its ITR register; 0: off). */
  NIC_ITR: 0x18,
  /** Nonzero: CPU 0 runs the microbenchmarks this many times each at boot (arm64-micro-guest.ts). */
  MICRO_REPS: 0x1c,
} as const;

/** Per-CPU words beyond the x86 kernel's PERCPU ones. */
export const ARM64_PERCPU = {
  /** The virtual timer's next compare value (CNTV_CVAL_EL0), bits 31:0 then 63:32. */
  TIMER_NEXT: 0x10,
} as const;

/** The INTIDs the kernel uses (IHI0069 2.2). */
export const ARM64_INTID = {
  /** The EL1 virtual timer's PPI (Arm BSA; KVM's VTIMER_PPI). */
  TIMER: 27,
  /** The storm device's SPI. */
  DEVICE: 40,
  /** The ipi workload's SGI. */
  IPI: 2,
  /** The NIC's receive interrupt: the first LPI (IHI0069 2.2.1), mapped by the guest's ITS driver. */
  NIC: 8192,
  /** ICC_IAR1_EL1 with nothing pending (IHI0069 2.2.1). */
  SPURIOUS: 1023,
} as const;

/** Guest-physical base of a CPU's data area. */
export function arm64PercpuBase(cpu: number): number {
  return ARM64_GUEST.PERCPU + cpu * PERCPU_SIZE;
}

/** The most CPUs of the arm64 machine: @hvsim/kvm's arm64 host has one physical CPU per vCPU (KVM_CAP_MAX_VCPUS there). */
export const ARM64_MAX_CPUS = ARM64_MAX_VCPUS;

/** The NIC's DeviceID at the (v)ITS (its requester ID, as the x86 IOMMU's source ID) and its receive vector's EventID. */
export const ARM64_NIC_MSI = { deviceId: NIC_SID, eventId: 0 } as const;
