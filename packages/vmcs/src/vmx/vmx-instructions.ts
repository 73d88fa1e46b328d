/**
 * The VMX instructions other than VMLAUNCH/VMRESUME (SDM 3C "VMX
 * Instruction Reference": VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD,
 * VMWRITE), with their #UD/#GP conditions, VMfail outcomes and the VM exits
 * they cause in VMX non-root operation. Memory a pointer names but that has
 * nothing behind it reads as all ones and ignores writes
 * (internal/memory-access.ts).
 */
import { CpuException } from '@hvsim/core';
import { vmxUsageError } from '../errors.js';
import { lookupEncoding } from '../fields/slots.js';
import { Vmcs, VMCS_REGION } from '../vmcs/vmcs.js';
import { readMemory32, writeMemory32 } from '../internal/memory-access.js';
import { u64Halves } from '../internal/u64.js';
import { EXIT_REASON } from './exit-reasons.js';
import { VM_INSTRUCTION_ERROR } from './instruction-errors.js';
import { VM_FAIL_INVALID, VM_SUCCEED, type VmReadValue, type VmSucceed, type VmxResult } from './outcomes.js';
import type { VmxProcessorCore } from './processor-core.js';
import { CR0_PE, CR4_VMXE, EFER_LMA, RFLAGS_VM } from './processor-mode.js';
import { instructionExit } from './vm-exit.js';

/** The invalid current-VMCS pointer, FFFFFFFF_FFFFFFFFH. */
export const INVALID_VMCS_POINTER = 0xffff_ffff_ffff_ffffn;

/** A pointer operand as a number, or -1 when it is not 4-KByte aligned or sets bits beyond MAXPHYADDR. */
function pointer(p: VmxProcessorCore, value: number | bigint): number {
  const limit = p.capabilities.physicalAddressLimit;
  if (typeof value === 'bigint') {
    if (value < 0n || value >= BigInt(limit)) return -1;
    value = Number(value);
  }
  if (!Number.isSafeInteger(value) || value < 0) throw vmxUsageError('bad-argument', `VMX pointer operand must be a non-negative integer, got ${String(value)}`);
  return value % 4096 === 0 && value < limit ? value : -1;
}

/** VMXON (SDM 3C "VMXON—Enter VMX Operation"). */
export function vmxon(p: VmxProcessorCore, region: number | bigint): VmxResult {
  const m = p.mode;
  if ((m.cr0 & CR0_PE) === 0 || (m.cr4 & CR4_VMXE) === 0 || (m.rflags & RFLAGS_VM) !== 0 || ((m.efer & EFER_LMA) !== 0 && !m.csL)) {
    throw CpuException.ud('VMXON with CR4.VMXE=0 or in real, virtual-8086 or compatibility mode');
  }
  if (p.operation === 'non-root') return instructionExit(p, EXIT_REASON.VMXON);
  if (p.operation === 'root') {
    p.checkCpl('VMXON');
    return p.vmFail(VM_INSTRUCTION_ERROR.VMXON_IN_VMX_ROOT);
  }
  const caps = p.capabilities;
  const fc = m.featureControl;
  const fixedOk = (m.cr0 & caps.cr0Fixed0) >>> 0 === caps.cr0Fixed0 && (m.cr0 & ~caps.cr0Fixed1) === 0 && (m.cr4 & caps.cr4Fixed0) >>> 0 === caps.cr4Fixed0 && (m.cr4 & ~caps.cr4Fixed1) === 0;
  if (m.cpl > 0 || !fixedOk || (fc & 1) === 0 || (m.inSmx ? (fc & 2) === 0 : (fc & 4) === 0)) {
    throw CpuException.gp('VMXON at CPL>0, with unsupported CR0/CR4, or with VMX disabled by IA32_FEATURE_CONTROL');
  }
  const addr = pointer(p, region);
  if (addr < 0) return p.result(VM_FAIL_INVALID);
  const rev = readMemory32(p.memory, addr);
  if ((rev & 0x7fff_ffff) !== caps.revisionId || rev >>> 31 === 1) return p.result(VM_FAIL_INVALID);
  p.vmxonPointer = addr;
  p.current = null;
  p.operation = 'root';
  return p.result(VM_SUCCEED);
}

/**
 * VMXOFF (SDM 3C "VMXOFF—Leave VMX Operation"). Active VMCSs are written
 * back to memory; a launched one can then only be VMCLEARed (VMRESUME
 * fails with error 6, "VMRESUME after VMXOFF").
 */
