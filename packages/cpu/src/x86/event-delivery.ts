/**
 * Event delivery of the x86 CPU (SDM 3A chapter 6): through 64-bit IDT gates
 * in guest memory with the architectural frame, faults while delivering
 * escalating to #DF and shutdown (Tables 6-4, 6-5), IRET; and, in VMX
 * non-root operation, what VMX hands over (injected and virtual events,
 * reflected exceptions) and the VM exit itself with the guest-state area
 * (SDM 3C 27.3.2, 28.3).
 */
import { UsageError } from '@hvsim/core';
import { ACCESS as IMPORTED_ACCESS } from '@hvsim/mmu';
import { INTR_TYPE, VMCS_FIELD, type GuestEvent, type VmExitInfo } from '@hvsim/vmcs';
import { FRAME_STATE as IMPORTED_FRAME_STATE } from '../guest/frames.js';
import { SECOND_FAULT, combineFaults, exceptionClass, hasErrorCode } from './exception-class.js';
import { FAULT_VM_EXIT } from './linear-memory.js';
import * as regs from './regs.js';
import { CPU_CONSTANTS } from './cpu-constants.js';
import { X86CpuState } from './x86-cpu-state.js';

// Module-local copies of the constants read on every operation and delivery:
// under Node's ESM loader each use of an imported binding is a getter call,
// which cost a quarter of a load/store loop (measured with --cpu-prof).
const ACCESS = IMPORTED_ACCESS;
const FRAME_STATE = IMPORTED_FRAME_STATE;
const { GATE_DWORD1, GATE_SIZE, GATE_TYPE, KERNEL_SELECTOR, RFLAGS, SELECTOR_ERROR, VECTOR } = regs;
const { KIND, SHADOW_NONE, TWO_32 } = CPU_CONSTANTS;

/** Event delivery and VM exits of an x86 CPU (see the file comment); `X86Cpu` is the class to use. */
export class X86EventDelivery extends X86CpuState {
  /**
   * Delivers an event through the IDT; a fault while doing so is delivered
   * instead, or becomes #DF, or shuts the CPU down (SDM 3A 6.15, Table 6-5).
   */
  protected deliver(vector: number, kind: number, errorCode: number): void {
    let v = vector;
    let k = kind;
    let code = errorCode;
    let ext = kind === KIND.EXTERNAL || kind === KIND.NMI ? SELECTOR_ERROR.EXT : 0;
    for (;;) {
      if (this.tryDeliver(v, k, code, ext)) return;
      if (this.vmx !== null) {
        const next = this.vmxDeliveryFault();
        if (next === null) return;
        v = next.vector;
        k = next.type === INTR_TYPE.HARDWARE_EXCEPTION ? KIND.EXCEPTION : next.type === INTR_TYPE.NMI ? KIND.NMI : next.type === INTR_TYPE.EXTERNAL_INTERRUPT ? KIND.EXTERNAL : KIND.SOFTWARE;
        code = next.errorCode;
        ext = SELECTOR_ERROR.EXT;
        continue;
      }
      const mem = this.memory;
      const second = mem.faultVector;
      const outcome = combineFaults(exceptionClass(v, k === KIND.EXCEPTION), exceptionClass(second, true));
      if (outcome === SECOND_FAULT.SHUTDOWN) {
        this.enterShutdown(v, second);
        return;
      }
      if (second === VECTOR.PF) this.cr2 = mem.faultAddress;
      // The fault happened while delivering an event: its error code says so (EXT, SDM 3A 6.13).
      if (outcome === SECOND_FAULT.DOUBLE_FAULT) {
        this.counters.doubleFaults++;
        v = VECTOR.DF;
        code = 0;
      } else {
        v = second;
        code = mem.faultError;
      }
      k = KIND.EXCEPTION;
      ext = SELECTOR_ERROR.EXT;
    }
  }

