/**
 * The VM-entry MSR-load list and the VM-exit MSR-store and MSR-load lists
 * (SDM 3C "VM-Exit Controls for MSRs", "VM-Entry Controls for MSRs",
 * "Loading MSRs" (VM entry), "Saving MSRs" and "Loading Host MSRs" (VM
 * exit)). Each list is an array of 16-byte entries in physical memory: bits
 * 31:0 the MSR index, 63:32 reserved, 127:64 the data. The MSRs themselves
 * are the CPU model's, reached through core's `MsrDevice`; a RDMSR/WRMSR
 * that would fault (a thrown `CpuException`) fails the entry.
 */
import { CpuException, type MsrDevice, type PhysicalMemory } from '@hvsim/core';

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
export function loadMsrList(memory: PhysicalMemory, msrs: MsrDevice, address: number, count: number): number {
  for (let i = 0; i < count; i++) {
    const a = address + i * 16;
    const index = memory.read32(a);
    if (memory.read32(a + 4) !== 0 || forbiddenLoad(index)) return i + 1;
    try {
      msrs.writeMsr(index, memory.read64(a + 8));
    } catch (e) {
      if (e instanceof CpuException) return i + 1;
      throw e;
    }
  }
  return 0;
}

/** Stores the MSRs named by `count` entries at `address` into their data; returns 0 or the 1-based number of the entry that failed. */
export function storeMsrList(memory: PhysicalMemory, msrs: MsrDevice, address: number, count: number): number {
  for (let i = 0; i < count; i++) {
    const a = address + i * 16;
    const index = memory.read32(a);
    if (memory.read32(a + 4) !== 0 || index >>> 8 === 0x8 || index === IA32_SMBASE) return i + 1;
    try {
      memory.write64(a + 8, msrs.readMsr(index));
    } catch (e) {
      if (e instanceof CpuException) return i + 1;
      throw e;
    }
  }
  return 0;
}
