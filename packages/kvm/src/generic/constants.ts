/**
 * The constants of the KVM API with the values of Linux's uapi
 * `<linux/kvm.h>` and Documentation/virt/kvm/api.rst: exit reasons,
 * capabilities, memslot flags, routing types, irqfd/ioeventfd/MSI flags,
 * multiprocessing states and the ioctl numbers (x86 encodings).
 */

/** KVM_GET_API_VERSION always answers 12 (api.rst 4.1). */
export const KVM_API_VERSION = 12;

/** `kvm_run.exit_reason` values (uapi linux/kvm.h). */
export const KVM_EXIT = {
  UNKNOWN: 0,
  EXCEPTION: 1,
  IO: 2,
  HYPERCALL: 3,
  DEBUG: 4,
  HLT: 5,
  MMIO: 6,
  IRQ_WINDOW_OPEN: 7,
  SHUTDOWN: 8,
  FAIL_ENTRY: 9,
  INTR: 10,
  SET_TPR: 11,
  TPR_ACCESS: 12,
  NMI: 16,
  INTERNAL_ERROR: 17,
  WATCHDOG: 21,
  EPR: 23,
  SYSTEM_EVENT: 24,
  IOAPIC_EOI: 26,
  HYPERV: 27,
  ARM_NISV: 28,
  X86_RDMSR: 29,
  X86_WRMSR: 30,
  DIRTY_RING_FULL: 31,
  AP_RESET_HOLD: 32,
  X86_BUS_LOCK: 33,
  XEN: 34,
  NOTIFY: 37,
  MEMORY_FAULT: 39,
} as const;

/** Names of {@link KVM_EXIT} values (`KVM_EXIT_IO`...). */
export const KVM_EXIT_NAME: Readonly<Record<number, string>> = Object.freeze(Object.fromEntries(Object.entries(KVM_EXIT).map(([k, v]) => [v, `KVM_EXIT_${k}`])));

/** `kvm_run.io.direction` (api.rst 5, KVM_EXIT_IO). */
export const KVM_EXIT_IO_IN = 0;
/** `kvm_run.io.direction` of an OUT. */
export const KVM_EXIT_IO_OUT = 1;

/** `kvm_run.system_event.type`. */
export const KVM_SYSTEM_EVENT = { SHUTDOWN: 1, RESET: 2, CRASH: 3 } as const;

/** `kvm_run.internal.suberror`. */
export const KVM_INTERNAL_ERROR = { EMULATION: 1, SIMUL_EX: 2, DELIVERY_EV: 3, UNEXPECTED_EXIT_REASON: 4 } as const;

/** KVM_CHECK_EXTENSION capability numbers (uapi linux/kvm.h). */
export const KVM_CAP = {
  IRQCHIP: 0,
  HLT: 1,
  USER_MEMORY: 3,
  SET_TSS_ADDR: 4,
  NR_VCPUS: 9,
  NR_MEMSLOTS: 10,
  PIT: 11,
  MP_STATE: 14,
  COALESCED_MMIO: 15,
  SYNC_MMU: 16,
  DESTROY_MEMORY_REGION_WORKS: 21,
  USER_NMI: 22,
  IRQ_ROUTING: 25,
  IRQ_INJECT_STATUS: 26,
  JOIN_MEMORY_REGIONS_WORKS: 30,
  IRQFD: 32,
  PIT2: 33,
  IOEVENTFD: 36,
  SET_IDENTITY_MAP_ADDR: 37,
  VCPU_EVENTS: 41,
  INTR_SHADOW: 49,
  ENABLE_CAP: 54,
  MAX_VCPUS: 66,
  TSC_DEADLINE_TIMER: 72,
  SIGNAL_MSI: 77,
  READONLY_MEM: 81,
  IRQFD_RESAMPLE: 82,
  DEVICE_CTRL: 89,
  ENABLE_CAP_VM: 98,
  IOEVENTFD_NO_LENGTH: 100,
  CHECK_EXTENSION_VM: 105,
  X86_SMM: 117,
  MULTI_ADDRESS_SPACE: 118,
  SPLIT_IRQCHIP: 121,
  IOEVENTFD_ANY_LENGTH: 122,
  MAX_VCPU_ID: 128,
  X2APIC_API: 129,
  MSI_DEVID: 131,
  IMMEDIATE_EXIT: 136,
  MANUAL_DIRTY_LOG_PROTECT2: 168,
  HALT_POLL: 182,
  ADJUST_CLOCK: 39,
} as const;

