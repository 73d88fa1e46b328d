/**
 * The state of a logical processor's VMX operation that the instruction,
 * VM-entry, VM-exit and non-root-event modules share (SDM 3C "Introduction
 * to Virtual Machine Extensions", "Virtual-Machine Control Structures").
 * `VmxProcessor` (processor.ts) extends this class with the public methods;
 * the modules take it as their first argument, so none of them imports
 * another's class (no import cycle).
 */
import { CpuException, type Clock, type InterruptNotifier, type Memory, type MsrDevice, type Tracer, type U64Halves } from '@hvsim/core';
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import { vmxUsageError } from '../errors.js';
import { FIELD_TYPE, encodingType } from '../fields/encoding.js';
import { VMCS_FIELD } from '../fields/field-table.js';
import { FIELD_COUNT, SLOT_SPEC, lookupEncoding, slotOf } from '../fields/slots.js';
import type { Vmcs } from '../vmcs/vmcs.js';
import { VirtualApic } from '../apicv/virtual-apic.js';
import type { ApicAccessControls } from '../apicv/apic-access.js';
import { MsrBitmaps } from '../apicv/msr-bitmap.js';
import { readMemory32 } from '../internal/memory-access.js';
import { PreemptionTimer } from './preemption-timer.js';
import { VmxCapabilities, type VmxCapabilityConfig } from './capabilities.js';
import { VM_FAIL_INVALID, VM_SUCCEED, VmExitInfo, vmFailValid, type DeliverOutcome, type EnteredOutcome, type GuestEvent, type PostedOutcome, type ReadOutcome, type VmExitOutcome, type VmxResult } from './outcomes.js';
import { CR0_PE, EFER_LMA, RFLAGS_VM, defaultProcessorMode, type ProcessorMode } from './processor-mode.js';

/** VMX operation of the processor. */
export type VmxOperation = 'off' | 'root' | 'non-root';

/** Wiring of a {@link VmxProcessor}. */
export interface VmxProcessorOptions {
  /** Memory holding VMXON and VMCS regions, the virtual-APIC page, MSR and I/O bitmaps and posted-interrupt descriptors (core's `Memory`: host RAM or any view of it). */
  memory: Memory;
  /** The processor's VMX capabilities (default: everything this package models). */
  capabilities?: VmxCapabilities | VmxCapabilityConfig;
  /** Time for the VMX-preemption timer (TSC = clock cycles). Needed only when the timer is used. */
  clock?: Clock;
  /** Receives vm.entry / vm.exit / interrupt events. */
  tracer?: Tracer;
  /** CPU number for trace events. */
  cpu?: number;
  /** Called when something becomes pending without a guest event (the preemption timer fired): wake a halted CPU model. */
  onEvent?: InterruptNotifier;
  /** The CPU's MSRs, for the VM-entry MSR-load and VM-exit MSR-store/load lists (without it a non-empty entry list fails the entry). */
  msrs?: MsrDevice;
}

/** An event being delivered (injected or virtual interrupt etc.), for IDT-vectoring information. */
export interface InFlight {
  /** Interruption information as int32 bits (bit 31, valid, makes it negative): read it with `>>> 0`. */
  info: number;
  errorCode: number;
  /** Instruction length of a software interrupt or exception (types 4-6), else 0. */
  length: number;
}

/** Slots of the exit-information and other fields the modules read and write directly, looked up once. */
export const CORE_SLOTS = {
  ERROR: slotOf(VMCS_FIELD.VM_INSTRUCTION_ERROR),
  EXCEPTION_BITMAP: slotOf(VMCS_FIELD.EXCEPTION_BITMAP),
  PFEC_MASK: slotOf(VMCS_FIELD.PAGE_FAULT_ERROR_CODE_MASK),
  PFEC_MATCH: slotOf(VMCS_FIELD.PAGE_FAULT_ERROR_CODE_MATCH),
} as const;

