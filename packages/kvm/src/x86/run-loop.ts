/**
 * The x86 run loop (x86.c vcpu_run / vcpu_enter_guest / kvm_vcpu_block):
 * complete userspace I/O, then loop — block while halted, else inject
 * events, enter the guest through `@hvsim/vmcs`, run it on `@hvsim/cpu`
 * until a VM exit, count the exit and handle it — until an exit needs
 * userspace or a signal is pending.
 */
import { VMCS_FIELD as IMPORTED_VMCS_FIELD } from '@hvsim/vmcs';
import { KVM_EXIT as IMPORTED_KVM_EXIT, KVM_INTERNAL_ERROR as IMPORTED_KVM_INTERNAL_ERROR, KVM_MP_STATE as IMPORTED_KVM_MP_STATE } from '../generic/constants.js';
import { fail } from '../generic/errors.js';
import { afterBlock, archWakeup, beforeInjection, runUninitialized } from './arch-events.js';
import { handleExit } from './exit-handlers.js';
import { eliBeforeEntry } from './eli.js';
import { shadowBeforeEntry } from './shadow-exits.js';
import { apicvHasInterrupt, apicvRequests } from './apicv-exits.js';
import { GUEST_RFLAGS_IF, INTR_INFO_VALID, dmRequestForIrqInjection, injectEvents, interruptAllowed, readyForInterruptInjection } from './inject.js';
import { readLe, type KvmRun } from './kvm-run.js';
import { SIGNAL_VECTOR, type KvmRunOptions, type X86VcpuState } from './vcpu-state.js';

// Module-local copies: under Node's ESM loader each use of an imported binding is a getter call (every exit reads these).
const VMCS_FIELD = IMPORTED_VMCS_FIELD;
const KVM_EXIT = IMPORTED_KVM_EXIT;
const KVM_INTERNAL_ERROR = IMPORTED_KVM_INTERNAL_ERROR;
const KVM_MP_STATE = IMPORTED_KVM_MP_STATE;

/**
 * KVM_RUN: runs the guest until an exit that needs userspace, and returns
 * kvm_run. Exits KVM handles itself loop in here. EINTR (thrown, with
 * `exit_reason` KVM_EXIT_INTR) for `immediate_exit`; EFAULT when the guest
 * touches a memslot whose userspace memory is not backed.
 */
export function vcpuRun(v: X86VcpuState, options: KvmRunOptions): KvmRun {
  v.sliceEnd = Infinity; // not under a VcpuScheduler
  v.preemptRequested = false;
  startRun(v, options);
  continueRun(v);
  return finishRun(v);
}

/** KVM_RUN up to its loop: the checks, vcpu_load, userspace I/O completed, an UNINITIALIZED vCPU's wait. */
export function startRun(v: X86VcpuState, options: KvmRunOptions): void {
  const run = v.kvmRun;
  // kvm_arch_vcpu_ioctl_run: userspace I/O completes before immediate_exit is checked (api.rst 5).
  if (run.immediate_exit !== 0 && v.userIo !== null) completeUserspaceIo(v);
  if (run.immediate_exit !== 0) {
    run.exit_reason = KVM_EXIT.INTR;
    fail('EINTR', 'immediate_exit is set');
  }
  const maxCycles = options.maxCycles ?? 1e9;
  if (!Number.isSafeInteger(maxCycles) || maxCycles <= 0) fail('EINVAL', `maxCycles must be a positive integer, got ${String(maxCycles)}`);
  // kvm_arch_vcpu_ioctl_run: without an in-kernel LAPIC, CR8 comes from kvm_run (EINVAL above 15).
  if (!v.apic && (!Number.isInteger(run.cr8) || run.cr8 < 0 || run.cr8 > 15)) fail('EINVAL', `kvm_run.cr8 ${String(run.cr8)} is above 15`);
  const deadline = v.cpu.localTime + maxCycles;
  v.runDeadline = deadline;
  v.load(); // vcpu_load
  completeUserspaceIo(v);
  v.signalPending = false;
  if (v.mp === KVM_MP_STATE.UNINITIALIZED) runUninitialized(v, () => block(v, deadline)); // EAGAIN or EINTR (arch-events.ts)
}

/**
 * vcpu_run's loop from where it stands: block while halted, else enter the
 * guest, until an exit needs userspace or a signal is pending ('done'), the
 * scheduler's slice ends (`v.sliceEnd`: the vCPU stays where it is, in
 * guest mode or blocked) or it asked for the CPU back (`v.preemptRequested`,
 * checked between exits as need_resched is).
 */
