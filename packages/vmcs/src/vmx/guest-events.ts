/**
 * Events in VMX non-root operation and what the processor does about them
 * (SDM 3C "VMX Non-Root Operation": "Instructions That Cause VM Exits",
 * "Other Causes of VM Exits", "Changes to Instruction Behavior", "Other
 * Changes"; "APIC Virtualization and Virtual Interrupts"). Each handler
 * returns a {@link NonRootOutcome}; reused outcome objects come from the
 * processor.
 */
import { CpuException, assertInteger } from '@hvsim/core';
import { APIC_REG } from '@hvsim/lapic';
import { APIC_ACCESS_TYPE, isVirtualizableSelfIpi, readVirtualized, writeVirtualized } from '../apicv/apic-access.js';
import { VmxError } from '../errors.js';
import { u64Halves } from '../internal/u64.js';
import { VMCS_FIELD } from '../fields/field-table.js';
import { slotOf } from '../fields/slots.js';
import { ACTIVITY_STATE, CPU_BASED, INTERRUPTIBILITY, INTR_INFO_DELIVER_CODE, INTR_INFO_VALID, INTR_TYPE, PIN_BASED, SECONDARY, VM_EXIT } from './controls.js';
import { EXIT_REASON } from './exit-reasons.js';
import { BLOCKED, CONTINUE, HALTED, NATIVE, type NonRootOutcome, type ReadOutcome } from './outcomes.js';
import type { VmxProcessor } from './processor.js';

/** Exit interruption information bit 12 (`INTR_INFO.NMI_UNBLOCKING`) as a mask. */
const INTR_INFO_NMI_UNBLOCKING = 1 << 12;
/** Slot of the VM-exit interruption information, looked up once. */
const SLOT_EXIT_INTR_INFO = slotOf(VMCS_FIELD.VM_EXIT_INTR_INFO);

const BLOCKING_STI_MOVSS = INTERRUPTIBILITY.BLOCKING_BY_STI | INTERRUPTIBILITY.BLOCKING_BY_MOV_SS;
const X2APIC_FIRST = 0x800;
const X2APIC_LAST = 0x8ff;
const MSR_TPR = 0x808;
const MSR_EOI = 0x80b;
const MSR_SELF_IPI = 0x83f;

/** Interruption information (SDM 3C "VM-Exit Information Fields" format): valid, type, vector and error-code-valid (errorCode >= 0). */
function interruptionInfo(vector: number, type: number, errorCode: number): number {
  return (INTR_INFO_VALID | (type << 8) | vector | (errorCode >= 0 ? INTR_INFO_DELIVER_CODE : 0)) >>> 0;
}

/** Answers "deliver this event through the guest IDT" and remembers it as being delivered. */
function deliver(p: VmxProcessor, vector: number, type: number, errorCode: number, instructionLength: number, virtual: boolean, acknowledge: boolean): NonRootOutcome {
  const ev = p.event;
  ev.vector = vector;
  ev.type = type;
  ev.errorCode = errorCode;
  ev.instructionLength = instructionLength;
  ev.virtual = virtual;
  ev.acknowledge = acknowledge;
  p.setInFlight(interruptionInfo(vector, type, errorCode), errorCode, instructionLength);
  p.guestActivityState = ACTIVITY_STATE.ACTIVE;
  const intr = p.guestInterruptibility;
  if ((intr & BLOCKING_STI_MOVSS) !== 0) p.guestInterruptibility = intr & ~BLOCKING_STI_MOVSS;
  return p.deliverOutcome;
}

/**
 * The CPU is at an instruction boundary (after an instruction, after an
 * event delivery, or right after VM entry), with an NMI and/or the highest
 * external interrupt of its physical local APIC pending (`pendingExternal`
 * = vector, or -1). Events in priority order, highest first (SDM 3C
 * "Interrupt-Window Exiting and Virtual-Interrupt Delivery", "NMI-Window
 * Exiting", "VMX-Preemption Timer"; SDM 3A "Priority Among Concurrent
 * Events"; "Monitor Trap Flag"; "VM Exits Induced by the TPR Threshold"): a TPR-below-threshold exit due right after VM entry, a pending INIT, a pending MTF VM exit, the VMX-preemption timer, NMI-window exiting, a
 * pending NMI, interrupt-window exiting and virtual-interrupt delivery (same
 * priority), a pending external interrupt. A guest in HLT stays halted
 * otherwise. Call exactly once per boundary.
 */
