/**
 * A logical processor with VMX operation (SDM 3C "Introduction to Virtual
 * Machine Extensions", "VMX Instruction Reference", "VM Entries", "VM
 * Exits", "VMX Non-Root Operation"). Methods named after the instructions
 * return the architectural outcome; methods named after guest events answer
 * what the processor does in VMX non-root operation.
 */
import {
  Clock,
  CpuException,
  PhysicalMemory,
  type InterruptNotifier,
  type MsrDevice,
  type Tracer,
  type U64Halves,
} from '@hvsim/core';
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import { VmxError } from '../errors.js';
import { FIELD_TYPE, encodingType } from '../fields/encoding.js';
import { VMCS_FIELD } from '../fields/field-table.js';
import { FIELD_COUNT, SLOT_SPEC, lookupEncoding, slotOf } from '../fields/slots.js';
import { Vmcs, VMCS_REGION } from '../vmcs/vmcs.js';
import { VirtualApic } from '../apicv/virtual-apic.js';
import type { ApicAccessControls } from '../apicv/apic-access.js';
import { MsrBitmaps } from '../apicv/msr-bitmap.js';
import { PreemptionTimer } from './preemption-timer.js';
import { loadMsrList, storeMsrList } from './msr-lists.js';
import { u64Halves } from '../internal/u64.js';
import {
  apicAccess,
  exception,
  externalInterrupt,
  hlt,
  init,
  instructionBoundary,
  iret,
  memoryAccess,
  movFromCr8,
  movSs,
  movToCr8,
  msrAccessExits,
  nmi,
  rdmsr,
  reportExit,
  sipi,
  sti,
  wrmsr,
  type ApicAccessKind,
  type ExceptionOptions,
  type InstructionExitInfo,
} from './guest-events.js';
import { VmxCapabilities, type VmxCapabilityConfig } from './capabilities.js';
import { ACTIVITY_STATE, CPU_BASED, INTERRUPTIBILITY, INTR_INFO_DELIVER_CODE, INTR_INFO_VALID, INTR_TYPE, PIN_BASED, SECONDARY, VM_EXIT } from './controls.js';
import { EXIT_REASON, EXIT_REASON_FLAG, exitReasonName } from './exit-reasons.js';
import { VM_INSTRUCTION_ERROR } from './instruction-errors.js';
import {
  VM_FAIL_INVALID,
  VM_SUCCEED,
  VmExitInfo,
  vmFailValid,
  type DeliverOutcome,
  type GuestEvent,
  type NonRootOutcome,
  type PostedOutcome,
  type ReadOutcome,
  type VmReadValue,
  type VmSucceed,
  type VmEntryOutcome,
  type VmExitOutcome,
  type VmxResult,
} from './outcomes.js';
import { CR0_PE, CR4_VMXE, EFER_LMA, RFLAGS_VM, defaultProcessorMode, type ProcessorMode } from './processor-mode.js';
import { parseProcessorState, type VmxProcessorState } from './processor-state.js';
import { ENTRY_SLOTS, checkControls, checkGuestState, checkHostState, secondaryControls } from './vm-entry-checks.js';

// Short names: F for the field encodings, S for the slots VM entry and exit read
// (vm-entry-checks.ts), X for the slots of the other fields read and written here,
// looked up once.
const F = VMCS_FIELD;
const S = ENTRY_SLOTS;
const X = {
  ERROR: slotOf(F.VM_INSTRUCTION_ERROR),
  REASON: slotOf(F.VM_EXIT_REASON),
  INTR_INFO: slotOf(F.VM_EXIT_INTR_INFO),
  INTR_ERROR: slotOf(F.VM_EXIT_INTR_ERROR_CODE),
  IDT_INFO: slotOf(F.IDT_VECTORING_INFO_FIELD),
  IDT_ERROR: slotOf(F.IDT_VECTORING_ERROR_CODE),
  INSTR_LEN: slotOf(F.VM_EXIT_INSTRUCTION_LEN),
  INSTR_INFO: slotOf(F.VMX_INSTRUCTION_INFO),
  QUAL: slotOf(F.EXIT_QUALIFICATION),
  GLA: slotOf(F.GUEST_LINEAR_ADDRESS),
  GPA: slotOf(F.GUEST_PHYSICAL_ADDRESS),
  TIMER: slotOf(F.VMX_PREEMPTION_TIMER_VALUE),
  EXCEPTION_BITMAP: slotOf(F.EXCEPTION_BITMAP),
  PFEC_MASK: slotOf(F.PAGE_FAULT_ERROR_CODE_MASK),
  PFEC_MATCH: slotOf(F.PAGE_FAULT_ERROR_CODE_MATCH),
} as const;

/** The invalid current-VMCS pointer, FFFFFFFF_FFFFFFFFH. */
export const INVALID_VMCS_POINTER = 0xffff_ffff_ffff_ffffn;

/** VMX operation of the processor. */
export type VmxOperation = 'off' | 'root' | 'non-root';
export type { VmxProcessorState };

/** Wiring of a {@link VmxProcessor}. */
export interface VmxProcessorOptions {
  /** Physical memory holding VMXON and VMCS regions, the virtual-APIC page, MSR bitmaps and posted-interrupt descriptors. */
  memory: PhysicalMemory;
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
interface InFlight {
  info: number;
  errorCode: number;
  /** Instruction length of a software interrupt or exception (types 4-6), else 0. */
  length: number;
}

/**
 * A logical processor's VMX operation: the VMX instructions (VMXON ...
 * VMRESUME) in root operation, and the events of non-root operation, which
 * the CPU model reports and this class answers with outcome values.
 */
export class VmxProcessor {
  readonly memory: PhysicalMemory;
  readonly capabilities: VmxCapabilities;
  /** State that decides instruction faults; the CPU model keeps it current. */
  readonly mode: ProcessorMode = defaultProcessorMode();
  /** Outcome of the most recent VMX instruction (what RFLAGS would say). */
  lastResult: VmxResult = VM_SUCCEED;

