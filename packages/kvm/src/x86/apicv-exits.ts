/**
 * What KVM does for a vCPU in APICv mode around VM entry and at the exits
 * APIC virtualization adds (vmx.c handle_apic_write, handle_apic_eoi_induced,
 * handle_apic_access; x86.c vcpu_scan_ioapic and the EOI-exit-map reload;
 * vmx_set_virtual_apic_mode on an APIC mode change; SDM 3C 30.4.3.3
 * "APIC-Write VM Exits", 30.1.4 "EOI Virtualization", 29.4 APIC-access exits).
 */
import { VMCS_FIELD } from '@hvsim/vmcs';
import { copyLapicToVapic, loadEoiExitmap, scanIoapic, setVirtualApicMode, vapicDeliverable } from './apicv.js';
import type { X86VcpuState } from './vcpu-state.js';

const OFF_ICR_LOW = 0x300;
const OFF_ICR_HIGH = 0x310;
const ACCESS_TYPE_LINEAR_WRITE = 1;

/** After KVM wrote a LocalApic register: the virtual-APIC page gets the registers APIC-register virtualization reads. */
export function lapicWritten(v: X86VcpuState): void {
  const s = v.apicv!;
  copyLapicToVapic(v.host.memory, s.vapicPage, v.apic!, false);
}

/**
 * handle_apic_write → kvm_apic_write_nodecode: the guest's write already
 * went to the virtual-APIC page (trap-like); KVM gives the value to its
 * LAPIC (for the ICR, with the ICR high half the page holds) and the
 * instruction is complete.
 */
export function handleApicWrite(v: X86VcpuState, offset: number): number {
  const s = v.apicv!;
  const apic = v.apic!;
  const memory = v.host.memory;
  const value = memory.read32(s.vapicPage + offset);
  if (offset === OFF_ICR_LOW) apic.mmioWrite(OFF_ICR_HIGH, 4, memory.read32(s.vapicPage + OFF_ICR_HIGH));
  v.skip();
  apic.mmioWrite(offset, 4, value);
  lapicWritten(v);
  return 1;
}

/**
 * handle_apic_eoi_induced → kvm_apic_set_eoi_accelerated: the EOI of a
 * vector in the EOI-exit bitmap was virtualized (VISR cleared) and exits
 * (trap-like) so its side effects happen: the IOAPIC's EOI for a
 * level-triggered vector (the LocalApic's TMR).
 */
export function handleEoiInduced(v: X86VcpuState, vector: number): number {
  v.apicv!.eoiExits++;
  v.skip();
  v.apic!.eoiVector(vector);
  return 1;
}

/**
 * handle_apic_access: an access APIC virtualization does not handle (a
 * read of the current count, say) exits fault-like and KVM emulates it on
 * its LAPIC.
 */
export function handleApicAccess(v: X86VcpuState, qualification: number): number {
  const offset = qualification & 0xfff;
  const write = ((qualification >>> 12) & 0xf) === ACCESS_TYPE_LINEAR_WRITE;
  const op = v.cpu.pendingOperation;
  const apic = v.apic!;
  const size = op === null ? 4 : Math.min(op.size, 4);
  if (write) {
    apic.mmioWrite(offset, size as 1 | 2 | 4, op === null ? 0 : op.b >>> 0);
    v.skip();
    lapicWritten(v);
  } else {
    v.skip(apic.mmioRead(offset, size as 1 | 2 | 4));
  }
  return 1;
}

/**
 * The APICv part of vcpu_enter_guest's requests: the guest's APIC mode
 * changed (vmx_set_virtual_apic_mode); KVM_REQ_SCAN_IOAPIC, then
 * KVM_REQ_LOAD_EOI_EXITMAP when the bitmap changed.
 */
export function apicvRequests(v: X86VcpuState): void {
  const s = v.apicv!;
  const apic = v.apic!;
  if (apic.isX2apic !== s.x2apic) {
    setVirtualApicMode(v.vmx, v.host.memory, s, apic.isX2apic);
    copyLapicToVapic(v.host.memory, s.vapicPage, apic, false);
  }
  if (s.scanRequested) {
    s.scanRequested = false;
    if (scanIoapic(v.host.memory, s, apic, v.host.irqchip?.ioapic)) loadEoiExitmap(v.vmx, s);
  }
}

/**
 * kvm_cpu_has_interrupt for a halted vCPU in APICv mode: the PIR synced
 * into the VIRR (vmx_sync_pir_to_irr), then a VIRR vector above the PPR.
 */
export function apicvHasInterrupt(v: X86VcpuState): boolean {
  const s = v.apicv!;
  v.posted!.syncPirToIrr(v.vmx);
  return vapicDeliverable(v.host.memory, s.vapicPage) >= 0;
}

/** The guest interrupt status's RVI (SDM 3C 25.4.2), for tests and traces. */
export function guestRvi(v: X86VcpuState): number {
  return v.vmx.vmreadNumber(VMCS_FIELD.GUEST_INTR_STATUS) & 0xff;
}