export function instructionBoundary(p: VmxProcessor, interruptFlag: boolean, pendingNmi = false, pendingExternal = -1): NonRootOutcome {
  p.requireNonRoot('instructionBoundary');
  p.clearInFlight();
  p.ageShadow();
  const intr = p.guestInterruptibility;
  if (p.tprThresholdPending) {
    // Above INIT and everything below it; not blocked by RFLAGS.IF or the interruptibility state; trap-like.
    p.tprThresholdPending = false;
    return p.exitNow(EXIT_REASON.TPR_BELOW_THRESHOLD, 0, 0);
  }
  if (p.initPending) {
    // An INIT latched in VMX root operation is recognized once in non-root operation.
    p.initPending = false;
    return p.exitNow(EXIT_REASON.INIT_SIGNAL, 0, 0);
  }
  // After this boundary an instruction executes or an event is delivered: with the monitor trap flag, an MTF VM exit is then pending.
  const mtf = p.mtfPending;
  p.mtfPending = (p.proc & CPU_BASED.MONITOR_TRAP_FLAG) !== 0;
  if (mtf) return p.exitNow(EXIT_REASON.MONITOR_TRAP_FLAG, 0, 0);
  const activity = p.guestActivityState;
  // SDM 3C "VMX-Preemption Timer": a timer at zero causes no VM exit in the wait-for-SIPI state (it stays at zero).
  if (p.preemptionTimerExpired && activity !== ACTIVITY_STATE.WAIT_FOR_SIPI) return p.exitNow(EXIT_REASON.PREEMPTION_TIMER, 0, 0);
  // SDM 3C "NMI-Window Exiting" / "Interrupt-Window Exiting" after VM entry: no NMI-window exit in the
  // wait-for-SIPI state, no interrupt-window exit (nor virtual-interrupt delivery) in shutdown or wait-for-SIPI.
  if ((p.proc & CPU_BASED.NMI_WINDOW_EXITING) !== 0 && (intr & (INTERRUPTIBILITY.BLOCKING_BY_NMI | INTERRUPTIBILITY.BLOCKING_BY_MOV_SS)) === 0 && activity !== ACTIVITY_STATE.WAIT_FOR_SIPI) {
    return p.exitNow(EXIT_REASON.NMI_WINDOW, 0, 0);
  }
  if (pendingNmi) {
    const o = nmi(p);
    if (o !== BLOCKED) return o;
  }
  const open = interruptFlag && (intr & BLOCKING_STI_MOVSS) === 0 && activity <= ACTIVITY_STATE.HLT;
  if (open && (p.proc & CPU_BASED.INTR_WINDOW_EXITING) !== 0) return p.exitNow(EXIT_REASON.INTERRUPT_WINDOW, 0, 0);
  if (open && p.vapic.recognized) {
    const vector = p.vapic.deliver();
    p.traceSink?.emit({ kind: 'interrupt.delivered', cycle: p.now, cpu: p.cpuNumber, source: 'vmx', vector, args: { virtual: true } });
    return deliver(p, vector, INTR_TYPE.EXTERNAL_INTERRUPT, -1, 0, true, false);
  }
  if (pendingExternal >= 0) {
    const o = externalInterrupt(p, pendingExternal, interruptFlag);
    if (o !== BLOCKED) return o;
  }
  if (p.guestActivityState === ACTIVITY_STATE.ACTIVE) return CONTINUE;
  p.mtfPending = false; // nothing executes while halted
  return HALTED;
}

/**
 * An external interrupt with `vector` is pending at the physical local APIC
 * (SDM 3C "Other Causes of VM Exits", "Posted-Interrupt Processing").
 * Blocked by STI/MOV SS; with external-interrupt exiting it exits (or runs
 * posted-interrupt processing for the notification vector) whatever
 * RFLAGS.IF is; without it the guest takes it through its IDT when IF=1.
 */
