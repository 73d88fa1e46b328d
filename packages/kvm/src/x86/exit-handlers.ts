/**
 * The x86 exit handlers (vmx.c kvm_vmx_exit_handlers): what KVM does with
 * each VM exit before re-entering (return > 0) or going to userspace
 * (return 0, kvm_run filled in).
 */
import { CpuException, MemoryError } from '@hvsim/core';
import { OP as IMPORTED_OP } from '@hvsim/cpu';
import { EXIT_REASON as IMPORTED_EXIT_REASON, type VmExitInfo } from '@hvsim/vmcs';
import { KVM_EXIT as IMPORTED_KVM_EXIT, KVM_EXIT_IO_IN, KVM_EXIT_IO_OUT, KVM_INTERNAL_ERROR as IMPORTED_KVM_INTERNAL_ERROR, KVM_MP_STATE as IMPORTED_KVM_MP_STATE } from '../generic/constants.js';
import { fail } from '../generic/errors.js';
import { APIC_ACCESS_GPA } from './apicv.js';
import { handleApicAccess, handleApicWrite, handleEoiInduced, lapicWritten } from './apicv-exits.js';
import { PIC_PORTS } from './irqchip.js';
import { emulateMmio, isLoadOrStore } from './mmio.js';
import { INTR_INFO_VALID, setWindow } from './inject.js';
import { writeLe } from './kvm-run.js';
import { guestMsrAccess } from './arch-events.js';
import { eliEoi, eliException, eliIdtWrite, eliLidt, eliTracksPage } from './eli.js';
import { closeNmiWindow, nmiInterrupted } from './vcpu-events.js';
import { handleHypercall } from './hypercall.js';
import { handleShadowCr, handleShadowInvlpg, handleShadowPageFault } from './shadow-exits.js';
import type { X86VcpuState } from './vcpu-state.js';

// Module-local copies: under Node's ESM loader each use of an imported binding is a getter call (every exit reads these).
const OP = IMPORTED_OP;
const EXIT_REASON = IMPORTED_EXIT_REASON;
const KVM_EXIT = IMPORTED_KVM_EXIT;
const KVM_INTERNAL_ERROR = IMPORTED_KVM_INTERNAL_ERROR;
const KVM_MP_STATE = IMPORTED_KVM_MP_STATE;

const EPT_MMIO_SPTE = 6; // W|X without R: an EPT misconfiguration (VMX_EPT_MISCONFIG_WX_VALUE)

/** The exit's IDT-vectoring information: an event whose delivery the exit interrupted is re-injected (vmx_complete_interrupts). */
function recordInterruptedEvent(v: X86VcpuState, exit: VmExitInfo): void {
  if ((exit.idtVectoringInfo & INTR_INFO_VALID) !== 0) {
    v.reinject = exit.idtVectoringInfo >>> 0;
    nmiInterrupted(v.vmx, v.reinject); // an interrupted NMI is injected again: undo its NMI blocking
    v.reinjectCode = exit.idtVectoringErrorCode;
    v.requestEvent = true;
  }
}