  private operation: VmxOperation = 'off';
  private vmxonPointer = -1;
  private current: Vmcs | null = null;
  private readonly active = new Map<number, Vmcs>();
  private readonly clock: Clock | undefined;
  private readonly tracer: Tracer | undefined;
  private readonly cpu: number | undefined;
  private readonly onEvent: InterruptNotifier | undefined;
  private readonly msrs: MsrDevice | undefined;
  /**
   * Set when a VM exit ended in a VMX abort (SDM 3C "VMX Aborts"): the abort
   * indicator (1 = saving guest MSRs failed, 4 = loading host MSRs failed) is
   * also written at offset 4 of the VMCS region, and the processor is in the
   * shutdown state; 0 otherwise.
   */
  vmxAbort = 0;
  /** Per slot: 1 when the field exists on this processor. */
  private readonly supported = new Uint8Array(FIELD_COUNT);
  /** Per slot: 1 when VMWRITE may write the field (exists, and not read-only unless IA32_VMX_MISC[29]). */
  private readonly writable = new Uint8Array(FIELD_COUNT);

  // --- VMX non-root operation state (valid while operation === 'non-root') ---
  /** @internal */ pin = 0;
  /** @internal */ proc = 0;
  /** @internal */ proc2 = 0;
  /** @internal */ exitControls = 0;
  /** Guest interruptibility state as the processor tracks it. */
  private interruptibility = 0;
  /** STI/MOV-SS blocking was set during the current instruction: it lasts through the next boundary. */
  private shadowFresh = false;
  private activity = 0;
  private inFlight: InFlight | null = null;
  private readonly inFlightSlot: InFlight = { info: 0, errorCode: 0, length: 0 };
  private readonly timer: PreemptionTimer;
  /** @internal */ pid: PostedInterruptDescriptor | null = null;
  /** @internal The running VMCS's MSR bitmaps. */
  readonly msrBitmaps: MsrBitmaps;
  /** @internal */ readonly apicAccessControls: ApicAccessControls = { tprShadow: false, registerVirtualization: false, virtualInterruptDelivery: false };
  /** @internal */ notificationVector = -1;
  /** @internal Physical address of the APIC-access page with "virtualize APIC accesses", else -1. */
  apicAccessPage = -1;
  /** The virtual-APIC state of the running guest (RVI, SVI, VIRR, VISR, VPPR). */
  readonly vapic: VirtualApic;

  /** @internal Scratch for 64-bit register operands (VMWRITE, WRMSR). */
  readonly operandHalves: U64Halves = { lo: 0, hi: 0 };

  // Reused outcomes.
  private readonly exitInfo = new VmExitInfo();
  /** @internal */ readonly exitOutcome: VmExitOutcome = { kind: 'exit', exit: this.exitInfo };
  /** @internal */ readonly event: GuestEvent = { vector: 0, type: 0, errorCode: -1, instructionLength: 0, virtual: false, acknowledge: false };
  /** @internal */ readonly deliverOutcome: DeliverOutcome = { kind: 'deliver', event: this.event };
  /** @internal */ readonly readOutcome: ReadOutcome = { kind: 'read', lo: 0, hi: 0 };
  /** @internal */ readonly postedOutcome: PostedOutcome = { kind: 'posted', notificationVector: 0 };

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
    this.vapic = new VirtualApic(this.memory, new Vmcs(0));
    this.timer = new PreemptionTimer(this.clock, this.capabilities.preemptionTimerRate, this.onEvent);
    this.msrBitmaps = new MsrBitmaps(this.memory);
  }

  /** VMX operation: off, root or non-root. */
  get vmxOperation(): VmxOperation {
    return this.operation;
  }

  /** The current-VMCS pointer (FFFFFFFF_FFFFFFFFH when none). */
  get currentVmcsPointer(): bigint {
    return this.current ? BigInt(this.current.address) : INVALID_VMCS_POINTER;
  }

  /** The current VMCS's data (for inspection and for the CPU model's guest-state saves), or null. */
  get currentVmcs(): Vmcs | null {
    return this.current;
  }

  /** The VMXON pointer, or -1 outside VMX operation. */
  get vmxonRegion(): number {
    return this.vmxonPointer;
  }

  /** True when `encoding` names a field this processor supports (VMREAD/VMWRITE would not fail with error 12). */
  supportsField(encoding: number): boolean {
    const code = lookupEncoding(encoding);
    return code >= 0 && this.supported[code >> 1] === 1;
  }

  // ---------------------------------------------------------------------
  // Instruction plumbing (SDM 3C "Conventions" of the VMX instructions)

  private result(r: VmxResult): VmxResult {
    this.lastResult = r;
    return r;
  }

  /** VMfail(n): VMfailValid(n) with a current VMCS, else VMfailInvalid. */
  private vmFail(error: number): VmxResult {
    if (!this.current) return this.result(VM_FAIL_INVALID);
    this.current.lo[X.ERROR] = error;
    return this.result(vmFailValid(error));
  }

  /** #UD conditions shared by every VMX instruction but VMXON. */
  private checkUd(name: string): void {
    const m = this.mode;
    if (this.operation === 'off') throw CpuException.ud(`${name} outside VMX operation`);
    if ((m.cr0 & CR0_PE) === 0 || (m.rflags & RFLAGS_VM) !== 0 || ((m.efer & EFER_LMA) !== 0 && !m.csL)) throw CpuException.ud(`${name} in real, virtual-8086 or compatibility mode`);
  }

  private checkCpl(name: string): void {
    if (this.mode.cpl > 0) throw CpuException.gp(`${name} at CPL ${this.mode.cpl}`);
  }

  /** A pointer operand as a number, or -1 when it is not 4-KByte aligned or sets bits beyond MAXPHYADDR. */
  private pointer(value: number | bigint): number {
    if (typeof value === 'bigint') {
      if (value < 0n || value >= BigInt(this.capabilities.physicalAddressLimit)) return -1;
      value = Number(value);
    }
    if (!Number.isSafeInteger(value) || value < 0) throw new VmxError('bad-argument', `VMX pointer operand must be a non-negative integer, got ${String(value)}`);
    return value % 4096 === 0 && value < this.capabilities.physicalAddressLimit ? value : -1;
  }

