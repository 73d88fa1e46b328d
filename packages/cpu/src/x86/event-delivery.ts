/**
 * Event delivery of the x86 CPU (SDM 3A chapter 6): through 64-bit IDT gates
 * in guest memory with the architectural frame, faults while delivering
 * escalating to #DF and shutdown (Tables 6-4, 6-5), IRET; and, in VMX
 * non-root operation, what VMX hands over (injected and virtual events,
 * reflected exceptions) and the VM exit itself with the guest-state area
 * (SDM 3C 27.3.2, 28.3).
 */
import { UsageError, type PageView } from '@hvsim/core';
import { ACCESS as IMPORTED_ACCESS } from '@hvsim/mmu';
import { INTR_TYPE, VMCS_FIELD, type GuestEvent, type VmExitInfo } from '@hvsim/vmcs';
import { FRAME_STATE as IMPORTED_FRAME_STATE } from '../guest/frames.js';
import type { X86Guest } from '../guest/guest.js';
import type { CodeEntry } from '../guest/program.js';
import { SECOND_FAULT, combineFaults, exceptionClass, hasErrorCode } from './exception-class.js';
import { IdtGateCache } from './idt-gate-cache.js';
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
// The guest-state fields every exit saves and every entry loads (SDM 3C 28.3, 27.3.2).
const { GUEST_RIP, GUEST_RSP, GUEST_RFLAGS, GUEST_CR0, GUEST_CR3, GUEST_CR4, GUEST_IA32_EFER, GUEST_IDTR_BASE, GUEST_IDTR_LIMIT } = VMCS_FIELD;

/** Event delivery and VM exits of an x86 CPU (see the file comment); `X86Cpu` is the class to use. */
export class X86EventDelivery extends X86CpuState {
  /** Gates decoded by earlier deliveries, used only while provably unchanged (see idt-gate-cache.ts). */
  protected readonly gateCache = new IdtGateCache();

  /** The gate `readGate` read: target, type, and whether it came through one RAM page view. */
  private gateTarget = 0;

  private gateType = 0;

  private gateFromView = false;

  /** Words 0-2 of the gate `readGate` read, as read. */
  private readonly gateWords = new Uint32Array(3);

  /**
   * The stack page the last event frame was pushed on: its linear page, the
   * translation stamp it was translated under (for a supervisor write), its
   * live RAM view and physical page. The next push and the IRET on that page
   * use it while the stamp and the view hold, as the translation cache would.
   */
  private stackPage = -1;

  private stackStamp = -1;

  private stackView: PageView | null = null;

