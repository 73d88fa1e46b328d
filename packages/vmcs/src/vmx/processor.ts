/**
 * A logical processor with VMX operation (SDM 3C "Introduction to Virtual
 * Machine Extensions", "VMX Instruction Reference", "VM Entries", "VM
 * Exits", "VMX Non-Root Operation"). Methods named after the instructions
 * return the architectural outcome; methods named after guest events answer
 * what the processor does in VMX non-root operation. The work is done by
 * one module per area — vmx-instructions.ts, vm-entry.ts, vm-exit.ts,
 * guest-events.ts, apic-events.ts, instruction-exits.ts — over the shared
 * state of processor-core.ts; this class is the public face.
 */
import { SnapshotError } from '@hvsim/core';
import { vmxUsageError } from '../errors.js';
import type { Vmcs } from '../vmcs/vmcs.js';
import { syncPostedInterrupts } from '../apicv/pir-sync.js';
import { VirtualApic } from '../apicv/virtual-apic.js';
import { apicAccess, memoryAccess, movFromCr8, movToCr8, msrAccessExits, rdmsr, wrmsr, type ApicAccessKind } from './apic-events.js';
import { boundaryPending, exception, externalInterrupt, hlt, init, instructionBoundary, iret, movSs, nmi, sipi, sti, type ExceptionOptions } from './guest-events.js';
import {
  crAccessExits,
  crReadValue,
  ioAccessExits,
  ioExitQualification,
  instructionExits,
  reportExit,
  type CrAccess,
  type ExitingInstruction,
  type InstructionExitInfo,
  type IoAccess,
} from './instruction-exits.js';
import type { NonRootOutcome, VmEntryOutcome, VmReadValue, VmSucceed, VmxResult } from './outcomes.js';
import { VmxProcessorCore, type VmxOperation, type VmxProcessorOptions } from './processor-core.js';
import { parseProcessorState, type VmxProcessorState } from './processor-state.js';
import { checkControls } from './vm-entry-checks.js';
import { loadNonRootState, vmentry } from './vm-entry.js';
import { INVALID_VMCS_POINTER, vmclear, vmptrld, vmptrst, vmread, vmread32, vmreadNumber, vmwrite, vmwrite32, vmxoff, vmxon } from './vmx-instructions.js';

export { INVALID_VMCS_POINTER };
export type { VmxOperation, VmxProcessorOptions, VmxProcessorState };

/**
 * A logical processor's VMX operation: the VMX instructions (VMXON ...
 * VMRESUME) in root operation, and the events of non-root operation, which
 * the CPU model reports and this class answers with outcome values.
 */
export class VmxProcessor extends VmxProcessorCore {
  /** A virtual-APIC binding for root-operation syncs (not the running guest's). */
  private syncVapic: VirtualApic | null = null;

