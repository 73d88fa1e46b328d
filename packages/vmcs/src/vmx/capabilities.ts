/**
 * The VMX capability MSRs (SDM 3C Appendix A "VMX Capability Reporting
 * Facility") of a configurable processor: a caller models a CPU with or
 * without APIC virtualization, posted interrupts, EPT, VPID or the
 * preemption timer, and VM entry allows exactly the control settings these
 * MSRs report.
 */
import { CpuException, type MsrDevice, assertInteger } from '@hvsim/core';
import { VMCS_FIELD_SPECS, type ControlWord } from '../fields/field-table.js';
import { getField } from '@hvsim/core';
import { ENCODING_FIELD } from '../fields/encoding.js';
import { CPU_BASED, PIN_BASED, SECONDARY, VM_ENTRY, VM_EXIT } from './controls.js';

/** MSR indices of the VMX capability MSRs (SDM 3C Appendix A; SDM 4 "Model-Specific Registers"). */
export const VMX_MSR = {
  /** `0x3a` */
  IA32_FEATURE_CONTROL: 0x3a,
  /** `0x480` */
  IA32_VMX_BASIC: 0x480,
  /** `0x481` */
  IA32_VMX_PINBASED_CTLS: 0x481,
  /** `0x482` */
  IA32_VMX_PROCBASED_CTLS: 0x482,
  /** `0x483` */
  IA32_VMX_EXIT_CTLS: 0x483,
  /** `0x484` */
  IA32_VMX_ENTRY_CTLS: 0x484,
  /** `0x485` */
  IA32_VMX_MISC: 0x485,
  /** `0x486` */
  IA32_VMX_CR0_FIXED0: 0x486,
  /** `0x487` */
  IA32_VMX_CR0_FIXED1: 0x487,
  /** `0x488` */
  IA32_VMX_CR4_FIXED0: 0x488,
  /** `0x489` */
  IA32_VMX_CR4_FIXED1: 0x489,
  /** `0x48a` */
  IA32_VMX_VMCS_ENUM: 0x48a,
  /** `0x48b` */
  IA32_VMX_PROCBASED_CTLS2: 0x48b,
  /** `0x48c` */
  IA32_VMX_EPT_VPID_CAP: 0x48c,
  /** `0x48d` */
  IA32_VMX_TRUE_PINBASED_CTLS: 0x48d,
  /** `0x48e` */
  IA32_VMX_TRUE_PROCBASED_CTLS: 0x48e,
  /** `0x48f` */
  IA32_VMX_TRUE_EXIT_CTLS: 0x48f,
  /** `0x490` */
  IA32_VMX_TRUE_ENTRY_CTLS: 0x490,
  /** `0x491` */
  IA32_VMX_VMFUNC: 0x491,
  /** `0x492` */
  IA32_VMX_PROCBASED_CTLS3: 0x492,
  /** `0x493` */
  IA32_VMX_EXIT_CTLS2: 0x493,
} as const;

/** Default-1 bits of the control words without TRUE MSRs (SDM 3C A.2 "Reserved Controls and Default Settings"). */
export const DEFAULT1 = {
  /** Pin-based controls: bits 1, 2 and 4. */
  PIN: 0x16,
  /** Primary processor-based controls: bits 1, 4-6, 8, 13-16 and 26. */
  PROC: 0x0401_e172,
  /** VM-exit controls: bits 0-8, 10, 11, 13, 14, 16 and 17. */
  EXIT: 0x0003_6dff,
  /** VM-entry controls: bits 0-8 and 12. */
  ENTRY: 0x0000_11ff,
} as const;
/** Default-1 bits that the TRUE MSRs let software clear on this model (CR3-load/store exiting, save/load debug controls). */
const TRUE_ALLOWED0 = { PIN: 0x16, PROC: 0x0400_6172, EXIT: 0x0003_6dfb, ENTRY: 0x0000_11fb } as const;

