/**
 * The checks VM entry makes before loading guest state (SDM 3C "Checks on
 * VMX Controls and Host-State Area", "Checks on the Guest State Area"), in
 * the SDM's order. Each check function returns null when the area is valid
 * or a short text naming the first failed check (not architectural: the
 * architecture reports only the VM-instruction error or exit qualification).
 */
import { bitRange, getField } from '@hvsim/core';
import { VMCS_FIELD } from '../fields/field-table.js';
import { slotOf } from '../fields/slots.js';
import type { Vmcs } from '../vmcs/vmcs.js';
import { VmxCapabilities } from './capabilities.js';
import {
  ACTIVITY_STATE,
  CPU_BASED,
  INTERRUPTIBILITY,
  PIN_BASED,
  RFLAGS,
  SECONDARY,
  VM_ENTRY,
  VM_EXIT,
} from './controls.js';

const F = VMCS_FIELD;
const s = (enc: number): number => slotOf(enc);
const S = {
  PIN: s(F.PIN_BASED_VM_EXEC_CONTROL),
  PROC: s(F.CPU_BASED_VM_EXEC_CONTROL),
  PROC2: s(F.SECONDARY_VM_EXEC_CONTROL),
  EXIT: s(F.VM_EXIT_CONTROLS),
  ENTRY: s(F.VM_ENTRY_CONTROLS),
  CR3_TARGET_COUNT: s(F.CR3_TARGET_COUNT),
  IO_A: s(F.IO_BITMAP_A),
  IO_B: s(F.IO_BITMAP_B),
  MSR_BITMAP: s(F.MSR_BITMAP),
  VAPIC: s(F.VIRTUAL_APIC_PAGE_ADDR),
  TPR_THRESHOLD: s(F.TPR_THRESHOLD),
  APIC_ACCESS: s(F.APIC_ACCESS_ADDR),
  PI_NV: s(F.POSTED_INTR_NV),
  PI_DESC: s(F.POSTED_INTR_DESC_ADDR),
  VPID: s(F.VIRTUAL_PROCESSOR_ID),
  EPTP: s(F.EPT_POINTER),
  PML: s(F.PML_ADDRESS),
  EXIT_MSR_STORE: s(F.VM_EXIT_MSR_STORE_ADDR),
  EXIT_MSR_LOAD: s(F.VM_EXIT_MSR_LOAD_ADDR),
  EXIT_MSR_STORE_COUNT: s(F.VM_EXIT_MSR_STORE_COUNT),
  EXIT_MSR_LOAD_COUNT: s(F.VM_EXIT_MSR_LOAD_COUNT),
  ENTRY_MSR_LOAD: s(F.VM_ENTRY_MSR_LOAD_ADDR),
  ENTRY_MSR_LOAD_COUNT: s(F.VM_ENTRY_MSR_LOAD_COUNT),
  ENTRY_INTR_INFO: s(F.VM_ENTRY_INTR_INFO_FIELD),
  ENTRY_ERROR_CODE: s(F.VM_ENTRY_EXCEPTION_ERROR_CODE),
  ENTRY_INSTR_LEN: s(F.VM_ENTRY_INSTRUCTION_LEN),
  HOST_CR0: s(F.HOST_CR0),
  HOST_CR3: s(F.HOST_CR3),
  HOST_CR4: s(F.HOST_CR4),
  HOST_SYSENTER_ESP: s(F.HOST_IA32_SYSENTER_ESP),
  HOST_SYSENTER_EIP: s(F.HOST_IA32_SYSENTER_EIP),
  HOST_EFER: s(F.HOST_IA32_EFER),
  HOST_CS: s(F.HOST_CS_SELECTOR),
  HOST_TR: s(F.HOST_TR_SELECTOR),
  HOST_SS: s(F.HOST_SS_SELECTOR),
  HOST_FS_BASE: s(F.HOST_FS_BASE),
  HOST_RIP: s(F.HOST_RIP),
  GUEST_CR0: s(F.GUEST_CR0),
  GUEST_CR4: s(F.GUEST_CR4),
  GUEST_DEBUGCTL: s(F.GUEST_IA32_DEBUGCTL),
  GUEST_DR7: s(F.GUEST_DR7),
  GUEST_PAT: s(F.GUEST_IA32_PAT),
  GUEST_EFER: s(F.GUEST_IA32_EFER),
  HOST_PAT: s(F.HOST_IA32_PAT),
  GUEST_RFLAGS: s(F.GUEST_RFLAGS),
  GUEST_SS_AR: s(F.GUEST_SS_AR_BYTES),
  GUEST_ACTIVITY: s(F.GUEST_ACTIVITY_STATE),
  GUEST_INTERRUPTIBILITY: s(F.GUEST_INTERRUPTIBILITY_INFO),
  GUEST_PENDING_DBG: s(F.GUEST_PENDING_DBG_EXCEPTIONS),
  LINK_POINTER: s(F.VMCS_LINK_POINTER),
  TIMER_VALUE: s(F.VMX_PREEMPTION_TIMER_VALUE),
} as const;