export function continueRun(v: X86VcpuState): 'done' | 'slice' | 'preempted' {
  const deadline = v.runDeadline;
  for (;;) {
    let r: number;
    if (v.mp !== KVM_MP_STATE.RUNNABLE) r = block(v, deadline);
    else r = enterGuest(v, deadline);
    if (r === SLICE_END) return 'slice';
    if (r <= 0) return 'done';
    if (dmRequestForIrqInjection(v) && readyForInterruptInjection(v)) {
      v.toUserspace(KVM_EXIT.IRQ_WINDOW_OPEN);
      return 'done';
    }
    if (signalled(v)) {
      v.toUserspace(KVM_EXIT.INTR);
      return 'done';
    }
    if (v.preemptRequested) {
      v.preemptRequested = false;
      return 'preempted';
    }
  }
}

/** The end of KVM_RUN: the kvm_run fields filled in, the vCPU put. */
export function finishRun(v: X86VcpuState): KvmRun {
  fillRunState(v);
  v.put(false); // vcpu_put
  return v.kvmRun;
}

/** What block and enterGuest return when the scheduler's slice ended with the vCPU blocked or in guest mode. */
const SLICE_END = -1;

/** A signal is pending (vcpu_run's signal_pending check; a call, as block and enterGuest set it). */
function signalled(v: X86VcpuState): boolean {
  return v.signalPending;
}

/**
 * kvm_arch_vcpu_runnable for a halted vCPU: an interrupt it would take (with
 * APICv, the PIR synced and a VIRR vector above the PPR), or an ExtINT.
 */
function hasEvents(v: X86VcpuState): boolean {
  const arch = archWakeup(v); // INIT/SIPI, NMIs; not-halted states wait for INIT/SIPI only (arch-events.ts)
  if (arch !== undefined) return arch;
  const apic = v.apic;
  if (!apic) return false;
  if (!interruptAllowed(v)) return false;
  if ((apic.pendingSignals & 0x10) !== 0) return true;
  return v.apicv ? apicvHasInterrupt(v) : apic.highestDeliverableVector() >= 0;
}

/**
 * kvm_vcpu_halt/kvm_vcpu_block: unless an event is already there, the vCPU
 * is put (blocking: with posting active its descriptor gets the wake-up
 * vector and it joins its CPU's blocked list) and sleeps while time passes
 * (clock events run), re-checking after each kvm_vcpu_wake_up, then is
 * loaded again. Past the deadline the "signal" ends the block.
 */
function block(v: X86VcpuState, deadline: number): number {
  const clock = v.host.clock;
  const cpu = v.cpu;
  if (v.blocking || !hasEvents(v)) {
    if (!v.blocking) {
      // kvm_vcpu_halt (HALTED) polls before blocking; other states (kvm_vcpu_block) do not.
      if (v.mp === KVM_MP_STATE.HALTED && haltPoll(v, deadline)) {
        endHalt(v, false);
        afterBlock(v);
        return 1;
      }
      v.blocking = true;
      v.put(false);
    } else if (hasEvents(v)) {
      // kvm_vcpu_block checks kvm_vcpu_check_block before every schedule(): resumed asleep, the vCPU may have
      // been woken while another CPU had its turn (that CPU's time ran this vCPU's clock events: its LAPIC timer).
      cpu.localTime = Math.max(cpu.localTime, v.wokenAt);
      return wakeFromBlock(v, true);
    }
    let woken = false;
    while (!woken) {
      const seen = v.wakeups;
      const next = clock.nextEventAt();
      if ((next === undefined || next > v.sliceEnd) && v.sliceEnd < deadline) {
        // The scheduler's slice ends first: the vCPU stays asleep (resumed here).
        cpu.localTime = Math.max(cpu.localTime, v.sliceEnd);
        return SLICE_END;
      }
      if (next === undefined || next > deadline) {
        cpu.localTime = Math.max(cpu.localTime, deadline);
        v.signalPending = true;
        break;
      }
      cpu.localTime = Math.max(cpu.localTime, next);
      clock.runUntil(Math.max(cpu.localTime, clock.now())); // also the events due at this very cycle
      woken = v.wakeups !== seen && hasEvents(v);
    }
    return wakeFromBlock(v, woken);
  }
  return wakeUpRunnable(v);
}

/** The end of kvm_vcpu_block: the vCPU is loaded again; `woken` (not the deadline's signal) makes a halted one runnable. */
function wakeFromBlock(v: X86VcpuState, woken: boolean): number {
  v.blocking = false;
  v.load();
  endHalt(v, true);
  return woken ? wakeUpRunnable(v) : 1;
}

/** A wake event ends the halt: INIT/SIPI accepted, HALTED becomes RUNNABLE (arch-events.ts), KVM_REQ_EVENT. */
function wakeUpRunnable(v: X86VcpuState): number {
  afterBlock(v);
  v.requestEvent = true;
  return 1;
}