export function externalInterrupt(p: VmxProcessor, vector: number, interruptFlag: boolean): NonRootOutcome {
  p.requireNonRoot('externalInterrupt');
  if (vector >>> 0 !== vector || vector > 255) assertInteger(vector, 'vector', 0, 255);
  p.clearInFlight(); // recognized at a boundary: any event delivery has completed
  if ((p.guestInterruptibility & BLOCKING_STI_MOVSS) !== 0 || p.guestActivityState === ACTIVITY_STATE.WAIT_FOR_SIPI) return BLOCKED;
  if ((p.pin & PIN_BASED.EXT_INTR_EXITING) !== 0) {
    if (p.pid !== null && vector === p.notificationVector) {
      p.vapic.processPosted(p.pid);
      p.traceSink?.emit({ kind: 'interrupt.posted', cycle: p.now, cpu: p.cpuNumber, source: 'vmx', vector, args: { rvi: p.vapic.rvi } });
      p.postedOutcome.notificationVector = vector;
      return p.postedOutcome;
    }
    const e = p.prepareExit(EXIT_REASON.EXTERNAL_INTERRUPT);
    if ((p.exitControls & VM_EXIT.ACK_INTR_ON_EXIT) !== 0) {
      e.interruptionInfo = interruptionInfo(vector, INTR_TYPE.EXTERNAL_INTERRUPT, -1);
      e.acknowledgedVector = vector;
    }
    return p.exitNow(EXIT_REASON.EXTERNAL_INTERRUPT, 0, 0, true);
  }
  if (!interruptFlag) return BLOCKED;
  return deliver(p, vector, INTR_TYPE.EXTERNAL_INTERRUPT, -1, 0, false, true);
}

/** An NMI arrived (SDM 3C "Other Causes of VM Exits"; "Treatment of NMIs"). Blocked by MOV SS; exits with NMI exiting. */
export function nmi(p: VmxProcessor): NonRootOutcome {
  p.requireNonRoot('nmi');
  p.clearInFlight();
  const intr = p.guestInterruptibility;
  if ((intr & INTERRUPTIBILITY.BLOCKING_BY_MOV_SS) !== 0 || p.guestActivityState === ACTIVITY_STATE.WAIT_FOR_SIPI) return BLOCKED;
  const virtualNmis = (p.pin & PIN_BASED.VIRTUAL_NMIS) !== 0;
  // Without virtual NMIs, bit 3 is blocking of real NMIs.
  if (!virtualNmis && (intr & INTERRUPTIBILITY.BLOCKING_BY_NMI) !== 0) return BLOCKED;
  if ((p.pin & PIN_BASED.NMI_EXITING) !== 0) {
    const e = p.prepareExit(EXIT_REASON.EXCEPTION_NMI);
    e.interruptionInfo = interruptionInfo(2, INTR_TYPE.NMI, -1);
    return p.exitNow(EXIT_REASON.EXCEPTION_NMI, 0, 0, true);
  }
  p.guestInterruptibility = intr | INTERRUPTIBILITY.BLOCKING_BY_NMI;
  return deliver(p, 2, INTR_TYPE.NMI, -1, 0, false, false);
}

/**
 * An INIT signal arrived (SDM 3C "INIT Signals" in "Other Causes of VM
 * Exits" and "VMX Root Operation"): outside VMX operation the CPU performs
 * it (native); in VMX root operation it is blocked and stays pending (taken
 * by a VM exit after the next VM entry, or by the CPU after VMXOFF, see
 * `takePendingInit`); in VMX non-root operation it causes a VM exit (3).
 */
export function init(p: VmxProcessor): NonRootOutcome {
  if (p.vmxOperation === 'off') return NATIVE;
  if (p.vmxOperation === 'root') {
    p.initPending = true;
    return BLOCKED;
  }
  p.initPending = false;
  p.clearInFlight();
  return p.exitNow(EXIT_REASON.INIT_SIGNAL, 0, 0);
}