/** Host selector fields whose RPL and TI must be 0, with their names for the failure text. */
const HOST_SELECTORS = (['HOST_ES_SELECTOR', 'HOST_CS_SELECTOR', 'HOST_SS_SELECTOR', 'HOST_DS_SELECTOR', 'HOST_FS_SELECTOR', 'HOST_GS_SELECTOR', 'HOST_TR_SELECTOR'] as const).map((name) => ({ name, slot: s(F[name]) }));
/** Host base-address fields that must be canonical. */
const HOST_BASES = (['HOST_FS_BASE', 'HOST_GS_BASE', 'HOST_GDTR_BASE', 'HOST_IDTR_BASE', 'HOST_TR_BASE'] as const).map((name) => ({ name, slot: s(F[name]) }));

/** Guest segment access-rights fields (SDM 3C Table "Format of Access Rights"). */
const SEGMENT_AR = { DPL: bitRange(6, 5) } as const;

/** Slots the entry and exit code reads; exported for the processor. */
export const ENTRY_SLOTS = S;

/** Every byte of an IA32_PAT value is a valid memory type: 0 (UC), 1 (WC), 4 (WT), 5 (WP), 6 (WB) or 7 (UC-) (SDM 3A "PAT"). */
function patValid(v: Vmcs, slot: number): boolean {
  return patWordValid(v.lo[slot]!) && patWordValid(v.hi[slot]!);
}

function patWordValid(word: number): boolean {
  for (let b = 0; b < 32; b += 8) {
    const t = (word >>> b) & 0xff;
    if (t === 2 || t === 3 || t > 7) return false;
  }
  return true;
}

/** True when the 64-bit field holds a 4-KByte-aligned address below 2^MAXPHYADDR. */
function pageAddressOk(v: Vmcs, slot: number, caps: VmxCapabilities): boolean {
  const lo = v.lo[slot]!;
  const addr = v.slotNumber(slot);
  return (lo & 0xfff) === 0 && addr < caps.physicalAddressLimit;
}

/** True when the address is `align`-aligned and below 2^MAXPHYADDR. */
function addressOk(v: Vmcs, slot: number, caps: VmxCapabilities, align: number): boolean {
  const addr = v.slotNumber(slot);
  return addr % align === 0 && addr < caps.physicalAddressLimit;
}

/** Bits 63:47 all equal (48-bit canonical), checked on the high half. */
function canonical(v: Vmcs, slot: number): boolean {
  const top = v.hi[slot]! >>> 15;
  return top === 0 || top === 0x1ffff;
}

/** The effective secondary controls (0 unless "activate secondary controls"). */
export function secondaryControls(v: Vmcs): number {
  return (v.lo[S.PROC]! & CPU_BASED.ACTIVATE_SECONDARY_CONTROLS) !== 0 ? v.lo[S.PROC2]! : 0;
}

