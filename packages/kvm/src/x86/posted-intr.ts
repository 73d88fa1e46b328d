/**
 * A vCPU's posted interrupts (Linux vmx/posted_intr.c and vmx.c; SDM 3C
 * 30.6 "Posted-Interrupt Processing"): its posted-interrupt descriptor
 * (`@hvsim/lapic`'s `PostedInterruptDescriptor`), software posting with the
 * notification vector 0xF2 to the physical CPU of a vCPU in guest mode or a
 * wake-up otherwise (`vmx_deliver_posted_interrupt`,
 * `kvm_vcpu_trigger_posted_interrupt`), the descriptor updates of vcpu_load
 * and vcpu_put (`vmx_vcpu_pi_load`: NDST, NV, SN cleared and ON recomputed
 * from the PIR; `vmx_vcpu_pi_put`: the wake-up vector 0xF1 and the physical
 * CPU's blocked list for a vCPU that blocks, SN for one that does not), and
 * the PIR-to-VIRR sync of VM entry (`vmx_sync_pir_to_irr`).
 */
import type { Memory } from '@hvsim/core';
import { POSTED_INTR_VECTOR, POSTED_INTR_WAKEUP_VECTOR, PostedInterruptDescriptor } from '@hvsim/lapic';
import type { VmxProcessor } from '@hvsim/vmcs';
import type { PcpuVcpu, PhysicalCpu } from './pcpu.js';

const NOTIFY = POSTED_INTR_VECTOR;
const WAKEUP = POSTED_INTR_WAKEUP_VECTOR;

/** What posting needs of its vCPU. */
export interface PostingTarget extends PcpuVcpu {
  /** The physical CPU the vCPU is (or was last) loaded on. */
  readonly pcpu: PhysicalCpu;
  /** vcpu->mode == IN_GUEST_MODE. */
  inGuestMode(): boolean;
}

/** NDST of a host CPU in xAPIC mode: the APIC ID in bits 15:8 (SDM 3C 30.6, Table 30-1). */
function ndstOf(pcpu: PhysicalCpu): number {
  return (pcpu.index << 8) & 0xff00;
}

/** One vCPU's posted-interrupt state (see the file comment). */
export class PostedInterrupts {
  /** The descriptor (64 bytes of host memory). */
  readonly pid: PostedInterruptDescriptor;
  /** The physical CPU whose blocked list holds this vCPU, or null. */
  private wakeupCpu: PhysicalCpu | null = null;
  /** Posts to this vCPU (software and hardware). */
  posted = 0;
  /** Notifications sent (0xF2 to a vCPU in guest mode). */
  notifications = 0;

  constructor(
    memory: Memory,
    /** Host-physical address of the descriptor (64-byte aligned). */
    readonly address: number,
    private readonly target: PostingTarget,
  ) {
    this.pid = new PostedInterruptDescriptor(memory, address);
    this.pid.updateControl({ nv: NOTIFY, ndst: ndstOf(target.pcpu), on: false, sn: false });
  }

  /**
   * vmx_deliver_posted_interrupt: set the PIR bit (done if it was set), set
   * ON (done if it was set: a notification is already on its way), then
   * notify the physical CPU of a vCPU in guest mode with 0xF2, or wake the
   * vCPU (its next VM entry syncs the PIR). SN is not consulted: SN only
   * stops hardware (VT-d) posts from notifying.
   */
  deliver(vector: number): void {
    this.posted++;
    if (!this.pid.postFromSoftware(vector)) return;
    const t = this.target;
    if (t.inGuestMode()) {
      this.notifications++;
      t.pcpu.sendIpi(NOTIFY);
      return;
    }
    t.wakeUp();
  }

  /** pi_has_pending_interrupt: ON, or SN with a non-empty PIR. */
  hasPending(): boolean {
    const pid = this.pid;
    return pid.on || (pid.sn && pid.hasPending());
  }

  /** Whether this vCPU is on a physical CPU's blocked list. */
  get blockedOn(): PhysicalCpu | null {
    return this.wakeupCpu;
  }

  /**
   * vmx_vcpu_pi_load on physical CPU `pcpu`: off the blocked list, NDST the
   * new CPU's APIC ID, NV 0xF2, SN cleared — then ON set when the PIR is
   * not empty, since posts made while SN was set left ON clear and would
   * otherwise wait in the PIR (Linux's lost-interrupt fix).
   */
  load(pcpu: PhysicalCpu, previous: PhysicalCpu): void {
    const pid = this.pid;
    const onWakeup = pid.nv === WAKEUP;
    if (!onWakeup && pcpu === previous) {
      if (pid.sn) pid.clearSnAndResync();
      return;
    }
    if (this.wakeupCpu !== null) {
      this.wakeupCpu.blocked.delete(this.target);
      this.wakeupCpu = null;
    }
    pid.updateControl({ nv: NOTIFY, ndst: ndstOf(pcpu) });
    pid.clearSnAndResync();
  }

  /**
   * vmx_vcpu_pi_put: a vCPU that blocks (not preempted, interrupts not
   * blocked) gets the wake-up handler — on its CPU's blocked list, NV
   * 0xF1, and a self-IPI of 0xF1 when ON is already set; any other put sets
   * SN (a preempted or exiting vCPU is resynced on load).
   */
  put(blocking: boolean, preempted: boolean, interruptsBlocked: boolean): void {
    if (blocking && !preempted && !interruptsBlocked) this.enableWakeupHandler();
    else this.pid.sn = true;
  }

  /** pi_enable_wakeup_handler. */
  private enableWakeupHandler(): void {
    const pcpu = this.target.pcpu;
    pcpu.blocked.add(this.target);
    this.wakeupCpu = pcpu;
    this.pid.updateControl({ nv: WAKEUP });
    // A post that set ON before NV changed sent 0xF2 or nothing: raise the wake-up now.
    if (this.pid.on) pcpu.sendIpi(WAKEUP);
  }

  /**
   * vmx_sync_pir_to_irr for a vCPU about to enter: with ON set, clear it and
   * move the PIR into the VIRR, raising RVI (`@hvsim/vmcs` syncPirToVirr);
   * returns the highest VIRR vector moved or -1.
   */
  syncPirToIrr(vmx: VmxProcessor): number {
    if (!this.pid.on) return -1;
    return vmx.syncPirToVirr();
  }
}