/**
 * The polling of kvm_vcpu_halt: the vCPU stays loaded on its physical CPU
 * (no vcpu_put: its posted-interrupt descriptor keeps NV 0xF2) and spins
 * for up to `vcpu->halt_poll_ns`, while time passes, checking for a wake
 * event (kvm_vcpu_check_block); the scheduler wanting the CPU (its slice
 * end: need_resched) or a signal ends the poll early (kvm_vcpu_can_poll).
 * The cycles spent are the physical CPU's (`pcpu.haltPollCycles`). True
 * when an event came during the poll.
 */
function haltPoll(v: X86VcpuState, deadline: number): boolean {
  const cpu = v.cpu;
  const start = cpu.localTime;
  v.haltStart = start;
  v.pollEnd = start;
  const ns = v.haltPoll.begin();
  if (ns === 0) return false;
  const clock = v.host.clock;
  const stop = Math.min(start + v.nsToCycles(ns), v.sliceEnd, deadline);
  let found = false;
  for (;;) {
    const next = clock.nextEventAt();
    if (next === undefined || next > stop) {
      cpu.localTime = Math.max(cpu.localTime, stop);
      break;
    }
    cpu.localTime = Math.max(cpu.localTime, next);
    clock.runUntil(Math.max(cpu.localTime, clock.now()));
    if (hasEvents(v)) {
      found = true;
      break;
    }
  }
  v.pollEnd = cpu.localTime;
  v.pcpu.haltPollCycles += cpu.localTime - start;
  return found;
}

/** The end of kvm_vcpu_halt (after polling, or after the vCPU blocked: `waited`): statistics, grow or shrink the poll. */
function endHalt(v: X86VcpuState, waited: boolean): void {
  const start = v.haltStart;
  if (start < 0) return;
  v.haltStart = -1;
  const now = v.cpu.localTime;
  v.haltPoll.end(v.cyclesToNs(now - start), v.cyclesToNs(v.pollEnd - start), waited);
}

/** kvm_vcpu_exit_request: a kick moved the vCPU to exiting-guest mode or raised a request since `kicks` was `seen`, or the scheduler wants the CPU. */
function exitRequested(v: X86VcpuState, seen: number): boolean {
  return v.modeValue !== 'in-guest' || v.kicks !== seen || v.preemptRequested;
}

/** vmx_cancel_injection: an event written for an entry that did not happen is queued again. */
function cancelInjection(v: X86VcpuState): void {
  const vmx = v.vmx;
  const info = vmx.vmreadNumber(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD);
  if ((info & INTR_INFO_VALID) === 0) return;
  v.reinject = info >>> 0;
  v.reinjectCode = vmx.vmreadNumber(VMCS_FIELD.VM_ENTRY_EXCEPTION_ERROR_CODE);
  vmx.vmwrite32(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD, 0);
  v.requestEvent = true;
}

/**
 * vcpu_enter_guest: requests, event injection, then IN_GUEST_MODE, the
 * PIR-to-VIRR sync (after the mode is set, so a post that saw the vCPU
 * outside guest mode and only woke it is not left in the PIR), the
 * exit-request check (a kick or wake-up since injection cancels the entry),
 * entry, guest execution, exit and its handler. >0 loop in the kernel; 0
 * return to userspace.
 */