  protected stackPhysical = 0;

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
    // SDM 3A 6.14.1: the gate must lie within the IDT limit.
    if (vector * GATE_SIZE + GATE_SIZE - 1 > this.idtLimit) return this.raise(VECTOR.GP, (vector << 3) | SELECTOR_ERROR.IDT | ext);
    const gates = this.gateCache;
    const stamp = mem.translationStamp();
    let target: number;
    let type: number;
    let code: CodeEntry<X86Guest> | undefined;
    const cached = gates.lookup(vector, this.idtBase, stamp, mem.ramGeneration);
    // The page view the gate was read through, to remember it (null: read access by access, not cached).
    let gateView: PageView | null = null;
    let gateAt = 0;
    if (cached) {
      // The same gate, read the same way, as the last delivery of this vector decoded (see idt-gate-cache.ts).
      target = gates.target;
      type = gates.type;
      code = gates.code ?? this.program.at(target);
    } else {
      if (!this.readGate(vector, ext)) return false;
      target = this.gateTarget;
      type = this.gateType;
      if (this.gateFromView) {
        gateView = mem.lastView;
        gateAt = mem.wordIndex;
      }
      code = this.program.at(target);
    }
    // The frame (SDM 3A 6.14.2): RSP aligned to 16 bytes, then SS, RSP, RFLAGS, CS, RIP and the error code.
    const pushError = kind === KIND.EXCEPTION && hasErrorCode(vector);
    const oldRsp = this.rsp;
    let sp = oldRsp - (oldRsp & 15);
    const interrupted = this.frames.top;
    const rip = interrupted ? interrupted.rip : 0;
    const frameBytes = pushError ? 48 : 40;
    const stack = this.stackWords(sp - frameBytes, frameBytes, true);
    if (stack !== null) {
      // The whole frame in one RAM page, translated once: written straight into the page, from the
      // top down (SS, RSP, RFLAGS, CS, RIP, error code; selectors, RFLAGS and the error code have high halves of 0).
      const w = mem.wordIndex + frameBytes / 4;
      stack[w - 2] = KERNEL_SELECTOR.SS;
      stack[w - 1] = 0;
      this.putQword(stack, w - 2, oldRsp);
      stack[w - 6] = this.rflags;
      stack[w - 5] = 0;
      stack[w - 8] = KERNEL_SELECTOR.CS;
      stack[w - 7] = 0;
      this.putQword(stack, w - 8, rip);
      if (pushError) {
        stack[w - 12] = errorCode >>> 0;
        stack[w - 11] = 0;
      }
      sp -= frameBytes;
      mem.notePhysical(this.stackPhysical + (sp & 0xfff), frameBytes);
    } else {
      if (!this.push(sp -= 8, KERNEL_SELECTOR.SS) || !this.push(sp -= 8, oldRsp) || !this.push(sp -= 8, this.rflags) || !this.push(sp -= 8, KERNEL_SELECTOR.CS) || !this.push(sp -= 8, rip)) return false;
      if (pushError && !this.push(sp -= 8, errorCode >>> 0)) return false;
    }
    if (!cached) {
      // The first instruction of the handler is fetched from the gate's target (a cached gate's fetch translated under this stamp).
      if (mem.translate(target, ACCESS.FETCH) < 0) return false;
      if (gateView !== null) gates.store(vector, this.idtBase, stamp, gateView, gateAt, this.gateWords[0]!, this.gateWords[1]!, this.gateWords[2]!, target, type, code);
    }
    this.rsp = sp;
    this.rflags &= ~RFLAGS.TF;
    if (type === GATE_TYPE.INTERRUPT) this.rflags &= ~RFLAGS.IF;
    if (kind === KIND.NMI) this.nmiBlocked = true;
    this.shadow = SHADOW_NONE;
    this.halted = false;
    this.counters.delivered[vector]!++;
    this.charge(this.costs.eventDelivery);
    const pushedError = pushError ? errorCode >>> 0 : -1;
    this.frames.enter(code, target, this.guest, vector, pushedError);
    this.traceDelivery(vector, kind, pushError ? errorCode : -1);
    return true;
  }

  /**
   * The live words of the RAM page holding an event frame of `bytes` bytes
   * at linear `va` (first word at `memory.wordIndex`), for a supervisor write
   * (a push) or read (IRET), or null when it is no such RAM or would fault
   * (then access by access, which faults). After a write, `stackPhysical`
   * is the page's physical address.
   */
  protected stackWords(va: number, bytes: number, write: boolean): Uint32Array | null {
    const mem = this.memory;
    const offset = va & 0xfff;
    const view = this.stackView;
    if (view !== null && va - offset === this.stackPage && (offset & 3) === 0 && offset + bytes <= 0x1000 && this.stackStamp === mem.translationStamp() && view.generation === mem.ramGeneration) {
      mem.wordIndex = offset >>> 2;
      return view.words;
    }
    const words = mem.ramWords(va, bytes, write ? ACCESS.WRITE | ACCESS.IMPLICIT : ACCESS.READ | ACCESS.IMPLICIT);
    // Only a write's translation is remembered: it allows the reads of IRET too.
    if (words !== null && write) {
      this.stackPage = va - offset;
      this.stackStamp = mem.translationStamp();
      this.stackView = mem.lastView;
      this.stackPhysical = mem.lastPhysical - offset;
    }
    return words;
  }

  /**
   * Reads and checks the gate of `vector` (SDM 3A 6.12.1.1, 6.14.1): true
   * with its target and type in `gateTarget`/`gateType` (and whether it was
   * read through one RAM page view, `memory.lastView` at `memory.wordIndex`,
   * in `gateFromView`); false with the fault recorded (#NP for a
   * not-present gate, #GP for a type that is no 64-bit interrupt or trap
   * gate, or the fault of reading it).
   */
  protected readGate(vector: number, ext: number): boolean {
    const mem = this.memory;
    const gateAddress = this.idtBase + vector * GATE_SIZE;
    let dword0: number;
    let dword1: number;
    let offsetHigh: number;
    // The 16-byte gate through one translation and the RAM page view when it can (else access by access, which faults).
    const gate = mem.ramWords(gateAddress, GATE_SIZE, ACCESS.READ | ACCESS.IMPLICIT);
    this.gateFromView = gate !== null;
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
    const words = this.gateWords;
    words[0] = dword0;
    words[1] = dword1;
    words[2] = offsetHigh;
    const selectorError = (vector << 3) | SELECTOR_ERROR.IDT | ext;
    const type = (dword1 >>> GATE_DWORD1.TYPE.lsb) & 0xf;
    if ((dword1 & (1 << GATE_DWORD1.P.lsb)) === 0) return this.raise(VECTOR.NP, selectorError);
    if (type !== GATE_TYPE.INTERRUPT && type !== GATE_TYPE.TRAP) return this.raise(VECTOR.GP, selectorError);
    this.gateTarget = (dword0 & 0xffff) + (dword1 >>> 16) * 0x1_0000 + offsetHigh * TWO_32;
    this.gateType = type;
    return true;
  }

  /** Stores a quadword below word index `w` of a page view (a push); returns the new index. */
  protected putQword(words: Uint32Array, w: number, value: number): number {
    words[w - 2] = value >>> 0;
    words[w - 1] = value < TWO_32 ? 0 : Math.floor(value / TWO_32) >>> 0;
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
    vmcs.write(GUEST_RIP, top ? top.rip : 0);
    vmcs.write(GUEST_RSP, this.rsp);
    vmcs.write(GUEST_RFLAGS, this.rflags);
    vmcs.write(GUEST_CR0, this.cr0);
    vmcs.write(GUEST_CR3, this.cr3);
    vmcs.write(GUEST_CR4, this.cr4);
    vmcs.write(GUEST_IA32_EFER, this.efer);
    vmcs.write(GUEST_IDTR_BASE, this.idtBase);
    vmcs.write(GUEST_IDTR_LIMIT, this.idtLimit);
  }

  /** The guest-state area as VM entry loads it (SDM 3C 27.3.2); unchanged control registers are not reloaded. */
  protected loadGuestState(): void {
    const vmcs = this.vmx?.currentVmcs;
    if (!vmcs) return;
    const top = this.frames.top;
    const rip = vmcs.readNumber(GUEST_RIP);
    if (top) {
      // The hypervisor skipped the pending operation by advancing RIP (its result is 0).
      if (rip === top.rip + 1 && top.state === FRAME_STATE.RETRY) this.complete(top, 0);
      else if (rip !== top.rip) throw new UsageError('bad-state', `VM entry at GUEST_RIP 0x${rip.toString(16)}, but the guest code (${top.name}) is at 0x${top.rip.toString(16)}: only skipping the pending operation (RIP + 1) is supported`);
    }
    this.rsp = vmcs.readNumber(GUEST_RSP);
    this.rflags = (vmcs.readNumber(GUEST_RFLAGS) | RFLAGS.FIXED1) >>> 0;
    this.idtBase = vmcs.readNumber(GUEST_IDTR_BASE);
    this.idtLimit = vmcs.readNumber(GUEST_IDTR_LIMIT) & 0xffff;
    const efer = vmcs.readNumber(GUEST_IA32_EFER);
    const cr4 = vmcs.readNumber(GUEST_CR4);
    const cr3 = vmcs.readNumber(GUEST_CR3);
    const cr0 = vmcs.readNumber(GUEST_CR0) >>> 0;
    if (efer !== this.efer) this.efer = efer;
    // CR4 keeps every bit the VMCS holds (VMXE included): the MMU reads only the paging ones.
    if (cr4 !== this.cr4) this.loadCr4(cr4);
    if (cr3 !== this.cr3) this.loadCr3(cr3);
    if (cr0 !== this.cr0) this.loadCr0(cr0);
    this.syncPagingContext();
  }
}