/** Memslot flags (api.rst 4.35): bits 15:0 are for userspace-visible flags. */
export const KVM_MEM = { LOG_DIRTY_PAGES: 1, READONLY: 2 } as const;

/** `kvm_irq_routing_entry.type` (api.rst 4.52). */
export const KVM_IRQ_ROUTING = { IRQCHIP: 1, MSI: 2, S390_ADAPTER: 3, HV_SINT: 4, XEN_EVTCHN: 5 } as const;

/** x86 irqchip ids of an IRQCHIP routing entry and of KVM_GET/SET_IRQCHIP's `chip_id`. */
export const KVM_IRQCHIP = { PIC_MASTER: 0, PIC_SLAVE: 1, IOAPIC: 2 } as const;

/** `kvm_irqfd.flags` (api.rst 4.75). */
export const KVM_IRQFD_FLAG = { DEASSIGN: 1, RESAMPLE: 2 } as const;

/** `kvm_ioeventfd.flags` (api.rst 4.59). */
export const KVM_IOEVENTFD_FLAG = { DATAMATCH: 1, PIO: 2, DEASSIGN: 4, VIRTIO_CCW_NOTIFY: 8 } as const;

/** `kvm_msi.flags` and an MSI routing entry's flags: `devid` is valid. */
export const KVM_MSI_VALID_DEVID = 1;

/** `kvm_mp_state.mp_state` (api.rst 4.38; x86 uses RUNNABLE to SIPI_RECEIVED and AP_RESET_HOLD). */
export const KVM_MP_STATE = { RUNNABLE: 0, UNINITIALIZED: 1, INIT_RECEIVED: 2, HALTED: 3, SIPI_RECEIVED: 4, AP_RESET_HOLD: 9 } as const;

/** `kvm_vcpu_events.flags` (api.rst 4.31 KVM_GET_VCPU_EVENTS): which optional fields are valid. */
export const KVM_VCPUEVENT_VALID = { NMI_PENDING: 0x1, SIPI_VECTOR: 0x2, SHADOW: 0x4, SMM: 0x8, PAYLOAD: 0x10, TRIPLE_FAULT: 0x20 } as const;

/** `kvm_vcpu_events.interrupt.shadow` bits (uapi asm/kvm.h KVM_X86_SHADOW_INT_*). */
export const KVM_X86_SHADOW_INT = { MOV_SS: 0x1, STI: 0x2 } as const;

/** MAX_IO_MSRS: KVM_GET/SET_MSRS refuse this many entries or more (E2BIG). */
export const KVM_MAX_IO_MSRS = 256;

/** KVM_CREATE_VM machine type of x86 (api.rst 4.2): only the default. */
export const KVM_X86_DEFAULT_VM = 0;

