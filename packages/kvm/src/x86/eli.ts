/**
 * ELI, exitless interrupts (Gordon et al., "ELI: Bare-Metal Performance for
 * I/O Virtualization", ASPLOS 2012), on the emulated mode: the assigned
 * device's interrupts go to the guest's handlers with no VM exit, every
 * other interrupt still exits.
 *
 * - **Direct mode** (nothing of the emulated LAPIC pending or in service):
 *   the guest runs with its IDTR on a *shadow IDT* KVM keeps in a page of
 *   its own, mapped read-only (EPT) at a guest address the VMM reserved.
 *   The shadow copies the guest's gates for the exceptions (0-31) and for
 *   the assigned device's vectors; every other gate is not present.
 *   External-interrupt exiting is off, so a physical interrupt is delivered
 *   through the shadow (SDM 3C 25.6.1: without external-interrupt exiting
 *   an interrupt is delivered through the guest's IDT): an assigned vector reaches the guest's handler,
 *   any other faults #NP in delivery, which exits (the exception bitmap has
 *   #NP) with the interrupt in the IDT-vectoring information — KVM runs the
 *   host's handler and sends the host EOI, then injects what the guest must
 *   get "as normal". The MSR bitmap passes the guest's x2APIC EOI write
 *   (80BH) to the physical local APIC, so the assigned interrupt's EOI does
 *   not exit either.
 * - **Injection mode** (an emulated interrupt is to be injected, pending or
 *   in service): the guest's own IDT, external-interrupt exiting and EOI
 *   interception come back, so the injected vector is delivered normally and
 *   its EOI reaches the emulated LAPIC. An intercepted EOI ends the
 *   highest-priority interrupt in service of the two APICs (physical:
 *   assigned vectors; emulated: the others), as one APIC would.
 * - The guest's own IDT is kept consistent: its pages are write-protected in
 *   EPT (under shadow paging, in every spte: shadow-slots.ts) and each
 *   guest write is emulated and re-shadowed; LIDT exits
 *   (descriptor-table exiting) and moves the shadowed IDT.
 *
 * The assigned vectors come from IRQ bypass (irq-bypass.ts): in ELI mode a
 * producer whose route targets one vCPU gets a remapped IRTE with the
 * guest's vector aimed at the vCPU's physical CPU, whose host handler (when
 * the vCPU is not in guest mode) signals the eventfd.
 */
import { ACCESS } from '@hvsim/mmu';
import { INTR_TYPE, PIN_BASED, CPU_BASED, VMCS_FIELD, MSR_BITMAP_OFFSET, type VmExitInfo, type VmxProcessor } from '@hvsim/vmcs';
import { APIC_EOI, MSR_EOI, type EliState, type EliVectors } from './eli-state.js';
import type { X86VcpuState } from './vcpu-state.js';

const VECTOR_NP = 11;
const GATE_PRESENT = 1 << 15;
const INTR_INFO_VALID = 0x8000_0000;

/** Whether KVM must inject or watch an emulated interrupt now (injection mode). */
function needsInjection(v: X86VcpuState, vectors: Uint8Array): boolean {
  const apic = v.apic!;
  if (apic.highestInServiceVector() >= 0 || apic.highestRequestedVector() >= 0 || (apic.pendingSignals & 0x10) !== 0) return true;
  const vmx = v.vmx;
  if ((vmx.vmreadNumber(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL) & CPU_BASED.INTR_WINDOW_EXITING) !== 0) return true;
  const info = vmx.vmreadNumber(VMCS_FIELD.VM_ENTRY_INTR_INFO_FIELD);
  // Re-injecting an assigned interrupt whose delivery an exit cut short goes through the shadow; anything else needs the guest's IDT.
  if ((info & INTR_INFO_VALID) !== 0) return !(((info >>> 8) & 7) === INTR_TYPE.EXTERNAL_INTERRUPT && vectors[info & 0xff] === 1);
  return false;
}

/** Before VM entry: direct mode when nothing emulated is going on and some vector is assigned, else injection mode. */
export function eliBeforeEntry(v: X86VcpuState, assigned: EliVectors): void {
  const e = v.eli!;
  const vectors = assigned.eliVectors;
  if (e.generation !== assigned.eliGeneration) {
    e.generation = assigned.eliGeneration;
    e.dirty = true;
  }
  const direct = assigned.eliAssigned > 0 && !needsInjection(v, vectors);
  const vmx = v.vmx;
  if (direct && !e.direct) {
    e.guestIdtBase = vmx.vmreadNumber(VMCS_FIELD.GUEST_IDTR_BASE);
    e.guestIdtLimit = vmx.vmreadNumber(VMCS_FIELD.GUEST_IDTR_LIMIT);
    setControls(v, vmx, e, true);
  } else if (!direct && e.direct) {
    setControls(v, vmx, e, false);
    e.injectionSwitches++;
  }
  if (e.direct && e.dirty) rebuildShadow(v, vectors);
}

