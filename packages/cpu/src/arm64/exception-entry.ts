/**
 * Exception entry of the arm64 CPU (Arm ARM D1.3 "Exceptions", D1.10
 * "Exception entry"): asynchronous exceptions at a boundary (IRQ, FIQ,
 * virtual ones, physical ones routed to EL2), the VBAR_EL1 vector and the
 * fetch there, synchronous exceptions with ESR_EL1/FAR_EL1, WFI/WFE wake-up,
 * and traps to EL2 with ESR_EL2/FAR_EL2/HPFAR_EL2.
 */
import { ARM64_EXCEPTION_CLASS as IMPORTED_EC, ARM64_VECTOR_OFFSET as IMPORTED_VECTOR_OFFSET } from '@hvsim/core';
import { S1_ACCESS as IMPORTED_S1_ACCESS } from '@hvsim/mmu';
import { FRAME_STATE as IMPORTED_FRAME_STATE, type Frame } from '../guest/frames.js';
import type { Arm64Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import type { CodeEntry } from '../guest/program.js';
import { ARM64_CPU_CONSTANTS } from './arm64-cpu-constants.js';
import { Arm64CpuState } from './arm64-cpu-state.js';
import { EC_NAME, type Arm64ExitKind } from './arm64-cpu-types.js';
import {
  DAIF_MASK as IMPORTED_DAIF_MASK,
  DATA_ABORT_ISS as IMPORTED_DATA_ABORT_ISS,
  HCR_EL2 as IMPORTED_HCR,
  PSTATE as IMPORTED_PSTATE,
  PSTATE_MODE as IMPORTED_PSTATE_MODE,
  esrValue as importedEsrValue,
} from './regs.js';
import { STAGE2_ABORT as IMPORTED_STAGE2_ABORT } from './virtual-memory.js';

const FRAME_STATE = IMPORTED_FRAME_STATE;
const DAIF_MASK = IMPORTED_DAIF_MASK;
const DATA_ABORT_ISS = IMPORTED_DATA_ABORT_ISS;
const PSTATE_MODE = IMPORTED_PSTATE_MODE;
const STAGE2_ABORT = IMPORTED_STAGE2_ABORT;
const esrValue = importedEsrValue;
const S1_ACCESS = IMPORTED_S1_ACCESS;
const EC = IMPORTED_EC;
const VECTOR_OFFSET = IMPORTED_VECTOR_OFFSET;
const PSTATE = IMPORTED_PSTATE;
const HCR = IMPORTED_HCR;
const { LINE_IRQ, LINE_FIQ, LINE_VIRQ, LINE_VFIQ, DELIVERED_IRQ, DELIVERED_FIQ, WAIT_NONE, WAIT_WFE, FETCH, NO_ROUTING } = ARM64_CPU_CONSTANTS;

/** Exception entry and traps to EL2 (see the file comment). */
export class Arm64ExceptionEntry extends Arm64CpuState {
  /**
   * The code last entered at each of the 16 vector-table entries, with its
   * address: a program's entries never change once defined, so the same
   * address has the same code (no Map lookup per exception).
   */
  private readonly vectorTargets = new Float64Array(16).fill(-1);

  private readonly vectorCodes: (CodeEntry<Arm64Guest> | undefined)[] = new Array<CodeEntry<Arm64Guest> | undefined>(16).fill(undefined);

  /**
   * The vector address whose instruction fetch last translated at EL1 with
   * translation on, and the page cache's stamp then (-1: none): while the
   * stamp holds (no TLBI, TTBR/TCR/SCTLR/HCR change or flush since), the
   * same fetch translates the same and is not asked again. The code there
   * is the program's, not bytes in RAM, so only the translation matters.
   */
  private fetchedVector = -1;
  private fetchedStamp = -1;

  /**
   * WFI/WFE wake-up events (Arm ARM D1.6 "Wait for Interrupt", "Wait for
   * Event"): a physical IRQ or FIQ whatever PSTATE.I/F say, a virtual one
   * while HCR_EL2 routes it, and for WFE the event register. True when the
   * PE woke.
   */
  protected wakeUp(): boolean {
    if (this.waiting === WAIT_WFE && this.eventRegister) {
      this.eventRegister = false;
    } else if (!this.interruptPending()) {
      return false;
    }
    this.waiting = WAIT_NONE;
    this.charge(this.costs.wfiWake);
    return true;
  }

  /** An interrupt is pending for this PE, masked or not (WFI's `InterruptPending()`). */
  protected interruptPending(): boolean {
    const l = this.lines;
    if ((l & (LINE_IRQ | LINE_FIQ)) !== 0) return true;
    if (!this.hyp) return false;
    return ((l & LINE_VIRQ) !== 0 && (this.hcr & HCR.IMO) !== 0) || ((l & LINE_VFIQ) !== 0 && (this.hcr & HCR.FMO) !== 0);
  }

  /**
   * Takes one asynchronous exception at this boundary, if any is unmasked
   * (Arm ARM D1.3.6 "Asynchronous exception types, routing, masking and
   * priorities"): a physical interrupt routed to EL2 is taken whatever
   * PSTATE says (an exit); a virtual one (HCR_EL2.VI/VF or the GIC's
   * virtual outputs) only while IMO/FMO route and PSTATE.I/F allow; a
   * physical one at EL1 when not routed and not masked. FIQ before IRQ.
   */
  protected takeInterrupt(): boolean {
    const l = this.lines;
    const p = this.pstate;
    const hcr = this.hyp ? this.hcr : 0;
    if ((l & LINE_FIQ) !== 0) {
      if ((hcr & HCR.FMO) !== 0) return this.exitAsync('fiq');
      if ((p & PSTATE.F) === 0) return this.takeAsync(VECTOR_OFFSET.FIQ, DELIVERED_FIQ);
    }
    if ((l & LINE_IRQ) !== 0) {
      if ((hcr & HCR.IMO) !== 0) return this.exitAsync('irq');
      if ((p & PSTATE.I) === 0) return this.takeAsync(VECTOR_OFFSET.IRQ, DELIVERED_IRQ);
    }
    if ((l & LINE_VFIQ) !== 0 && (hcr & HCR.FMO) !== 0 && (p & PSTATE.F) === 0) return this.takeAsync(VECTOR_OFFSET.FIQ, DELIVERED_FIQ);
    if ((l & LINE_VIRQ) !== 0 && (hcr & HCR.IMO) !== 0 && (p & PSTATE.I) === 0) return this.takeAsync(VECTOR_OFFSET.IRQ, DELIVERED_IRQ);
    return false;
  }

  protected takeAsync(typeOffset: number, counter: number): boolean {
    const top = this.frames.top;
    this.counters.delivered[counter]!++;
    // The preferred return address of an interrupt is the next instruction not executed (D1.10.1).
    this.enterEl1(typeOffset, top ? top.rip : 0, -1);
    this.tracer?.emit({ kind: 'interrupt.delivered', cycle: this.localTime, cpu: this.cpuNumber, source: 'cpu', vector: typeOffset, args: { via: typeOffset === VECTOR_OFFSET.IRQ ? 'irq' : 'fiq' } });
    return true;
  }

  /**
   * Exception entry to EL1 (Arm ARM D1.10 "Exception entry"): SPSR_EL1 =
   * PSTATE, ELR_EL1 = the return address, PSTATE.{D,A,I,F} = 1, EL1h; the
   * vector is VBAR_EL1 + the group for where it came from + the type's
   * offset; then the first instruction is fetched there. `esr` -1 for an
   * interrupt (ESR_EL1 is not written).
   */
  protected enterEl1(typeOffset: number, returnAddress: number, esr: number): void {
    const p = this.pstate;
    const fromEl0 = (p & 0b1100) === 0;
    const group = fromEl0 ? VECTOR_OFFSET.LOWER_EL_AARCH64 : (p & PSTATE.SP) !== 0 ? VECTOR_OFFSET.CURRENT_EL_SPX : VECTOR_OFFSET.CURRENT_EL_SP0;
    this.spsr = p;
    this.elr = returnAddress;
    if (esr >= 0) this.esr = esr;
    this.pstate = PSTATE_MODE.EL1h | DAIF_MASK;
    this.waiting = WAIT_NONE;
    this.charge(this.costs.exceptionEntry);
    const target = this.vbar + group + typeOffset;
    const vector = group + typeOffset;
    const slot = vector >>> 7;
    let code = this.vectorTargets[slot] === target ? this.vectorCodes[slot] : undefined;
    if (code === undefined) {
      code = this.program.at(target);
      if (code !== undefined) {
        this.vectorTargets[slot] = target;
        this.vectorCodes[slot] = code;
      }
    }
    // The frame keeps its vector offset and ESR: a restore re-creates the handler with them.
    const frame = this.frames.enter(code, target, this.guest, vector, esr);
    this.fetch(frame);
  }

  /** Fetches a frame's first instruction at its entry (EL1); a fault is an Instruction Abort. */
  protected fetch(frame: Frame): boolean {
    const mem = this.memory;
    // Only the translation matters (the code is the program's): no bytes are read.
    mem.walkReferences = 0;
    const entry = frame.entry;
    if (entry === this.fetchedVector && mem.translating && mem.translationStamp() === this.fetchedStamp) {
      // The vector fetched last, under the same translations: a hit in the CPU-side cache, counted as one.
      mem.cacheHits++;
      if (frame.state === FRAME_STATE.RETRY) frame.state = FRAME_STATE.START;
      this.vectorFetchFault = false;
      return true;
    }
    const ok = mem.translate(entry, S1_ACCESS.EXECUTE) >= 0;
    if (ok && mem.translating) {
      this.fetchedVector = entry;
      this.fetchedStamp = mem.translationStamp();
    }
    if (mem.walkReferences !== 0) {
      this.counters.walkReferences += mem.walkReferences;
      this.charge(mem.walkReferences * this.costs.walkReference);
    }
    if (ok) {
      if (frame.state === FRAME_STATE.RETRY) frame.state = FRAME_STATE.START;
      this.vectorFetchFault = false;
      return true;
    }
    frame.saved.code = FETCH;
    frame.state = FRAME_STATE.RETRY;
    if (mem.faultStage === STAGE2_ABORT) {
      this.exitAbort(EC.INSTRUCTION_ABORT_LOWER, mem.faultIss & ~DATA_ABORT_ISS.WNR, frame.entry);
      return false;
    }
    if (this.vectorFetchFault) {
      this.lockedUp = true;
      this.tracer?.emit({ kind: 'fault', cycle: this.localTime, cpu: this.cpuNumber, source: 'cpu', what: 'lockup', code: EC.INSTRUCTION_ABORT_SAME, args: { vector: frame.entry } });
      return false;
    }
    this.vectorFetchFault = true;
    // The fetch is at EL1 (the handler's level): an Instruction Abort from the current EL, ELR = the vector (D1.10.1).
    this.far = frame.entry;
    this.synchronous(EC.INSTRUCTION_ABORT_SAME, mem.faultIss & 0x3f, frame.entry);
    this.vectorFetchFault = false;
    return false;
  }

  /** A synchronous exception to EL1 with `ec` and `iss`; ELR_EL1 = `returnAddress`. */
  protected synchronous(ec: number, iss: number, returnAddress: number): void {
    this.counters.delivered[ec]!++;
    const esr = esrValue(ec, iss);
    this.tracer?.emit({ kind: 'fault', cycle: this.localTime, cpu: this.cpuNumber, source: 'cpu', what: EC_NAME[ec] ?? 'exception', code: ec, args: { esr, far: this.far } });
    this.enterEl1(VECTOR_OFFSET.SYNCHRONOUS, returnAddress, esr);
  }

  /** The operation faults with `ec`/`iss` to EL1: it runs again after the handler's ERET (ELR_EL1 = it). */
  protected fault(frame: Frame, op: Op, ec: number, iss: number): void {
    this.stopAt(frame, op);
    this.synchronous(ec, iss, frame.rip);
  }

  /** UNDEFINED (EC 0x00, ISS 0) to EL1 (D1.3, "Undefined instruction"). */
  protected undefinedInstruction(frame: Frame, op: Op): void {
    this.fault(frame, op, EC.UNKNOWN, 0);
  }

  /** A synchronous trap of the operation to EL2: it stays pending for the host (ELR_EL2 = it). */
  protected trap(frame: Frame, op: Op, ec: number, iss: number): void {
    this.stopAt(frame, op);
    const x = this.exitInfo;
    x.far = 0;
    x.hpfar = 0;
    x.ipa = 0;
    this.takeExit('sync', ec, iss, frame.rip);
  }

  /** A stage 2 abort (EC 0x24 or 0x20) with FAR_EL2 and HPFAR_EL2; the faulting operation stays pending. */
  protected exitAbort(ec: number, iss: number, returnAddress: number): void {
    const mem = this.memory;
    const x = this.exitInfo;
    x.far = mem.faultAddress;
    x.ipa = mem.faultIpa;
    // HPFAR_EL2.FIPA (bits 43:4) holds IPA bits 47:12 (Arm ARM D19, "HPFAR_EL2").
    x.hpfar = Math.floor(mem.faultIpa / 4096) * 16;
    this.takeExit('sync', ec, iss, returnAddress);
  }

  protected exitAsync(kind: 'irq' | 'fiq'): boolean {
    const x = this.exitInfo;
    x.far = 0;
    x.hpfar = 0;
    x.ipa = 0;
    const top = this.frames.top;
    this.takeExit(kind, 0, 0, top ? top.rip : 0);
    return true;
  }

  protected takeExit(kind: Arm64ExitKind, ec: number, iss: number, elr: number): void {
    const x = this.exitInfo;
    x.kind = kind;
    x.ec = ec;
    x.iss = iss;
    x.esr = kind === 'sync' ? esrValue(ec, iss) : 0;
    x.elr = elr;
    this.exited = true;
    this.entered = false;
    this.waiting = WAIT_NONE;
    // The PE is at EL2 now: the host's ICC_* accesses reach the physical CPU interface (IHI0069 6.3).
    this.gic?.setVirtualRouting(this.cpuNumber, NO_ROUTING);
    const name = x.name;
    this.exitCounts.set(name, (this.exitCounts.get(name) ?? 0) + 1);
    this.charge(this.costs.trapToEl2);
    this.tracer?.emit({ kind: 'vm.exit', cycle: this.localTime, cpu: this.cpuNumber, source: 'cpu', reason: kind === 'sync' ? ec : kind === 'irq' ? -1 : -2, reasonName: name });
  }
}