/** ioctl numbers (x86 encodings of the uapi `_IO*` macros), for tables and traces. */
export const KVM_IOCTL = {
  /** `0xae00` */
  KVM_GET_API_VERSION: 0xae00,
  /** `0xae01` */
  KVM_CREATE_VM: 0xae01,
  /** `0xae03` */
  KVM_CHECK_EXTENSION: 0xae03,
  /** `0xae04` */
  KVM_GET_VCPU_MMAP_SIZE: 0xae04,
  /** `0xae41` */
  KVM_CREATE_VCPU: 0xae41,
  /** `0x4010ae42` */
  KVM_GET_DIRTY_LOG: 0x4010ae42,
  /** `0x4020ae46` */
  KVM_SET_USER_MEMORY_REGION: 0x4020ae46,
  /** `0xae47` */
  KVM_SET_TSS_ADDR: 0xae47,
  /** `0x4008ae48` */
  KVM_SET_IDENTITY_MAP_ADDR: 0x4008ae48,
  /** `0xae60` */
  KVM_CREATE_IRQCHIP: 0xae60,
  /** `0x4008ae61` */
  KVM_IRQ_LINE: 0x4008ae61,
  /** `0xc008ae67` */
  KVM_IRQ_LINE_STATUS: 0xc008ae67,
  /** `0x4008ae6a` */
  KVM_SET_GSI_ROUTING: 0x4008ae6a,
  /** `0x4020ae76` */
  KVM_IRQFD: 0x4020ae76,
  /** `0x4040ae79` */
  KVM_IOEVENTFD: 0x4040ae79,
  /** `0xae80` */
  KVM_RUN: 0xae80,
  /** `0x8090ae81` */
  KVM_GET_REGS: 0x8090ae81,
  /** `0x4090ae82` */
  KVM_SET_REGS: 0x4090ae82,
  /** `0x8138ae83` */
  KVM_GET_SREGS: 0x8138ae83,
  /** `0x4138ae84` */
  KVM_SET_SREGS: 0x4138ae84,
  /** `0x4004ae86` */
  KVM_INTERRUPT: 0x4004ae86,
  /** `0x8400ae8e` */
  KVM_GET_LAPIC: 0x8400ae8e,
  /** `0x4400ae8f` */
  KVM_SET_LAPIC: 0x4400ae8f,
  /** `0x4008ae90` */
  KVM_SET_CPUID2: 0x4008ae90,
  /** `0x8004ae98` */
  KVM_GET_MP_STATE: 0x8004ae98,
  /** `0x4004ae99` */
  KVM_SET_MP_STATE: 0x4004ae99,
  /** `0xae9a` */
  KVM_NMI: 0xae9a,
  /** `0xc004ae02` */
  KVM_GET_MSR_INDEX_LIST: 0xc004ae02,
  /** `0xc208ae62` */
  KVM_GET_IRQCHIP: 0xc208ae62,
  /** `0x8208ae63` */
  KVM_SET_IRQCHIP: 0x8208ae63,
  /** `0xc008ae88` */
  KVM_GET_MSRS: 0xc008ae88,
  /** `0x4008ae89` */
  KVM_SET_MSRS: 0x4008ae89,
  /** `0x8040ae9f` */
  KVM_GET_VCPU_EVENTS: 0x8040ae9f,
  /** `0x4040aea0` */
  KVM_SET_VCPU_EVENTS: 0x4040aea0,
  /** `0x4068aea3` */
  KVM_ENABLE_CAP: 0x4068aea3,
  /** `0x4020aea5` */
  KVM_SIGNAL_MSI: 0x4020aea5,
} as const;

/** Bytes of the vCPU mmap: `struct kvm_run` in page 0, the PIO data page (KVM_PIO_PAGE_OFFSET 1) and the coalesced-MMIO ring page (x86). */
export const KVM_VCPU_MMAP_SIZE = 3 * 4096;

/** Page index of the PIO data page in the vCPU mmap (`kvm_run.io.data_offset` = this × 4096). */
export const KVM_PIO_PAGE_OFFSET = 1;

/** x86 KVM_USER_MEM_SLOTS: KVM_MEM_SLOTS_NUM (SHRT_MAX) minus the 3 internal slots. */
export const KVM_USER_MEM_SLOTS = 32764;

/** KVM_MAX_IRQ_ROUTES (4096): the bound on routing entries and GSIs. */
export const KVM_MAX_IRQ_ROUTES = 4096;