/** A start-up IPI with `vector` arrived: a VM exit (4, qualification = vector) in the wait-for-SIPI activity state; ignored otherwise in non-root operation. */
export function sipi(p: VmxProcessor, vector: number): NonRootOutcome {
  assertInteger(vector, 'vector', 0, 255);
  if (p.vmxOperation !== 'non-root') return NATIVE;
  if (p.guestActivityState !== ACTIVITY_STATE.WAIT_FOR_SIPI) return CONTINUE;
  p.clearInFlight();
  return p.exitNow(EXIT_REASON.SIPI, vector, 0);
}

/** The guest executed STI; `interruptFlagWasSet` is RFLAGS.IF before it. STI with IF=0 blocks interrupts until the next instruction completes. */
export function sti(p: VmxProcessor, interruptFlagWasSet: boolean): void {
  p.requireNonRoot('sti');
  if (interruptFlagWasSet) return;
  p.guestInterruptibility = (p.guestInterruptibility & ~INTERRUPTIBILITY.BLOCKING_BY_MOV_SS) | INTERRUPTIBILITY.BLOCKING_BY_STI;
  p.markShadowFresh();
}

/** The guest executed MOV SS or POP SS: events are blocked until the next instruction completes. */
export function movSs(p: VmxProcessor): void {
  p.requireNonRoot('movSs');
  p.guestInterruptibility = (p.guestInterruptibility & ~INTERRUPTIBILITY.BLOCKING_BY_STI) | INTERRUPTIBILITY.BLOCKING_BY_MOV_SS;
  p.markShadowFresh();
}

/** The guest executed IRET: it unblocks NMIs (virtual-NMI blocking with "virtual NMIs"). */
export function iret(p: VmxProcessor): void {
  p.requireNonRoot('iret');
  p.guestInterruptibility = p.guestInterruptibility & ~INTERRUPTIBILITY.BLOCKING_BY_NMI;
}

/** The guest executed HLT: HLT exiting (reason 12), else the HLT activity state. */
export function hlt(p: VmxProcessor): NonRootOutcome {
  p.requireNonRoot('hlt');
  if ((p.proc & CPU_BASED.HLT_EXITING) !== 0) return p.exitNow(EXIT_REASON.HLT, 0, 1);
  p.guestActivityState = ACTIVITY_STATE.HLT;
  return HALTED;
}

/** Options of {@link exception}. */
export interface ExceptionOptions {
  /** Error code the exception pushes (omit for none). */
  errorCode?: number;
  /** INT3 / INTO (software exceptions, type 6) or INT1 (privileged software exception, type 5); hardware otherwise. */
  software?: 'int3' | 'into' | 'int1';
  /** Instruction length for software exceptions. */
  instructionLength?: number;
  /** Exit qualification: the faulting linear address for #PF, pending-debug bits for #DB. */
  qualification?: number;
  /**
   * The fault happened while executing IRET. IRET unblocks NMIs before it can
   * fault, so NMI blocking ends; with "virtual NMIs" or without "NMI
   * exiting", an exit then reports "NMI unblocking due to IRET"
   * (interruption-information bit 12).
   */
  duringIret?: boolean;
}

