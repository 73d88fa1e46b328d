/**
 * @hvsim/vmcs: Intel VMX — the VMCS with every field of SDM 3C Appendix B,
 * the VMX instructions with their exact failure semantics, the capability
 * MSRs of a configurable processor, the VM-entry checks, event injection,
 * VM exits, and VMX non-root interrupt handling with APIC virtualization
 * (TPR shadow, APIC-access page, APIC-register virtualization,
 * virtual-interrupt delivery, EOI and self-IPI virtualization) and
 * posted-interrupt processing.
 *
 * @packageDocumentation
 */

// The processor
export {
  /** A logical processor with VMX operation: the VMX instructions and the events of VMX non-root operation. */
  VmxProcessor,
  /** FFFFFFFF_FFFFFFFFH, the invalid current-VMCS pointer. */
  INVALID_VMCS_POINTER,
} from './vmx/processor.js';
export type {
  /** Wiring of a VmxProcessor. */
  VmxProcessorOptions,
  /** Saved state of a VmxProcessor. */
  VmxProcessorState,
  /** `'off'`, `'root'` or `'non-root'`. */
  VmxOperation,
} from './vmx/processor.js';
export type {
  /** What a saved VmxProcessor holds about non-root operation beyond the VMCS (interruptibility, activity, an event in flight). */
  NonRootState,
} from './vmx/processor-state.js';
export {
  /** A 64-bit, CPL-0 processor mode with CR4.VMXE set. */
  defaultProcessorMode,
} from './vmx/processor-mode.js';
export type {
  /** Processor state the VMX instructions consult for #UD/#GP. */
  ProcessorMode,
} from './vmx/processor-mode.js';
export {
  /** Writes a minimal valid VMCS through VMWRITE (controls, 64-bit host and guest). */
  prepareVmcs,
} from './vmx/prepare-vmcs.js';
export type {
  /** Options of prepareVmcs. */
  PrepareVmcsOptions,
} from './vmx/prepare-vmcs.js';
export type {
  /** Options of VmxProcessor.exception. */
  ExceptionOptions,
} from './vmx/guest-events.js';
export type {
  /** `'read'`, `'write'`, `'fetch'` or `'guest-physical'`. */
  ApicAccessKind,
} from './vmx/apic-events.js';
export {
  /** Instructions whose exiting is one VM-execution control, with control and exit reason. */
  EXITING_INSTRUCTIONS,
  /** Bit fields of the I/O-instruction exit qualification (reason 30). */
  IO_QUALIFICATION,
  /** Bit fields of the control-register-access exit qualification (reason 28). */
  CR_QUALIFICATION,
  /** The exit qualification of an I/O-instruction exit. */
  ioExitQualification,
  /** The exit qualification of a control-register-access exit. */
  crExitQualification,
} from './vmx/instruction-exits.js';
export type {
  /** Exit details for VmxProcessor.reportExit. */
  InstructionExitInfo,
  /** An instruction VmxProcessor.instructionExits decides. */
  ExitingInstruction,
  /** The control bit and exit reason of one {@link EXITING_INSTRUCTIONS} row. */
  ExitingInstructionControl,
  /** An I/O instruction (port, size, direction, string, REP, immediate). */
  IoAccess,
  /** A control-register access (MOV to/from CR0/3/4/8, CLTS, LMSW). */
  CrAccess,
} from './vmx/instruction-exits.js';

// Outcomes
export {
  /** The VMsucceed outcome. */
  VM_SUCCEED,
  /** The VMfailInvalid outcome. */
  VM_FAIL_INVALID,
  /** The VMfailValid(n) outcome for error number n. */
  vmFailValid,
  /** Exit information of a VM exit (reused by the processor; clone() to keep). */
  VmExitInfo,
  /** The "continue" outcome. */
  CONTINUE,
  /** The "halted" outcome. */
  HALTED,
  /** The "blocked" outcome. */
  BLOCKED,
  /** The "native" (not virtualized) outcome. */
  NATIVE,
} from './vmx/outcomes.js';
export type {
  /** VMsucceed. */
  VmSucceed,
  /** VMREAD's value. */
  VmReadValue,
  /** VMfailInvalid. */
  VmFailInvalid,
  /** VMfailValid(n). */
  VmFailValid,
  /** A VM exit. */
  VmExitOutcome,
  /** Outcome of a VMX instruction. */
  VmxResult,
  /** Outcome of VMLAUNCH/VMRESUME. */
  VmEntryOutcome,
  /** Outcome of a non-root event. */
  NonRootOutcome,
  /** An event to deliver through the guest IDT. */
  GuestEvent,
  /** "continue". */
  ContinueOutcome,
  /** "halted". */
  HaltedOutcome,
  /** "blocked". */
  BlockedOutcome,
  /** "native". */
  NativeOutcome,
  /** "deliver". */
  DeliverOutcome,
  /** A virtualized read's value. */
  ReadOutcome,
  /** Posted-interrupt processing ran. */
  PostedOutcome,
  /** VM entry succeeded (reused object). */
  EnteredOutcome,
} from './vmx/outcomes.js';