  /** The 32-bit revision word at `addr` (all ones where no memory answers). */
  private revisionAt(addr: number): number {
    return this.memory.isBacked(addr, 4) ? this.memory.read32(addr) : 0xffff_ffff;
  }

  /** Exit for a VMX instruction executed in VMX non-root operation. */
  private instructionExitResult(reason: number): VmxResult {
    return this.result(this.exitNow(reason, 0, this.mode.instructionLength));
  }

  // ---------------------------------------------------------------------
  // VMX instructions

  /** VMXON (SDM 3C "VMXON—Enter VMX Operation"). */
  vmxon(region: number | bigint): VmxResult {
    const m = this.mode;
    if ((m.cr0 & CR0_PE) === 0 || (m.cr4 & CR4_VMXE) === 0 || (m.rflags & RFLAGS_VM) !== 0 || ((m.efer & EFER_LMA) !== 0 && !m.csL)) {
      throw CpuException.ud('VMXON with CR4.VMXE=0 or in real, virtual-8086 or compatibility mode');
    }
    if (this.operation === 'non-root') return this.instructionExitResult(EXIT_REASON.VMXON);
    if (this.operation === 'root') {
      this.checkCpl('VMXON');
      return this.vmFail(VM_INSTRUCTION_ERROR.VMXON_IN_VMX_ROOT);
    }
    const caps = this.capabilities;
    const fc = m.featureControl;
    const fixedOk = (m.cr0 & caps.cr0Fixed0) >>> 0 === caps.cr0Fixed0 && (m.cr0 & ~caps.cr0Fixed1) === 0 && (m.cr4 & caps.cr4Fixed0) >>> 0 === caps.cr4Fixed0 && (m.cr4 & ~caps.cr4Fixed1) === 0;
    if (m.cpl > 0 || !fixedOk || (fc & 1) === 0 || (m.inSmx ? (fc & 2) === 0 : (fc & 4) === 0)) {
      throw CpuException.gp('VMXON at CPL>0, with unsupported CR0/CR4, or with VMX disabled by IA32_FEATURE_CONTROL');
    }
    const addr = this.pointer(region);
    if (addr < 0) return this.result(VM_FAIL_INVALID);
    const rev = this.revisionAt(addr);
    if ((rev & 0x7fff_ffff) !== caps.revisionId || rev >>> 31 === 1) return this.result(VM_FAIL_INVALID);
    this.vmxonPointer = addr;
    this.current = null;
    this.operation = 'root';
    return this.result(VM_SUCCEED);
  }

  /**
   * VMXOFF (SDM 3C "VMXOFF—Leave VMX Operation"). Active VMCSs are written
   * back to memory; a launched one can then only be VMCLEARed (VMRESUME
   * fails with error 6, "VMRESUME after VMXOFF").
   */
  vmxoff(): VmxResult {
    this.checkUd('VMXOFF');
    if (this.operation === 'non-root') return this.instructionExitResult(EXIT_REASON.VMXOFF);
    this.checkCpl('VMXOFF');
    for (const v of this.active.values()) {
      if (v.launchState === 'launched') v.launchState = 'launched-before-vmxoff';
      v.flushTo(this.memory);
    }
    this.active.clear();
    this.current = null;
    this.vmxonPointer = -1;
    this.operation = 'off';
    return this.result(VM_SUCCEED);
  }

  /** VMCLEAR (SDM 3C "VMCLEAR—Clear Virtual-Machine Control Structure"). */
  vmclear(region: number | bigint): VmxResult {
    this.checkUd('VMCLEAR');
    if (this.operation === 'non-root') return this.instructionExitResult(EXIT_REASON.VMCLEAR);
    this.checkCpl('VMCLEAR');
    const addr = this.pointer(region);
    if (addr < 0) return this.vmFail(VM_INSTRUCTION_ERROR.VMCLEAR_INVALID_ADDRESS);
    if (addr === this.vmxonPointer) return this.vmFail(VM_INSTRUCTION_ERROR.VMCLEAR_VMXON_POINTER);
    const cached = this.active.get(addr);
    if (cached) {
      cached.launchState = 'clear';
      cached.flushTo(this.memory);
      this.active.delete(addr);
    } else {
      this.memory.write32(addr + VMCS_REGION.LAUNCH_STATE, 1);
    }
    if (this.current?.address === addr) this.current = null;
    return this.result(VM_SUCCEED);
  }

  /** VMPTRLD (SDM 3C "VMPTRLD—Load Pointer to Virtual-Machine Control Structure"). */
  vmptrld(region: number | bigint): VmxResult {
    this.checkUd('VMPTRLD');
    if (this.operation === 'non-root') return this.instructionExitResult(EXIT_REASON.VMPTRLD);
    this.checkCpl('VMPTRLD');
    const addr = this.pointer(region);
    if (addr < 0) return this.vmFail(VM_INSTRUCTION_ERROR.VMPTRLD_INVALID_ADDRESS);
    if (addr === this.vmxonPointer) return this.vmFail(VM_INSTRUCTION_ERROR.VMPTRLD_VMXON_POINTER);
    const rev = this.revisionAt(addr);
    const shadowingSupported = this.capabilities.allows('proc2', 14);
    if ((rev & 0x7fff_ffff) !== this.capabilities.revisionId || (rev >>> 31 === 1 && !shadowingSupported)) {
      return this.vmFail(VM_INSTRUCTION_ERROR.VMPTRLD_INCORRECT_REVISION_ID);
    }
    let v = this.active.get(addr);
    if (!v) {
      v = Vmcs.loadFrom(this.memory, addr);
      this.active.set(addr, v);
    }
    this.current = v;
    return this.result(VM_SUCCEED);
  }

  /** VMPTRST (SDM 3C "VMPTRST—Store Pointer to Virtual-Machine Control Structure"): stores the current-VMCS pointer as 8 bytes at physical `destination`. */
  vmptrst(destination: number): VmxResult {
    this.checkUd('VMPTRST');
    if (this.operation === 'non-root') return this.instructionExitResult(EXIT_REASON.VMPTRST);
    this.checkCpl('VMPTRST');
    this.memory.write64(destination, this.currentVmcsPointer);
    return this.result(VM_SUCCEED);
  }