/** Hardware exceptions that push an error code (SDM 3C "Checks on VM-Entry Control Fields"). */
export const ERROR_CODE_VECTORS = (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 17) | (1 << 21);

/** SDM 3C "Checks on VMX Controls": VM-execution, VM-exit and VM-entry control fields. Failure = VMfailValid(7). */
export function checkControls(v: Vmcs, caps: VmxCapabilities, readPhysical32: (addr: number) => number): string | null {
  const pin = v.lo[S.PIN]!;
  const proc = v.lo[S.PROC]!;
  const exit = v.lo[S.EXIT]!;
  const entry = v.lo[S.ENTRY]!;
  // "Checks on VM-Execution Control Fields"
  if (!VmxCapabilities.fits(caps.pin, pin)) return 'pin-based controls not allowed by IA32_VMX_(TRUE_)PINBASED_CTLS';
  if (!VmxCapabilities.fits(caps.proc, proc)) return 'primary processor-based controls not allowed by IA32_VMX_(TRUE_)PROCBASED_CTLS';
  const proc2 = secondaryControls(v);
  if ((proc & CPU_BASED.ACTIVATE_SECONDARY_CONTROLS) !== 0 && !VmxCapabilities.fits(caps.proc2, proc2)) return 'secondary controls not allowed by IA32_VMX_PROCBASED_CTLS2';
  if (v.lo[S.CR3_TARGET_COUNT]! > 4) return 'CR3-target count greater than 4';
  if ((proc & CPU_BASED.USE_IO_BITMAPS) !== 0 && (!pageAddressOk(v, S.IO_A, caps) || !pageAddressOk(v, S.IO_B, caps))) return 'I/O-bitmap address not 4-KByte aligned or beyond MAXPHYADDR';
  if ((proc & CPU_BASED.USE_MSR_BITMAPS) !== 0 && !pageAddressOk(v, S.MSR_BITMAP, caps)) return 'MSR-bitmap address not 4-KByte aligned or beyond MAXPHYADDR';
  const tprShadow = (proc & CPU_BASED.USE_TPR_SHADOW) !== 0;
  const vid = (proc2 & SECONDARY.VIRTUAL_INTERRUPT_DELIVERY) !== 0;
  if (tprShadow) {
    if (!pageAddressOk(v, S.VAPIC, caps)) return 'virtual-APIC address not 4-KByte aligned or beyond MAXPHYADDR';
    if (!vid && v.lo[S.TPR_THRESHOLD]! >>> 4 !== 0) return 'TPR threshold bits 31:4 not 0';
    if (!vid && (proc2 & SECONDARY.VIRTUALIZE_APIC_ACCESSES) === 0) {
      const vtpr = readPhysical32(v.slotNumber(S.VAPIC) + 0x80);
      if ((v.lo[S.TPR_THRESHOLD]! & 0xf) > ((vtpr >>> 4) & 0xf)) return 'TPR threshold[3:0] greater than VTPR[7:4]';
    }
  } else if ((proc2 & (SECONDARY.VIRTUALIZE_X2APIC_MODE | SECONDARY.APIC_REGISTER_VIRTUALIZATION | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY)) !== 0) {
    return 'virtualize x2APIC mode, APIC-register virtualization and virtual-interrupt delivery need "use TPR shadow"';
  }
  if ((pin & PIN_BASED.NMI_EXITING) === 0 && (pin & PIN_BASED.VIRTUAL_NMIS) !== 0) return '"virtual NMIs" needs "NMI exiting"';
  if ((pin & PIN_BASED.VIRTUAL_NMIS) === 0 && (proc & CPU_BASED.NMI_WINDOW_EXITING) !== 0) return '"NMI-window exiting" needs "virtual NMIs"';
  if ((proc2 & SECONDARY.VIRTUALIZE_APIC_ACCESSES) !== 0 && !pageAddressOk(v, S.APIC_ACCESS, caps)) return 'APIC-access address not 4-KByte aligned or beyond MAXPHYADDR';
  if ((proc2 & SECONDARY.VIRTUALIZE_X2APIC_MODE) !== 0 && (proc2 & SECONDARY.VIRTUALIZE_APIC_ACCESSES) !== 0) return '"virtualize x2APIC mode" excludes "virtualize APIC accesses"';
  if (vid && (pin & PIN_BASED.EXT_INTR_EXITING) === 0) return '"virtual-interrupt delivery" needs "external-interrupt exiting"';
  if ((pin & PIN_BASED.PROCESS_POSTED_INTERRUPTS) !== 0) {
    if (!vid) return '"process posted interrupts" needs "virtual-interrupt delivery"';
    if ((exit & VM_EXIT.ACK_INTR_ON_EXIT) === 0) return '"process posted interrupts" needs "acknowledge interrupt on exit"';
    if ((v.lo[S.PI_NV]! & 0xff00) !== 0) return 'posted-interrupt notification vector bits 15:8 not 0';
    if (!addressOk(v, S.PI_DESC, caps, 64)) return 'posted-interrupt descriptor address not 64-byte aligned or beyond MAXPHYADDR';
  }
  if ((proc2 & SECONDARY.ENABLE_VPID) !== 0 && v.lo[S.VPID] === 0) return 'VPID is 0 with "enable VPID"';
  if ((proc2 & SECONDARY.ENABLE_EPT) !== 0) {
    const eptp = v.lo[S.EPTP]!;
    const memType = eptp & 7;
    const walk = (eptp >>> 3) & 7;
    // SDM 3C "VM-Execution Control Fields" checks on the EPTP: memory type UC or WB, 4-level walk, bits 11:7 reserved, address below MAXPHYADDR.
    if ((memType !== 0 && memType !== 6) || walk !== 3 || (eptp & 0xf80) !== 0) return 'EPT pointer not valid';
    if (v.slotNumber(S.EPTP) >= caps.physicalAddressLimit) return 'EPT pointer beyond MAXPHYADDR';
  }
  if ((proc2 & SECONDARY.ENABLE_PML) !== 0) {
    if ((proc2 & SECONDARY.ENABLE_EPT) === 0) return '"enable PML" needs "enable EPT"';
    if (!pageAddressOk(v, S.PML, caps)) return 'PML address not 4-KByte aligned or beyond MAXPHYADDR';
  }
  if ((proc2 & SECONDARY.UNRESTRICTED_GUEST) !== 0 && (proc2 & SECONDARY.ENABLE_EPT) === 0) return '"unrestricted guest" needs "enable EPT"';
  // "Checks on VM-Exit Control Fields"
  if (!VmxCapabilities.fits(caps.exit, exit)) return 'VM-exit controls not allowed by IA32_VMX_(TRUE_)EXIT_CTLS';
  if ((pin & PIN_BASED.ACTIVATE_PREEMPTION_TIMER) === 0 && (exit & VM_EXIT.SAVE_PREEMPTION_TIMER) !== 0) return '"save VMX-preemption timer value" needs "activate VMX-preemption timer"';
  if (v.lo[S.EXIT_MSR_STORE_COUNT] !== 0 && !addressOk(v, S.EXIT_MSR_STORE, caps, 16)) return 'VM-exit MSR-store address not 16-byte aligned';
  if (v.lo[S.EXIT_MSR_LOAD_COUNT] !== 0 && !addressOk(v, S.EXIT_MSR_LOAD, caps, 16)) return 'VM-exit MSR-load address not 16-byte aligned';
  // "Checks on VM-Entry Control Fields"
  if (!VmxCapabilities.fits(caps.entry, entry)) return 'VM-entry controls not allowed by IA32_VMX_(TRUE_)ENTRY_CTLS';
  // The checks on the event to inject (27.2.1.3) are injection-checks.ts's: they run at every entry that injects.
  if (v.lo[S.ENTRY_MSR_LOAD_COUNT] !== 0 && !addressOk(v, S.ENTRY_MSR_LOAD, caps, 16)) return 'VM-entry MSR-load address not 16-byte aligned';
  if ((entry & (VM_ENTRY.ENTRY_TO_SMM | VM_ENTRY.DEACTIVATE_DUAL_MONITOR)) !== 0) return '"entry to SMM" and "deactivate dual-monitor treatment" must be 0 outside SMM';
  return null;
}