// The VMCS
export {
  /** One VMCS's data (typed arrays), launch state and VM-entry check cache. */
  Vmcs,
  /** Offsets inside a VMCS region. */
  VMCS_REGION,
} from './vmcs/vmcs.js';
export type {
  /** `'clear'`, `'launched'`, `'launched-before-vmxoff'` (VMRESUME fails with error 6) or `'undefined'` (never VMCLEARed). */
  LaunchState,
  /** Saved form of a VMCS. */
  VmcsState,
} from './vmcs/vmcs.js';
export {
  /** Field encodings by SDM name (Appendix B). */
  VMCS_FIELD,
  /** Every Appendix B field with its SDM name and existence condition. */
  VMCS_FIELD_SPECS,
} from './fields/field-table.js';
export type {
  /** Name of a VMCS field. */
  VmcsFieldName,
  /** One Appendix B row. */
  VmcsFieldSpec,
  /** A control word a field's existence can depend on. */
  ControlWord,
} from './fields/field-table.js';
export {
  /** Bit fields of a VMCS component encoding. */
  ENCODING_FIELD,
  /** Field widths (encoding bits 14:13). */
  FIELD_WIDTH,
  /** Field types (encoding bits 11:10). */
  FIELD_TYPE,
  /** Decodes an encoding into access type, index, type and width. */
  decodeEncoding,
  /** Width of a field from its encoding. */
  encodingWidth,
  /** Type of a field from its encoding. */
  encodingType,
  /** True for read-only (VM-exit information) encodings. */
  isReadOnlyEncoding,
} from './fields/encoding.js';
export type {
  /** A decoded encoding. */
  DecodedEncoding,
  /** A width number. */
  FieldWidth,
  /** A type number. */
  FieldType,
} from './fields/encoding.js';

// Capabilities
export {
  /** The VMX capability MSRs of a configurable processor. */
  VmxCapabilities,
  /** VMX capability MSR indices. */
  VMX_MSR,
  /** Default-1 bits of the control words. */
  DEFAULT1,
} from './vmx/capabilities.js';
export type {
  /** What the modelled processor supports. */
  VmxCapabilityConfig,
  /** Allowed-0 and allowed-1 settings of a control word. */
  ControlCapability,
} from './vmx/capabilities.js';

// Architectural constants
export {
  /** Pin-based VM-execution control bits. */
  PIN_BASED,
  /** Primary processor-based VM-execution control bits. */
  CPU_BASED,
  /** Secondary processor-based VM-execution control bits. */
  SECONDARY,
  /** Tertiary processor-based VM-execution control bits. */
  TERTIARY,
  /** VM-exit control bits. */
  VM_EXIT,
  /** VM-entry control bits. */
  VM_ENTRY,
  /** Interruption-information fields. */
  INTR_INFO,
  /** Interruption types. */
  INTR_TYPE,
  /** Guest interruptibility-state bits. */
  INTERRUPTIBILITY,
  /** Guest activity states. */
  ACTIVITY_STATE,
  /** RVI/SVI fields of the guest interrupt status. */
  GUEST_INTR_STATUS_FIELD,
} from './vmx/controls.js';
export type {
  /** An interruption type number. */
  IntrType,
} from './vmx/controls.js';
export {
  /** Basic exit reasons (Appendix C). */
  EXIT_REASON,
  /** Flag bits of the exit-reason field. */
  EXIT_REASON_FLAG,
  /** Name of a basic exit reason. */
  exitReasonName,
} from './vmx/exit-reasons.js';
export type {
  /** Name of a basic exit reason. */
  ExitReasonName,
} from './vmx/exit-reasons.js';
export {
  /** VM-instruction error numbers. */
  VM_INSTRUCTION_ERROR,
} from './vmx/instruction-errors.js';
export type {
  /** Name of a VM-instruction error. */
  VmInstructionErrorName,
} from './vmx/instruction-errors.js';

// APIC virtualization
export {
  /** The virtual-APIC page and virtual-interrupt state (RVI, SVI, VIRR, VISR, VPPR). */
  VirtualApic,
  /** Offset of the word holding a vector's bit in a 256-bit APIC register. */
  vectorWordOffset,
  /** Flag of `VirtualApic.virtualizeEoi`'s answer: the EOI-exit bitmap has the retired vector. */
  EOI_EXITS,
} from './apicv/virtual-apic.js';
export {
  /** Whether RDMSR/WRMSR of an MSR exits under MSR bitmaps. */
  msrBitmapExits,
  /** Sets or clears an MSR's intercept bits (VMM helper). */
  setMsrIntercept,
  /** Offsets of the four MSR bitmaps. */
  MSR_BITMAP_OFFSET,
} from './apicv/msr-bitmap.js';
export {
  /** APIC-access exit-qualification access types. */
  APIC_ACCESS_TYPE,
  /** Whether an ICR-low value qualifies for self-IPI virtualization. */
  isVirtualizableSelfIpi,
} from './apicv/apic-access.js';

// Errors
export {
  /**
   * Misuse of the VMX model's API: a subclass of core's `UsageError`, which is
   * what every error the package throws for host misuse is.
   *
   * @deprecated Catch core's `UsageError`; kept so `instanceof VmxError` keeps working.
   */
  VmxError,
} from './errors.js';
export type {
  /**
   * Kinds of VmxError: core's `UsageErrorKind` (`'unknown-field'` is now `'unknown-name'`).
   *
   * @deprecated Use core's `UsageErrorKind`.
   */
  VmxErrorKind,
} from './errors.js';