/** Writes the controls of one mode (the vCPU's VMCS current on `vmx`). */
function setControls(v: X86VcpuState, vmx: VmxProcessor, e: EliState, direct: boolean): void {
  e.direct = direct;
  const pin = vmx.vmreadNumber(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL);
  vmx.vmwrite32(VMCS_FIELD.PIN_BASED_VM_EXEC_CONTROL, (direct ? pin & ~PIN_BASED.EXT_INTR_EXITING : pin | PIN_BASED.EXT_INTR_EXITING) >>> 0);
  const bitmap = vmx.vmreadNumber(VMCS_FIELD.EXCEPTION_BITMAP);
  vmx.vmwrite32(VMCS_FIELD.EXCEPTION_BITMAP, (direct ? bitmap | (1 << VECTOR_NP) : bitmap & ~(1 << VECTOR_NP)) >>> 0);
  vmx.vmwrite(VMCS_FIELD.GUEST_IDTR_BASE, direct ? e.shadowAddress : e.guestIdtBase);
  vmx.vmwrite(VMCS_FIELD.GUEST_IDTR_LIMIT, e.guestIdtLimit);
  // The x2APIC EOI write: passed through to the physical APIC in direct mode, intercepted otherwise.
  const memory = v.host.memory;
  const byte = e.msrBitmap + MSR_BITMAP_OFFSET.WRITE_LOW + (MSR_EOI >>> 3);
  const bit = 1 << (MSR_EOI & 7);
  memory.write8(byte, direct ? memory.read8(byte) & ~bit : memory.read8(byte) | bit);
  if (direct) trackIdt(v, e);
}

/** The guest's IDT pages (translated through its paging), write-protected in EPT so each write exits. */
function trackIdt(v: X86VcpuState, e: EliState): void {
  const pages: number[] = [];
  const last = e.guestIdtBase + Math.min(e.guestIdtLimit, 0xfff);
  for (let la = e.guestIdtBase - (e.guestIdtBase % 4096); la <= last; la += 4096) {
    const gpa = guestPhysical(v, la);
    if (gpa >= 0) pages.push(gpa);
  }
  const same = pages.length === e.idtPages.length && pages.every((p, i) => p === e.idtPages[i]);
  if (same) return;
  e.idtPages = pages;
  const slots = v.shadow ? v.host.shadowSlots : undefined;
  if (slots) {
    // Shadow paging: KVM's page tracking makes every spte of these frames read-only (the shadow MMU zaps and re-faults).
    slots.trackWrites(pages);
    v.host.shadowPages?.checkMemslots();
  } else for (const p of pages) v.host.ept.zapRange(p, 4096); // re-faulted read-only (handleEpt)
  v.flushTlb();
  e.dirty = true;
}

/** kvm_mmu_gva_to_gpa for a supervisor read of `la` (its guest-physical page), or -1. */
function guestPhysical(v: X86VcpuState, la: number): number {
  if (v.shadow) {
    // Shadow paging: the guest's own tables give the guest-physical address (the shadow MMU's walk).
    const s = v.shadow.mmu.translate(la, ACCESS.READ | ACCESS.IMPLICIT);
    return s.status === 'ok' || s.event === 'mmio' ? s.guestPhysicalAddress - (s.guestPhysicalAddress % 4096) : -1;
  }
  const r = v.mmu.translate(la, ACCESS.READ | ACCESS.IMPLICIT);
  if (r.status === 'ept-violation' || r.status === 'ept-misconfig') return r.guestPhysicalAddress - (r.guestPhysicalAddress % 4096);
  if (r.status !== 'ok') return -1;
  // A complete walk gives the host-physical address: back to guest-physical through the memslots.
  const hpa = r.address - (r.address % 4096);
  for (const slot of v.host.memslots.list()) if (hpa >= slot.hostPhysical && hpa < slot.hostPhysical + slot.size) return slot.guestPhysical + (hpa - slot.hostPhysical);
  return -1;
}

/** Whether guest-physical `page` holds the guest's IDT while ELI tracks it. */
export function eliTracksPage(v: X86VcpuState, page: number): boolean {
  const e = v.eli;
  return e !== undefined && e.direct && e.idtPages.includes(page);
}

/**
 * A guest store to its write-protected IDT (an EPT violation): KVM
 * emulates it into guest memory, the shadow follows at the next entry, and
 * the store completes. True when handled.
 */