/** SDM 3C "Checks on Host Control Registers, MSRs, and SSP", "...Segment and Descriptor-Table Registers", "...Address-Space Size". Failure = VMfailValid(8). */
export function checkHostState(v: Vmcs, caps: VmxCapabilities, longMode: boolean): string | null {
  const cr0 = v.lo[S.HOST_CR0]!;
  const cr4 = v.lo[S.HOST_CR4]!;
  if ((cr0 & caps.cr0Fixed0) >>> 0 !== caps.cr0Fixed0 || (cr0 & ~caps.cr0Fixed1) !== 0 || v.hi[S.HOST_CR0] !== 0) return 'host CR0 violates IA32_VMX_CR0_FIXED0/1';
  if ((cr4 & caps.cr4Fixed0) >>> 0 !== caps.cr4Fixed0 || (cr4 & ~caps.cr4Fixed1) !== 0 || v.hi[S.HOST_CR4] !== 0) return 'host CR4 violates IA32_VMX_CR4_FIXED0/1';
  if (v.slotNumber(S.HOST_CR3) >= caps.physicalAddressLimit) return 'host CR3 sets bits beyond MAXPHYADDR';
  if (!canonical(v, S.HOST_SYSENTER_ESP) || !canonical(v, S.HOST_SYSENTER_EIP)) return 'host IA32_SYSENTER_ESP/EIP not canonical';
  const exit = v.lo[S.EXIT]!;
  const hostLong = (exit & VM_EXIT.HOST_ADDRESS_SPACE_SIZE) !== 0;
  if ((exit & VM_EXIT.LOAD_IA32_PAT) !== 0 && !patValid(v, S.HOST_PAT)) return 'host IA32_PAT holds an invalid memory type';
  if ((exit & VM_EXIT.LOAD_IA32_EFER) !== 0) {
    const efer = v.lo[S.HOST_EFER]!;
    if ((efer & ~0xd01) !== 0 || v.hi[S.HOST_EFER] !== 0) return 'host IA32_EFER reserved bits set';
    const lma = (efer & 0x400) !== 0;
    const lme = (efer & 0x100) !== 0;
    if (lma !== hostLong || lme !== hostLong) return 'host IA32_EFER.LMA/LME differ from "host address-space size"';
  }
  for (const sel of HOST_SELECTORS) {
    if ((v.lo[sel.slot]! & 7) !== 0) return `${sel.name} RPL or TI not 0`;
  }
  if (v.lo[S.HOST_CS] === 0) return 'host CS selector is 0';
  if (v.lo[S.HOST_TR] === 0) return 'host TR selector is 0';
  if (!hostLong && v.lo[S.HOST_SS] === 0) return 'host SS selector is 0 with "host address-space size" 0';
  for (const base of HOST_BASES) {
    if (!canonical(v, base.slot)) return `${base.name} not canonical`;
  }
  // "Checks Related to Address-Space Size"
  if (longMode && !hostLong) return '"host address-space size" must be 1 when the processor is in IA-32e mode';
  if (!longMode && hostLong) return '"host address-space size" must be 0 outside IA-32e mode';
  if (!longMode && (v.lo[S.ENTRY]! & VM_ENTRY.IA32E_MODE_GUEST) !== 0) return '"IA-32e mode guest" must be 0 outside IA-32e mode';
  if (hostLong) {
    if ((cr4 & 0x20) === 0) return 'host CR4.PAE must be 1 with "host address-space size"';
    if (!canonical(v, S.HOST_RIP)) return 'host RIP not canonical';
  } else {
    if ((cr4 & 0x20000) !== 0) return 'host CR4.PCIDE must be 0 without "host address-space size"';
    if (v.hi[S.HOST_RIP] !== 0) return 'host RIP bits 63:32 not 0';
  }
  return null;
}