  /** Common checks of VMREAD/VMWRITE; returns the slot code or -1 after recording the failure. */
  private fieldAccess(name: string, encoding: number | bigint, exitReason: number): number {
    this.checkUd(name);
    if (this.operation === 'non-root') {
      this.instructionExitResult(exitReason);
      return -1;
    }
    this.checkCpl(name);
    if (!this.current) {
      this.result(VM_FAIL_INVALID);
      return -1;
    }
    // Bits 63:32 of the encoding operand must be 0 in 64-bit mode.
    const enc = typeof encoding === 'number' ? encoding : encoding >> 32n === 0n ? Number(encoding) : -1;
    const code = lookupEncoding(enc);
    if (code < 0 || this.supported[code >> 1] === 0) {
      // A fraction, NaN or negative number is no register value: API misuse, not error 12.
      if (typeof encoding === 'number' && !(Number.isSafeInteger(encoding) && encoding >= 0)) {
        throw new VmxError('bad-argument', `${name} field encoding must be a non-negative safe integer or a bigint, got ${String(encoding)}`);
      }
      this.vmFail(VM_INSTRUCTION_ERROR.UNSUPPORTED_VMCS_COMPONENT);
      return -1;
    }
    return code;
  }

  /** VMREAD (SDM 3C "VMREAD—Read Field from Virtual-Machine Control Structure"): the field value (bigint) on VMsucceed, else the failure (or exit). */
  vmread(encoding: number | bigint): Exclude<VmxResult, VmSucceed> | VmReadValue {
    const code = this.fieldAccess('VMREAD', encoding, EXIT_REASON.VMREAD);
    if (code < 0) return this.lastResult as Exclude<VmxResult, VmSucceed>;
    this.lastResult = VM_SUCCEED;
    const v = this.current!;
    const slot = code >> 1;
    return { kind: 'value', value: (code & 1) !== 0 ? BigInt(v.hi[slot]!) : (BigInt(v.hi[slot]!) << 32n) | BigInt(v.lo[slot]!) };
  }

  /**
   * VMREAD fast path: bits 31:0 of the field (the whole of a 16- or 32-bit
   * field or a `_HIGH` alias) as a number, or -1 when the instruction did not
   * succeed (see {@link lastResult}).
   */
  vmread32(encoding: number): number {
    const code = this.fieldAccess('VMREAD', encoding, EXIT_REASON.VMREAD);
    if (code < 0) return -1;
    this.lastResult = VM_SUCCEED;
    const v = this.current!;
    return (code & 1) !== 0 ? v.hi[code >> 1]! : v.lo[code >> 1]!;
  }

  /** VMREAD of a natural-width or 64-bit field below 2^53 as a number (-1 on failure; throws if the value needs a bigint). */
  vmreadNumber(encoding: number): number {
    const code = this.fieldAccess('VMREAD', encoding, EXIT_REASON.VMREAD);
    if (code < 0) return -1;
    this.lastResult = VM_SUCCEED;
    const v = this.current!;
    const slot = code >> 1;
    if ((code & 1) !== 0) return v.hi[slot]!;
    const hi = v.hi[slot]!;
    if (hi >= 0x20_0000) throw new VmxError('bad-argument', `field 0x${encoding.toString(16)} holds 0x${hi.toString(16)}_${v.lo[slot]!.toString(16).padStart(8, '0')}, beyond 2^53: use vmread()`);
    return hi * 0x1_0000_0000 + v.lo[slot]!;
  }

  /** VMWRITE (SDM 3C "VMWRITE—Write Field to Virtual-Machine Control Structure"). Excess high bits of the source are ignored. */
  vmwrite(encoding: number | bigint, value: number | bigint): VmxResult {
    const h = u64Halves(value, 'VMWRITE value', this.operandHalves);
    return this.vmwriteHalves(encoding, h.lo, h.hi);
  }

  /** VMWRITE fast path for a 16/32-bit field (or `_HIGH` alias): `value` is an unsigned 32-bit number. */
  vmwrite32(encoding: number, value: number): VmxResult {
    if (value >>> 0 !== value) throw new VmxError('bad-argument', `vmwrite32 value must be an unsigned 32-bit integer, got ${String(value)}`);
    return this.vmwriteHalves(encoding, value, 0);
  }

  private vmwriteHalves(encoding: number | bigint, lo: number, hi: number): VmxResult {
    const code = this.fieldAccess('VMWRITE', encoding, EXIT_REASON.VMWRITE);
    if (code < 0) return this.lastResult;
    if (this.writable[code >> 1] === 0) return this.vmFail(VM_INSTRUCTION_ERROR.VMWRITE_READ_ONLY_COMPONENT);
    this.current!.writeCode(code, lo, hi);
    this.lastResult = VM_SUCCEED;
    return VM_SUCCEED;
  }

  /** VMLAUNCH (SDM 3C "VMLAUNCH/VMRESUME—Launch/Resume Virtual Machine"). */
  vmlaunch(): VmEntryOutcome {
    return this.vmentry(true);
  }

  /** VMRESUME (SDM 3C "VMLAUNCH/VMRESUME—Launch/Resume Virtual Machine"). */
  vmresume(): VmEntryOutcome {
    return this.vmentry(false);
  }

