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
  /** `kvm_vcpu_events.flags` bits. */
  KVM_VCPUEVENT_VALID,
  /** `kvm_vcpu_events.interrupt.shadow` bits. */
  KVM_X86_SHADOW_INT,
  /** MAX_IO_MSRS: KVM_GET/SET_MSRS take fewer entries. */
  KVM_MAX_IO_MSRS,
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
  /** A routing entry as KVM compiles it (kvm_kernel_irq_routing_entry). */
  KernelRoutingEntry,
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
export type {
  /** `struct kvm_enable_cap` without `cap`. */
  KvmEnableCapArgs,
} from './x86/vm.js';
export {
  /** No cycles for KVM's own work (the default of `x86KvmCosts`). */
  X86_KVM_ZERO_COSTS,
  /** The field names of `X86KvmCosts`. */
  X86_KVM_COST_FIELDS,
  /** Validates `x86KvmCosts` (EINVAL naming the bad field) and returns a frozen copy. */
  x86KvmCosts,
} from './x86/kvm-costs.js';
export type {
  /** Cycles of KVM's own x86 work: in-kernel exit handling (per exit reason), a return to userspace, event injection. */
  X86KvmCosts,
  /** A VMX basic exit reason's name, the keys of `X86KvmCosts.exitHandlers`. */
  X86ExitReasonName,
} from './x86/kvm-costs.js';
export {
  /** Linux's x86 defaults of the halt-polling module parameters. */
  HALT_POLL_DEFAULTS,
  /** Linux's arm64 defaults of the halt-polling module parameters (halt_poll_ns 500000). */
  ARM64_HALT_POLL_DEFAULTS,
  /** Validates the halt-polling parameters (EINVAL naming the bad field). */
  haltPollParams,
  /** A vCPU's halt polling: `vcpu->halt_poll_ns` and the halt statistics. */
  HaltPoll,
} from './generic/halt-poll.js';
export type {
  /** The kvm module's halt-polling parameters (`new Kvm({ haltPoll })`). */
  HaltPollParams,
  /** `halt_successful_poll`, `halt_attempted_poll`, `halt_wakeup`... */
  HaltPollStats,
} from './generic/halt-poll.js';
export {
  /** `struct kvm_clock_data` flags. */
  KVM_CLOCK,
  /** KVM_CLOCK_VALID_FLAGS (KVM_CAP_ADJUST_CLOCK's answer). */
  KVM_CLOCK_VALID_FLAGS,
  /** A VM's TSC synchronization and kvmclock. */
  VmTsc,
  /** A vCPU's TSC offset (IA32_TSC, VMCS TSC offset). */
  VcpuTsc,
} from './x86/tsc.js';
export type {
  /** `struct kvm_clock_data` (KVM_GET_CLOCK, KVM_SET_CLOCK). */
  KvmClockData,
  /** What a VmTsc needs of the host. */
  TscHost,
} from './x86/tsc.js';
export type {
  /** `struct kvm_vcpu_events`. */
  KvmVcpuEvents,
} from './x86/vcpu-events.js';
export {
  /** NMI_VECTOR (2). */
  NMI_VECTOR,
} from './x86/vcpu-events.js';
export {
  /** MSR numbers this KVM handles (msr-index.h names). */
  MSR,
  /** KVM_GET_MSR_INDEX_LIST's answer. */
  KVM_MSR_INDEX_LIST,
} from './x86/msrs.js';
export type {
  /** `struct kvm_msr_entry`. */
  KvmMsrEntry,
} from './x86/msrs.js';
export {
  /** The register state INIT leaves (SDM 3A 9.1.1). */
  INIT_STATE,
} from './x86/mp-state.js';
export {
  /** MAX_NR_RESERVED_IOAPIC_PINS, the bound of KVM_CAP_SPLIT_IRQCHIP's args[0]. */
  MAX_NR_RESERVED_IOAPIC_PINS,
} from './x86/split-irqchip.js';
export type {
  /** `struct kvm_irqchip`. */
  KvmIrqchip,
  /** `struct kvm_pic_state`. */
  KvmPicState,
  /** `struct kvm_ioapic_state`. */
  KvmIoapicState,
} from './x86/irqchip-state.js';
export {
  /** Saves an x86 vCPU through its ioctls (and its guest code's position). */
  saveVcpu,
  /** Restores a saved x86 vCPU into a vCPU of the same id, atomically. */
  restoreVcpu,
  /** Saves an x86 VM: memslots and RAM, dirty bitmaps, irqchip, routing, vCPUs. */
  saveVm,
  /** Restores a saved x86 VM into a VM of the same shape, atomically. */
  restoreVm,
} from './x86/migration.js';
export type {
  /** A saved x86 vCPU. */
  X86VcpuSavedState,
  /** A saved x86 VM. */
  X86VmSavedState,
  /** A memslot in a saved VM: layout, non-zero pages, dirty pages. */
  SavedMemslot,
} from './x86/migration.js';
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
export type {
  /** Options of an X86Irqchip (the split irqchip). */
  X86IrqchipOptions,
  /** The sender of an EOI broadcast. */
  EoiSender,
  /** The in-kernel APIC bus: an ApicBus that tells KVM of EOI broadcasts (the IOAPIC's ack notifiers). */
  KvmApicBus,
} from './x86/irqchip.js';
export {
  /** A VM's interrupt-delivery mode ('emulated' or 'apicv') and the physical CPUs its vCPUs share. */
  InterruptDelivery,
} from './x86/interrupt-delivery.js';
export type {
  /** The interrupt-delivery modes. */
  InterruptMode,
  /** Options of InterruptDelivery.setMode. */
  InterruptDeliveryOptions,
} from './x86/interrupt-delivery.js';
export {
  /** A vCPU's shadow paging (vm.setMmu('shadow')): its ShadowMmu, guest CR2, #PF outcomes and CR3/INVLPG intercepts. */
  ShadowPaging,
  /** Host pages reserved for one VM's shadow page tables. */
  SHADOW_POOL_PAGES,
} from './x86/shadow-state.js';
export type {
  /** A VM's MMU: 'ept' (default) or 'shadow'. */
  MmuMode,
} from './x86/shadow-state.js';
export {
  /** The shadow MMU's guest-physical map: the VM's memslots plus KVM-private pages (APIC-access page, ELI's shadow IDT) and write-tracked frames. */
  ShadowSlots,
} from './x86/shadow-slots.js';
export {
  /** KVM hypercall numbers (kvm_para.h KVM_HC_*), handled at the VMCALL exit. */
  KVM_HC,
  /** Hypercall errors, returned negated in RAX (KVM_ENOSYS 1000, KVM_EPERM...). */
  KVM_HC_ERROR,
} from './x86/hypercall.js';
export type {
  /** A vCPU a hypercall can wake (KVM_HC_KICK_CPU). */
  HypercallTarget,
} from './x86/hypercall.js';
export {
  /** A host physical CPU: its local APIC, VMX, loaded vCPU and posted-interrupt blocked list. */
  PhysicalCpu,
  /** The host's physical CPUs. */
  PhysicalCpus,
} from './x86/pcpu.js';
export type {
  /** What a physical CPU holds of a vCPU (its wake-up). */
  PcpuVcpu,
  /** What physical CPUs need of the host. */
  PcpuHost,
} from './x86/pcpu.js';
export type {
  /** What posting needs of its vCPU. */
  PostingTarget,
} from './x86/posted-intr.js';
export type {
  /** What the VM-wide delivery part needs of a vCPU. */
  DeliveryVcpu,
} from './x86/interrupt-delivery.js';
export {
  /** A vCPU's posted interrupts: descriptor, software posting, vcpu_load/put updates, PIR sync. */
  PostedInterrupts,
} from './x86/posted-intr.js';
export {
  /** A vCPU's APIC-virtualization pages and EOI-exit bitmap. */
  ApicvState,
} from './x86/apicv.js';
export {
  /** The host scheduler: vCPU threads on physical CPUs, run together in quanta, sharing CPUs by timeslice. */
  VcpuScheduler,
  /** The host's local-timer vector, the scheduler tick that preempts a vCPU. */
  LOCAL_TIMER_VECTOR,
} from './x86/scheduler.js';
export type {
  /** Options of a VcpuScheduler. */
  VcpuSchedulerOptions,
  /** What VcpuScheduler.run ended with. */
  ScheduleResult,
} from './x86/scheduler.js';
export type {
  /** The state behind an X86Vcpu (its CPU, VMCS, LAPIC, posted descriptor, run loop state), as a scheduler sees it. */
  X86VcpuState,
} from './x86/vcpu-state.js';