/** What the modelled processor supports. Every option has the default noted. */
export interface VmxCapabilityConfig {
  /** VMCS revision identifier, IA32_VMX_BASIC[30:0] (default 1). */
  revisionId?: number;
  /** MAXPHYADDR (default 46). Pointers with bits at or above it make VMX instructions fail. */
  physicalAddressWidth?: number;
  /** TPR shadow, virtualize APIC accesses, virtualize x2APIC mode, APIC-register virtualization and virtual-interrupt delivery (default true). */
  apicv?: boolean;
  /** "Process posted interrupts" (default true; needs `apicv`). */
  postedInterrupts?: boolean;
  /** EPT and PML (default true). */
  ept?: boolean;
  /** Unrestricted guest (default true; needs `ept`). */
  unrestrictedGuest?: boolean;
  /** VPID (default true). */
  vpid?: boolean;
  /** The VMX-preemption timer (default true). */
  preemptionTimer?: boolean;
  /** Preemption-timer rate X: the timer counts down when TSC bit X changes, IA32_VMX_MISC[4:0] (default 5). */
  preemptionTimerRate?: number;
  /** IA32_VMX_BASIC[55]: the TRUE_ control MSRs exist (default true). */
  trueControls?: boolean;
  /** IA32_VMX_MISC[29]: VMWRITE may write the VM-exit information fields (default false). */
  vmwriteAnyField?: boolean;
  /** IA32_VMX_MISC[30]: injecting a software interrupt/exception with instruction length 0 is allowed (default false). */
  zeroLengthInjection?: boolean;
  /** IA32_VMX_BASIC[56]: VM entry may inject a hardware exception with or without an error code (default false). */
  noErrorCodeConsistencyCheck?: boolean;
  /** Activity states supported beyond active, IA32_VMX_MISC[8:6] (default all three). */
  activityStates?: {
    /** Activity state 1, HLT (IA32_VMX_MISC[6]). */
    hlt?: boolean;
    /** Activity state 2, shutdown (IA32_VMX_MISC[7]). */
    shutdown?: boolean;
    /** Activity state 3, wait-for-SIPI (IA32_VMX_MISC[8]). */
    waitForSipi?: boolean;
  };
}

/** A control word's allowed-0 (bits that must be 1) and allowed-1 (bits that may be 1) settings. */
export interface ControlCapability {
  /** Bits that must be 1 (IA32_VMX_*_CTLS bits 31:0). */
  readonly allowed0: number;
  /** Bits that may be 1 (IA32_VMX_*_CTLS bits 63:32). */
  readonly allowed1: number;
}

/** The VMX capabilities of one processor model, readable as MSRs. */
export class VmxCapabilities implements MsrDevice {
  /** VMCS revision identifier, IA32_VMX_BASIC[30:0]. */
  readonly revisionId: number;
  /** MAXPHYADDR: VMX pointers must fit in this many bits. */
  readonly physicalAddressWidth: number;
  /** Preemption-timer rate X, IA32_VMX_MISC[4:0]: the timer counts down when TSC bit X changes. */
  readonly preemptionTimerRate: number;
  /** IA32_VMX_BASIC[55]: the IA32_VMX_TRUE_*_CTLS MSRs exist. */
  readonly trueControls: boolean;
  /** IA32_VMX_MISC[29]: VMWRITE may write the VM-exit information fields. */
  readonly vmwriteAnyField: boolean;
  /** IA32_VMX_MISC[30]: software interrupts and exceptions may be injected with instruction length 0. */
  readonly zeroLengthInjection: boolean;
  /** IA32_VMX_BASIC[56]: VM entry injects hardware exceptions with or without an error code. */
  readonly noErrorCodeConsistencyCheck: boolean;
  /** Allowed settings of the pin-based controls that VM entry checks (TRUE MSR when it exists). */
  readonly pin: ControlCapability;
  /** Allowed settings of the primary processor-based controls. */
  readonly proc: ControlCapability;
  /** Allowed settings of the secondary processor-based controls (IA32_VMX_PROCBASED_CTLS2). */
  readonly proc2: ControlCapability;
  /** Allowed settings of the VM-exit controls. */
  readonly exit: ControlCapability;
  /** Allowed settings of the VM-entry controls. */
  readonly entry: ControlCapability;
  /** Non-TRUE MSR settings (default-1 bits are all allowed-0). */
  private readonly legacy: { pin: ControlCapability; proc: ControlCapability; exit: ControlCapability; entry: ControlCapability };
  /** IA32_VMX_MISC[8:6] as a mask of activity states 1..3 supported. */
  readonly activityMask: number;
  /** IA32_VMX_CR0_FIXED0: CR0 bits that must be 1 in VMX operation (PE, NE, PG). */
  readonly cr0Fixed0 = 0x8000_0021;
  /** IA32_VMX_CR0_FIXED1: CR0 bits that may be 1. */
  readonly cr0Fixed1 = 0xffff_ffff;
  /** IA32_VMX_CR4_FIXED0: CR4 bits that must be 1 in VMX operation (VMXE). */
  readonly cr4Fixed0 = 0x2000;
  /** IA32_VMX_CR4_FIXED1: CR4 bits that may be 1. */
  readonly cr4Fixed1 = 0x0037_67ff;
  /** One past the highest physical address a VMX pointer may hold (2^MAXPHYADDR). */
  readonly physicalAddressLimit: number;
  private readonly eptVpidLo: number;
  private readonly eptVpidHi: number;