  private vmentry(launch: boolean): VmEntryOutcome {
    const name = launch ? 'VMLAUNCH' : 'VMRESUME';
    this.checkUd(name);
    if (this.operation === 'non-root') return this.instructionExitResult(launch ? EXIT_REASON.VMLAUNCH : EXIT_REASON.VMRESUME) as VmExitOutcome;
    this.checkCpl(name);
    const v = this.current;
    if (!v) return this.result(VM_FAIL_INVALID) as VmEntryOutcome;
    // Blocking by MOV SS of the executing (root) instruction stream is the CPU model's: it reports it through `rootMovSsBlocking`.
    if (this.rootMovSsBlocking) return this.vmFail(VM_INSTRUCTION_ERROR.ENTRY_EVENTS_BLOCKED_BY_MOV_SS) as VmEntryOutcome;
    if (launch && v.launchState !== 'clear') return this.vmFail(VM_INSTRUCTION_ERROR.VMLAUNCH_NONCLEAR_VMCS) as VmEntryOutcome;
    if (!launch && v.launchState === 'launched-before-vmxoff') return this.vmFail(VM_INSTRUCTION_ERROR.VMRESUME_AFTER_VMXOFF) as VmEntryOutcome;
    if (!launch && v.launchState !== 'launched') return this.vmFail(VM_INSTRUCTION_ERROR.VMRESUME_NONLAUNCHED_VMCS) as VmEntryOutcome;
    const caps = this.capabilities;
    this.lastEntryCheck = checkControls(v, caps, (a) => this.memory.read32(a));
    if (this.lastEntryCheck) return this.vmFail(VM_INSTRUCTION_ERROR.ENTRY_INVALID_CONTROL_FIELD) as VmEntryOutcome;
    this.lastEntryCheck = checkHostState(v, caps, { longMode: (this.mode.efer & EFER_LMA) !== 0 });
    if (this.lastEntryCheck) return this.vmFail(VM_INSTRUCTION_ERROR.ENTRY_INVALID_HOST_STATE_FIELD) as VmEntryOutcome;
    const guest = checkGuestState(v, caps, (a) => this.revisionAt(a));
    if (guest) {
      this.lastEntryCheck = guest.check;
      return this.entryFailure(EXIT_REASON.INVALID_GUEST_STATE, guest.qualification);
    }
    this.lastEntryCheck = null;
    const msrLoadCount = v.lo[S.ENTRY_MSR_LOAD_COUNT]!;
    if (msrLoadCount !== 0) {
      // SDM 3C "Loading MSRs": without an MSR device the first entry fails; the qualification is the failing entry (1-based).
      const failed = this.msrs ? loadMsrList(this.memory, this.msrs, v.slotNumber(S.ENTRY_MSR_LOAD), msrLoadCount) : 1;
      if (failed !== 0) {
        this.lastEntryCheck = this.msrs ? `VM-entry MSR-load entry ${failed} failed` : 'VM-entry MSR loading needs an MSR device (options.msrs)';
        return this.entryFailure(EXIT_REASON.MSR_LOADING, failed);
      }
    }
    if (launch) v.launchState = 'launched';
    this.lastResult = VM_SUCCEED;
    return this.enterGuest(v);
  }

  /** An INIT signal is pending, blocked by VMX root operation. */
  initPending = false;
  /** @internal An MTF VM exit is pending at the next instruction boundary (SDM 3C "Monitor Trap Flag"). */
  mtfPending = false;
  /** @internal A TPR-below-threshold VM exit is due right after VM entry (SDM 3C "VM Exits Induced by the TPR Threshold"). */
  tprThresholdPending = false;

  /** After VMXOFF (or outside VMX operation): returns and clears a pending INIT for the CPU to perform. */
  takePendingInit(): boolean {
    if (this.operation !== 'off') return false;
    const pending = this.initPending;
    this.initPending = false;
    return pending;
  }

  /** The CPU model sets this while the root instruction stream has blocking by MOV SS (VM entry then fails with error 26). */
  rootMovSsBlocking = false;
  /** Text of the last failed VM-entry check (not architectural; for diagnostics), or null. */
  lastEntryCheck: string | null = null;

  /** VM-entry failure after loading guest state (SDM 3C "VM-Entry Failures During or After Loading Guest State"). */
  private entryFailure(reason: number, qualification: number): VmEntryOutcome {
    const v = this.current!;
    const e = this.exitInfo.reset(reason | EXIT_REASON_FLAG.VM_ENTRY_FAILURE);
    e.qualification = qualification;
    v.lo[X.REASON] = e.reason;
    v.lo[X.QUAL] = qualification;
    v.hi[X.QUAL] = 0;
    this.lastResult = this.exitOutcome;
    this.tracer?.emit({ kind: 'vm.exit', cycle: this.clock?.now() ?? 0, cpu: this.cpu, source: 'vmx', reason: e.basicReason, reasonName: exitReasonName(reason), args: { entryFailure: true } });
    return this.exitOutcome;
  }

  /** Loads what VMX non-root operation reads from the VMCS (controls, pages, descriptor); no side effects on guest-visible state. */
  private loadNonRootState(v: Vmcs): void {
    this.pin = v.lo[S.PIN]!;
    this.proc = v.lo[S.PROC]!;
    this.proc2 = secondaryControls(v);
    this.exitControls = v.lo[S.EXIT]!;
    this.interruptibility = v.lo[S.GUEST_INTERRUPTIBILITY]!;
    this.shadowFresh = (this.interruptibility & 3) !== 0;
    this.activity = v.lo[S.GUEST_ACTIVITY]!;
    this.inFlight = null;
    this.operation = 'non-root';
    const tprShadow = (this.proc & CPU_BASED.USE_TPR_SHADOW) !== 0;
    this.msrBitmaps.attach(v.slotNumber(S.MSR_BITMAP));
    const c = this.apicAccessControls;
    c.tprShadow = tprShadow;
    c.registerVirtualization = (this.proc2 & SECONDARY.APIC_REGISTER_VIRTUALIZATION) !== 0;
    c.virtualInterruptDelivery = (this.proc2 & SECONDARY.VIRTUAL_INTERRUPT_DELIVERY) !== 0;
    this.apicAccessPage = (this.proc2 & SECONDARY.VIRTUALIZE_APIC_ACCESSES) !== 0 ? v.slotNumber(S.APIC_ACCESS) : -1;
    this.vapic.attach(v, tprShadow ? v.slotNumber(S.VAPIC) : null, (this.proc & CPU_BASED.INTR_WINDOW_EXITING) !== 0);
    this.vapic.recognized = false;
    if ((this.pin & PIN_BASED.PROCESS_POSTED_INTERRUPTS) !== 0) {
      this.pid = new PostedInterruptDescriptor(this.memory, v.slotNumber(S.PI_DESC));
      this.notificationVector = v.lo[S.PI_NV]! & 0xff;
    } else {
      this.pid = null;
      this.notificationVector = -1;
    }
  }