/** A guest-state check failure: exit reason 33 with this qualification (SDM 3C "VM-Entry Failures During or After Loading Guest State"). */
export interface GuestStateFailure {
  qualification: number;
  check: string;
}

/** A guest-state failure (a module-level function: no closure per VM entry). */
export function guestFailure(check: string, qualification = 0): GuestStateFailure {
  return { qualification, check };
}

/** SDM 3C "Checks on the Guest State Area" (control registers, RIP/RFLAGS, non-register state). Segment-register checks are not modelled. */
export function checkGuestState(v: Vmcs, caps: VmxCapabilities, memoryRevision: (addr: number) => number): GuestStateFailure | null {
  const proc2 = secondaryControls(v);
  const entry = v.lo[S.ENTRY]!;
  const unrestricted = (proc2 & SECONDARY.UNRESTRICTED_GUEST) !== 0;
  // "Checks on Guest Control Registers, Debug Registers, and MSRs"
  const cr0 = v.lo[S.GUEST_CR0]!;
  const fixed0 = unrestricted ? caps.cr0Fixed0 & ~0x8000_0001 : caps.cr0Fixed0;
  if ((cr0 & fixed0) >>> 0 !== fixed0 >>> 0 || (cr0 & ~caps.cr0Fixed1) !== 0 || v.hi[S.GUEST_CR0] !== 0) return guestFailure('guest CR0 violates IA32_VMX_CR0_FIXED0/1');
  if ((cr0 & 0x8000_0000) !== 0 && (cr0 & 1) === 0) return guestFailure('guest CR0.PG set without CR0.PE');
  const cr4 = v.lo[S.GUEST_CR4]!;
  if ((cr4 & caps.cr4Fixed0) >>> 0 !== caps.cr4Fixed0 || (cr4 & ~caps.cr4Fixed1) !== 0 || v.hi[S.GUEST_CR4] !== 0) return guestFailure('guest CR4 violates IA32_VMX_CR4_FIXED0/1');
  if ((entry & VM_ENTRY.LOAD_DEBUG_CONTROLS) !== 0) {
    if ((v.lo[S.GUEST_DEBUGCTL]! & ~0xffc3) !== 0 || v.hi[S.GUEST_DEBUGCTL] !== 0) return guestFailure('guest IA32_DEBUGCTL reserved bits set');
    if (v.hi[S.GUEST_DR7] !== 0) return guestFailure('guest DR7 bits 63:32 not 0');
  }
  const ia32e = (entry & VM_ENTRY.IA32E_MODE_GUEST) !== 0;
  if (ia32e && ((cr0 & 0x8000_0000) === 0 || (cr4 & 0x20) === 0)) return guestFailure('"IA-32e mode guest" needs CR0.PG and CR4.PAE');
  if (!ia32e && (cr4 & 0x20000) !== 0) return guestFailure('guest CR4.PCIDE set outside IA-32e mode');
  if ((entry & VM_ENTRY.LOAD_IA32_PAT) !== 0 && !patValid(v, S.GUEST_PAT)) return guestFailure('guest IA32_PAT holds an invalid memory type');
  if ((entry & VM_ENTRY.LOAD_IA32_EFER) !== 0) {
    const efer = v.lo[S.GUEST_EFER]!;
    if ((efer & ~0xd01) !== 0 || v.hi[S.GUEST_EFER] !== 0) return guestFailure('guest IA32_EFER reserved bits set');
    if ((efer & 0x400) !== 0 !== ia32e) return guestFailure('guest IA32_EFER.LMA differs from "IA-32e mode guest"');
    if ((cr0 & 0x8000_0000) !== 0 && ((efer & 0x400) !== 0) !== ((efer & 0x100) !== 0)) return guestFailure('guest IA32_EFER.LME differs from LMA with paging on');
  }
  // "Checks on Guest RIP, RFLAGS, and SSP"
  const rflags = v.lo[S.GUEST_RFLAGS]!;
  if (v.hi[S.GUEST_RFLAGS] !== 0 || (rflags & 0xffc0_8028) !== 0 || (rflags & RFLAGS.FIXED1) === 0) return guestFailure('guest RFLAGS reserved bits wrong (63:22, 15, 5, 3 must be 0; bit 1 must be 1)');
  if ((rflags & RFLAGS.VM) !== 0 && (ia32e || (cr0 & 1) === 0)) return guestFailure('guest RFLAGS.VM set in IA-32e mode or real mode');
  // "Checks on Guest Non-Register State"
  const activity = v.lo[S.GUEST_ACTIVITY]!;
  if (!caps.supportsActivityState(activity)) return guestFailure('activity state not supported (IA32_VMX_MISC[8:6])');
  if (activity === ACTIVITY_STATE.HLT && getField(v.lo[S.GUEST_SS_AR]!, SEGMENT_AR.DPL) !== 0) return guestFailure('HLT activity state with SS.DPL not 0');
  const intr = v.lo[S.GUEST_INTERRUPTIBILITY]!;
  if ((intr & (INTERRUPTIBILITY.BLOCKING_BY_STI | INTERRUPTIBILITY.BLOCKING_BY_MOV_SS)) !== 0 && activity !== ACTIVITY_STATE.ACTIVE) return guestFailure('blocking by STI or MOV SS needs the active state');
  if ((intr & 0xffff_ffe0) !== 0) return guestFailure('interruptibility-state bits 31:5 not 0');
  if ((intr & 3) === 3) return guestFailure('blocking by STI and by MOV SS both set');
  if ((intr & INTERRUPTIBILITY.BLOCKING_BY_STI) !== 0 && (rflags & RFLAGS.IF) === 0) return guestFailure('blocking by STI with RFLAGS.IF 0');
  if ((intr & INTERRUPTIBILITY.BLOCKING_BY_SMI) !== 0) return guestFailure('blocking by SMI outside SMM');
  if ((intr & INTERRUPTIBILITY.ENCLAVE_INTERRUPTION) !== 0) return guestFailure('enclave interruption without SGX');
  const dbg = v.lo[S.GUEST_PENDING_DBG]!;
  if (v.hi[S.GUEST_PENDING_DBG] !== 0 || (dbg & 0xfffe_aff0) !== 0) return guestFailure('pending debug exceptions reserved bits set');
  if ((intr & 3) !== 0 || activity === ACTIVITY_STATE.HLT) {
    const bs = (dbg & (1 << 14)) !== 0;
    const tf = (rflags & RFLAGS.TF) !== 0;
    const btf = (v.lo[S.GUEST_DEBUGCTL]! & 2) !== 0;
    if (tf && !btf && !bs) return guestFailure('pending debug exceptions BS must be 1 when RFLAGS.TF=1 and DEBUGCTL.BTF=0 under blocking or HLT');
    if ((!tf || btf) && bs) return guestFailure('pending debug exceptions BS must be 0 when RFLAGS.TF=0 or DEBUGCTL.BTF=1 under blocking or HLT');
  }
  const linkLo = v.lo[S.LINK_POINTER]!;
  const linkHi = v.hi[S.LINK_POINTER]!;
  if (linkLo !== 0xffff_ffff || linkHi !== 0xffff_ffff) {
    const addr = linkHi * 0x1_0000_0000 + linkLo;
    if ((linkLo & 0xfff) !== 0 || addr >= caps.physicalAddressLimit) return guestFailure('VMCS link pointer not 4-KByte aligned or beyond MAXPHYADDR', 4);
    if ((memoryRevision(addr) & 0x7fff_ffff) !== caps.revisionId || memoryRevision(addr) >>> 31 !== ((proc2 & SECONDARY.VMCS_SHADOWING) !== 0 ? 1 : 0)) {
      return guestFailure('VMCS link pointer revision identifier mismatch', 4);
    }
  }
  return null;
}