  constructor(options: VmxProcessorOptions) {
    super(options);
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

  // ---------------------------------------------------------------------
  // VMX instructions (vmx-instructions.ts, vm-entry.ts)

  /**
   * VMXON (SDM 3C "VMXON—Enter VMX Operation"). A region with no memory behind it reads as all ones (VMfailInvalid).
   *
   * @returns VMsucceed and VMfail outcomes are frozen constants; an `exit` (the instruction executed in VMX non-root operation) is the processor's reused exit outcome — read it before the next call, or keep `exit.clone()`.
   */
  vmxon(region: number | bigint): VmxResult {
    return vmxon(this, region);
  }
  /**
   * VMXOFF (SDM 3C "VMXOFF—Leave VMX Operation"): active VMCSs are written back; a launched one can then only be VMCLEARed.
   *
   * @returns VMsucceed and VMfail outcomes are frozen constants; an `exit` (the instruction executed in VMX non-root operation) is the processor's reused exit outcome — read it before the next call, or keep `exit.clone()`.
   */
  vmxoff(): VmxResult {
    return vmxoff(this);
  }
  /**
   * VMCLEAR (SDM 3C "VMCLEAR"). The launch-state write to a region with no memory behind it is dropped.
   *
   * @returns VMsucceed and VMfail outcomes are frozen constants; an `exit` (the instruction executed in VMX non-root operation) is the processor's reused exit outcome — read it before the next call, or keep `exit.clone()`.
   */
  vmclear(region: number | bigint): VmxResult {
    return vmclear(this, region);
  }
  /**
   * VMPTRLD (SDM 3C "VMPTRLD"). A region with no memory behind it reads as all ones (error 11).
   *
   * @returns VMsucceed and VMfail outcomes are frozen constants; an `exit` (the instruction executed in VMX non-root operation) is the processor's reused exit outcome — read it before the next call, or keep `exit.clone()`.
   */
  vmptrld(region: number | bigint): VmxResult {
    return vmptrld(this, region);
  }
  /**
   * VMPTRST (SDM 3C "VMPTRST"): stores the current-VMCS pointer as 8 bytes at `destination` (dropped where no memory is).
   *
   * @returns VMsucceed and VMfail outcomes are frozen constants; an `exit` (the instruction executed in VMX non-root operation) is the processor's reused exit outcome — read it before the next call, or keep `exit.clone()`.
   */
  vmptrst(destination: number): VmxResult {
    return vmptrst(this, destination);
  }
  /**
   * VMREAD (SDM 3C "VMREAD"): the field value (bigint) on VMsucceed, else the failure (or exit).
   *
   * @returns The value is a new object; an `exit` (executed in VMX non-root operation) is the processor's reused exit outcome — read it before the next call, or keep `exit.clone()`.
   */
  vmread(encoding: number | bigint): Exclude<VmxResult, VmSucceed> | VmReadValue {
    return vmread(this, encoding);
  }
  /**
   * VMREAD fast path: bits 31:0 of the field (the whole of a 16- or 32-bit
   * field or a `_HIGH` alias) as a number, or -1 when the instruction did not
   * succeed (see {@link lastResult}).
   */
  vmread32(encoding: number): number {
    return vmread32(this, encoding);
  }
  /** VMREAD of a natural-width or 64-bit field below 2^53 as a number (-1 on failure; throws if the value needs a bigint). */
  vmreadNumber(encoding: number): number {
    return vmreadNumber(this, encoding);
  }
  /**
   * VMWRITE (SDM 3C "VMWRITE"). Excess high bits of the source are ignored.
   *
   * @returns VMsucceed and VMfail outcomes are frozen constants; an `exit` (the instruction executed in VMX non-root operation) is the processor's reused exit outcome — read it before the next call, or keep `exit.clone()`.
   */
  vmwrite(encoding: number | bigint, value: number | bigint): VmxResult {
    return vmwrite(this, encoding, value);
  }
  /**
   * VMWRITE fast path for a 16/32-bit field (or `_HIGH` alias): `value` is an unsigned 32-bit number.
   *
   * @returns VMsucceed and VMfail outcomes are frozen constants; an `exit` (the instruction executed in VMX non-root operation) is the processor's reused exit outcome — read it before the next call, or keep `exit.clone()`.
   */
  vmwrite32(encoding: number, value: number): VmxResult {
    return vmwrite32(this, encoding, value);
  }
  /**
   * VMLAUNCH (SDM 3C "VMLAUNCH/VMRESUME"). The VM-entry checks that passed
   * for this VMCS are not run again until a field they read is written
   * (VMWRITE, `Vmcs.set`), the VMCS is loaded afresh by VMPTRLD after
   * VMCLEAR, or the processor's IA32_EFER.LMA changes (host checks).
   *
   * @returns The `entered` and `exit` (VM-entry failure) outcomes are reused on every call; read them before the next call on this processor, or keep `exit.clone()`. VMfail outcomes are frozen constants.
   */
  vmlaunch(): VmEntryOutcome {
    return vmentry(this, true);
  }
  /**
   * VMRESUME (SDM 3C "VMLAUNCH/VMRESUME"); see {@link vmlaunch} for the check cache.
   *
   * @returns The `entered` and `exit` (VM-entry failure) outcomes are reused on every call; read them before the next call on this processor, or keep `exit.clone()`. VMfail outcomes are frozen constants.
   */
  vmresume(): VmEntryOutcome {
    return vmentry(this, false);
  }

  /** After VMXOFF (or outside VMX operation): returns and clears a pending INIT for the CPU to perform. */
  takePendingInit(): boolean {
    if (this.operation !== 'off') return false;
    const pending = this.initPending;
    this.initPending = false;
    return pending;
  }

  // ---------------------------------------------------------------------
  // What a CPU model or a KVM reads

  /** Guest interruptibility state as the processor tracks it now. */
  get guestInterruptibility(): number {
    return this.interruptibility;
  }
  /** Guest activity state as the processor tracks it now. */
  get guestActivityState(): number {
    return this.activity;
  }
  /** True once the VMX-preemption timer has counted down to 0 in this entry. */
  get preemptionTimerExpired(): boolean {
    return this.timer.expired;
  }
  /** Interruption information of the event being delivered (0 when none). */
  get deliveringEventInfo(): number {
    return this.inFlight ? this.inFlight.info >>> 0 : 0;
  }
  /** True while an event delivery has been answered and the next instruction boundary has not come. */
  get deliveringEvent(): boolean {
    return this.inFlight !== null;
  }
  /**
   * Physical address of the running guest's APIC-access page ("virtualize
   * APIC accesses"), or -1: a CPU may skip {@link memoryAccess} for accesses
   * outside [address, address + 4096).
   */
  get apicAccessAddress(): number {
    return this.operation === 'non-root' ? this.apicAccessPage : -1;
  }
  /** Physical address of the running guest's posted-interrupt descriptor ("process posted interrupts"), or -1. */
  get postedInterruptDescriptorAddress(): number {
    return this.operation === 'non-root' && this.pid !== null ? this.pid.address : -1;
  }
  /** The running guest's posted-interrupt notification vector, or -1 without "process posted interrupts". */
  get postedInterruptNotificationVector(): number {
    return this.operation === 'non-root' ? this.notificationVector : -1;
  }
  /**
   * The cheap "can anything happen at this boundary?" predicate: false
   * means `instructionBoundary` would answer `continue` and change nothing —
   * provided the CPU also has no pending NMI, no deliverable interrupt at its
   * physical local APIC and no INIT/SIPI to report. See the README section
   * "Skipping instruction boundaries" for the exact contract.
   */
  get boundaryPending(): boolean {
    return boundaryPending(this);
  }

  // ---------------------------------------------------------------------
  // Root-operation helpers for a VMM

  /**
   * KVM's `vmx_sync_pir_to_irr` for a VMCS that is not running (the vCPU is
   * not in guest mode): with "process posted interrupts", clears ON in the
   * VMCS's posted-interrupt descriptor, moves the PIR into the VIRR of its
   * virtual-APIC page (PIR cleared) and raises RVI in its guest interrupt
   * status to the highest vector moved. Returns the highest VIRR vector
   * after the sync, or -1. `vmcs` defaults to the current VMCS; any VMCS
   * active on this processor may be given. The next VM entry evaluates the
   * pending virtual interrupts (SDM 3C "Posted-Interrupt Processing",
   * "Software Access to Related Structures").
   */
  syncPirToVirr(vmcs: Vmcs | null = this.current): number {
    if (vmcs === null) throw vmxUsageError('bad-state', 'syncPirToVirr needs a VMCS: there is no current VMCS');
    if (this.active.get(vmcs.address) !== vmcs) throw vmxUsageError('bad-argument', `syncPirToVirr: the VMCS at 0x${vmcs.address.toString(16)} is not active on this processor`);
    if (this.operation === 'non-root' && vmcs === this.current) {
      throw vmxUsageError('bad-state', 'syncPirToVirr: the VMCS is running in VMX non-root operation (posted-interrupt processing is the processor\'s then)');
    }
    this.syncVapic ??= new VirtualApic(this.memory);
    return syncPostedInterrupts(this.syncVapic, vmcs, this.descriptorFor);
  }

  // ---------------------------------------------------------------------
  // Events in VMX non-root operation (guest-events.ts, apic-events.ts, instruction-exits.ts)

  /**
   * The CPU is at an instruction boundary with RFLAGS.IF = `interruptFlag`,
   * an NMI pending or not, and `pendingExternal` the vector its physical
   * local APIC would deliver (-1 for none): continue, stay halted, deliver
   * an event, process a posted interrupt, or exit. Call once per boundary;
   * after a `posted` answer call it once more for the same boundary (it
   * continues where posted-interrupt processing left it).
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
  instructionBoundary(interruptFlag: boolean, pendingNmi = false, pendingExternal = -1): NonRootOutcome {
    return instructionBoundary(this, interruptFlag, pendingNmi, pendingExternal);
  }
  /**
   * An external interrupt with `vector` is pending at the physical local APIC (also offered through `instructionBoundary`).
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
  externalInterrupt(vector: number, interruptFlag: boolean): NonRootOutcome {
    return externalInterrupt(this, vector, interruptFlag);
  }
  /**
   * An INIT signal arrived (blocked in VMX root operation and in the wait-for-SIPI state: it stays pending).
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
  init(): NonRootOutcome {
    return init(this);
  }
  /**
   * A start-up IPI arrived.
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
  sipi(vector: number): NonRootOutcome {
    return sipi(this, vector);
  }
  /**
   * An NMI arrived.
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
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
  /**
   * The guest executed HLT.
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
  hlt(): NonRootOutcome {
    return hlt(this);
  }
  /**
   * The guest raised exception `vector`.
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
  exception(vector: number, options?: ExceptionOptions): NonRootOutcome {
    return exception(this, vector, options);
  }
  /**
   * The guest executed RDMSR of `msr`.
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
  rdmsr(msr: number): NonRootOutcome {
    return rdmsr(this, msr);
  }
  /**
   * The guest executed WRMSR of `msr` with `value`.
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
  wrmsr(msr: number, value: number | bigint): NonRootOutcome {
    return wrmsr(this, msr, value);
  }
  /** True when RDMSR (`write` false) or WRMSR of `msr` would exit under the running VMCS's MSR bitmaps. */
  msrAccessExits(msr: number, write: boolean): boolean {
    this.requireNonRoot('msrAccessExits');
    return msrAccessExits(this, msr, write);
  }
  /**
   * True when an IN/OUT/INS/OUTS of `size` bytes at `port` exits: "unconditional
   * I/O exiting", or the I/O bitmaps ("use I/O bitmaps" takes precedence) — SDM 3C
   * "Instructions That Cause VM Exits Conditionally", "I/O-Bitmap Addresses".
   */
  ioAccessExits(port: number, size: 1 | 2 | 4): boolean {
    this.requireNonRoot('ioAccessExits');
    return ioAccessExits(this, port, size);
  }
  /** True when the instruction exits under the running VMCS's controls (HLT, INVLPG, RDTSC, RDTSCP, RDPMC, MWAIT, MONITOR, PAUSE, WBINVD, RDRAND, RDSEED, LGDT... descriptor-table instructions). */
  instructionExits(instruction: ExitingInstruction): boolean {
    this.requireNonRoot('instructionExits');
    return instructionExits(this, instruction);
  }
  /**
   * True when MOV to/from CR0, CR3, CR4 or CR8 (or CLTS, LMSW) exits under
   * the running VMCS: guest/host masks and read shadows, CR3-load/store
   * exiting with the CR3-target values, CR8-load/store exiting (SDM 3C
   * "Instructions That Cause VM Exits Conditionally").
   */
  crAccessExits(access: CrAccess): boolean {
    this.requireNonRoot('crAccessExits');
    return crAccessExits(this, access);
  }
  /** The value MOV from CR0/CR4 returns in the guest: host-owned bits (mask 1) from the read shadow, the others from `actual` (SDM 3C "Changes to Instruction Behavior"). */
  crReadValue(cr: 0 | 4, actual: number): number {
    this.requireNonRoot('crReadValue');
    return crReadValue(this, cr, actual);
  }
  /** The exit qualification of an I/O-instruction exit (reason 30; SDM 3C Table "Exit Qualification for I/O Instructions"). */
  ioExitQualification(access: IoAccess): number {
    return ioExitQualification(access);
  }
  /**
   * The guest executed MOV to CR8.
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
  movToCr8(value: number, gpr?: number): NonRootOutcome {
    return movToCr8(this, value, gpr);
  }
  /**
   * The guest executed MOV from CR8.
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
  movFromCr8(gpr?: number): NonRootOutcome {
    return movFromCr8(this, gpr);
  }
  /**
   * The guest accessed the APIC-access page at page `offset`.
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
  apicAccess(offset: number, size: number, kind: ApicAccessKind, value?: number): NonRootOutcome {
    return apicAccess(this, offset, size, kind, value);
  }
  /**
   * The guest accessed `size` bytes at physical address `physicalAddress`
   * (after paging and EPT): an access in the APIC-access page is handled as
   * {@link apicAccess}; any other is `native`.
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
  memoryAccess(physicalAddress: number, size: number, kind: ApicAccessKind, value?: number): NonRootOutcome {
    return memoryAccess(this, physicalAddress, size, kind, value);
  }
  /**
   * A VM exit the CPU model determined itself (CPUID, VMCALL, I/O, EPT violation, ...).
   *
   * @returns A reused outcome: `deliver`, `read`, `posted` and `exit` are the same objects on every call (docs/conventions.md "Results that are reused"); read them before the next call on this processor, or keep `exit.clone()`.
   */
  reportExit(reason: number, info?: InstructionExitInfo): NonRootOutcome {
    return reportExit(this, reason, info);
  }

  // ---------------------------------------------------------------------
  // Snapshots

  /**
   * Saves VMX operation, the VMXON pointer, every active VMCS (with launch
   * state) and the non-root tracking state. A running preemption timer is
   * saved relative to the clock (core's `saveCycle`), so the state can be
   * restored into a clock that is far ahead (a migrated VM).
   */
  saveState(): VmxProcessorState {
    const timer = this.timer.save();
    return {
      type: 'hvsim.vmx-processor',
      version: 2,
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
              boundaryOpen: this.boundaryOpen,
              timerRemaining: timer.remaining,
              timerExpired: timer.expired,
              mtfPending: this.mtfPending,
              tprThresholdPending: this.tprThresholdPending,
            }
          : null,
    };
  }