/**
 * The shared state of a logical processor's VMX operation. Members marked
 * internal are the modules' and may change without notice; the public
 * surface is `VmxProcessor`'s.
 */
export class VmxProcessorCore {
  /** Physical memory holding the VMXON region, VMCS regions and the pages they point to. */
  readonly memory: Memory;
  /** The VMX capabilities this processor reports and enforces. */
  readonly capabilities: VmxCapabilities;
  /** State that decides instruction faults; the CPU model keeps it current. */
  readonly mode: ProcessorMode = defaultProcessorMode();
  /** Outcome of the most recent VMX instruction (what RFLAGS would say). */
  lastResult: VmxResult = VM_SUCCEED;

  /** @internal VMX operation (read and written through {@link operation}). */
  private op: VmxOperation = 'off';
  /** @internal True in VMX non-root operation: the guest-event paths test a boolean, not a string. */
  nonRoot = false;
  /** @internal VMX operation: off, root or non-root. */
  get operation(): VmxOperation {
    return this.op;
  }
  /** @internal Sets the VMX operation and keeps `nonRoot` in step. */
  set operation(value: VmxOperation) {
    this.op = value;
    this.nonRoot = value === 'non-root';
  }
  /** @internal */ vmxonPointer = -1;
  /** @internal */ current: Vmcs | null = null;
  /** @internal */ readonly active = new Map<number, Vmcs>();
  /** @internal */ readonly clock: Clock | undefined;
  /** @internal */ readonly tracer: Tracer | undefined;
  /** @internal */ readonly cpu: number | undefined;
  /** @internal */ readonly onEvent: InterruptNotifier | undefined;
  /** @internal */ readonly msrs: MsrDevice | undefined;
  /**
   * Set when a VM exit ended in a VMX abort (SDM 3C "VMX Aborts"): the abort
   * indicator (1 = saving guest MSRs failed, 4 = loading host MSRs failed) is
   * also written at offset 4 of the VMCS region, and the processor is in the
   * shutdown state; 0 otherwise.
   */
  vmxAbort = 0;
  /** @internal Per slot: 1 when the field exists on this processor. */
  readonly supported = new Uint8Array(FIELD_COUNT);
  /** @internal Per slot: 1 when VMWRITE may write the field (exists, and not read-only unless IA32_VMX_MISC[29]). */
  readonly writable = new Uint8Array(FIELD_COUNT);

  /** An INIT signal is pending: blocked by VMX root operation or by the wait-for-SIPI activity state. */
  initPending = false;
  /** @internal An MTF VM exit is pending at the next instruction boundary (SDM 3C "Monitor Trap Flag"). */
  mtfPending = false;
  /** @internal A TPR-below-threshold VM exit is due right after VM entry (SDM 3C "VM Exits Induced by the TPR Threshold"). */
  tprThresholdPending = false;
  /** The CPU model sets this while the root instruction stream has blocking by MOV SS (VM entry then fails with error 26). */
  rootMovSsBlocking = false;
  /** Text of the last failed VM-entry check (not architectural; for diagnostics), or null. */
  lastEntryCheck: string | null = null;