export function vmxoff(p: VmxProcessorCore): VmxResult {
  p.checkUd('VMXOFF');
  if (p.operation === 'non-root') return instructionExit(p, EXIT_REASON.VMXOFF);
  p.checkCpl('VMXOFF');
  for (const v of p.active.values()) {
    if (v.launchState === 'launched') v.launchState = 'launched-before-vmxoff';
    v.flushTo(p.memory);
  }
  p.active.clear();
  p.current = null;
  p.vmxonPointer = -1;
  p.operation = 'off';
  return p.result(VM_SUCCEED);
}

/** VMCLEAR (SDM 3C "VMCLEAR—Clear Virtual-Machine Control Structure"). */
export function vmclear(p: VmxProcessorCore, region: number | bigint): VmxResult {
  p.checkUd('VMCLEAR');
  if (p.operation === 'non-root') return instructionExit(p, EXIT_REASON.VMCLEAR);
  p.checkCpl('VMCLEAR');
  const addr = pointer(p, region);
  if (addr < 0) return p.vmFail(VM_INSTRUCTION_ERROR.VMCLEAR_INVALID_ADDRESS);
  if (addr === p.vmxonPointer) return p.vmFail(VM_INSTRUCTION_ERROR.VMCLEAR_VMXON_POINTER);
  const cached = p.active.get(addr);
  if (cached) {
    cached.launchState = 'clear';
    cached.flushTo(p.memory);
    p.active.delete(addr);
  } else {
    writeMemory32(p.memory, addr + VMCS_REGION.LAUNCH_STATE, 1);
  }
  if (p.current?.address === addr) p.current = null;
  return p.result(VM_SUCCEED);
}

/** VMPTRLD (SDM 3C "VMPTRLD—Load Pointer to Virtual-Machine Control Structure"). */
export function vmptrld(p: VmxProcessorCore, region: number | bigint): VmxResult {
  p.checkUd('VMPTRLD');
  if (p.operation === 'non-root') return instructionExit(p, EXIT_REASON.VMPTRLD);
  p.checkCpl('VMPTRLD');
  const addr = pointer(p, region);
  if (addr < 0) return p.vmFail(VM_INSTRUCTION_ERROR.VMPTRLD_INVALID_ADDRESS);
  if (addr === p.vmxonPointer) return p.vmFail(VM_INSTRUCTION_ERROR.VMPTRLD_VMXON_POINTER);
  const rev = readMemory32(p.memory, addr);
  const shadowingSupported = p.capabilities.allows('proc2', 14);
  if ((rev & 0x7fff_ffff) !== p.capabilities.revisionId || (rev >>> 31 === 1 && !shadowingSupported)) {
    return p.vmFail(VM_INSTRUCTION_ERROR.VMPTRLD_INCORRECT_REVISION_ID);
  }
  let v = p.active.get(addr);
  if (!v) {
    v = Vmcs.loadFrom(p.memory, addr);
    p.active.set(addr, v);
  }
  p.current = v;
  return p.result(VM_SUCCEED);
}

/**
 * VMPTRST (SDM 3C "VMPTRST—Store Pointer to Virtual-Machine Control
 * Structure"): stores the current-VMCS pointer as 8 bytes at physical
 * `destination`; where nothing is behind the destination the store is dropped.
 */
export function vmptrst(p: VmxProcessorCore, destination: number): VmxResult {
  p.checkUd('VMPTRST');
  if (p.operation === 'non-root') return instructionExit(p, EXIT_REASON.VMPTRST);
  p.checkCpl('VMPTRST');
  if (!Number.isSafeInteger(destination) || destination < 0) throw vmxUsageError('bad-argument', `VMPTRST destination must be a non-negative safe integer, got ${String(destination)}`);
  const lo = p.current ? p.current.address % 0x1_0000_0000 : 0xffff_ffff;
  const hi = p.current ? Math.floor(p.current.address / 0x1_0000_0000) : 0xffff_ffff;
  writeMemory32(p.memory, destination, lo);
  writeMemory32(p.memory, destination + 4, hi);
  return p.result(VM_SUCCEED);
}