  /** One delivery attempt; false with the fault in `memory.fault*` when it faulted. */
  protected tryDeliver(vector: number, kind: number, errorCode: number, ext: number): boolean {
    const mem = this.memory;
    const gateAddress = this.idtBase + vector * GATE_SIZE;
    const selectorError = (vector << 3) | SELECTOR_ERROR.IDT | ext;
    // SDM 3A 6.14.1: the gate must lie within the IDT limit.
    if (vector * GATE_SIZE + GATE_SIZE - 1 > this.idtLimit) return this.raise(VECTOR.GP, selectorError);
    let dword0: number;
    let dword1: number;
    let offsetHigh: number;
    // The 16-byte gate through one translation and the RAM page view when it can (else access by access, which faults).
    const gate = mem.ramWords(gateAddress, GATE_SIZE, ACCESS.READ | ACCESS.IMPLICIT);
    if (gate !== null) {
      const at = mem.wordIndex;
      dword0 = gate[at]!;
      dword1 = gate[at + 1]!;
      offsetHigh = gate[at + 2]!;
    } else {
      const h = this.halves;
      if (!mem.read(gateAddress, 8, ACCESS.READ | ACCESS.IMPLICIT, h)) return false;
      dword0 = h.lo;
      dword1 = h.hi;
      if (!mem.read(gateAddress + 8, 4, ACCESS.READ | ACCESS.IMPLICIT, h)) return false;
      offsetHigh = h.lo;
    }
    const offsetLow = dword0 & 0xffff;
    const offsetMid = dword1 >>> 16;
    const type = (dword1 >>> GATE_DWORD1.TYPE.lsb) & 0xf;
    // SDM 3A 6.12.1.1: a not-present gate is #NP; a type that is no 64-bit interrupt or trap gate is #GP.
    if ((dword1 & (1 << GATE_DWORD1.P.lsb)) === 0) return this.raise(VECTOR.NP, selectorError);
    if (type !== GATE_TYPE.INTERRUPT && type !== GATE_TYPE.TRAP) return this.raise(VECTOR.GP, selectorError);
    const target = offsetLow + offsetMid * 0x1_0000 + offsetHigh * TWO_32;
    // The frame (SDM 3A 6.14.2): RSP aligned to 16 bytes, then SS, RSP, RFLAGS, CS, RIP and the error code.
    const pushError = kind === KIND.EXCEPTION && hasErrorCode(vector);
    const oldRsp = this.rsp;
    let sp = oldRsp - (oldRsp % 16);
    const interrupted = this.frames.top;
    const rip = interrupted ? interrupted.rip : 0;
    const frameBytes = pushError ? 48 : 40;
    const stack = mem.ramWords(sp - frameBytes, frameBytes, ACCESS.WRITE | ACCESS.IMPLICIT);
    if (stack !== null) {
      // The whole frame in one RAM page, translated once: written straight into the page.
      let w = mem.wordIndex + frameBytes / 4;
      w = this.putQword(stack, w, KERNEL_SELECTOR.SS);
      w = this.putQword(stack, w, oldRsp);
      w = this.putQword(stack, w, this.rflags);
      w = this.putQword(stack, w, KERNEL_SELECTOR.CS);
      w = this.putQword(stack, w, rip);
      if (pushError) this.putQword(stack, w, errorCode >>> 0);
      sp -= frameBytes;
      mem.noteWords(sp, frameBytes);
    } else {
      if (!this.push(sp -= 8, KERNEL_SELECTOR.SS) || !this.push(sp -= 8, oldRsp) || !this.push(sp -= 8, this.rflags) || !this.push(sp -= 8, KERNEL_SELECTOR.CS) || !this.push(sp -= 8, rip)) return false;
      if (pushError && !this.push(sp -= 8, errorCode >>> 0)) return false;
    }
    // The first instruction of the handler is fetched from the gate's target.
    if (mem.translate(target, ACCESS.FETCH) < 0) return false;
    this.rsp = sp;
    this.rflags &= ~RFLAGS.TF;
    if (type === GATE_TYPE.INTERRUPT) this.rflags &= ~RFLAGS.IF;
    if (kind === KIND.NMI) this.nmiBlocked = true;
    this.shadow = SHADOW_NONE;
    this.halted = false;
    this.counters.delivered[vector] = (this.counters.delivered[vector] ?? 0) + 1;
    this.charge(this.costs.eventDelivery);
    const code = this.program.at(target);
    const pushedError = pushError ? errorCode >>> 0 : -1;
    if (code) this.frames.push(code.code(this.guest, vector, pushedError), target, code.name, vector, pushedError);
    else this.frames.push(null, target, `no code at 0x${target.toString(16)}`, vector, pushedError);
    this.traceDelivery(vector, kind, pushError ? errorCode : -1);
    return true;
  }

