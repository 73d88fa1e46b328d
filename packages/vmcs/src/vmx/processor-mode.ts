/**
 * The parts of a logical processor's state that decide whether a VMX
 * instruction faults (SDM 3C "VMX Instruction Reference", the #UD/#GP
 * conditions of each instruction). The CPU model keeps this object current.
 */
import { assertInteger } from '@hvsim/core';

/** Processor state the VMX instructions consult. */
export interface ProcessorMode {
  /** Current privilege level, 0-3. */
  cpl: number;
  /** CR0 bits 31:0 (PE = bit 0). */
  cr0: number;
  /** CR4 bits 31:0 (VMXE = bit 13). */
  cr4: number;
  /** RFLAGS bits 31:0 (VM = bit 17). */
  rflags: number;
  /** IA32_EFER bits 31:0 (LMA = bit 10). */
  efer: number;
  /** CS.L: executing 64-bit code. */
  csL: boolean;
  /** IA32_FEATURE_CONTROL bits 31:0 (lock = bit 0, VMX outside SMX = bit 2, inside SMX = bit 1). */
  featureControl: number;
  /** In SMX operation (after GETSEC[SENTER]). */
  inSmx: boolean;
  /** Length of the instruction being executed, recorded in the exits it causes. */
  instructionLength: number;
}

/** A 64-bit-mode, CPL-0 processor with CR4.VMXE set and VMX enabled by IA32_FEATURE_CONTROL. */
export function defaultProcessorMode(): ProcessorMode {
  return { cpl: 0, cr0: 0x8000_0031, cr4: 0x2020, rflags: 0x2, efer: 0x500, csL: true, featureControl: 0x5, inSmx: false, instructionLength: 3 };
}

/** Checks a mode object's fields (used on restore and by the processor constructor). */
export function assertProcessorMode(m: ProcessorMode): void {
  assertInteger(m.cpl, 'mode.cpl', 0, 3);
  assertInteger(m.cr0, 'mode.cr0', 0, 0xffff_ffff);
  assertInteger(m.cr4, 'mode.cr4', 0, 0xffff_ffff);
  assertInteger(m.rflags, 'mode.rflags', 0, 0xffff_ffff);
  assertInteger(m.efer, 'mode.efer', 0, 0xffff_ffff);
  assertInteger(m.featureControl, 'mode.featureControl', 0, 0xffff_ffff);
  assertInteger(m.instructionLength, 'mode.instructionLength', 0, 15);
}

/** CR0.PE */
export const CR0_PE = 1;
/** CR4.VMXE */
export const CR4_VMXE = 1 << 13;
/** RFLAGS.VM */
export const RFLAGS_VM = 1 << 17;
/** IA32_EFER.LMA */
export const EFER_LMA = 1 << 10;
