/**
 * The x2APIC view: MSRs 0x800-0x8FF (SDM 3A 11.12.1.2 Table 11-6). Every
 * access outside x2APIC mode, to an MSR with no register, a RDMSR of a
 * write-only register, a WRMSR of a read-only register, a non-zero upper
 * half (except the ICR) or a set reserved bit raises #GP(0) (SDM 3A
 * 11.12.1.2-11.12.1.3). The ICR is one 64-bit MSR with a 32-bit destination
 * (11.12.9).
 */
import { CpuException } from '@hvsim/core';
import type { ApicCore } from './apic-core.js';
import {
  ACCESS as IMPORTED_ACCESS,
  readRegister as importedReadRegister,
  registerAt as importedRegisterAt,
  reservedBits as importedReservedBits,
  writeRegister as importedWriteRegister,
} from './register-file.js';
import { X2APIC_MSR_BASE as IMPORTED_X2APIC_MSR_BASE } from './regs.js';

// Module-local copies (an imported binding is a getter call under Node's ESM loader): every x2APIC MSR access reads them.
const ACCESS = IMPORTED_ACCESS;
const X2APIC_MSR_BASE = IMPORTED_X2APIC_MSR_BASE;
const readRegister = importedReadRegister;
const registerAt = importedRegisterAt;
const reservedBits = importedReservedBits;
const writeRegister = importedWriteRegister;

/** The xAPIC offset of an x2APIC MSR the caller has checked is in 0x800-0x8FF (SDM 3A 11.12.1.2). */
function msrOffset(msr: number): number {
  return (msr - X2APIC_MSR_BASE) << 4;
}

function hex(v: number | bigint): string {
  return `0x${v.toString(16)}`;
}

function gp(msr: number, what: string): CpuException {
  return CpuException.gp(`x2APIC MSR ${hex(msr)}: ${what}`);
}

/** RDMSR of an x2APIC MSR (0x800-0x8FF); #GP as SDM 3A 11.12.1.2 says. */
export function x2apicReadMsr(core: ApicCore, table: Uint8Array, msr: number): bigint {
  if (core.mode !== 'x2apic') throw gp(msr, 'RDMSR while not in x2APIC mode');
  const kind = table[msr - X2APIC_MSR_BASE]!;
  if (kind === ACCESS.NONE) throw gp(msr, 'RDMSR of a reserved MSR');
  if (kind === ACCESS.WO) throw gp(msr, 'RDMSR of a write-only register');
  const offset = msrOffset(msr);
  const wide = registerAt(offset)?.msr64;
  if (wide !== undefined) return wide.read(core);
  return BigInt(readRegister(core, offset));
}

/** A 64-bit value given as halves, in hex for messages. */
function hex64(low: number, high: number): string {
  return high === 0 ? hex(low) : `0x${high.toString(16)}${low.toString(16).padStart(8, '0')}`;
}

/**
 * WRMSR of an x2APIC MSR (0x800-0x8FF) with the value as two 32-bit halves;
 * #GP for reserved MSRs and bits, read-only registers and outside x2APIC mode.
 * The reserved bits of each register come from its description (register-file.ts).
 */
export function x2apicWriteMsr(core: ApicCore, table: Uint8Array, msr: number, low: number, high: number): void {
  if (core.mode !== 'x2apic') throw gp(msr, 'WRMSR while not in x2APIC mode');
  const kind = table[msr - X2APIC_MSR_BASE]!;
  if (kind === ACCESS.NONE) throw gp(msr, 'WRMSR to a reserved MSR');
  if (kind === ACCESS.RO) throw gp(msr, 'WRMSR to a read-only register');
  const offset = msrOffset(msr);
  const wide = registerAt(offset)?.msr64;
  if (wide !== undefined) {
    if ((low & wide.reservedLow) !== 0) throw gp(msr, `reserved bits set in ${hex64(low, high)}`);
    wide.write(core, low, high);
    return;
  }
  if (high !== 0) throw gp(msr, `bits 63:32 are reserved, got ${hex64(low, high)}`);
  if (reservedBits(core, offset, low) !== 0) throw gp(msr, `reserved bits set in ${hex(low)}`);
  writeRegister(core, offset, low);
}
