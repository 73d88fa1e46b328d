/**
 * @hvsim/kvm: a model of Linux's KVM driven through the same API a VMM
 * uses — the `/dev/kvm` system object, VMs with memslots and dirty
 * logging, GSI routing, KVM_IRQ_LINE, KVM_SIGNAL_MSI, irqfd and ioeventfd
 * (architecture-independent, `generic/`), and x86 vCPUs running guest code
 * on `@hvsim/cpu` under `@hvsim/vmcs` with the in-kernel PIC, IOAPIC and
 * LAPIC (`x86/`).
 *
 * @packageDocumentation
 */

// The system object
export {
  /** `/dev/kvm`: API version, capabilities, VM creation, the vCPU mmap size, the VMM's mmap. */
  Kvm,
} from './kvm.js';
export type {
  /** Options of a Kvm (host memory, clock, kernel region). */
  KvmOptions,
} from './kvm.js';

// Constants (uapi linux/kvm.h)
export {
  /** KVM_GET_API_VERSION's answer, 12. */
  KVM_API_VERSION,
  /** `kvm_run.exit_reason` values. */
  KVM_EXIT,
  /** Names of exit reasons (`KVM_EXIT_IO`...). */
  KVM_EXIT_NAME,
  /** `kvm_run.io.direction` of an IN. */
  KVM_EXIT_IO_IN,
  /** `kvm_run.io.direction` of an OUT. */
  KVM_EXIT_IO_OUT,
  /** `kvm_run.system_event.type` values. */
  KVM_SYSTEM_EVENT,
  /** `kvm_run.internal.suberror` values. */
  KVM_INTERNAL_ERROR,
  /** KVM_CHECK_EXTENSION capability numbers. */
  KVM_CAP,
  /** Memslot flags. */
  KVM_MEM,
  /** Routing entry types. */
  KVM_IRQ_ROUTING,
  /** x86 irqchip ids of routing entries. */
  KVM_IRQCHIP,
  /** irqfd flags. */
  KVM_IRQFD_FLAG,
  /** ioeventfd flags. */
  KVM_IOEVENTFD_FLAG,
  /** The `devid`-valid flag of MSIs and MSI routes. */
  KVM_MSI_VALID_DEVID,
  /** vCPU multiprocessing states. */
  KVM_MP_STATE,
  /** KVM_CREATE_VM's x86 machine type. */
  KVM_X86_DEFAULT_VM,
  /** ioctl numbers (x86 encodings). */
  KVM_IOCTL,
  /** KVM_GET_VCPU_MMAP_SIZE's answer. */
  KVM_VCPU_MMAP_SIZE,
  /** Page index of the PIO data page in the vCPU mmap. */
  KVM_PIO_PAGE_OFFSET,
  /** x86 KVM_USER_MEM_SLOTS. */
  KVM_USER_MEM_SLOTS,
  /** KVM_MAX_IRQ_ROUTES. */
  KVM_MAX_IRQ_ROUTES,
} from './generic/constants.js';

// Errors
export {
  /** An ioctl's error: `kind` the errno name, `errno` its number. */
  KvmError,
  /** Errno numbers by name. */
  ERRNO,
} from './generic/errors.js';
export type {
  /** An errno name. */
  ErrnoName,
} from './generic/errors.js';

