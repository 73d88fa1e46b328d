/**
 * `struct kvm_run` (api.rst 5 "The kvm_run structure"), the vCPU's shared
 * page: fields keep the uapi names. Userspace sets `request_interrupt_window`,
 * `immediate_exit` (and `cr8`/`apic_base` without an in-kernel LAPIC)
 * before `run()`; KVM fills the rest when `run()` returns. Of the exit union
 * the `io`, `mmio`, `fail_entry`, `internal`, `eoi` and `system_event` members are
 * kept apart, and only the one `exit_reason` names is meaningful. Port I/O
 * data lives in the vCPU mmap at `io.data_offset` (the PIO page, page 1).
 */
import { KVM_PIO_PAGE_OFFSET, KVM_VCPU_MMAP_SIZE } from '../generic/constants.js';

/** `kvm_run.io` (KVM_EXIT_IO). */
export interface KvmRunIo {
  /** KVM_EXIT_IO_IN (0) or KVM_EXIT_IO_OUT (1). */
  direction: number;
  /** Bytes per item: 1, 2 or 4. */
  size: number;
  port: number;
  /** Items (string I/O repeats; 1 here). */
  count: number;
  /** Offset of the data in `mmap` (KVM_PIO_PAGE_OFFSET × 4096). */
  data_offset: number;
}

/** `kvm_run.mmio` (KVM_EXIT_MMIO). */
export interface KvmRunMmio {
  phys_addr: number;
  /** The bytes written, or the buffer userspace fills for a read (little-endian). */
  data: Uint8Array;
  len: number;
  is_write: number;
}

/** The vCPU's kvm_run page (see the file comment). */
export class KvmRun {
  /** In: return with KVM_EXIT_IRQ_WINDOW_OPEN once an interrupt can be injected (userspace irqchip). */
  request_interrupt_window = 0;
  /** In: KVM_RUN returns EINTR at once (KVM_CAP_IMMEDIATE_EXIT). */
  immediate_exit = 0;
  /** Out: a KVM_EXIT_* value. */
  exit_reason = 0;
  /** Out: KVM_INTERRUPT can inject now (userspace irqchip with the window requested). */
  ready_for_interrupt_injection = 0;
  /** Out: guest RFLAGS.IF. */
  if_flag = 0;
  /** Out: KVM_RUN_X86_* flags (none here). */
  flags = 0;
  /** In/out: the guest's CR8 (TPR class). */
  cr8 = 0;
  /** In/out: IA32_APIC_BASE. */
  apic_base = 0;
  /** KVM_EXIT_IO. */
  readonly io: KvmRunIo = { direction: 0, size: 0, port: 0, count: 0, data_offset: KVM_PIO_PAGE_OFFSET * 4096 };
  /** KVM_EXIT_MMIO. */
  readonly mmio: KvmRunMmio = { phys_addr: 0, data: new Uint8Array(8), len: 0, is_write: 0 };
  /** KVM_EXIT_FAIL_ENTRY: the VM-exit reason of the failed entry (bit 31 set), and the physical CPU. */
  readonly fail_entry = { hardware_entry_failure_reason: 0, cpu: 0 };
  /** KVM_EXIT_INTERNAL_ERROR: a KVM_INTERNAL_ERROR_* suberror and its data (the VMX exit reason for an unexpected exit). */
  readonly internal = { suberror: 0, ndata: 0, data: [0, 0, 0, 0] };
  /** KVM_EXIT_IOAPIC_EOI (split irqchip): the vector of a level-triggered interrupt the guest EOIed, for the userspace IOAPIC. */
  readonly eoi = { vector: 0 };
  /** KVM_EXIT_SYSTEM_EVENT. */
  readonly system_event = { type: 0, ndata: 0 };
  /** The vCPU mmap: kvm_run's page, the PIO data page, the coalesced-MMIO page. */
  readonly mmap = new Uint8Array(KVM_VCPU_MMAP_SIZE);

  /** The bytes of the current KVM_EXIT_IO (a view into `mmap`). */
  get ioData(): Uint8Array {
    return this.mmap.subarray(this.io.data_offset, this.io.data_offset + this.io.size * this.io.count);
  }
}

/** Reads `len` little-endian bytes as a number (up to 4) or low/high halves. */
export function readLe(bytes: Uint8Array, len: number): { lo: number; hi: number } {
  let lo = 0;
  let hi = 0;
  for (let i = Math.min(len, 4) - 1; i >= 0; i--) lo = lo * 256 + bytes[i]!;
  for (let i = len - 1; i >= 4; i--) hi = hi * 256 + bytes[i]!;
  return { lo: lo >>> 0, hi: hi >>> 0 };
}

/** Writes `len` little-endian bytes of `lo` (bits 31:0) and `hi` (bits 63:32). */
export function writeLe(bytes: Uint8Array, len: number, lo: number, hi = 0): void {
  for (let i = 0; i < len; i++) bytes[i] = i < 4 ? (lo >>> (8 * i)) & 0xff : (hi >>> (8 * (i - 4))) & 0xff;
}