/** The guest raised exception `vector` (SDM 3C "Exceptions"): exits when the exception bitmap (with the #PF error-code mask/match) says so. */
export function exception(p: VmxProcessor, vector: number, options: ExceptionOptions = {}): NonRootOutcome {
  p.requireNonRoot('exception');
  assertInteger(vector, 'vector', 0, 31);
  let errorCode = options.errorCode ?? -1;
  if (errorCode !== -1) assertInteger(errorCode, 'errorCode', 0, 0xffff_ffff);
  const type = options.software === undefined ? INTR_TYPE.HARDWARE_EXCEPTION : options.software === 'int1' ? INTR_TYPE.PRIVILEGED_SOFTWARE_EXCEPTION : INTR_TYPE.SOFTWARE_EXCEPTION;
  const length = type === INTR_TYPE.HARDWARE_EXCEPTION ? 0 : (options.instructionLength ?? 1);
  let nmiUnblocked = false;
  if (options.duringIret === true && (p.guestInterruptibility & INTERRUPTIBILITY.BLOCKING_BY_NMI) !== 0) {
    p.guestInterruptibility = p.guestInterruptibility & ~INTERRUPTIBILITY.BLOCKING_BY_NMI;
    // Recorded with virtual NMIs, and with "NMI exiting" 0; undefined (left 0 here) with NMI exiting and no virtual NMIs.
    nmiUnblocked = (p.pin & PIN_BASED.VIRTUAL_NMIS) !== 0 || (p.pin & PIN_BASED.NMI_EXITING) === 0;
  }
  if (p.exceptionExits(vector, errorCode < 0 ? 0 : errorCode)) {
    const o = exceptionExit(p, vector, type, errorCode, options.qualification ?? 0, length);
    if (nmiUnblocked && o.kind === 'exit') {
      // SDM 3C "Information for VM Exits Due to Vectored Events": bit 12, NMI unblocking due to IRET.
      o.exit.interruptionInfo = (o.exit.interruptionInfo | INTR_INFO_NMI_UNBLOCKING) >>> 0;
      p.vmcs.lo[SLOT_EXIT_INTR_INFO] = o.exit.interruptionInfo;
    }
    return o;
  }
  // A fault while delivering a hardware exception may form a double fault or a triple fault.
  const first = p.deliveringEventInfo;
  if (type === INTR_TYPE.HARDWARE_EXCEPTION && first !== 0 && ((first >>> 8) & 7) === INTR_TYPE.HARDWARE_EXCEPTION) {
    const firstClass = exceptionClass(first & 0xff);
    const secondClass = exceptionClass(vector);
    if (secondClass !== BENIGN) {
      // SDM 3C "Information for VM Exits During Event Delivery": an exit caused by a triple fault, or directly by
      // the double fault the first event results in, is not "during event delivery" (no IDT-vectoring information).
      if (firstClass === DOUBLE_FAULT) {
        p.clearInFlight();
        return p.exitNow(EXIT_REASON.TRIPLE_FAULT, 0, 0);
      }
      if (secondClass === CONTRIBUTORY ? firstClass === CONTRIBUTORY || firstClass === PAGE_FAULT : firstClass === PAGE_FAULT) {
        vector = 8;
        errorCode = 0;
        if (p.exceptionExits(8, 0)) {
          p.clearInFlight();
          return exceptionExit(p, 8, INTR_TYPE.HARDWARE_EXCEPTION, 0, 0, 0);
        }
      }
    }
  }
  return deliver(p, vector, type, errorCode, length, false, false);
}

/** Exception classes for double-fault formation (SDM 3A Table "Conditions for Generating a Double Fault"). */
const BENIGN = 0;
const CONTRIBUTORY = 1;
const PAGE_FAULT = 2;
const DOUBLE_FAULT = 3;
function exceptionClass(vector: number): number {
  if (vector === 8) return DOUBLE_FAULT;
  if (vector === 14 || vector === 20) return PAGE_FAULT; // #VE counts with #PF
  return vector === 0 || vector === 10 || vector === 11 || vector === 12 || vector === 13 || vector === 21 ? CONTRIBUTORY : BENIGN;
}

/** Exit for an exception the exception bitmap intercepts (reason 0). */
function exceptionExit(p: VmxProcessor, vector: number, type: number, errorCode: number, qualification: number, length: number): NonRootOutcome {
  const e = p.prepareExit(EXIT_REASON.EXCEPTION_NMI);
  e.interruptionInfo = interruptionInfo(vector, type, errorCode);
  e.interruptionErrorCode = errorCode < 0 ? 0 : errorCode;
  return p.exitNow(EXIT_REASON.EXCEPTION_NMI, qualification, length, true);
}

/** True when RDMSR/WRMSR of `msr` exits: "use MSR bitmaps" 0, an MSR outside the bitmaps, or its bit set (SDM 3C "Instructions That Cause VM Exits Conditionally"). */
export function msrAccessExits(p: VmxProcessor, msr: number, write: boolean): boolean {
  if (msr >>> 0 !== msr) assertInteger(msr, 'MSR index (ECX)', 0, 0xffff_ffff);
  if ((p.proc & CPU_BASED.USE_MSR_BITMAPS) === 0) return true;
  return p.msrBitmaps.exits(msr, write);
}