  constructor(config: VmxCapabilityConfig = {}) {
    this.revisionId = config.revisionId ?? 1;
    assertInteger(this.revisionId, 'revisionId', 0, 0x7fff_ffff);
    this.physicalAddressWidth = config.physicalAddressWidth ?? 46;
    assertInteger(this.physicalAddressWidth, 'physicalAddressWidth', 32, 52);
    this.physicalAddressLimit = 2 ** this.physicalAddressWidth;
    this.preemptionTimerRate = config.preemptionTimerRate ?? 5;
    assertInteger(this.preemptionTimerRate, 'preemptionTimerRate', 0, 31);
    this.trueControls = config.trueControls ?? true;
    this.vmwriteAnyField = config.vmwriteAnyField ?? false;
    this.zeroLengthInjection = config.zeroLengthInjection ?? false;
    this.noErrorCodeConsistencyCheck = config.noErrorCodeConsistencyCheck ?? false;
    const apicv = config.apicv ?? true;
    const posted = (config.postedInterrupts ?? true) && apicv;
    const ept = config.ept ?? true;
    const unrestricted = (config.unrestrictedGuest ?? true) && ept;
    const vpid = config.vpid ?? true;
    const timer = config.preemptionTimer ?? true;
    const act = config.activityStates ?? {};
    this.activityMask = ((act.hlt ?? true) ? 2 : 0) | ((act.shutdown ?? true) ? 4 : 0) | ((act.waitForSipi ?? true) ? 8 : 0);

    const pin1 = DEFAULT1.PIN | PIN_BASED.EXT_INTR_EXITING | PIN_BASED.NMI_EXITING | PIN_BASED.VIRTUAL_NMIS | (timer ? PIN_BASED.ACTIVATE_PREEMPTION_TIMER : 0) | (posted ? PIN_BASED.PROCESS_POSTED_INTERRUPTS : 0);
    const proc1 =
      DEFAULT1.PROC |
      CPU_BASED.INTR_WINDOW_EXITING | CPU_BASED.USE_TSC_OFFSETTING | CPU_BASED.HLT_EXITING | CPU_BASED.INVLPG_EXITING | CPU_BASED.MWAIT_EXITING |
      CPU_BASED.RDPMC_EXITING | CPU_BASED.RDTSC_EXITING | CPU_BASED.CR3_LOAD_EXITING | CPU_BASED.CR3_STORE_EXITING | CPU_BASED.CR8_LOAD_EXITING |
      CPU_BASED.CR8_STORE_EXITING | (apicv ? CPU_BASED.USE_TPR_SHADOW : 0) | CPU_BASED.NMI_WINDOW_EXITING | CPU_BASED.MOV_DR_EXITING |
      CPU_BASED.UNCOND_IO_EXITING | CPU_BASED.USE_IO_BITMAPS | CPU_BASED.MONITOR_TRAP_FLAG | CPU_BASED.USE_MSR_BITMAPS | CPU_BASED.MONITOR_EXITING |
      CPU_BASED.PAUSE_EXITING | CPU_BASED.ACTIVATE_SECONDARY_CONTROLS;
    const proc2_1 =
      SECONDARY.DESCRIPTOR_TABLE_EXITING | SECONDARY.ENABLE_RDTSCP | SECONDARY.WBINVD_EXITING | SECONDARY.PAUSE_LOOP_EXITING | SECONDARY.RDRAND_EXITING |
      SECONDARY.ENABLE_INVPCID | SECONDARY.RDSEED_EXITING | SECONDARY.ENABLE_XSAVES |
      (apicv ? SECONDARY.VIRTUALIZE_APIC_ACCESSES | SECONDARY.VIRTUALIZE_X2APIC_MODE | SECONDARY.APIC_REGISTER_VIRTUALIZATION | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY : 0) |
      (ept ? SECONDARY.ENABLE_EPT | SECONDARY.ENABLE_PML : 0) | (unrestricted ? SECONDARY.UNRESTRICTED_GUEST : 0) | (vpid ? SECONDARY.ENABLE_VPID : 0);
    const exit1 =
      DEFAULT1.EXIT | VM_EXIT.HOST_ADDRESS_SPACE_SIZE | VM_EXIT.LOAD_IA32_PERF_GLOBAL_CTRL | VM_EXIT.ACK_INTR_ON_EXIT | VM_EXIT.SAVE_IA32_PAT |
      VM_EXIT.LOAD_IA32_PAT | VM_EXIT.SAVE_IA32_EFER | VM_EXIT.LOAD_IA32_EFER | (timer ? VM_EXIT.SAVE_PREEMPTION_TIMER : 0);
    const entry1 = DEFAULT1.ENTRY | VM_ENTRY.IA32E_MODE_GUEST | VM_ENTRY.ENTRY_TO_SMM | VM_ENTRY.DEACTIVATE_DUAL_MONITOR | VM_ENTRY.LOAD_IA32_PERF_GLOBAL_CTRL | VM_ENTRY.LOAD_IA32_PAT | VM_ENTRY.LOAD_IA32_EFER;

    const cap = (allowed0: number, allowed1: number): ControlCapability => Object.freeze({ allowed0: allowed0 >>> 0, allowed1: allowed1 >>> 0 });
    this.legacy = {
      pin: cap(DEFAULT1.PIN, pin1),
      proc: cap(DEFAULT1.PROC, proc1),
      exit: cap(DEFAULT1.EXIT, exit1),
      entry: cap(DEFAULT1.ENTRY, entry1),
    };
    this.pin = this.trueControls ? cap(TRUE_ALLOWED0.PIN, pin1) : this.legacy.pin;
    this.proc = this.trueControls ? cap(TRUE_ALLOWED0.PROC, proc1) : this.legacy.proc;
    this.exit = this.trueControls ? cap(TRUE_ALLOWED0.EXIT, exit1) : this.legacy.exit;
    this.entry = this.trueControls ? cap(TRUE_ALLOWED0.ENTRY, entry1) : this.legacy.entry;
    this.proc2 = cap(0, proc2_1);
    // EPT: execute-only, 4-level walk, UC and WB, 2M/1G pages, INVEPT (single, all), A/D flags; VPID: INVVPID with all types.
    this.eptVpidLo = ept ? 0x0673_4141 : 0;
    this.eptVpidHi = vpid ? 0xf01 : 0;
  }

