/**
 * The VM-entry MSR-load list and the VM-exit MSR-store and MSR-load lists
 * (SDM 3C "VM-Exit Controls for MSRs", "VM-Entry Controls for MSRs",
 * "Loading MSRs" (VM entry), "Saving MSRs" and "Loading Host MSRs" (VM
 * exit)). Each list is an array of 16-byte entries in physical memory: bits
 * 31:0 the MSR index, 63:32 reserved, 127:64 the data. The MSRs themselves
 * are the CPU model's, reached through core's `MsrDevice`; a RDMSR/WRMSR
 * that would fault (a thrown `CpuException`) fails the entry. A list with no
 * memory behind it reads as all ones (index FFFFFFFFH with bits 63:32 set: the
 * entry fails) and stores to it are dropped (internal/memory-access.ts).
 */
import { CpuException, type Memory, type MsrDevice } from '@hvsim/core';
import { readMemory32, writeMemory32 } from '../internal/memory-access.js';

const IA32_FS_BASE = 0xc000_0100;
const IA32_GS_BASE = 0xc000_0101;
const IA32_SMM_MONITOR_CTL = 0x9b;
const IA32_SMBASE = 0x9e;

/** True when the entry's index may not be loaded by a VMX transition. */
function forbiddenLoad(index: number): boolean {
  return index === IA32_FS_BASE || index === IA32_GS_BASE || index >>> 8 === 0x8 || index === IA32_SMM_MONITOR_CTL || index === IA32_SMBASE;
}

/**
 * Loads `count` entries at `address` into `msrs`; returns 0 on success or the
 * 1-based number of the entry that failed (the exit qualification of a
 * "VM-entry failure due to MSR loading", and the failure of a VMX abort on exit).
 */
export function loadMsrList(memory: Memory, msrs: MsrDevice, address: number, count: number): number {
  for (let i = 0; i < count; i++) {
    const a = address + i * 16;
    const index = readMemory32(memory, a);
    if (readMemory32(memory, a + 4) !== 0 || forbiddenLoad(index)) return i + 1;
    try {
      msrs.writeMsr(index, (BigInt(readMemory32(memory, a + 12)) << 32n) | BigInt(readMemory32(memory, a + 8)));
    } catch (e) {
      if (e instanceof CpuException) return i + 1;
      throw e;
    }
  }
  return 0;
}

/** Stores the MSRs named by `count` entries at `address` into their data; returns 0 or the 1-based number of the entry that failed. */
export function storeMsrList(memory: Memory, msrs: MsrDevice, address: number, count: number): number {
  for (let i = 0; i < count; i++) {
    const a = address + i * 16;
    const index = readMemory32(memory, a);
    if (readMemory32(memory, a + 4) !== 0 || index >>> 8 === 0x8 || index === IA32_SMBASE) return i + 1;
    try {
      const value = BigInt.asUintN(64, msrs.readMsr(index));
      writeMemory32(memory, a + 8, Number(value & 0xffff_ffffn));
      writeMemory32(memory, a + 12, Number(value >> 32n));
    } catch (e) {
      if (e instanceof CpuException) return i + 1;
      throw e;
    }
  }
  return 0;
}
