/**
 * The guest's time-stamp counter and kvmclock (Linux arch/x86/kvm/x86.c
 * `kvm_synchronize_tsc`, `adjust_tsc_offset_guest`, `kvm_read_l1_tsc`,
 * `kvm_vm_ioctl_get_clock` / `kvm_vm_ioctl_set_clock`; api.rst 4.9
 * KVM_GET_CLOCK, 4.10 KVM_SET_CLOCK).
 *
 * - The guest TSC is the host TSC (the cycles of the vCPU's time; no TSC
 *   scaling: the guest runs at the host's rate) plus the vCPU's TSC offset,
 *   which KVM keeps in the VMCS TSC-offset field with "use TSC offsetting"
 *   set (SDM 3C 25.6.5, 26.3).
 * - A host-initiated write of IA32_TSC (KVM_SET_MSRS, and vCPU creation
 *   with 0) goes through kvm_synchronize_tsc: a write of 0, or one within a
 *   second of virtual TSC time of the previous write, takes the VM's current
 *   offset ("matched"), so vCPUs created or restored together keep equal
 *   TSCs; any other write starts a new offset.
 * - A guest WRMSR to IA32_TSC moves the offset by the difference
 *   (adjust_tsc_offset_guest).
 * - kvmclock counts nanoseconds of host time since the VM was created plus
 *   the offset KVM_SET_CLOCK sets (kvmclock_offset); host "realtime" is the
 *   simulated time in ns.
 */
import { fail, u32, u64 } from '../generic/errors.js';

/** `struct kvm_clock_data` flags (asm/kvm.h). */
export const KVM_CLOCK = {
  /** The clock is the same on every vCPU (the master clock). */
  TSC_STABLE: 2,
  /** `realtime` holds the host's CLOCK_REALTIME in ns. */
  REALTIME: 1 << 2,
  /** `host_tsc` holds the host TSC at the moment of `clock`. */
  HOST_TSC: 1 << 3,
} as const;

/** KVM_CLOCK_VALID_FLAGS: what KVM_CAP_ADJUST_CLOCK answers and KVM_SET_CLOCK accepts. */
export const KVM_CLOCK_VALID_FLAGS = KVM_CLOCK.TSC_STABLE | KVM_CLOCK.REALTIME | KVM_CLOCK.HOST_TSC;

/** `struct kvm_clock_data` (api.rst 4.9). */
export interface KvmClockData {
  /** kvmclock in ns. */
  clock: number;
  /** KVM_CLOCK_* flags. */
  flags: number;
  /** The host's realtime in ns (valid with KVM_CLOCK_REALTIME). */
  realtime: number;
  /** The host TSC (valid with KVM_CLOCK_HOST_TSC). */
  host_tsc: number;
}

/** What the VM-wide TSC state needs: the host's time in cycles and its rate. */
export interface TscHost {
  /** The host TSC now (cycles of simulated time). */
  now(): number;
  /** Cycles per second (the CPUs' clockHz). */
  readonly hz: number;
}

/** The VM's TSC synchronization state and kvmclock (kvm->arch.cur_tsc_*, last_tsc_*, kvmclock_offset). */
export class VmTsc {
  private curOffset = 0;
  private lastWrite = 0;
  private lastNs = 0;
  private userSet = false;
  private kvmclockOffset: number;

  constructor(private readonly host: TscHost) {
    this.kvmclockOffset = -this.hostNs(); // kvm_arch_init_vm: kvmclock starts at 0
  }

  /** Host time in ns (get_kvmclock_base_ns). */
  hostNs(): number {
    return Math.round((this.host.now() * 1e9) / this.host.hz);
  }

  /**
   * kvm_synchronize_tsc for a vCPU whose host TSC is `hostTsc`: the new
   * offset for a guest TSC of `value` (`user` for KVM_SET_MSRS, false at
   * vCPU creation).
   */
  synchronize(value: number, hostTsc: number, user: boolean): number {
    let offset = value - hostTsc;
    const ns = this.hostNs();
    const elapsed = ns - this.lastNs;
    let synchronizing = false;
    if (value === 0) {
      synchronizing = true; // a vCPU created, or userspace writing 0
    } else if (this.userSet) {
      // UAPI baggage: a write within one second of virtual TSC time of the previous one was meant to match it.
      const expected = this.lastWrite + Math.round((elapsed * this.host.hz) / 1e9);
      synchronizing = value < expected + this.host.hz && value + this.host.hz > expected;
    }
    if (user) this.userSet = true;
    if (synchronizing) offset = this.curOffset;
    else this.curOffset = offset;
    this.lastNs = ns;
    this.lastWrite = value;
    return offset;
  }

  /** KVM_GET_CLOCK (api.rst 4.9): kvmclock now, with the host's realtime and TSC. */
  getClock(): KvmClockData {
    const ns = this.hostNs();
    return { clock: ns + this.kvmclockOffset, flags: KVM_CLOCK_VALID_FLAGS, realtime: ns, host_tsc: this.host.now() };
  }

  /**
   * KVM_SET_CLOCK (api.rst 4.10): kvmclock becomes `clock` now — plus the
   * realtime that passed since `realtime` with KVM_CLOCK_REALTIME. EINVAL
   * for flags outside KVM_CLOCK_VALID_FLAGS; EFAULT for no struct.
   */
  setClock(data: Partial<KvmClockData>): void {
    if (typeof (data as unknown) !== 'object' || (data as unknown) === null) fail('EFAULT', 'KVM_SET_CLOCK needs a struct kvm_clock_data');
    const flags = u32(data.flags ?? 0, 'flags');
    if ((flags & ~KVM_CLOCK_VALID_FLAGS) !== 0) fail('EINVAL', `kvm_clock_data flags 0x${flags.toString(16)} has bits outside KVM_CLOCK_VALID_FLAGS (0x${KVM_CLOCK_VALID_FLAGS.toString(16)})`);
    let clock = u64(data.clock, 'clock');
    const ns = this.hostNs();
    if ((flags & KVM_CLOCK.REALTIME) !== 0) {
      const realtime = u64(data.realtime ?? 0, 'realtime');
      if (ns > realtime) clock += ns - realtime;
    }
    this.kvmclockOffset = clock - ns;
  }
}

/** One vCPU's TSC: its offset over the host TSC, in the VMCS and for KVM_GET/SET_MSRS. */
export class VcpuTsc {
  /** vcpu->arch.l1_tsc_offset, in cycles. */
  offset = 0;

  constructor(
    private readonly vm: VmTsc,
    /** The vCPU's host TSC now (its time in cycles). */
    private readonly hostTsc: () => number,
    /** Writes the offset into the VMCS (TSC_OFFSET). */
    private readonly apply: (offset: number) => void,
  ) {}

  /** kvm_read_l1_tsc: the guest TSC now. */
  read(): number {
    return this.hostTsc() + this.offset;
  }

  /** A write of IA32_TSC: host-initiated through kvm_synchronize_tsc, the guest's by adjusting the offset. */
  write(value: number, hostInitiated: boolean): void {
    this.set(hostInitiated ? this.vm.synchronize(value, this.hostTsc(), true) : this.offset + (value - this.read()));
  }

  /** kvm_arch_vcpu_postcreate: kvm_synchronize_tsc(vcpu, 0). */
  created(): void {
    this.set(this.vm.synchronize(0, this.hostTsc(), false));
  }

  private set(offset: number): void {
    this.offset = offset;
    this.apply(offset);
  }
}