/** Common checks of VMREAD/VMWRITE; returns the slot code or -1 after recording the failure. */
function fieldAccess(p: VmxProcessorCore, name: string, encoding: number | bigint, exitReason: number): number {
  p.checkUd(name);
  if (p.operation === 'non-root') {
    instructionExit(p, exitReason);
    return -1;
  }
  p.checkCpl(name);
  if (!p.current) {
    p.result(VM_FAIL_INVALID);
    return -1;
  }
  // Bits 63:32 of the encoding operand must be 0 in 64-bit mode.
  const enc = typeof encoding === 'number' ? encoding : encoding >> 32n === 0n ? Number(encoding) : -1;
  const code = lookupEncoding(enc);
  if (code < 0 || p.supported[code >> 1] === 0) {
    // A fraction, NaN or negative number is no register value: API misuse, not error 12.
    if (typeof encoding === 'number' && !(Number.isSafeInteger(encoding) && encoding >= 0)) {
      throw vmxUsageError('bad-argument', `${name} field encoding must be a non-negative safe integer or a bigint, got ${String(encoding)}`);
    }
    p.vmFail(VM_INSTRUCTION_ERROR.UNSUPPORTED_VMCS_COMPONENT);
    return -1;
  }
  return code;
}

/** VMREAD (SDM 3C "VMREAD—Read Field from Virtual-Machine Control Structure"): the field value (bigint) on VMsucceed, else the failure (or exit). */
export function vmread(p: VmxProcessorCore, encoding: number | bigint): Exclude<VmxResult, VmSucceed> | VmReadValue {
  const code = fieldAccess(p, 'VMREAD', encoding, EXIT_REASON.VMREAD);
  if (code < 0) return p.lastResult as Exclude<VmxResult, VmSucceed>;
  p.lastResult = VM_SUCCEED;
  const v = p.current!;
  const slot = code >> 1;
  return { kind: 'value', value: (code & 1) !== 0 ? BigInt(v.hi[slot]!) : (BigInt(v.hi[slot]!) << 32n) | BigInt(v.lo[slot]!) };
}

/** VMREAD fast path: bits 31:0 of the field as a number, or -1 when the instruction did not succeed. */
export function vmread32(p: VmxProcessorCore, encoding: number): number {
  const code = fieldAccess(p, 'VMREAD', encoding, EXIT_REASON.VMREAD);
  if (code < 0) return -1;
  p.lastResult = VM_SUCCEED;
  const v = p.current!;
  return (code & 1) !== 0 ? v.hi[code >> 1]! : v.lo[code >> 1]!;
}

/** VMREAD of a natural-width or 64-bit field below 2^53 as a number (-1 on failure; throws if the value needs a bigint). */
export function vmreadNumber(p: VmxProcessorCore, encoding: number): number {
  const code = fieldAccess(p, 'VMREAD', encoding, EXIT_REASON.VMREAD);
  if (code < 0) return -1;
  p.lastResult = VM_SUCCEED;
  const v = p.current!;
  const slot = code >> 1;
  if ((code & 1) !== 0) return v.hi[slot]!;
  const hi = v.hi[slot]!;
  if (hi >= 0x20_0000) throw vmxUsageError('bad-argument', `field 0x${encoding.toString(16)} holds 0x${hi.toString(16)}_${v.lo[slot]!.toString(16).padStart(8, '0')}, beyond 2^53: use vmread()`);
  return hi * 0x1_0000_0000 + v.lo[slot]!;
}

/** VMWRITE (SDM 3C "VMWRITE—Write Field to Virtual-Machine Control Structure"). Excess high bits of the source are ignored. */
export function vmwrite(p: VmxProcessorCore, encoding: number | bigint, value: number | bigint): VmxResult {
  const h = u64Halves(value, 'VMWRITE value', p.operandHalves);
  return vmwriteHalves(p, encoding, h.lo, h.hi);
}

/** VMWRITE fast path for a 16/32-bit field (or `_HIGH` alias): `value` is an unsigned 32-bit number. */
export function vmwrite32(p: VmxProcessorCore, encoding: number, value: number): VmxResult {
  if (typeof value !== 'number' || value >>> 0 !== value) throw vmxUsageError('bad-argument', `vmwrite32 value must be an unsigned 32-bit integer, got ${String(value)}`);
  return vmwriteHalves(p, encoding, value, 0);
}

function vmwriteHalves(p: VmxProcessorCore, encoding: number | bigint, lo: number, hi: number): VmxResult {
  const code = fieldAccess(p, 'VMWRITE', encoding, EXIT_REASON.VMWRITE);
  if (code < 0) return p.lastResult;
  if (p.writable[code >> 1] === 0) return p.vmFail(VM_INSTRUCTION_ERROR.VMWRITE_READ_ONLY_COMPONENT);
  p.current!.writeCode(code, lo, hi);
  p.lastResult = VM_SUCCEED;
  return VM_SUCCEED;
}