export function eliIdtWrite(v: X86VcpuState, gpa: number, size: number, lo: number, hi: number): boolean {
  const e = v.eli!;
  const hpa = v.host.memslots.translate(gpa);
  if (hpa < 0) return false;
  const memory = v.host.memory;
  if (size === 8) {
    memory.write32(hpa, lo >>> 0);
    memory.write32(hpa + 4, hi >>> 0);
  } else if (size === 4) memory.write32(hpa, lo >>> 0);
  else if (size === 2) memory.write16(hpa, lo & 0xffff);
  else memory.write8(hpa, lo & 0xff);
  e.idtWrites++;
  e.dirty = true;
  v.skip();
  return true;
}

/** Copies the guest's gates into the shadow: exceptions and assigned vectors as they are, the rest not present. */
function rebuildShadow(v: X86VcpuState, vectors: Uint8Array): void {
  const e = v.eli!;
  const memory = v.host.memory;
  const gates = Math.min(256, Math.floor((e.guestIdtLimit + 1) / 16));
  for (let i = 0; i < 256; i++) {
    const dst = e.shadowPage + i * 16;
    const gpa = i < gates ? guestPhysical(v, e.guestIdtBase + i * 16) : -1;
    const src = gpa < 0 ? -1 : v.host.memslots.translate(gpa + ((e.guestIdtBase + i * 16) % 4096));
    for (let w = 0; w < 4; w++) {
      let word = src < 0 ? 0 : memory.read32(src + 4 * w);
      if (w === 1 && i >= 32 && vectors[i] !== 1) word &= ~GATE_PRESENT;
      memory.write32(dst + 4 * w, word >>> 0);
    }
  }
  e.dirty = false;
}

/**
 * The #NP exit of direct mode (EXCEPTION_NMI, vector 11): an external
 * interrupt whose shadow gate is not present was the host's — KVM runs its
 * handler and ends it with the host EOI (it is not the guest's to
 * re-inject); any other event is re-injected as the exit recorded it. A #NP
 * of the guest's own (no event in delivery) is reflected to it.
 */
export function eliException(v: X86VcpuState, exit: VmExitInfo): number {
  const e = v.eli!;
  if ((exit.interruptionInfo & 0xff) !== VECTOR_NP) return -1;
  const vectoring = exit.idtVectoringInfo;
  if ((vectoring & INTR_INFO_VALID) === 0) {
    v.reinject = exit.interruptionInfo >>> 0; // the guest's #NP with its error code
    v.reinjectCode = exit.interruptionErrorCode;
    v.requestEvent = true;
    return 1;
  }
  if (((vectoring >>> 8) & 7) !== INTR_TYPE.EXTERNAL_INTERRUPT) return 1; // re-injected (recordInterruptedEvent)
  e.npExits++;
  v.reinject = 0; // a host interrupt, not the guest's
  const pcpu = v.pcpu;
  pcpu.runHandler(vectoring & 0xff); // handle_exit_irqoff: the host's handler, then its EOI
  pcpu.hostApic.mmioWrite(APIC_EOI, 4, 0);
  v.requestEvent = true;
  return 1;
}

/**
 * An intercepted x2APIC EOI in ELI mode: it ends the highest-priority
 * interrupt in service — an assigned one in the physical APIC, or an
 * emulated one in the in-kernel LAPIC.
 */
export function eliEoi(v: X86VcpuState, vectors: Uint8Array): void {
  const host = v.pcpu.hostApic;
  const physical = host.highestInServiceVector();
  const emulated = v.apic!.highestInServiceVector();
  if (physical >= 0 && vectors[physical] === 1 && physical > emulated) host.mmioWrite(APIC_EOI, 4, 0);
  else v.apic!.writeMsr(MSR_EOI, 0);
}

/**
 * The guest's IDTR changes (its LIDT, or KVM_SET_SREGS): in direct mode the
 * VMCS keeps the shadow's base and the shadow follows the new IDT.
 */
export function eliSetIdt(v: X86VcpuState, base: number, limit: number): void {
  const e = v.eli!;
  e.guestIdtBase = base;
  e.guestIdtLimit = limit & 0xffff;
  const vmx = v.vmx;
  if (!e.direct) vmx.vmwrite(VMCS_FIELD.GUEST_IDTR_BASE, base);
  vmx.vmwrite(VMCS_FIELD.GUEST_IDTR_LIMIT, e.guestIdtLimit);
  if (e.direct) trackIdt(v, e);
  e.dirty = true;
}

/** LIDT exit (descriptor-table exiting). */
export function eliLidt(v: X86VcpuState, base: number, limit: number): number {
  eliSetIdt(v, base, limit);
  v.skip();
  return 1;
}

