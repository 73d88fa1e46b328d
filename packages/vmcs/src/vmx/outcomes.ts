/**
 * What the processor answers: the outcomes of VMX instructions (SDM 3C
 * "Conventions" of the VMX instruction reference: VMsucceed, VMfailInvalid,
 * VMfailValid(n)) and of events in VMX non-root operation (continue, halt,
 * deliver an event through the guest IDT, or a VM exit with its
 * information). Outcome objects on hot paths are owned by the processor and
 * reused: read them before the next call, or copy the exit with `clone()`.
 */
import { exitReasonName } from './exit-reasons.js';

/** VMsucceed: CF, PF, AF, ZF, SF and OF cleared. */
export interface VmSucceed {
  /** Discriminant. */
  readonly kind: 'succeed';
}
/** VMfailInvalid: CF set; no current VMCS to hold an error number. */
export interface VmFailInvalid {
  /** Discriminant. */
  readonly kind: 'fail-invalid';
}
/** VMfailValid(n): ZF set; `error` written to the VM-instruction error field. */
export interface VmFailValid {
  /** Discriminant. */
  readonly kind: 'fail-valid';
  /** VM-instruction error number, one of {@link VM_INSTRUCTION_ERROR}. */
  readonly error: number;
}
/** A VMX instruction executed in VMX non-root operation caused a VM exit. */
export interface VmExitOutcome {
  /** Discriminant. */
  readonly kind: 'exit';
  /** The exit information (the processor's reused instance). */
  readonly exit: VmExitInfo;
}

/** VMREAD succeeded: the field's value (a `_HIGH` alias gives bits 63:32). */
export interface VmReadValue {
  /** Discriminant. */
  readonly kind: 'value';
  /** The field's value, zero-extended to 64 bits. */
  readonly value: bigint;
}

/** Outcome of VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD and VMWRITE. */
export type VmxResult = VmSucceed | VmFailInvalid | VmFailValid | VmExitOutcome;

/** The one VMsucceed value. */
export const VM_SUCCEED: VmSucceed = Object.freeze({ kind: 'succeed' });
/** The one VMfailInvalid value. */
export const VM_FAIL_INVALID: VmFailInvalid = Object.freeze({ kind: 'fail-invalid' });
const FAIL_VALID: readonly VmFailValid[] = Array.from({ length: 64 }, (_, error) => Object.freeze({ kind: 'fail-valid' as const, error }));
/** The VMfailValid value for error number `error` (shared, frozen). */
export function vmFailValid(error: number): VmFailValid {
  return FAIL_VALID[error] ?? Object.freeze({ kind: 'fail-valid', error });
}

/**
 * Exit information (SDM 3C "VM-Exit Information Fields"), as written to the
 * VMCS's read-only fields. The processor reuses one instance; `clone()`
 * keeps a copy.
 */
export class VmExitInfo {
  /** The full 32-bit exit reason (bit 31 = VM-entry failure). */
  reason = 0;
  /** Exit qualification. */
  qualification = 0;
  /** VM-exit interruption information (0 when not valid). */
  interruptionInfo = 0;
  /** VM-exit interruption error code. */
  interruptionErrorCode = 0;
  /** IDT-vectoring information: the event whose delivery the exit interrupted (0 when none). */
  idtVectoringInfo = 0;
  /** IDT-vectoring error code. */
  idtVectoringErrorCode = 0;
  /** VM-exit instruction length in bytes. */
  instructionLength = 0;
  /** VM-exit instruction information. */
  instructionInfo = 0;
  /** Guest-physical address. */
  guestPhysicalAddress = 0;
  /** Guest linear address. */
  guestLinearAddress = 0;
  /**
   * Not a VMCS field: the vector the CPU model must acknowledge at its
   * physical local APIC as part of this exit ("acknowledge interrupt on
   * exit"), or -1.
   */
  acknowledgedVector = -1;

  /** Basic exit reason, bits 15:0. */
  get basicReason(): number {
    return this.reason & 0xffff;
  }

  /** True for a VM-entry failure (bit 31). */
  get entryFailure(): boolean {
    return this.reason >>> 31 === 1;
  }

  /** Name of the basic exit reason, e.g. `'EXTERNAL_INTERRUPT'`. */
  get reasonName(): string {
    return exitReasonName(this.reason);
  }

