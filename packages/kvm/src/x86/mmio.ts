/**
 * MMIO emulation (x86.c emulator_read_write → vcpu_mmio_read/write): a guest
 * load or store to a guest-physical address no memslot backs, found by an
 * EPT violation or misconfiguration (EPT) or by a #PF on an MMIO spte
 * (shadow paging). Fast MMIO ioeventfds, the in-kernel xAPIC and IOAPIC,
 * else KVM_EXIT_MMIO.
 */
import { OP as IMPORTED_OP } from '@hvsim/cpu';
import { KVM_EXIT as IMPORTED_KVM_EXIT, KVM_INTERNAL_ERROR as IMPORTED_KVM_INTERNAL_ERROR } from '../generic/constants.js';
import { IOAPIC_BASE, IOAPIC_MEM_LENGTH } from './irqchip.js';
import { writeLe } from './kvm-run.js';
import type { X86VcpuState } from './vcpu-state.js';

// Module-local copies: under Node's ESM loader each use of an imported binding is a getter call.
const OP = IMPORTED_OP;
const KVM_EXIT = IMPORTED_KVM_EXIT;
const KVM_INTERNAL_ERROR = IMPORTED_KVM_INTERNAL_ERROR;

/** The pending guest operation is a load or a store (the only accesses the emulator completes). */
export function isLoadOrStore(v: X86VcpuState): boolean {
  const op = v.cpu.pendingOperation;
  return op !== null && (op.code === OP.LOAD || op.code === OP.STORE);
}

/**
 * Emulates the pending load or store at guest-physical `gpa`: >0 re-enter,
 * 0 return to userspace (KVM_EXIT_MMIO, or KVM_EXIT_INTERNAL_ERROR with the
 * VMX exit `reason` for an access the emulator cannot complete: event
 * delivery or a page walk into MMIO).
 */
export function emulateMmio(v: X86VcpuState, gpa: number, reason: number): number {
  const op = v.cpu.pendingOperation;
  if (op === null || (op.code !== OP.LOAD && op.code !== OP.STORE)) {
    v.internalError(KVM_INTERNAL_ERROR.EMULATION, reason >>> 0);
    return 0;
  }
  const size = op.size;
  const isWrite = op.code === OP.STORE;
  if (isWrite && v.host.ioeventfds.write(false, gpa, size, op.b >>> 0, op.c >>> 0)) {
    v.skip();
    return 1;
  }
  const apic = v.apic;
  if (apic?.decodesMmio && !apic.isX2apic && gpa >= apic.baseAddress && gpa < apic.baseAddress + 0x1000 && size <= 4) {
    const off = gpa - apic.baseAddress;
    if (isWrite) apic.mmioWrite(off, size as 1 | 2 | 4, op.b >>> 0);
    v.skip(isWrite ? 0 : apic.mmioRead(off, size as 1 | 2 | 4));
    return 1;
  }
  const ioapic = v.host.irqchip?.ioapic;
  if (ioapic && gpa >= IOAPIC_BASE && gpa < IOAPIC_BASE + IOAPIC_MEM_LENGTH && size <= 4) {
    const off = gpa - IOAPIC_BASE;
    if (isWrite) {
      ioapic.mmioWrite(off, size as 1 | 2 | 4, op.b >>> 0);
      // ioapic_write_indirect → kvm_make_scan_ioapic_request: a redirection entry may have changed.
      if (v.apicv) v.delivery.requestScanIoapic();
    }
    v.skip(isWrite ? 0 : ioapic.mmioRead(off, size as 1 | 2 | 4));
    return 1;
  }
  const mmio = v.kvmRun.mmio;
  mmio.phys_addr = gpa;
  mmio.len = size;
  mmio.is_write = isWrite ? 1 : 0;
  mmio.data.fill(0);
  if (isWrite) writeLe(mmio.data, size, op.b >>> 0, op.c >>> 0);
  v.userIo = isWrite ? 'done' : 'mmio-read';
  v.toUserspace(KVM_EXIT.MMIO);
  return 0;
}