function read(p: VmxProcessor, lo: number, hi: number): ReadOutcome {
  const r = p.readOutcome;
  r.lo = lo >>> 0;
  r.hi = hi >>> 0;
  return r;
}

/** The guest executed RDMSR (SDM 3C "Virtualizing MSR-Based APIC Accesses"). */
export function rdmsr(p: VmxProcessor, msr: number): NonRootOutcome {
  p.requireNonRoot('rdmsr');
  if (msrAccessExits(p, msr, false)) return p.exitNow(EXIT_REASON.MSR_READ, 0, 2);
  if ((p.proc2 & SECONDARY.VIRTUALIZE_X2APIC_MODE) !== 0 && msr >= X2APIC_FIRST && msr <= X2APIC_LAST) {
    const va = p.vapic;
    if ((p.proc2 & SECONDARY.APIC_REGISTER_VIRTUALIZATION) !== 0) {
      const off = (msr & 0xff) << 4;
      return read(p, va.read32(off), va.read32(off + 4));
    }
    if (msr === MSR_TPR) return read(p, va.read32(APIC_REG.APIC_TPR), va.read32(APIC_REG.APIC_TPR + 4));
  }
  return NATIVE;
}

/** TPR virtualization (SDM 3C "TPR Virtualization"). */
function tprVirtualization(p: VmxProcessor): NonRootOutcome {
  const va = p.vapic;
  if ((p.proc2 & SECONDARY.VIRTUAL_INTERRUPT_DELIVERY) !== 0) {
    va.pprVirtualization();
    va.evaluate();
    return CONTINUE;
  }
  if (((va.vtpr >>> 4) & 0xf) < va.tprThreshold) return p.exitNow(EXIT_REASON.TPR_BELOW_THRESHOLD, 0, 0);
  return CONTINUE;
}

/** EOI virtualization (SDM 3C "EOI Virtualization"). */
function eoiVirtualization(p: VmxProcessor): NonRootOutcome {
  const va = p.vapic;
  const vector = va.eoi();
  p.traceSink?.emit({ kind: 'interrupt.eoi', cycle: p.now, cpu: p.cpuNumber, source: 'vmx', vector, args: { virtual: true } });
  if (va.eoiExits(vector)) return p.exitNow(EXIT_REASON.EOI_INDUCED, vector, 0);
  va.evaluate();
  return CONTINUE;
}

/** The guest executed WRMSR of `value` (SDM 3C "Virtualizing MSR-Based APIC Accesses"). Faults as the SDM says with #GP. */
export function wrmsr(p: VmxProcessor, msr: number, value: number | bigint): NonRootOutcome {
  p.requireNonRoot('wrmsr');
  const { lo, hi } = u64Halves(value, 'WRMSR value', p.operandHalves);
  if (msrAccessExits(p, msr, true)) return p.exitNow(EXIT_REASON.MSR_WRITE, 0, 2);
  if ((p.proc2 & SECONDARY.VIRTUALIZE_X2APIC_MODE) !== 0 && msr >= X2APIC_FIRST && msr <= X2APIC_LAST) {
    const va = p.vapic;
    const vid = (p.proc2 & SECONDARY.VIRTUAL_INTERRUPT_DELIVERY) !== 0;
    if (msr === MSR_TPR) {
      if (hi !== 0 || lo > 0xff) throw CpuException.gp(`WRMSR 0x808 with bits 63:8 set (0x${hi.toString(16)}_${lo.toString(16)})`);
      va.vtpr = lo;
      va.write32(APIC_REG.APIC_TPR + 4, 0);
      return tprVirtualization(p);
    }
    if (msr === MSR_EOI && vid) {
      if (hi !== 0 || lo !== 0) throw CpuException.gp(`WRMSR 0x80B with a non-zero value (0x${hi.toString(16)}_${lo.toString(16)})`);
      return eoiVirtualization(p);
    }
    if (msr === MSR_SELF_IPI && vid) {
      if (hi !== 0 || lo > 0xff) throw CpuException.gp(`WRMSR 0x83F with bits 63:8 set (0x${hi.toString(16)}_${lo.toString(16)})`);
      if (lo < 16) {
        // Vectors 0-15 are not virtualized: the value goes to the page and the VMM completes it.
        va.write32(APIC_REG.APIC_SELF_IPI, lo);
        va.write32(APIC_REG.APIC_SELF_IPI + 4, 0);
        return p.exitNow(EXIT_REASON.APIC_WRITE, APIC_REG.APIC_SELF_IPI, 0);
      }
      va.selfIpi(lo);
      return CONTINUE;
    }
  }
  return NATIVE;
}