  // --- VMX non-root operation state (valid while operation === 'non-root') ---
  /** @internal */ pin = 0;
  /** @internal */ proc = 0;
  /** @internal */ proc2 = 0;
  /** @internal */ exitControls = 0;
  /** @internal Guest interruptibility state as the processor tracks it. */
  interruptibility = 0;
  /** @internal STI/MOV-SS blocking was set during the current instruction: it lasts through the next boundary. */
  shadowFresh = false;
  /** @internal */ activity = 0;
  /** @internal */ inFlight: InFlight | null = null;
  /** @internal */ readonly inFlightSlot: InFlight = { info: 0, errorCode: 0, length: 0 };
  /**
   * @internal Posted-interrupt processing ran at the current instruction
   * boundary and the boundary is not finished: the next `instructionBoundary`
   * call continues it (below the external-interrupt priority) instead of
   * starting a new one. Cleared by every other non-root event.
   */
  boundaryOpen = false;
  /** @internal */ readonly timer: PreemptionTimer;
  /** @internal The running VMCS's posted-interrupt descriptor, or null without "process posted interrupts". */
  pid: PostedInterruptDescriptor | null = null;
  /** @internal Address of the running VMCS's posted-interrupt descriptor, or -1. */
  pidAddress = -1;
  /** @internal One descriptor view, re-taken only when the address changes (no allocation per VM entry). */
  pidView: PostedInterruptDescriptor | null = null;
  /** @internal The running VMCS's MSR bitmaps. */
  readonly msrBitmaps: MsrBitmaps;
  /** @internal */ readonly apicAccessControls: ApicAccessControls = { tprShadow: false, registerVirtualization: false, virtualInterruptDelivery: false };
  /** @internal */ notificationVector = -1;
  /** @internal The VMCS (and its `controlEpoch`) the non-root controls above were last derived from; null forces a reload. */
  loadedVmcs: Vmcs | null = null;
  /** @internal */ loadedEpoch = -1;
  /** @internal Physical address of the APIC-access page with "virtualize APIC accesses", else -1. */
  apicAccessPage = -1;
  /** The virtual-APIC state of the running guest (RVI, SVI, VIRR, VISR, VPPR). */
  readonly vapic: VirtualApic;

  /** @internal Scratch for 64-bit register operands (VMWRITE, WRMSR). */
  readonly operandHalves: U64Halves = { lo: 0, hi: 0 };
  /** @internal Counts {@link readForCheck} calls: a VM-entry check group that consulted memory is not cached. */
  checkMemoryReads = 0;
  /** @internal A 32-bit read for the VM-entry checks (all ones where no memory answers); bound once. */
  readonly readForCheck = (address: number): number => {
    this.checkMemoryReads++;
    return readMemory32(this.memory, address);
  };

  // Reused outcomes.
  /** @internal */ readonly exitInfo = new VmExitInfo();
  /** @internal */ readonly exitOutcome: VmExitOutcome = { kind: 'exit', exit: this.exitInfo };
  /** @internal */ readonly event: GuestEvent = { vector: 0, type: 0, errorCode: -1, instructionLength: 0, virtual: false, acknowledge: false };
  /** @internal */ readonly deliverOutcome: DeliverOutcome = { kind: 'deliver', event: this.event };
  /** @internal */ readonly readOutcome: ReadOutcome = { kind: 'read', lo: 0, hi: 0 };
  /** @internal */ readonly postedOutcome: PostedOutcome = { kind: 'posted', notificationVector: 0 };
  /** @internal */ readonly enteredOutcome: EnteredOutcome = { kind: 'entered', inject: null };

  constructor(options: VmxProcessorOptions) {
    this.memory = options.memory;
    this.capabilities = options.capabilities instanceof VmxCapabilities ? options.capabilities : new VmxCapabilities(options.capabilities);
    this.clock = options.clock;
    this.tracer = options.tracer;
    this.cpu = options.cpu;
    this.onEvent = options.onEvent;
    this.msrs = options.msrs;
    for (let s = 0; s < FIELD_COUNT; s++) {
      const req = SLOT_SPEC[s]!.requires;
      this.supported[s] = req === undefined || this.capabilities.allows(req[0], req[1]) ? 1 : 0;
      const readOnly = encodingType(SLOT_SPEC[s]!.encoding) === FIELD_TYPE.EXIT_INFO;
      this.writable[s] = this.supported[s] === 1 && (!readOnly || this.capabilities.vmwriteAnyField) ? 1 : 0;
    }
    this.vapic = new VirtualApic(this.memory);
    this.timer = new PreemptionTimer(this.clock, this.capabilities.preemptionTimerRate, this.onEvent);
    this.msrBitmaps = new MsrBitmaps(this.memory);
  }