/** vmx_handle_exit: dispatches on the basic exit reason. >0 re-enter; 0 return to userspace. */
export function handleExit(v: X86VcpuState, exit: VmExitInfo): number {
  recordInterruptedEvent(v, exit);
  switch (exit.basicReason) {
    case EXIT_REASON.EXTERNAL_INTERRUPT:
      return 1;
    case EXIT_REASON.NMI_WINDOW:
      closeNmiWindow(v.vmx); // handle_nmi_window
      v.requestEvent = true;
      return 1;
    case EXIT_REASON.INTERRUPT_WINDOW:
      setWindow(v, false);
      v.requestEvent = true;
      return 1;
    case EXIT_REASON.HLT:
      v.skip();
      if (v.apic) {
        v.mp = KVM_MP_STATE.HALTED;
        return 1;
      }
      v.toUserspace(KVM_EXIT.HLT);
      return 0;
    case EXIT_REASON.CPUID:
      return handleCpuid(v);
    case EXIT_REASON.IO_INSTRUCTION:
      return handleIo(v);
    case EXIT_REASON.EPT_VIOLATION:
    case EXIT_REASON.EPT_MISCONFIG:
      return handleEpt(v, exit);
    case EXIT_REASON.MSR_READ:
    case EXIT_REASON.MSR_WRITE:
      return handleMsr(v, exit.basicReason === EXIT_REASON.MSR_WRITE);
    case EXIT_REASON.CR_ACCESS:
      if (v.shadow) {
        const r = handleShadowCr(v, v.shadow); // CR0, CR3, CR4 under shadow paging
        if (r >= 0) return r;
      }
      return handleCr(v);
    case EXIT_REASON.INVLPG:
      if (v.shadow) return handleShadowInvlpg(v, v.shadow);
      v.internalError(KVM_INTERNAL_ERROR.UNEXPECTED_EXIT_REASON, exit.reason >>> 0);
      return 0;
    case EXIT_REASON.APIC_WRITE:
      return handleApicWrite(v, exit.qualification & 0xfff);
    case EXIT_REASON.EOI_INDUCED:
      return handleEoiInduced(v, exit.qualification & 0xff);
    case EXIT_REASON.APIC_ACCESS:
      return handleApicAccess(v, exit.qualification);
    case EXIT_REASON.VMCALL:
      return handleHypercall(v, (apicId) => v.host.interrupts?.vcpusWithApicId(apicId) ?? []); // handle_vmcall
    case EXIT_REASON.TRIPLE_FAULT:
      v.toUserspace(KVM_EXIT.SHUTDOWN);
      return 0;
    case EXIT_REASON.EXCEPTION_NMI:
      if (v.shadow) {
        const r = handleShadowPageFault(v, v.shadow, exit); // #PF: kvm_mmu_page_fault
        if (r >= 0) return r;
      }
      if (v.eli) {
        const r = eliException(v, exit);
        if (r >= 0) return r;
      }
      v.internalError(KVM_INTERNAL_ERROR.UNEXPECTED_EXIT_REASON, exit.reason >>> 0);
      return 0;
    case EXIT_REASON.GDTR_IDTR:
      if (v.eli && v.cpu.pendingOperation?.code === OP.LIDT) return eliLidt(v, v.cpu.pendingOperation.a, v.cpu.pendingOperation.b);
      v.internalError(KVM_INTERNAL_ERROR.UNEXPECTED_EXIT_REASON, exit.reason >>> 0);
      return 0;
    default:
      v.internalError(KVM_INTERNAL_ERROR.UNEXPECTED_EXIT_REASON, exit.reason >>> 0);
      return 0;
  }
}

function handleCpuid(v: X86VcpuState): number {
  const op = v.cpu.pendingOperation!;
  const e = v.cpuid.find((c) => c.function === op.a >>> 0 && ((c.flags & 1) === 0 || c.index === op.b >>> 0));
  // kvm_emulate_cpuid: all four registers from the KVM_SET_CPUID2 entry (zeros for a leaf it lacks).
  v.cpu.completePendingCpuid(e ? e.eax : 0, e ? e.ebx : 0, e ? e.ecx : 0, e ? e.edx : 0);
  v.clearInstructionShadow();
  return 1;
}

function handleIo(v: X86VcpuState): number {
  const op = v.cpu.pendingOperation!;
  const port = op.a & 0xffff;
  const size = op.size;
  const out = op.code === OP.OUT;
  if (out && v.host.ioeventfds.write(true, port, size, op.b >>> 0)) {
    v.skip();
    return 1;
  }
  const chip = v.host.irqchip;
  if (chip?.pic && PIC_PORTS.includes(port)) {
    if (out) chip.ports.write(port, size as 1 | 2 | 4, op.b >>> 0);
    const value = out ? 0 : chip.ports.read(port, size as 1 | 2 | 4);
    v.skip(value);
    return 1;
  }
  const io = v.kvmRun.io;
  io.direction = out ? KVM_EXIT_IO_OUT : KVM_EXIT_IO_IN;
  io.size = size;
  io.port = port;
  io.count = 1;
  if (out) writeLe(v.kvmRun.ioData, size, op.b >>> 0);
  v.userIo = out ? 'done' : 'in';
  v.toUserspace(KVM_EXIT.IO);
  return 0;
}