  /** Loads the non-root state from the VMCS and performs event injection (SDM 3C "Loading Guest State", "Event Injection"). */
  private enterGuest(v: Vmcs): VmEntryOutcome {
    this.loadNonRootState(v);
    this.tracer?.emit({ kind: 'vm.entry', cycle: this.clock?.now() ?? 0, cpu: this.cpu, source: 'vmx' });
    // Event injection.
    let inject: GuestEvent | null = null;
    const info = v.lo[S.ENTRY_INTR_INFO]!;
    let pendingMtf = false;
    if ((info & INTR_INFO_VALID) !== 0 && ((info >>> 8) & 7) === INTR_TYPE.OTHER_EVENT) {
      // SDM 3C "Injection of Pending MTF VM Exits": type 7, vector 0 delivers nothing; an MTF VM exit is pending
      // at the first instruction boundary, even without the "monitor trap flag" control.
      pendingMtf = true;
    } else if ((info & INTR_INFO_VALID) !== 0) {
      const type = (info >>> 8) & 7;
      const ev = this.event;
      ev.vector = info & 0xff;
      ev.type = type;
      ev.errorCode = (info & INTR_INFO_DELIVER_CODE) !== 0 ? v.lo[S.ENTRY_ERROR_CODE]! : -1;
      ev.instructionLength = type >= INTR_TYPE.SOFTWARE_INTERRUPT && type <= INTR_TYPE.SOFTWARE_EXCEPTION ? v.lo[S.ENTRY_INSTR_LEN]! : 0;
      ev.virtual = false;
      ev.acknowledge = false;
      inject = ev;
      if (type === INTR_TYPE.NMI) this.interruptibility |= INTERRUPTIBILITY.BLOCKING_BY_NMI;
      // Delivering the event ends any STI/MOV-SS shadow.
      this.interruptibility &= ~3;
      if (this.activity === ACTIVITY_STATE.HLT || this.activity === ACTIVITY_STATE.SHUTDOWN) this.activity = ACTIVITY_STATE.ACTIVE;
      this.setInFlight(info & ~0x1000, ev.errorCode, ev.instructionLength);
      this.tracer?.emit({ kind: 'interrupt.delivered', cycle: this.clock?.now() ?? 0, cpu: this.cpu, source: 'vmx', vector: ev.vector, args: { injected: true, type } });
    }
    // SDM 3C "Monitor Trap Flag": an MTF VM exit is pending after the delivery of an injected event.
    this.mtfPending = pendingMtf || (inject !== null && (this.proc & CPU_BASED.MONITOR_TRAP_FLAG) !== 0);
    // SDM 3C "VM Exits Induced by the TPR Threshold": with the TPR shadow and virtualize APIC accesses but without
    // virtual-interrupt delivery, threshold[3:0] > VTPR[7:4] exits right after VM entry (after any injection), unless
    // the entry is into the shutdown or wait-for-SIPI state.
    this.tprThresholdPending =
      (this.proc & CPU_BASED.USE_TPR_SHADOW) !== 0 &&
      (this.proc2 & (SECONDARY.VIRTUALIZE_APIC_ACCESSES | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY)) === SECONDARY.VIRTUALIZE_APIC_ACCESSES &&
      this.vapic.tprThreshold > ((this.vapic.vtpr >>> 4) & 0xf) &&
      (this.activity === ACTIVITY_STATE.ACTIVE || this.activity === ACTIVITY_STATE.HLT);
    // SDM 3C "Updating Non-Register State": with virtual-interrupt delivery, PPR virtualization then evaluation.
    if ((this.proc2 & SECONDARY.VIRTUAL_INTERRUPT_DELIVERY) !== 0) {
      this.vapic.pprVirtualization();
      this.vapic.evaluate();
    }
    if ((this.pin & PIN_BASED.ACTIVATE_PREEMPTION_TIMER) !== 0) this.timer.start(v.lo[X.TIMER]!);
    else this.timer.disable();
    return { kind: 'entered', inject };
  }

  // ---------------------------------------------------------------------
  // VM exits (SDM 3C "VM Exits": "Recording VM-Exit Information", "Saving Guest State")

  /**
   * Performs a VM exit with basic reason `reason`: writes the exit
   * information into the VMCS, saves the tracked guest non-register state,
   * and returns to VMX root operation. Fields other than the qualification
   * and instruction length are set on `exitInfo` by the caller before.
   * @internal
   */
  exitNow(reason: number, qualification: number, instructionLength: number, keepInfo = false): VmExitOutcome {
    const v = this.current!;
    const e = this.exitInfo;
    if (!keepInfo) e.reset(reason);
    else e.reason = reason >>> 0;
    e.qualification = qualification;
    e.instructionLength = instructionLength;
    if (this.inFlight) {
      const f = this.inFlight;
      e.idtVectoringInfo = f.info >>> 0;
      e.idtVectoringErrorCode = (f.info & INTR_INFO_DELIVER_CODE) !== 0 ? f.errorCode : 0;
      // SDM 3C "Information for VM Exits Due to Instruction Execution": an exit during delivery of a software
      // interrupt or exception (types 4-6) reports that instruction's length (the VM-entry instruction length if injected).
      const type = (f.info >>> 8) & 7;
      if (type >= INTR_TYPE.SOFTWARE_INTERRUPT && type <= INTR_TYPE.SOFTWARE_EXCEPTION) e.instructionLength = f.length;
    }
    v.lo[X.REASON] = e.reason;
    v.lo[X.QUAL] = qualification >>> 0;
    v.hi[X.QUAL] = Math.floor(qualification / 0x1_0000_0000);
    v.lo[X.INTR_INFO] = e.interruptionInfo >>> 0;
    v.lo[X.INTR_ERROR] = e.interruptionErrorCode >>> 0;
    v.lo[X.IDT_INFO] = e.idtVectoringInfo >>> 0;
    v.lo[X.IDT_ERROR] = e.idtVectoringErrorCode >>> 0;
    v.lo[X.INSTR_LEN] = e.instructionLength;
    v.lo[X.INSTR_INFO] = e.instructionInfo >>> 0;
    v.lo[X.GLA] = e.guestLinearAddress >>> 0;
    v.hi[X.GLA] = Math.floor(e.guestLinearAddress / 0x1_0000_0000);
    if (this.supported[X.GPA] === 1) {
      v.lo[X.GPA] = e.guestPhysicalAddress >>> 0;
      v.hi[X.GPA] = Math.floor(e.guestPhysicalAddress / 0x1_0000_0000);
    }
    // Saving guest non-register state.
    v.lo[S.GUEST_INTERRUPTIBILITY] = this.interruptibility;
    v.lo[S.GUEST_ACTIVITY] = this.activity;
    if ((this.exitControls & VM_EXIT.SAVE_PREEMPTION_TIMER) !== 0) v.lo[X.TIMER] = this.timer.remaining();
    // VM exits clear the valid bit of the VM-entry interruption-information field.
    v.lo[S.ENTRY_INTR_INFO] = v.lo[S.ENTRY_INTR_INFO]! & 0x7fff_ffff;
    this.timer.stop();
    this.inFlight = null;
    this.pid = null;
    this.operation = 'root';
    if (this.msrs && (v.lo[S.EXIT_MSR_STORE_COUNT] !== 0 || v.lo[S.EXIT_MSR_LOAD_COUNT] !== 0)) this.exitMsrLists(v, this.msrs);
    this.tracer?.emit({ kind: 'vm.exit', cycle: this.clock?.now() ?? 0, cpu: this.cpu, source: 'vmx', reason: reason & 0xffff, reasonName: exitReasonName(reason), args: { qualification } });
    return this.exitOutcome;
  }