  /** True when `encoding` names a field this processor supports (VMREAD/VMWRITE would not fail with error 12). */
  supportsField(encoding: number): boolean {
    const code = lookupEncoding(encoding);
    return code >= 0 && this.supported[code >> 1] === 1;
  }

  /** @internal Records and returns an instruction outcome. */
  result<R extends VmxResult>(r: R): R {
    this.lastResult = r;
    return r;
  }

  /** @internal VMfail(n): VMfailValid(n) with a current VMCS, else VMfailInvalid. */
  vmFail(error: number): VmxResult {
    if (!this.current) return this.result(VM_FAIL_INVALID);
    this.current.lo[CORE_SLOTS.ERROR] = error;
    return this.result(vmFailValid(error));
  }

  /** @internal #UD conditions shared by every VMX instruction but VMXON. */
  checkUd(name: string): void {
    const m = this.mode;
    if (this.operation === 'off') throw CpuException.ud(`${name} outside VMX operation`);
    if ((m.cr0 & CR0_PE) === 0 || (m.rflags & RFLAGS_VM) !== 0 || ((m.efer & EFER_LMA) !== 0 && !m.csL)) throw CpuException.ud(`${name} in real, virtual-8086 or compatibility mode`);
  }

  /** @internal #GP(0) at CPL > 0. */
  checkCpl(name: string): void {
    if (this.mode.cpl > 0) throw CpuException.gp(`${name} at CPL ${this.mode.cpl}`);
  }

  /** @internal Throws unless in VMX non-root operation. */
  requireNonRoot(what: string): void {
    // The check stays small enough to inline into every guest event; the throw is out of line.
    if (!this.nonRoot) this.notNonRoot(what);
  }

  private notNonRoot(what: string): never {
    throw vmxUsageError('bad-state', `${what} is a VMX non-root event, but the processor is in ${this.operation === 'off' ? 'no VMX operation' : 'VMX root operation'}`);
  }

  /** @internal Ages the STI/MOV-SS shadow at an instruction boundary. */
  ageShadow(): void {
    if ((this.interruptibility & 3) === 0) return;
    if (this.shadowFresh) this.shadowFresh = false;
    else this.interruptibility &= ~3;
  }

  /** @internal Records `info`/`errorCode` as the event being delivered, until the next instruction boundary. */
  setInFlight(info: number, errorCode: number, length = 0): void {
    // As int32 bits (valid is bit 31): a small integer in the field, where the unsigned value would need a double.
    this.inFlightSlot.info = info | 0;
    this.inFlightSlot.errorCode = errorCode < 0 ? 0 : errorCode;
    this.inFlightSlot.length = length;
    this.inFlight = this.inFlightSlot;
  }

  /** @internal Exception bitmap word and #PF mask/match of the running VMCS. */
  exceptionExits(vector: number, errorCode: number): boolean {
    const v = this.current!;
    const bit = ((v.lo[CORE_SLOTS.EXCEPTION_BITMAP]! >>> vector) & 1) === 1;
    if (vector !== 14) return bit;
    const match = ((errorCode & v.lo[CORE_SLOTS.PFEC_MASK]!) >>> 0) === v.lo[CORE_SLOTS.PFEC_MATCH];
    return match ? bit : !bit;
  }

  /** @internal {@link descriptorAt}, bound once. */
  readonly descriptorFor = (address: number): PostedInterruptDescriptor => this.descriptorAt(address);

  /** @internal The descriptor view for `address`, reused while the address stays the same. */
  descriptorAt(address: number): PostedInterruptDescriptor {
    const view = this.pidView;
    if (view !== null && view.address === address) return view;
    const fresh = new PostedInterruptDescriptor(this.memory, address);
    this.pidView = fresh;
    return fresh;
  }

  /** @internal Current cycle for trace stamps. */
  get now(): number {
    return this.clock?.now() ?? 0;
  }
}