/** The guest executed MOV to CR8 from general register `gpr` (SDM 3C "Changes to Instruction Behavior": MOV to CR8). */
export function movToCr8(p: VmxProcessor, value: number, gpr = 0): NonRootOutcome {
  p.requireNonRoot('movToCr8');
  assertInteger(gpr, 'gpr', 0, 15);
  if ((p.proc & CPU_BASED.CR8_LOAD_EXITING) !== 0) return p.exitNow(EXIT_REASON.CR_ACCESS, 8 | (gpr << 8), p.mode.instructionLength);
  if (!Number.isSafeInteger(value) || value < 0) throw new VmxError('bad-argument', `MOV to CR8 source must be a non-negative safe integer, got ${String(value)}`);
  if ((p.proc & CPU_BASED.USE_TPR_SHADOW) === 0) return NATIVE;
  if (value > 15) throw CpuException.gp(`MOV to CR8 with bits 63:4 set (0x${value.toString(16)})`);
  p.vapic.vtpr = value << 4;
  return tprVirtualization(p);
}

/** The guest executed MOV from CR8 into `gpr`: CR8-store exiting, else VTPR[7:4] with the TPR shadow. */
export function movFromCr8(p: VmxProcessor, gpr = 0): NonRootOutcome {
  p.requireNonRoot('movFromCr8');
  assertInteger(gpr, 'gpr', 0, 15);
  if ((p.proc & CPU_BASED.CR8_STORE_EXITING) !== 0) return p.exitNow(EXIT_REASON.CR_ACCESS, 8 | (1 << 4) | (gpr << 8), p.mode.instructionLength);
  if ((p.proc & CPU_BASED.USE_TPR_SHADOW) === 0) return NATIVE;
  return read(p, (p.vapic.vtpr >>> 4) & 0xf, 0);
}

/**
 * Kind of access to the APIC-access page: a linear-address data read, data
 * write or instruction fetch, or a guest-physical access (one that does not
 * use a linear address, e.g. a paging-structure access under EPT), which is
 * never virtualized.
 */
export type ApicAccessKind = 'read' | 'write' | 'fetch' | 'guest-physical';

/**
 * The guest accessed the APIC-access page at page `offset` (SDM 3C
 * "Virtualizing Memory-Mapped APIC Accesses"). Not special without
 * "virtualize APIC accesses"; otherwise virtualized (a read answers the
 * virtual-APIC page's value; a write updates it and runs APIC-write
 * emulation) or an APIC-access VM exit (fault-like).
 */
export function apicAccess(p: VmxProcessor, offset: number, size: number, kind: ApicAccessKind, value = 0): NonRootOutcome {
  p.requireNonRoot('apicAccess');
  assertInteger(offset, 'offset', 0, 0xfff);
  if (size !== 1 && size !== 2 && size !== 4 && size !== 8) throw new VmxError('bad-argument', `APIC-access size must be 1, 2, 4 or 8 bytes, got ${String(size)}`);
  if ((p.proc2 & SECONDARY.VIRTUALIZE_APIC_ACCESSES) === 0) return NATIVE;
  const c = p.apicAccessControls;
  const virtualized = kind === 'read' ? readVirtualized(c, offset, size) : kind === 'write' ? writeVirtualized(c, offset, size) : false;
  if (!virtualized) {
    const type =
      kind === 'guest-physical'
        ? p.deliveringEvent
          ? APIC_ACCESS_TYPE.GUEST_PHYSICAL_EVENT_DELIVERY
          : APIC_ACCESS_TYPE.GUEST_PHYSICAL_INSTRUCTION
        : p.deliveringEvent
          ? APIC_ACCESS_TYPE.LINEAR_EVENT_DELIVERY
          : kind === 'read'
            ? APIC_ACCESS_TYPE.LINEAR_READ
            : kind === 'write'
              ? APIC_ACCESS_TYPE.LINEAR_WRITE
              : APIC_ACCESS_TYPE.LINEAR_FETCH;
    return p.exitNow(EXIT_REASON.APIC_ACCESS, offset | (type << 12), 0);
  }
  const page = p.vapic.page;
  const mem = p.memory;
  if (kind === 'read') return read(p, size === 1 ? mem.read8(page + offset) : size === 2 ? mem.read16(page + offset) : mem.read32(page + offset), 0);
  assertInteger(value, 'value', 0, size === 4 ? 0xffff_ffff : size === 2 ? 0xffff : 0xff);
  if (size === 1) mem.write8(page + offset, value);
  else if (size === 2) mem.write16(page + offset, value);
  else mem.write32(page + offset, value);
  return apicWriteEmulation(p, offset);
}