// arm64
export type {
  /** The architecture of a Kvm ('x86' or 'arm64'). */
  KvmArch,
  /** The VM class of an architecture. */
  KvmVmOf,
} from './kvm.js';
export {
  /** An arm64 VM: vCPUs on a host with a GICv3 and a generic timer, stage 2 from memslots, the vGICv3 device. */
  Arm64Vm,
} from './arm64/vm.js';
export type {
  /** `struct kvm_create_device`. */
  KvmCreateDevice,
  /** Options of an Arm64Vm: the host GIC's version (GICv4 direct injection). */
  Arm64VmOptions,
} from './arm64/vm.js';
export {
  /** GICv4/v4.1 direct injection of one arm64 VM: vPEs, residency, doorbells, forwarded vLPIs. */
  VgicV4,
} from './arm64/vgic-v4.js';
export type {
  /** A GICv4 version, 'v4.0' or 'v4.1'. */
  Gicv4Version,
  /** What GICv4 needs of its VM. */
  VgicV4Host,
  /** A host event forwarded as a vLPI: the vCPU and the vINTID (`VgicV4.forwardOf`). */
  VlpiForward,
} from './arm64/vgic-v4.js';
export {
  /** The host kernel's ITS driver on a GICv4 host: LPI tables, ITS tables, command queue, host LPIs. */
  HostItsDriver,
} from './arm64/host-its.js';
export type {
  /** Zeroed, aligned kernel memory. */
  KernelAlloc,
} from './arm64/host-its.js';
export {
  /** A device assigned to an arm64 VM: MSIs to the host ITS, forwarded as vLPIs or signalled through eventfds. */
  Arm64AssignedDevice,
} from './arm64/assigned-device.js';
export type {
  /** Options of Arm64Vm.assignDevice. */
  Arm64AssignDeviceOptions,
  /** One MSI vector of an assigned device. */
  Arm64AssignedMsi,
} from './arm64/assigned-device.js';
export {
  /** An arm64 vCPU: KVM_ARM_VCPU_INIT, one-reg, the run loop at EL2, PSCI. */
  Arm64Vcpu,
  /** The host SGI of kvm_vcpu_kick (Linux's reschedule IPI). */
  IPI_RESCHEDULE,
  /** The host SGI standing for a pending signal. */
  IPI_SIGNAL,
} from './arm64/vcpu.js';
export type {
  /** `struct kvm_vcpu_init`. */
  KvmVcpuInit,
  /** Options of Arm64Vcpu.run. */
  Arm64RunOptions,
  /** What an arm64 vCPU needs of its VM. */
  Arm64VcpuHost,
  /** KVM's vCPU state beside the registers (a whole-VM snapshot carries it). */
  Arm64VcpuRunState,
} from './arm64/vcpu.js';
export {
  /** Saves a whole arm64 VM through the API: one-regs, the vGIC's and vITSs' attributes and tables, routing, RAM. */
  saveArm64Vm,
  /** Restores a saved arm64 VM into a VM of the same shape (checked first; SnapshotError). */
  restoreArm64Vm,
} from './arm64/migration.js';
export type {
  /** A saved arm64 VM. */
  Arm64VmSavedState,
  /** A saved arm64 vCPU. */
  Arm64VcpuSavedState,
} from './arm64/migration.js';
export {
  /** The arm64 vCPU's kvm_run (mmio, system_event, internal). */
  Arm64KvmRun,
} from './arm64/kvm-run.js';
export {
  /** The in-kernel vGICv3 device: attributes, guest MMIO, list-register flush and fold. */
  Arm64Vgic,
  /** VGIC_ADDR_UNDEF: an address not yet set. */
  VGIC_ADDR_UNDEF,
  /** The virtual timer's PPI, 27. */
  VTIMER_PPI,
  /** The maintenance interrupt's PPI, 25. */
  MAINTENANCE_PPI,
} from './arm64/vgic.js';
export type {
  /** `struct kvm_device_attr`. */
  KvmDeviceAttr,
  /** What the vGIC needs of its VM. */
  VgicHost,
} from './arm64/vgic.js';
export {
  /** The in-kernel vITS device (KVM_DEV_TYPE_ARM_VGIC_ITS): attributes, guest MMIO, MSI translation to LPIs. */
  Arm64Vits,
  /** KVM_VGIC_V3_ITS_SIZE: the vITS's MMIO region, 128 KiB. */
  VITS_SIZE,
} from './arm64/vits.js';
export type {
  /** What a vITS needs of its VM. */
  VitsHost,
} from './arm64/vits.js';
export {
  /** Split-mode (nVHE) world-switch costs. */
  ARM64_NVHE_COSTS,
  /** VHE world-switch costs. */
  ARM64_VHE_COSTS,
} from './arm64/world-switch-costs.js';
export type {
  /** An arm64 KVM cost configuration. */
  Arm64WorldSwitchCosts,
} from './arm64/world-switch-costs.js';
export {
  /** Builds HVC #0 with the SMCCC registers X0-X3. */
  smcccHvc,
  /** An HVC's X0 as a signed number (PSCI return codes). */
  smcccResult,
  /** The SMCCC registers of a trapped HVC. */
  SmcccArgs,
} from './arm64/smccc.js';
export {
  /** PSCI 0.1 function IDs as KVM implements them. */
  KVM_PSCI_0_1_FN,
} from './arm64/psci.js';
export type {
  /** A vCPU as PSCI sees it. */
  PsciVcpu,
  /** What PSCI needs of the VM. */
  PsciHost,
  /** One PSCI call's answer. */
  PsciResult,
} from './arm64/psci.js';
export {
  /** KVM_CHECK_EXTENSION's answers on arm64. */
  arm64CheckExtension,
  /** arm64 capability numbers (PSCI, PSCI_0_2, VM_IPA_SIZE, IRQ_LINE_LAYOUT_2, ONE_REG). */
  KVM_CAP_ARM,
  /** The most vCPUs of an arm64 VM here (one physical CPU each). */
  ARM64_MAX_VCPUS,
  /** The default IPA size, 40 bits. */
  ARM64_IPA_BITS,
} from './arm64/caps.js';
export {
  /** KVM_ARM_TARGET_* values. */
  KVM_ARM_TARGET,
  /** KVM_ARM_VCPU_* feature bit numbers. */
  KVM_ARM_VCPU_FEATURE,
  /** Register id fields (KVM_REG_ARM64, sizes, groups). */
  KVM_REG,
  /** `struct kvm_regs` offsets / 4. */
  KVM_REG_ARM_CORE_INDEX,
  /** KVM_REG_ARM_TIMER_CTL / CVAL / CNT. */
  KVM_REG_ARM_TIMER,
  /** KVM_REG_ARM_PSCI_VERSION. */
  KVM_REG_ARM_PSCI_VERSION,
  /** ARM64_SYS_REG(op0, op1, crn, crm, op2). */
  arm64SysRegId,
  /** A KVM_REG_ARM_CORE id. */
  arm64CoreRegId,
  /** KVM_DEV_TYPE_* values. */
  KVM_DEV_TYPE,
  /** KVM_CREATE_DEVICE_TEST. */
  KVM_CREATE_DEVICE_TEST,
  /** KVM_DEV_ARM_VGIC_GRP_* attribute groups. */
  KVM_DEV_ARM_VGIC_GRP,
  /** KVM_DEV_ARM_VGIC_CTRL_* attributes. */
  KVM_DEV_ARM_VGIC_CTRL,
  /** KVM_VGIC_V3_ADDR_TYPE_* attributes. */
  KVM_VGIC_V3_ADDR_TYPE,
  /** KVM_ARM_IRQ_TYPE_* of KVM_IRQ_LINE. */
  KVM_ARM_IRQ_TYPE,
  /** KVM_ARM_IRQ_CPU_IRQ / FIQ. */
  KVM_ARM_IRQ_CPU,
  /** arm64 MP states (RUNNABLE, STOPPED, SUSPENDED). */
  KVM_ARM_MP_STATE,
  /** PSCI function IDs. */
  PSCI_FN,
  /** PSCI return codes. */
  PSCI_RET,
  /** AFFINITY_INFO answers. */
  PSCI_AFFINITY,
  /** PSCI_VERSION's answer (1.1). */
  KVM_ARM_PSCI_1_1,
} from './arm64/constants.js';
export {
  /** IRQ bypass: an assigned device's MSI posted by VT-d straight into a vCPU's descriptor. */
  IrqBypass,
  /** The first host vector of remapped (not posted) assigned-device interrupts. */
  HOST_DEVICE_VECTOR,
} from './x86/irq-bypass.js';
export type {
  /** Options of an IrqBypass. */
  IrqBypassOptions,
  /** One producer (an assigned device's MSI vector and its IRTE). */
  BypassProducer,
  /** What IRQ bypass needs of the VM. */
  BypassVm,
} from './x86/irq-bypass.js';
export {
  /** A vCPU's ELI state (`vcpu.eli`): direct or injection mode, the shadow IDT, counters. */
  EliState,
} from './x86/eli-state.js';
export type {
  /** The assigned vectors ELI delivers directly. */
  EliVectors,
} from './x86/eli-state.js';
export {
  /** A device assigned to a VM (`vm.assignDevice`): DMA through the IOMMU to guest memory, MSIs through IRQ bypass. */
  AssignedDevice,
  /** A VM's assigned devices and their DMA containers. */
  DeviceAssignment,
} from './x86/device-assignment.js';
export type {
  /** Options of `vm.assignDevice`. */
  AssignDeviceOptions,
  /** One MSI vector of an assigned device (eventfd and GSI). */
  AssignedMsi,
  /** What device assignment needs of the VM. */
  AssignmentVm,
} from './x86/device-assignment.js';