  /** True when the processor allows 1 in bit `bit` of control word `word`. */
  allows(word: ControlWord, bit: number): boolean {
    const mask = (1 << bit) >>> 0;
    switch (word) {
      case 'pin':
        return (this.pin.allowed1 & mask) !== 0;
      case 'proc':
        return (this.proc.allowed1 & mask) !== 0;
      case 'proc2':
        return (this.proc.allowed1 & CPU_BASED.ACTIVATE_SECONDARY_CONTROLS) !== 0 && (this.proc2.allowed1 & mask) !== 0;
      case 'proc3':
        return false; // no tertiary controls on this model
      case 'exit':
        return (this.exit.allowed1 & mask) !== 0;
      case 'entry':
        return (this.entry.allowed1 & mask) !== 0;
    }
  }

  /** True when `value` sets every allowed-0 bit and no bit outside allowed-1 (SDM 3C A.3-A.5). */
  static fits(cap: ControlCapability, value: number): boolean {
    return (value & cap.allowed0) >>> 0 === cap.allowed0 && (value & ~cap.allowed1) === 0;
  }

  /** True when the activity state is supported (0 always). */
  supportsActivityState(state: number): boolean {
    return state === 0 || (state <= 3 && (this.activityMask & (1 << state)) !== 0);
  }

  /** IA32_VMX_MISC as two 32-bit halves. */
  private misc(): [number, number] {
    const lo = this.preemptionTimerRate | (1 << 5) | ((this.activityMask >>> 1) << 6) | (4 << 16) | (this.vmwriteAnyField ? 1 << 29 : 0) | (this.zeroLengthInjection ? 1 << 30 : 0);
    return [lo >>> 0, 0];
  }