function enterGuest(v: X86VcpuState, deadline: number): number {
  if (v.inGuestSlice) return runGuest(v, deadline);
  const vmx = v.vmx;
  if (v.apicv) apicvRequests(v);
  if (v.requestEvent || dmRequestForIrqInjection(v)) {
    v.requestEvent = false;
    const r = beforeInjection(v); // KVM_REQ_NMI, KVM_REQ_IOAPIC_EOI_EXIT, INIT/SIPI (arch-events.ts)
    if (r >= 0) return r;
    const injection = v.kvmCosts.injection;
    const wasValid = injection !== 0 && (vmx.vmreadNumber(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID) !== 0;
    injectEvents(v);
    // An event written into the VM-entry interruption information (SDM 3C 25.8.3) costs KVM's injection work.
    if (injection !== 0 && !wasValid && (vmx.vmreadNumber(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID) !== 0) v.cpu.localTime += injection;
  }
  if (v.eli) eliBeforeEntry(v, v.delivery); // ELI: direct mode (shadow IDT) or injection mode
  if (v.shadow && !shadowBeforeEntry(v, v.shadow)) return 0; // the shadow root in GUEST_CR3, the TLB flushed after shadow changes
  const seen = v.kicks;
  v.entryRace?.('before-guest-mode');
  v.modeValue = 'in-guest';
  v.entryRace?.('in-guest-mode');
  v.posted?.syncPirToIrr(vmx);
  const pcpu = v.pcpu;
  if (exitRequested(v, seen)) {
    // kvm_vcpu_exit_request: back out, take the host interrupts (the kick's IPI), and go round again.
    v.modeValue = 'outside-guest';
    cancelInjection(v);
    pcpu.handleInterrupts();
    return 1;
  }
  pcpu.guestActive = true;
  const o = v.launched ? vmx.vmresume() : vmx.vmlaunch();
  if (o.kind !== 'entered') {
    pcpu.guestActive = false;
    v.modeValue = 'outside-guest';
    v.kvmRun.fail_entry.hardware_entry_failure_reason = o.kind === 'exit' ? o.exit.reason >>> 0 : 0xffff_ffff;
    v.kvmRun.fail_entry.cpu = v.id;
    v.toUserspace(KVM_EXIT.FAIL_ENTRY);
    return 0;
  }
  v.launched = true;
  v.entered = true;
  v.cpu.enterGuest(o.inject);
  return runGuest(v, deadline);
}

/** The guest runs (VMX non-root operation) until a VM exit, which is handled; or until the scheduler's slice ends. */
function runGuest(v: X86VcpuState, deadline: number): number {
  v.inGuestSlice = false;
  const cpu = v.cpu;
  const clock = v.host.clock;
  const pcpu = v.pcpu;
  const sliceEnd = v.sliceEnd;
  for (;;) {
    if (clock.now() < cpu.localTime) clock.runUntil(cpu.localTime);
    const next = clock.nextEventAt();
    // Run to the next clock event, the slice's end or the deadline; past the deadline (a signal is being
    // delivered) let the guest reach its next instruction boundary, where the pending host interrupt makes it exit.
    const target = Math.max(Math.min(next === undefined ? deadline : Math.min(deadline, next), sliceEnd), cpu.localTime + 1);
    const res = cpu.run(target);
    if (res === 'exit') break;
    if (res === 'shutdown') {
      pcpu.guestActive = false;
      v.modeValue = 'outside-guest';
      v.toUserspace(KVM_EXIT.SHUTDOWN);
      return 0;
    }
    if (res === 'finished') {
      pcpu.guestActive = false;
      v.modeValue = 'outside-guest';
      v.internalError(KVM_INTERNAL_ERROR.EMULATION, 0);
      return 0;
    }
    if (res === 'halted') cpu.localTime = Math.max(cpu.localTime, Math.min(next ?? deadline, sliceEnd, deadline));
    if (cpu.localTime >= sliceEnd && sliceEnd < deadline) {
      // Another physical CPU's turn in the simulation: this guest stays in non-root operation.
      v.inGuestSlice = true;
      return SLICE_END;
    }
    if (cpu.localTime >= deadline && !v.signalPending) {
      // The VMM's timer signal: an interrupt on the physical CPU forces the exit.
      v.signalPending = true;
      pcpu.sendIpi(SIGNAL_VECTOR);
    }
  }
  pcpu.guestActive = false;
  v.modeValue = 'outside-guest';
  const exit = cpu.lastExit!;
  // handle_exit_irqoff: the host's handler of an acknowledged interrupt ends with its EOI; then host
  // interrupts are enabled briefly and whatever else is pending (a kick that raced the exit) is handled.
  if (exit.acknowledgedVector >= 0) {
    pcpu.runHandler(exit.acknowledgedVector & 0xff);
    pcpu.hostApic.mmioWrite(0xb0, 4, 0);
  }
  pcpu.handleInterrupts();
  v.countExit(exit);
  const r = handleExit(v, exit);
  // KVM's in-kernel work on the exit (vcpu_enter_guest after the exit, the handler), on the vCPU's time.
  cpu.localTime += v.exitCosts[exit.basicReason] ?? v.kvmCosts.exitHandler;
  return r;
}

/** Completes an IN or MMIO read with the data userspace left in kvm_run (complete_userspace_io). */
function completeUserspaceIo(v: X86VcpuState): void {
  const kind = v.userIo;
  v.userIo = null;
  if (kind === 'in') {
    const value = readLe(v.kvmRun.ioData, v.kvmRun.io.size);
    v.skip(value.lo);
  } else if (kind === 'mmio-read') {
    const value = readLe(v.kvmRun.mmio.data, v.kvmRun.mmio.len);
    v.skip(value.lo, value.hi);
  } else if (kind === 'done') {
    v.skip();
  }
}

/** The kvm_run fields KVM_RUN returns (post_kvm_run_save). */
function fillRunState(v: X86VcpuState): void {
  const run = v.kvmRun;
  if (v.entered || v.launched) run.if_flag = (v.vmx.vmreadNumber(VMCS_FIELD.GUEST_RFLAGS) & GUEST_RFLAGS_IF) !== 0 ? 1 : 0;
  if (v.apic) {
    run.cr8 = v.apic.readCr8();
    run.apic_base = Number(v.apic.apicBase);
  }
  run.ready_for_interrupt_injection = dmRequestForIrqInjection(v) && readyForInterruptInjection(v) ? 1 : 0;
}
