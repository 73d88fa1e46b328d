/**
 * The package's one rule for memory a VMX structure pointer names but that
 * has nothing behind it (no RAM, or read-only): reads return all ones, as a
 * read of nonexistent physical memory does on a PC platform, and writes are
 * dropped. VMXON and VMPTRLD (revision identifier), VMCLEAR (launch state),
 * VMPTRST (the stored pointer), VMCS write-back, the VMCS link pointer check,
 * the MSR lists, the MSR and I/O bitmaps, the virtual-APIC page and the
 * posted-interrupt descriptor all follow it, so no pointer the VMM programs
 * can make a host `MemoryError` escape from an instruction or guest event.
 */
import type { Memory } from '@hvsim/core';

/** 32-bit read, all ones where nothing is backed. */
export function readMemory32(memory: Memory, address: number): number {
  return memory.isBacked(address, 4) ? memory.read32(address) : 0xffff_ffff;
}

/** 8-bit read, all ones where nothing is backed. */
export function readMemory8(memory: Memory, address: number): number {
  return memory.isBacked(address, 1) ? memory.read8(address) : 0xff;
}

/** 32-bit write, dropped where the memory is not backed or not writable. */
export function writeMemory32(memory: Memory, address: number, value: number): void {
  if (memory.isWritable(address, 4)) memory.write32(address, value >>> 0);
}

/** 8-bit write, dropped where the memory is not backed or not writable. */
export function writeMemory8(memory: Memory, address: number, value: number): void {
  if (memory.isWritable(address, 1)) memory.write8(address, value);
}