  /** Stores a quadword below word index `w` of a page view (a push); returns the new index. */
  protected putQword(words: Uint32Array, w: number, value: number): number {
    words[w - 2] = value >>> 0;
    words[w - 1] = Math.floor(value / TWO_32) >>> 0;
    return w - 2;
  }

  /** One 8-byte push of the event frame (a supervisor stack write). */
  protected push(address: number, value: number): boolean {
    return this.memory.write(address, 8, value >>> 0, Math.floor(value / TWO_32) >>> 0, ACCESS.IMPLICIT);
  }

  protected raise(vector: number, errorCode: number): boolean {
    const mem = this.memory;
    mem.faultVector = vector;
    mem.faultError = errorCode;
    return false;
  }


  protected enterShutdown(firstVector: number, secondVector: number): void {
    this.shutdownState = true;
    this.counters.shutdowns++;
    this.tracer?.emit({ kind: 'fault', cycle: this.localTime, cpu: this.cpuNumber, source: 'cpu', what: 'triple-fault', code: secondVector, args: { delivering: firstVector } });
  }

  protected traceDelivery(vector: number, kind: number, errorCode: number): void {
    const tracer = this.tracer;
    if (!tracer) return;
    if (kind === KIND.EXCEPTION) tracer.emit({ kind: 'fault', cycle: this.localTime, cpu: this.cpuNumber, source: 'cpu', what: 'exception', code: vector, args: { errorCode } });
    else tracer.emit({ kind: 'interrupt.delivered', cycle: this.localTime, cpu: this.cpuNumber, source: 'cpu', vector, args: { via: kind === KIND.NMI ? 'nmi' : kind === KIND.SOFTWARE ? 'int' : 'idt' } });
  }

  /** Delivers an event VMX handed over (injection, virtual interrupt, reflected exception) through the guest IDT. */
  protected deliverGuestEvent(event: GuestEvent): void {
    const type = event.type;
    const kind = type === INTR_TYPE.EXTERNAL_INTERRUPT ? KIND.EXTERNAL : type === INTR_TYPE.NMI ? KIND.NMI : type === INTR_TYPE.HARDWARE_EXCEPTION ? KIND.EXCEPTION : KIND.SOFTWARE;
    this.deliver(event.vector, kind, event.errorCode);
  }

  /**
   * A fault while delivering in VMX non-root operation: an EPT violation
   * exits; an exception goes to VMX, which reflects it, turns it into #DF or
   * a triple-fault exit, or exits on it (IDT-vectoring information is its).
   */
  protected vmxDeliveryFault(): GuestEvent | null {
    const vmx = this.vmx!;
    const mem = this.memory;
    if (mem.faultVector === FAULT_VM_EXIT) {
      const o = vmx.reportExit(mem.exitReason, { qualification: mem.exitQualification, guestPhysicalAddress: mem.exitGuestPhysical, guestLinearAddress: mem.exitGuestLinear });
      if (o.kind === 'exit') this.takeExit(o.exit);
      return null;
    }
    const vector = mem.faultVector;
    if (vector === VECTOR.PF) this.cr2 = mem.faultAddress;
    const o = vmx.exception(vector, hasErrorCode(vector) ? { errorCode: mem.faultError, qualification: vector === VECTOR.PF ? mem.faultAddress : 0 } : {});
    if (o.kind === 'deliver') return o.event;
    if (o.kind === 'exit') this.takeExit(o.exit);
    return null;
  }