  /** SDM 3C "Saving MSRs" then "Loading Host MSRs"; a failure is a VMX abort. */
  private exitMsrLists(v: Vmcs, msrs: MsrDevice): void {
    const store = v.lo[S.EXIT_MSR_STORE_COUNT]!;
    if (store !== 0 && storeMsrList(this.memory, msrs, v.slotNumber(S.EXIT_MSR_STORE), store) !== 0) {
      this.abort(v, 1);
      return;
    }
    const load = v.lo[S.EXIT_MSR_LOAD_COUNT]!;
    if (load !== 0 && loadMsrList(this.memory, msrs, v.slotNumber(S.EXIT_MSR_LOAD), load) !== 0) this.abort(v, 4);
  }

  private abort(v: Vmcs, indicator: number): void {
    this.vmxAbort = indicator;
    this.memory.write32(v.address + VMCS_REGION.ABORT_INDICATOR, indicator);
  }

  /** @internal The exit-information object the next exit fills (for callers that set more than reason/qualification). */
  prepareExit(reason: number): VmExitInfo {
    return this.exitInfo.reset(reason);
  }

  // ---------------------------------------------------------------------
  // State the non-root event handlers share.

  /** @internal */
  requireNonRoot(what: string): void {
    if (this.operation !== 'non-root') throw new VmxError('bad-state', `${what} is a VMX non-root event, but the processor is in ${this.operation === 'off' ? 'no VMX operation' : 'VMX root operation'}`);
  }

  /** Guest interruptibility state as the processor tracks it now. */
  get guestInterruptibility(): number {
    return this.interruptibility;
  }
  /** @internal */
  set guestInterruptibility(v: number) {
    this.interruptibility = v;
  }
  /** @internal */
  markShadowFresh(): void {
    this.shadowFresh = true;
  }
  /** @internal Ages the STI/MOV-SS shadow at an instruction boundary. */
  ageShadow(): void {
    if ((this.interruptibility & 3) === 0) return;
    if (this.shadowFresh) this.shadowFresh = false;
    else this.interruptibility &= ~3;
  }

  /** Guest activity state as the processor tracks it now. */
  get guestActivityState(): number {
    return this.activity;
  }
  /** @internal */
  set guestActivityState(v: number) {
    this.activity = v;
  }

  /** True once the VMX-preemption timer has counted down to 0 in this entry. */
  get preemptionTimerExpired(): boolean {
    return this.timer.expired;
  }

  /** @internal Records `info`/`errorCode` as the event being delivered, until the next instruction boundary. */
  setInFlight(info: number, errorCode: number, length = 0): void {
    this.inFlightSlot.info = info;
    this.inFlightSlot.errorCode = errorCode < 0 ? 0 : errorCode;
    this.inFlightSlot.length = length;
    this.inFlight = this.inFlightSlot;
  }
  /** @internal */
  clearInFlight(): void {
    this.inFlight = null;
  }
  /** Interruption information of the event being delivered (0 when none). */
  get deliveringEventInfo(): number {
    return this.inFlight ? this.inFlight.info >>> 0 : 0;
  }
  /** True while an event delivery has been answered and the next instruction boundary has not come. */
  get deliveringEvent(): boolean {
    return this.inFlight !== null;
  }

  /** @internal Exception bitmap word and #PF mask/match of the running VMCS. */
  exceptionExits(vector: number, errorCode: number): boolean {
    const v = this.current!;
    const bit = ((v.lo[X.EXCEPTION_BITMAP]! >>> vector) & 1) === 1;
    if (vector !== 14) return bit;
    const match = ((errorCode & v.lo[X.PFEC_MASK]!) >>> 0) === v.lo[X.PFEC_MATCH];
    return match ? bit : !bit;
  }

  /** @internal Slot-level access for the non-root handlers. */
  get vmcs(): Vmcs {
    return this.current!;
  }

  /** @internal */
  get now(): number {
    return this.clock?.now() ?? 0;
  }
  /** @internal */
  get traceSink(): Tracer | undefined {
    return this.tracer;
  }
  /** @internal */
  get cpuNumber(): number | undefined {
    return this.cpu;
  }

  // ---------------------------------------------------------------------
  // Events in VMX non-root operation: each method calls the same-named function of guest-events.ts