function handleEpt(v: X86VcpuState, exit: VmExitInfo): number {
  const gpa = exit.guestPhysicalAddress;
  const write = (exit.qualification & 2) !== 0;
  const apicv = v.apicv;
  if (apicv && gpa - (gpa % 4096) === APIC_ACCESS_GPA) {
    // The APIC-access page's private memslot (APIC_ACCESS_PAGE_PRIVATE_MEMSLOT): map it, retry the access.
    v.host.ept.map(APIC_ACCESS_GPA, apicv.apicAccessPage, { permissions: 7 });
    v.mmu.invept(1, v.host.eptp);
    return 1;
  }
  const slot = v.host.memslots.find(gpa);
  if (slot && !(write && (slot.flags & 2) !== 0)) {
    // tdp_page_fault: map the page from the memslot (read-only slots without W).
    const page = gpa - (gpa % 4096);
    const hpa = slot.hostPhysical + (page - slot.guestPhysical);
    if (!v.host.memory.isBacked(hpa, 4096)) fail('EFAULT', `guest page 0x${page.toString(16)}: userspace address 0x${hpa.toString(16)} of slot ${slot.id} is not backed`);
    // ELI write-protects the guest's IDT: a store there exits and is emulated (kvm_page_track).
    if (write && eliTracksPage(v, page)) {
      const op = v.cpu.pendingOperation;
      if (op?.code === OP.STORE && eliIdtWrite(v, gpa, op.size, op.b, op.c)) return 1;
    }
    v.host.ept.map(page, hpa, { permissions: (slot.flags & 2) !== 0 || eliTracksPage(v, page) ? 5 : 7 });
    v.mmu.invept(1, v.host.eptp);
    return 1;
  }
  if (!slot && exit.basicReason === EXIT_REASON.EPT_VIOLATION && isLoadOrStore(v)) {
    // Cache the MMIO page as a misconfigured SPTE: later accesses take the EPT-misconfiguration path.
    v.host.ept.map(gpa - (gpa % 4096), 0, { permissions: EPT_MMIO_SPTE });
    v.mmu.invept(1, v.host.eptp);
  }
  return emulateMmio(v, gpa, exit.reason);
}

function handleMsr(v: X86VcpuState, write: boolean): number {
  const op = v.cpu.pendingOperation!;
  const msr = op.a >>> 0;
  const apic = v.apic;
  const lapicMsr = msr === 0x1b || msr === 0x6e0 || (msr >= 0x800 && msr <= 0x8ff);
  if (apic && lapicMsr) {
    try {
      if (write && msr === 0x80b && v.eli && op.b === 0 && op.c === 0) {
        eliEoi(v, v.delivery.eliVectors); // the EOI of whichever APIC's interrupt is in service (eli.ts)
        v.skip();
      } else if (write) {
        apic.writeMsr(msr, BigInt(op.b >>> 0) | (BigInt(op.c >>> 0) << 32n));
        v.skip();
        if (v.apicv) lapicWritten(v);
      } else {
        const value = apic.readMsr(msr);
        v.skip(Number(value & 0xffff_ffffn), Number(value >> 32n));
      }
    } catch (e) {
      if (!(e instanceof CpuException) && !(e instanceof MemoryError)) throw e;
      v.pendingException = 13; // #GP(0), the instruction does not complete
      v.requestEvent = true;
    }
    return 1;
  }
  if (guestMsrAccess(v, msr, write, op.b, op.c)) return 1; // STAR, LSTAR, PAT... (msrs.ts, arch-events.ts)
  // An MSR this KVM does not emulate: #GP (ignore_msrs=0).
  v.pendingException = 13;
  v.requestEvent = true;
  return 1;
}

function handleCr(v: X86VcpuState): number {
  const op = v.cpu.pendingOperation!;
  if (op.a === 8) {
    if (op.code === OP.MOV_TO_CR) {
      if ((op.b >>> 0) > 15 || op.c !== 0) {
        v.pendingException = 13;
        v.requestEvent = true;
        return 1;
      }
      if (v.apic) v.apic.writeCr8(op.b >>> 0);
      else v.kvmRun.cr8 = op.b >>> 0;
      v.skip();
      v.requestEvent = true; // a lower TPR may unmask a pending interrupt
      return 1;
    }
    v.skip(v.apic ? v.apic.readCr8() : v.kvmRun.cr8);
    return 1;
  }
  v.internalError(KVM_INTERNAL_ERROR.UNEXPECTED_EXIT_REASON, EXIT_REASON.CR_ACCESS);
  return 0;
}