  /** The guest left non-root operation: its registers go to the VMCS, the host acknowledges on exit. */
  protected takeExit(exit: VmExitInfo): void {
    this.exited = true;
    this.exitInfo = exit;
    if (exit.acknowledgedVector >= 0) this.hostApic?.acknowledge();
    this.saveGuestState();
    this.memory.apicAccessPage = -1;
    this.charge(this.costs.vmExit);
    this.tracer?.emit({ kind: 'vm.exit', cycle: this.localTime, cpu: this.cpuNumber, source: 'cpu', reason: exit.basicReason, reasonName: exit.reasonName });
  }

  protected hostEoi(): void {
    const host = this.hostApic;
    if (host === null) return;
    if (host.isX2apic) host.writeMsr(0x80b, 0n);
    else host.mmioWrite(0xb0, 4, 0);
  }

  /** The guest-state area as an exit leaves it (SDM 3C 28.3 "Saving Guest State"). */
  protected saveGuestState(): void {
    const vmcs = this.vmx?.currentVmcs;
    if (!vmcs) return;
    const top = this.frames.top;
    vmcs.write(VMCS_FIELD.GUEST_RIP, top ? top.rip : 0);
    vmcs.write(VMCS_FIELD.GUEST_RSP, this.rsp);
    vmcs.write(VMCS_FIELD.GUEST_RFLAGS, this.rflags);
    vmcs.write(VMCS_FIELD.GUEST_CR0, this.cr0);
    vmcs.write(VMCS_FIELD.GUEST_CR3, this.cr3);
    vmcs.write(VMCS_FIELD.GUEST_CR4, this.cr4);
    vmcs.write(VMCS_FIELD.GUEST_IA32_EFER, this.efer);
    vmcs.write(VMCS_FIELD.GUEST_IDTR_BASE, this.idtBase);
    vmcs.write(VMCS_FIELD.GUEST_IDTR_LIMIT, this.idtLimit);
  }

  /** The guest-state area as VM entry loads it (SDM 3C 27.3.2); unchanged control registers are not reloaded. */
  protected loadGuestState(): void {
    const vmcs = this.vmx?.currentVmcs;
    if (!vmcs) return;
    const top = this.frames.top;
    const rip = vmcs.readNumber(VMCS_FIELD.GUEST_RIP);
    if (top) {
      // The hypervisor skipped the pending operation by advancing RIP (its result is 0).
      if (rip === top.rip + 1 && top.state === FRAME_STATE.RETRY) this.complete(top, 0);
      else if (rip !== top.rip) throw new UsageError('bad-state', `VM entry at GUEST_RIP 0x${rip.toString(16)}, but the guest code (${top.name}) is at 0x${top.rip.toString(16)}: only skipping the pending operation (RIP + 1) is supported`);
    }
    this.rsp = vmcs.readNumber(VMCS_FIELD.GUEST_RSP);
    this.rflags = (vmcs.readNumber(VMCS_FIELD.GUEST_RFLAGS) | RFLAGS.FIXED1) >>> 0;
    this.idtBase = vmcs.readNumber(VMCS_FIELD.GUEST_IDTR_BASE);
    this.idtLimit = vmcs.readNumber(VMCS_FIELD.GUEST_IDTR_LIMIT) & 0xffff;
    const efer = vmcs.readNumber(VMCS_FIELD.GUEST_IA32_EFER);
    const cr4 = vmcs.readNumber(VMCS_FIELD.GUEST_CR4);
    const cr3 = vmcs.readNumber(VMCS_FIELD.GUEST_CR3);
    const cr0 = vmcs.readNumber(VMCS_FIELD.GUEST_CR0) >>> 0;
    if (efer !== this.efer) this.efer = efer;
    // CR4 keeps every bit the VMCS holds (VMXE included): the MMU reads only the paging ones.
    if (cr4 !== this.cr4) this.loadCr4(cr4);
    if (cr3 !== this.cr3) this.loadCr3(cr3);
    if (cr0 !== this.cr0) this.loadCr0(cr0);
    this.syncPagingContext();
  }
}