// Generic VM parts
export {
  /** An eventfd(2): counter, semaphore mode, poll waiters. */
  EventFd,
  /** The largest eventfd counter, 2^64 − 2. */
  EVENTFD_MAX,
} from './generic/eventfd.js';
export type {
  /** Options of an EventFd. */
  EventFdOptions,
  /** A poll waiter of an EventFd. */
  EventFdWaiter,
} from './generic/eventfd.js';
export {
  /** The architecture-independent VM: memslots, dirty log, routing, irqfd, ioeventfd, statistics. */
  KvmVm,
} from './generic/vm.js';
export type {
  /** What a VM gets from its Kvm. */
  KvmHost,
} from './generic/vm.js';
export {
  /** The user address-space limit of KVM_SET_USER_MEMORY_REGION's access_ok. */
  USER_ADDRESS_LIMIT,
} from './generic/memory-region.js';
export type {
  /** `struct kvm_userspace_memory_region`. */
  KvmUserspaceMemoryRegion,
  /** What a memory-region call changed. */
  MemoryRegionChange,
  /** A host range userspace may not name. */
  KernelRange,
} from './generic/memory-region.js';
export {
  /** The GSI routing table. */
  GsiRouting,
  /** Linux's per-entry kvm_set_irq value of a DeliveryStatus. */
  statusValue,
} from './generic/routing.js';
export type {
  /** A routing entry. */
  KvmIrqRoutingEntry,
  /** An IRQCHIP routing entry. */
  KvmIrqchipRoute,
  /** An MSI routing entry. */
  KvmMsiRoute,
  /** `struct kvm_msi`. */
  KvmMsi,
  /** What routing needs of an architecture. */
  RoutingBackend,
} from './generic/routing.js';
export {
  /** The irqfds of a VM. */
  IrqfdTable,
  /** Interrupt source ids (userspace, irqfd resampler). */
  IRQ_SOURCE,
} from './generic/irqfd.js';
export type {
  /** `struct kvm_irqfd`. */
  KvmIrqfd,
  /** What irqfds need of a VM. */
  IrqfdBackend,
} from './generic/irqfd.js';
export {
  /** The ioeventfds of a VM. */
  IoeventfdTable,
} from './generic/ioeventfd.js';
export type {
  /** `struct kvm_ioeventfd`. */
  KvmIoeventfd,
} from './generic/ioeventfd.js';
export {
  /** Exits counted by reason ("perf kvm stat"). */
  ExitStats,
} from './generic/exit-stats.js';

// x86
export {
  /** An x86 VM. */
  X86Vm,
} from './x86/vm.js';
export {
  /** x86 KVM_MAX_VCPUS. */
  KVM_MAX_VCPUS,
  /** x86 KVM_MAX_VCPU_IDS. */
  KVM_MAX_VCPU_IDS,
  /** KVM_CHECK_EXTENSION's answers on x86. */
  x86CheckExtension,
} from './x86/caps.js';
export {
  /** An x86 vCPU (emulated interrupt delivery on EPT). */
  X86Vcpu,
  /** The kick IPI vector (Linux RESCHEDULE_VECTOR). */
  RESCHEDULE_VECTOR,
  /** The host vector standing for a pending signal. */
  SIGNAL_VECTOR,
  /** KVM_MAX_CPUID_ENTRIES. */
  KVM_MAX_CPUID_ENTRIES,
} from './x86/vcpu.js';
export type {
  /** `struct kvm_cpuid_entry2`. */
  KvmCpuidEntry2,
  /** KVM_GET/SET_REGS fields. */
  KvmRegs,
  /** KVM_GET/SET_SREGS fields. */
  KvmSregs,
  /** Options of X86Vcpu.run. */
  KvmRunOptions,
  /** vcpu->mode. */
  VcpuMode,
  /** What a vCPU needs of its VM. */
  X86VcpuHost,
} from './x86/vcpu.js';
export {
  /** `struct kvm_run`. */
  KvmRun,
} from './x86/kvm-run.js';
export type {
  /** `kvm_run.io`. */
  KvmRunIo,
  /** `kvm_run.mmio`. */
  KvmRunMmio,
} from './x86/kvm-run.js';
export {
  /** The in-kernel PIC pair, IOAPIC and APIC bus. */
  X86Irqchip,
  /** kvm_setup_default_irq_routing's routes. */
  defaultIrqRoutes,
  /** The in-kernel IOAPIC's guest-physical base. */
  IOAPIC_BASE,
  /** Pins of the in-kernel IOAPIC. */
  IOAPIC_NUM_PINS,
} from './x86/irqchip.js';
