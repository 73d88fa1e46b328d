/**
 * Root-operation posted-interrupt sync: what KVM's `vmx_sync_pir_to_irr`
 * does for a vCPU that is not in guest mode (SDM 3C "Posted-Interrupt
 * Processing" steps 3-6, done by software; "Software Access to Related
 * Structures": the VMM may change the virtual-APIC page while the VMCS is not
 * running, and the next VM entry evaluates pending virtual interrupts).
 */
import type { PostedInterruptDescriptor } from '@hvsim/lapic';
import { vmxUsageError } from '../errors.js';
import { VMCS_FIELD } from '../fields/field-table.js';
import { slotOf } from '../fields/slots.js';
import type { Vmcs } from '../vmcs/vmcs.js';
import { CPU_BASED, PIN_BASED } from '../vmx/controls.js';
import type { VirtualApic } from './virtual-apic.js';

const S_PIN = slotOf(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL);
const S_PROC = slotOf(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
const S_VAPIC = slotOf(VMCS_FIELD.VIRTUAL_APIC_PAGE_ADDR);
const S_PI_DESC = slotOf(VMCS_FIELD.POSTED_INTR_DESC_ADDR);

/**
 * Syncs `vmcs`'s posted-interrupt descriptor into its virtual-APIC page:
 * ON cleared, VIRR |= PIR with the PIR cleared (64 bits at a time), RVI =
 * max(RVI, highest vector moved). Returns the highest VIRR vector afterwards,
 * or -1 (also without "use TPR shadow"). Without "process posted interrupts"
 * only the VIRR is read. `vapic` is borrowed (bound to `vmcs` for the sync);
 * `descriptorAt` gives the (reused) descriptor view for an address.
 */
export function syncPostedInterrupts(vapic: VirtualApic, vmcs: Vmcs, descriptorAt: (address: number) => PostedInterruptDescriptor): number {
  if ((vmcs.lo[S_PROC]! & CPU_BASED.USE_TPR_SHADOW) === 0) return -1;
  const page = vmcs.slotNumber(S_VAPIC);
  if (page % 4096 !== 0 || !Number.isSafeInteger(page)) throw vmxUsageError('bad-state', `syncPirToVirr: VIRTUAL_APIC_PAGE_ADDR 0x${page.toString(16)} is not a 4-KByte-aligned address below 2^53`);
  vapic.attach(vmcs, page, false);
  if ((vmcs.lo[S_PIN]! & PIN_BASED.PROCESS_POSTED_INTERRUPTS) !== 0) {
    const address = vmcs.slotNumber(S_PI_DESC);
    if (address % 64 !== 0 || !Number.isSafeInteger(address)) throw vmxUsageError('bad-state', `syncPirToVirr: POSTED_INTR_DESC_ADDR 0x${address.toString(16)} is not a 64-byte-aligned address below 2^53`);
    const pid = descriptorAt(address);
    pid.clearOn();
    vapic.mergePir(pid);
  }
  return vapic.highestVirr();
}