  /** Clears everything before a new exit is recorded. */
  reset(reason: number): this {
    this.reason = reason >>> 0;
    this.qualification = 0;
    this.interruptionInfo = 0;
    this.interruptionErrorCode = 0;
    this.idtVectoringInfo = 0;
    this.idtVectoringErrorCode = 0;
    this.instructionLength = 0;
    this.instructionInfo = 0;
    this.guestPhysicalAddress = 0;
    this.guestLinearAddress = 0;
    this.acknowledgedVector = -1;
    return this;
  }

  /** An independent copy. */
  clone(): VmExitInfo {
    return Object.assign(new VmExitInfo(), this);
  }
}

/** An event the CPU delivers through the guest IDT (SDM 3A "Interrupt and Exception Handling"). */
export interface GuestEvent {
  /** Vector of the interrupt or exception (0-255). */
  vector: number;
  /** Interruption type (INTR_TYPE). */
  type: number;
  /** Error code to push, or -1 for none. */
  errorCode: number;
  /** Instruction length for software interrupts and exceptions (the return address skips it), else 0. */
  instructionLength: number;
  /** True for a virtual interrupt from virtual-interrupt delivery (nothing to acknowledge). */
  virtual: boolean;
  /** True when the CPU must acknowledge `vector` at its physical local APIC (an external interrupt taken without exiting). */
  acknowledge: boolean;
}

/** The guest continues (the access, if any, was virtualized). */
export interface ContinueOutcome {
  /** Discriminant. */
  readonly kind: 'continue';
}
/** The guest is in the HLT activity state and stays there. */
export interface HaltedOutcome {
  /** Discriminant. */
  readonly kind: 'halted';
}
/** The event cannot be taken now (RFLAGS.IF, STI/MOV-SS or NMI blocking); it stays pending where it is. */
export interface BlockedOutcome {
  /** Discriminant. */
  readonly kind: 'blocked';
}
/** The access is not virtualized: the CPU performs it as it would outside VMX (real MSR, real memory). */
export interface NativeOutcome {
  /** Discriminant. */
  readonly kind: 'native';
}
/** Deliver an event through the guest IDT. */
export interface DeliverOutcome {
  /** Discriminant. */
  readonly kind: 'deliver';
  /** The event to deliver (the processor's reused instance). */
  readonly event: GuestEvent;
}
/** A virtualized read: the value the instruction returns (64-bit as halves). */
export interface ReadOutcome {
  /** Discriminant. */
  readonly kind: 'read';
  /** Bits 31:0 of the value. */
  lo: number;
  /** Bits 63:32 of the value. */
  hi: number;
}
/**
 * Posted-interrupt processing ran for the notification vector: the CPU has
 * acknowledged `notificationVector` at its physical local APIC and must
 * write its EOI; the guest continues (with a virtual interrupt perhaps
 * recognized).
 */
export interface PostedOutcome {
  /** Discriminant. */
  readonly kind: 'posted';
  /** The posted-interrupt notification vector (PIN) to EOI at the physical local APIC. */
  notificationVector: number;
}

/** What the processor does in response to an event in VMX non-root operation. */
export type NonRootOutcome = ContinueOutcome | HaltedOutcome | BlockedOutcome | NativeOutcome | DeliverOutcome | ReadOutcome | PostedOutcome | VmExitOutcome;

/** VM entry succeeded: the guest runs. The processor reuses this object (read it before the next VM entry). */
export interface EnteredOutcome {
  /** Discriminant. */
  readonly kind: 'entered';
  /** The event VM entry injects (deliver it before the first guest instruction), or null. */
  inject: GuestEvent | null;
}

/** Outcome of VMLAUNCH/VMRESUME. */
export type VmEntryOutcome = VmFailInvalid | VmFailValid | VmExitOutcome | EnteredOutcome;

/** The one "continue" outcome. */
export const CONTINUE: ContinueOutcome = Object.freeze({ kind: 'continue' });
/** The one "halted" outcome. */
export const HALTED: HaltedOutcome = Object.freeze({ kind: 'halted' });
/** The one "blocked" outcome. */
export const BLOCKED: BlockedOutcome = Object.freeze({ kind: 'blocked' });
/** The one "native" outcome. */
export const NATIVE: NativeOutcome = Object.freeze({ kind: 'native' });