/** An access at a (guest-translated) physical address: only the APIC-access page is special (SDM 3C "Virtualizing Memory-Mapped APIC Accesses"). */
export function memoryAccess(p: VmxProcessor, physicalAddress: number, size: number, kind: ApicAccessKind, value = 0): NonRootOutcome {
  p.requireNonRoot('memoryAccess');
  if (!Number.isSafeInteger(physicalAddress) || physicalAddress < 0) throw new VmxError('bad-argument', `physical address must be a non-negative safe integer, got ${String(physicalAddress)}`);
  const page = p.apicAccessPage;
  if (page < 0 || physicalAddress < page || physicalAddress >= page + 0x1000) return NATIVE;
  return apicAccess(p, physicalAddress - page, size, kind, value);
}

/** APIC-write emulation (SDM 3C "APIC-Write Emulation") after a virtualized write at `offset`. */
function apicWriteEmulation(p: VmxProcessor, offset: number): NonRootOutcome {
  const va = p.vapic;
  const vid = (p.proc2 & SECONDARY.VIRTUAL_INTERRUPT_DELIVERY) !== 0;
  switch (offset & 0xff0) {
    case APIC_REG.APIC_TPR:
      va.vtpr = va.read32(APIC_REG.APIC_TPR) & 0xff;
      return tprVirtualization(p);
    case APIC_REG.APIC_EOI:
      if (vid) {
        va.clearVeoi();
        return eoiVirtualization(p);
      }
      break;
    case APIC_REG.APIC_ICR_LOW: {
      const icr = va.read32(APIC_REG.APIC_ICR_LOW);
      if (vid && isVirtualizableSelfIpi(icr)) {
        va.selfIpi(icr & 0xff);
        return CONTINUE;
      }
      break;
    }
    case APIC_REG.APIC_ICR_HIGH:
      va.write32(APIC_REG.APIC_ICR_HIGH, va.read32(APIC_REG.APIC_ICR_HIGH) & 0xff00_0000);
      return CONTINUE;
  }
  return p.exitNow(EXIT_REASON.APIC_WRITE, offset & 0xfff, 0);
}

/** Exit details a CPU model supplies for an exit it decided itself. */
export interface InstructionExitInfo {
  qualification?: number;
  instructionLength?: number;
  instructionInfo?: number;
  guestLinearAddress?: number;
  guestPhysicalAddress?: number;
}

/**
 * A VM exit the CPU model determined (CPUID, VMCALL, I/O instructions, EPT
 * violations, ...): records the exit information and leaves non-root
 * operation. IDT-vectoring information is recorded when the exit interrupts
 * an event delivery.
 */
export function reportExit(p: VmxProcessor, reason: number, info: InstructionExitInfo = {}): NonRootOutcome {
  p.requireNonRoot('reportExit');
  assertInteger(reason, 'exit reason', 0, 0xffff);
  const e = p.prepareExit(reason);
  e.instructionInfo = info.instructionInfo ?? 0;
  e.guestLinearAddress = info.guestLinearAddress ?? 0;
  e.guestPhysicalAddress = info.guestPhysicalAddress ?? 0;
  return p.exitNow(reason, info.qualification ?? 0, info.instructionLength ?? 0, true);
}