  /**
   * Restores {@link saveState}'s output; the memory, clock and capabilities
   * are this instance's wiring. The whole state is validated first (a
   * SnapshotError leaves the processor as it was); a running preemption
   * timer is due the saved number of cycles after the clock's current time.
   */
  restoreState(state: unknown): void {
    const { operation, vmxonPointer, active, current, mode, rootMovSsBlocking, initPending, vmxAbort, nonRoot } = parseProcessorState(state);
    if (nonRoot && current) {
      // What loading the non-root state reads must be sane before anything changes: the running VMCS passed the
      // control checks when it was entered, so a state whose VMCS fails them was not saved by a processor.
      const failure = checkControls(current, this.capabilities, this.readForCheck);
      if (failure !== null) throw new SnapshotError('shape', `hvsim.vmx-processor: the running VMCS fails the VM-entry control checks (${failure})`);
      if (nonRoot.timerRemaining >= 0 && !nonRoot.timerExpired) this.timer.assertCanRestore();
    }
    // Commit.
    this.timer.disable();
    this.operation = operation;
    this.vmxonPointer = vmxonPointer;
    this.active.clear();
    for (const v of active) this.active.set(v.address, v);
    this.current = current;
    Object.assign(this.mode, mode);
    this.rootMovSsBlocking = rootMovSsBlocking;
    this.initPending = initPending;
    this.vmxAbort = vmxAbort;
    this.inFlight = null;
    this.boundaryOpen = false;
    if (nonRoot && current) {
      this.loadedVmcs = null;
      loadNonRootState(this, current);
      this.interruptibility = nonRoot.interruptibility;
      this.shadowFresh = nonRoot.shadowFresh;
      this.activity = nonRoot.activity;
      this.vapic.recognized = nonRoot.recognized;
      if (nonRoot.inFlight) this.setInFlight(nonRoot.inFlight.info, nonRoot.inFlight.errorCode, nonRoot.inFlight.length);
      this.boundaryOpen = nonRoot.boundaryOpen;
      this.mtfPending = nonRoot.mtfPending;
      this.tprThresholdPending = nonRoot.tprThresholdPending;
      this.timer.restore(nonRoot.timerRemaining, nonRoot.timerExpired);
    }
  }
}
