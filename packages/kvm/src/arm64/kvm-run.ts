/**
 * `struct kvm_run` as an arm64 vCPU fills it (api.rst 5 "The kvm_run
 * structure"): `immediate_exit` in; `exit_reason` and the `mmio`,
 * `system_event` and `internal` members of the exit union out. For a
 * KVM_EXIT_MMIO read, userspace writes the value into `mmio.data` before the
 * next `run()`, which completes the load (kvm_handle_mmio_return).
 */
import type { KvmRunMmio } from '../x86/kvm-run.js';

/** The arm64 vCPU's kvm_run page (see the file comment). */
export class Arm64KvmRun {
  /** In: KVM_RUN returns EINTR at once. */
  immediate_exit = 0;
  /** Out: a KVM_EXIT_* value. */
  exit_reason = 0;
  /** KVM_EXIT_MMIO. */
  readonly mmio: KvmRunMmio = { phys_addr: 0, data: new Uint8Array(8), len: 0, is_write: 0 };
  /** KVM_EXIT_SYSTEM_EVENT: KVM_SYSTEM_EVENT_SHUTDOWN / RESET, `data[0]` the PSCI function (api.rst 5). */
  readonly system_event = { type: 0, ndata: 0, data: [0] };
  /** KVM_EXIT_INTERNAL_ERROR: a KVM_INTERNAL_ERROR_* suberror; `data[0]` the ESR_EL2 of the exit. */
  readonly internal = { suberror: 0, ndata: 0, data: [0, 0, 0, 0] };
}