  /** Highest field index any supported field has (IA32_VMX_VMCS_ENUM[9:1]). */
  private highestIndex(): number {
    let max = 0;
    for (const f of VMCS_FIELD_SPECS) {
      if (f.requires && !this.allows(f.requires[0], f.requires[1])) continue;
      max = Math.max(max, getField(f.encoding, ENCODING_FIELD.INDEX));
    }
    return max;
  }

  /** The MSR's value as 32-bit halves; undefined for an index that is not a VMX capability MSR. */
  msrHalves(index: number): [number, number] | undefined {
    const pair = (c: ControlCapability): [number, number] => [c.allowed0, c.allowed1];
    switch (index) {
      case VMX_MSR.IA32_VMX_BASIC:
        // [30:0] revision; [44:32] region size 4096; [53:50] WB (6); 54 INS/OUTS info; 55 TRUE controls; 56 no error-code check.
        return [this.revisionId, 0x1000 | (6 << 18) | (1 << 22) | (this.trueControls ? 1 << 23 : 0) | (this.noErrorCodeConsistencyCheck ? 1 << 24 : 0)];
      case VMX_MSR.IA32_VMX_PINBASED_CTLS:
        return pair(this.legacy.pin);
      case VMX_MSR.IA32_VMX_PROCBASED_CTLS:
        return pair(this.legacy.proc);
      case VMX_MSR.IA32_VMX_EXIT_CTLS:
        return pair(this.legacy.exit);
      case VMX_MSR.IA32_VMX_ENTRY_CTLS:
        return pair(this.legacy.entry);
      case VMX_MSR.IA32_VMX_MISC:
        return this.misc();
      case VMX_MSR.IA32_VMX_CR0_FIXED0:
        return [this.cr0Fixed0, 0];
      case VMX_MSR.IA32_VMX_CR0_FIXED1:
        return [this.cr0Fixed1, 0];
      case VMX_MSR.IA32_VMX_CR4_FIXED0:
        return [this.cr4Fixed0, 0];
      case VMX_MSR.IA32_VMX_CR4_FIXED1:
        return [this.cr4Fixed1, 0];
      case VMX_MSR.IA32_VMX_VMCS_ENUM:
        return [this.highestIndex() << 1, 0];
      case VMX_MSR.IA32_VMX_PROCBASED_CTLS2:
        return pair(this.proc2);
      case VMX_MSR.IA32_VMX_EPT_VPID_CAP:
        return [this.eptVpidLo, this.eptVpidHi];
      case VMX_MSR.IA32_VMX_TRUE_PINBASED_CTLS:
        return this.trueControls ? pair(this.pin) : undefined;
      case VMX_MSR.IA32_VMX_TRUE_PROCBASED_CTLS:
        return this.trueControls ? pair(this.proc) : undefined;
      case VMX_MSR.IA32_VMX_TRUE_EXIT_CTLS:
        return this.trueControls ? pair(this.exit) : undefined;
      case VMX_MSR.IA32_VMX_TRUE_ENTRY_CTLS:
        return this.trueControls ? pair(this.entry) : undefined;
      case VMX_MSR.IA32_VMX_VMFUNC:
      case VMX_MSR.IA32_VMX_PROCBASED_CTLS3:
      case VMX_MSR.IA32_VMX_EXIT_CTLS2:
        return undefined; // the controls that enumerate these are not supported on this model
      default:
        return undefined;
    }
  }

  /** RDMSR of a capability MSR; any other index raises #GP(0) (SDM 3C Appendix A). */
  readMsr(index: number): bigint {
    const h = this.msrHalves(index);
    if (!h) throw CpuException.gp(`RDMSR of 0x${index.toString(16)}: not a VMX capability MSR this processor reports`);
    return (BigInt(h[1] >>> 0) << 32n) | BigInt(h[0] >>> 0);
  }

  /** The capability MSRs are read-only: WRMSR raises #GP(0). */
  writeMsr(index: number, value: bigint): void {
    throw CpuException.gp(`WRMSR of 0x${index.toString(16)} with 0x${value.toString(16)}: VMX capability MSRs are read-only`);
  }
}