  /**
   * The CPU is at an instruction boundary with RFLAGS.IF = `interruptFlag`,
   * an NMI pending or not, and `pendingExternal` the vector its physical
   * local APIC would deliver (-1 for none): continue, stay halted, deliver
   * an event, process a posted interrupt, or exit. Call once per boundary.
   */
  instructionBoundary(interruptFlag: boolean, pendingNmi = false, pendingExternal = -1): NonRootOutcome {
    return instructionBoundary(this, interruptFlag, pendingNmi, pendingExternal);
  }
  /** An external interrupt with `vector` is pending at the physical local APIC (also offered through `instructionBoundary`). */
  externalInterrupt(vector: number, interruptFlag: boolean): NonRootOutcome {
    return externalInterrupt(this, vector, interruptFlag);
  }
  /** An INIT signal arrived. */
  init(): NonRootOutcome {
    return init(this);
  }
  /** A start-up IPI arrived. */
  sipi(vector: number): NonRootOutcome {
    return sipi(this, vector);
  }
  /** An NMI arrived. */
  nmi(): NonRootOutcome {
    return nmi(this);
  }
  /** The guest executed STI (`interruptFlagWasSet` = RFLAGS.IF before it). */
  sti(interruptFlagWasSet: boolean): void {
    sti(this, interruptFlagWasSet);
  }
  /** The guest executed MOV SS / POP SS. */
  movSs(): void {
    movSs(this);
  }
  /** The guest executed IRET. */
  iret(): void {
    iret(this);
  }
  /** The guest executed HLT. */
  hlt(): NonRootOutcome {
    return hlt(this);
  }
  /** The guest raised exception `vector`. */
  exception(vector: number, options?: ExceptionOptions): NonRootOutcome {
    return exception(this, vector, options);
  }
  /** The guest executed RDMSR of `msr`. */
  rdmsr(msr: number): NonRootOutcome {
    return rdmsr(this, msr);
  }
  /** The guest executed WRMSR of `msr` with `value`. */
  wrmsr(msr: number, value: number | bigint): NonRootOutcome {
    return wrmsr(this, msr, value);
  }
  /** True when RDMSR (`write` false) or WRMSR of `msr` would exit under the running VMCS's MSR bitmaps. */
  msrAccessExits(msr: number, write: boolean): boolean {
    this.requireNonRoot('msrAccessExits');
    return msrAccessExits(this, msr, write);
  }
  /** The guest executed MOV to CR8. */
  movToCr8(value: number, gpr?: number): NonRootOutcome {
    return movToCr8(this, value, gpr);
  }
  /** The guest executed MOV from CR8. */
  movFromCr8(gpr?: number): NonRootOutcome {
    return movFromCr8(this, gpr);
  }
  /** The guest accessed the APIC-access page at page `offset`. */
  apicAccess(offset: number, size: number, kind: ApicAccessKind, value?: number): NonRootOutcome {
    return apicAccess(this, offset, size, kind, value);
  }
  /**
   * The guest accessed `size` bytes at physical address `physicalAddress`
   * (after paging and EPT): an access in the APIC-access page is handled as
   * {@link apicAccess}; any other is `native`.
   */
  memoryAccess(physicalAddress: number, size: number, kind: ApicAccessKind, value?: number): NonRootOutcome {
    return memoryAccess(this, physicalAddress, size, kind, value);
  }
  /** A VM exit the CPU model determined itself (CPUID, VMCALL, I/O, EPT violation, ...). */
  reportExit(reason: number, info?: InstructionExitInfo): NonRootOutcome {
    return reportExit(this, reason, info);
  }

  // ---------------------------------------------------------------------
  // Snapshots

  /** Saves VMX operation, the VMXON pointer, every active VMCS (with launch state) and the non-root tracking state. */
  saveState(): VmxProcessorState {
    return {
      type: 'hvsim.vmx-processor',
      version: 1,
      operation: this.operation,
      vmxonPointer: this.vmxonPointer,
      current: this.current ? this.current.address : -1,
      active: [...this.active.values()].map((v) => v.saveState()),
      mode: { ...this.mode },
      rootMovSsBlocking: this.rootMovSsBlocking,
      initPending: this.initPending,
      vmxAbort: this.vmxAbort,
      nonRoot:
        this.operation === 'non-root'
          ? {
              interruptibility: this.interruptibility,
              shadowFresh: this.shadowFresh,
              activity: this.activity,
              recognized: this.vapic.recognized,
              inFlight: this.inFlight ? { info: this.inFlight.info >>> 0, errorCode: this.inFlight.errorCode >>> 0, length: this.inFlight.length } : null,
              timerDeadline: this.timer.save().deadline,
              timerExpired: this.timer.expired,
              mtfPending: this.mtfPending,
              tprThresholdPending: this.tprThresholdPending,
            }
          : null,
    };
  }

  /** Restores {@link saveState}'s output; the memory, clock and capabilities are this instance's wiring. */
  restoreState(state: unknown): void {
    const { operation, vmxonPointer, active, current, mode, rootMovSsBlocking: rootMovSs, initPending, vmxAbort, nonRoot } = parseProcessorState(state);
    const map = new Map<number, Vmcs>();
    for (const v of active) map.set(v.address, v);
    // Commit.
    this.timer.disable();
    this.operation = operation;
    this.vmxonPointer = vmxonPointer;
    this.active.clear();
    for (const [a, v] of map) this.active.set(a, v);
    this.current = current;
    Object.assign(this.mode, mode);
    this.rootMovSsBlocking = rootMovSs;
    this.initPending = initPending;
    this.vmxAbort = vmxAbort;
    this.inFlight = null;
    if (nonRoot && current) {
      this.loadNonRootState(current);
      this.interruptibility = nonRoot.interruptibility;
      this.shadowFresh = nonRoot.shadowFresh;
      this.activity = nonRoot.activity;
      this.vapic.recognized = nonRoot.recognized;
      if (nonRoot.inFlight) this.setInFlight(nonRoot.inFlight.info, nonRoot.inFlight.errorCode, nonRoot.inFlight.length);
      this.mtfPending = nonRoot.mtfPending;
      this.tprThresholdPending = nonRoot.tprThresholdPending;
      this.timer.restore(nonRoot.timerDeadline, nonRoot.timerExpired);
    }
  }
}
