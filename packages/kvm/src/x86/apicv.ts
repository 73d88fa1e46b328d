/**
 * APIC virtualization for one vCPU, as Linux's vmx.c sets it up (SDM 3C 30
 * "APIC Virtualization and Virtual Interrupts"): the virtual-APIC page, the
 * VM's APIC-access page, the MSR bitmap with the x2APIC pass-through of
 * `vmx_update_msr_bitmap_x2apic`, the VM-execution controls for xAPIC or
 * x2APIC guests (`vmx_set_virtual_apic_mode`), the EOI-exit bitmap of
 * `vcpu_scan_ioapic` / `kvm_ioapic_scan_entry`, and the copy between the
 * in-kernel `LocalApic` and the virtual-APIC page. In Linux the virtual-APIC
 * page is the LAPIC's register page; here the `LocalApic` keeps every
 * register but IRR, ISR, TPR and PPR, which live in the virtual-APIC page
 * while APICv is on, and KVM copies the others to the page after each
 * emulated write so APIC-register virtualization reads them.
 */
import type { Memory } from '@hvsim/core';
import { APIC_DEFAULT_BASE, matchesDestination, type IoApic, type LocalApic } from '@hvsim/lapic';
import { MSR_BITMAP_OFFSET, SECONDARY, VMCS_FIELD, type VmxProcessor } from '@hvsim/vmcs';

/** The guest-physical page KVM maps to the APIC-access page (APIC_DEFAULT_PHYS_BASE, its private memslot). */
export const APIC_ACCESS_GPA = APIC_DEFAULT_BASE;
/** The IOAPIC pin of the RTC, whose vector always gets EOI exits (RTC_GSI, for its EOI tracking). */
export const RTC_GSI = 8;

const X2APIC_FIRST = 0x800;
const MSR_TPR = 0x808;
const MSR_EOI = 0x80b;
const MSR_TMCCT = 0x839;
const MSR_SELF_IPI = 0x83f;
const OFF_TPR = 0x80;
const OFF_PPR = 0xa0;
const OFF_ISR = 0x100;
const OFF_TMR = 0x180;
const OFF_IRR = 0x200;

/** The secondary controls that follow the guest's APIC mode (vmx_set_virtual_apic_mode). */
const APIC_MODE_CONTROLS = SECONDARY.VIRTUALIZE_APIC_ACCESSES | SECONDARY.VIRTUALIZE_X2APIC_MODE;

/** The pages and bitmaps of one vCPU's APIC virtualization. */
export class ApicvState {
  /** The x2APIC mode the controls and MSR bitmap are set for. */
  x2apic = false;
  /** KVM_REQ_SCAN_IOAPIC. */
  scanRequested = true;
  /** vcpu->arch.ioapic_handled_vectors: the EOI-exit bitmap (eight 32-bit words). */
  readonly eoiExitBitmap = new Uint32Array(8);
  /** EOI-induced exits handled (kvm_apic_set_eoi_accelerated). */
  eoiExits = 0;

  constructor(
    /** The virtual-APIC page (host-physical). */
    readonly vapicPage: number,
    /** The VM's APIC-access page (host-physical). */
    readonly apicAccessPage: number,
    /** The MSR bitmap (host-physical). */
    readonly msrBitmap: number,
  ) {}
}

/**
 * The MSR bitmap of vmx_update_msr_bitmap_x2apic: every MSR intercepted,
 * then for an x2APIC guest reads of 800H-83FH passed through except the
 * current count (839H), and writes of TPR (808H), EOI (80BH) and SELF IPI
 * (83FH) passed through; an xAPIC guest's x2APIC MSRs all exit (#GP).
 */
export function writeMsrBitmap(memory: Memory, bitmap: number, x2apic: boolean): void {
  for (let i = 0; i < 4096; i += 4) memory.write32(bitmap + i, 0xffff_ffff);
  if (!x2apic) return;
  const pass = (msr: number, read: boolean, write: boolean): void => {
    const byte = msr >>> 3;
    const bit = 1 << (msr & 7);
    if (read) memory.write8(bitmap + MSR_BITMAP_OFFSET.READ_LOW + byte, memory.read8(bitmap + MSR_BITMAP_OFFSET.READ_LOW + byte) & ~bit);
    if (write) memory.write8(bitmap + MSR_BITMAP_OFFSET.WRITE_LOW + byte, memory.read8(bitmap + MSR_BITMAP_OFFSET.WRITE_LOW + byte) & ~bit);
  };
  for (let msr = X2APIC_FIRST; msr < X2APIC_FIRST + 0x40; msr++) if (msr !== MSR_TMCCT) pass(msr, true, false);
  pass(MSR_TPR, true, true);
  pass(MSR_EOI, false, true);
  pass(MSR_SELF_IPI, false, true);
}

/**
 * vmx_set_virtual_apic_mode: "virtualize APIC accesses" for an xAPIC guest,
 * "virtualize x2APIC mode" for an x2APIC one, and the matching MSR bitmap.
 * The current VMCS of `vmx` must be the vCPU's.
 */
export function setVirtualApicMode(vmx: VmxProcessor, memory: Memory, s: ApicvState, x2apic: boolean): void {
  const proc2 = vmx.vmreadNumber(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL);
  const mode = x2apic ? SECONDARY.VIRTUALIZE_X2APIC_MODE : SECONDARY.VIRTUALIZE_APIC_ACCESSES;
  vmx.vmwrite32(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL, ((proc2 & ~APIC_MODE_CONTROLS) | mode) >>> 0);
  writeMsrBitmap(memory, s.msrBitmap, x2apic);
  s.x2apic = x2apic;
}

/** True for the offsets whose values live in the virtual-APIC page while APICv is on (TPR, PPR, ISR, IRR). */
function vapicOwned(offset: number): boolean {
  return offset === OFF_TPR || offset === OFF_PPR || (offset >= OFF_ISR && offset < OFF_TMR) || (offset >= OFF_IRR && offset < OFF_IRR + 0x80);
}

/**
 * Copies the LocalApic's registers to the virtual-APIC page (in the
 * x2APIC format for an x2APIC guest): all of them when APICv starts
 * (`all`), else all but TPR, PPR, ISR and IRR, which the page owns.
 */
export function copyLapicToVapic(memory: Memory, page: number, apic: LocalApic, all: boolean): void {
  const image = apic.getKvmLapicState({ x2apicFormat: apic.isX2apic });
  const words = new Uint32Array(image.buffer, image.byteOffset, 256);
  for (let off = 0; off < 0x400; off += 0x10) {
    if (!all && vapicOwned(off)) continue;
    memory.write32(page + off, words[off >>> 2]!);
  }
}

/** The register image of KVM_GET_LAPIC under APICv: the LocalApic's, with TPR, PPR, ISR and IRR from the virtual-APIC page. */
export function lapicImageWithVapic(memory: Memory, page: number, apic: LocalApic): Uint8Array {
  const image = apic.getKvmLapicState({ x2apicFormat: apic.isX2apic });
  const words = new Uint32Array(image.buffer, image.byteOffset, 256);
  for (let off = 0; off < 0x400; off += 0x10) if (vapicOwned(off)) words[off >>> 2] = memory.read32(page + off);
  return image;
}

/** Moves IRR, ISR and TPR from the LocalApic into the virtual-APIC page and empties them there (KVM_SET_LAPIC under APICv). */
export function moveLapicVectorsToVapic(memory: Memory, page: number, apic: LocalApic): void {
  copyLapicToVapic(memory, page, apic, true);
  const empty = new Uint32Array(8);
  apic.loadIrr(empty);
  apic.loadIsr(empty);
}

/**
 * The guest interrupt status for a virtual-APIC page whose VIRR/VISR were
 * written by software (KVM_SET_LAPIC): RVI the highest VIRR vector, SVI the
 * highest VISR vector (vmx_set_rvi, vmx_hwapic_isr_update; SDM 3C 30.1.1).
 */
export function guestInterruptStatus(memory: Memory, page: number): number {
  const rvi = highestIn(memory, page + OFF_IRR);
  const svi = highestIn(memory, page + OFF_ISR);
  return ((svi < 0 ? 0 : svi) << 8) | (rvi < 0 ? 0 : rvi);
}

/** Highest vector set in the eight-word register at `base` (IRR or ISR layout, 16 bytes a word), or -1. */
function highestIn(memory: Memory, base: number): number {
  for (let i = 7; i >= 0; i--) {
    const w = memory.read32(base + i * 0x10);
    if (w !== 0) return i * 32 + 31 - Math.clz32(w);
  }
  return -1;
}

/**
 * apic_has_interrupt_for_ppr with APICv: the highest VIRR vector whose
 * priority class is above the PPR the VTPR and VISR give (SDM 3C 30.1.3),
 * or -1.
 */
export function vapicDeliverable(memory: Memory, page: number): number {
  const irr = highestIn(memory, page + OFF_IRR);
  if (irr < 0) return -1;
  const tpr = memory.read32(page + OFF_TPR) & 0xff;
  const isr = highestIn(memory, page + OFF_ISR);
  const isrClass = isr < 0 ? 0 : isr & 0xf0;
  const ppr = (tpr & 0xf0) >= isrClass ? tpr : isrClass;
  return (irr & 0xf0) > (ppr & 0xf0) ? irr : -1;
}

/** True when `vector` is set in the IRR- or ISR-layout register at `base`. */
function testVector(memory: Memory, base: number, vector: number): boolean {
  return ((memory.read32(base + (vector >>> 5) * 0x10) >>> (vector & 31)) & 1) === 1;
}

/**
 * vcpu_scan_ioapic / kvm_ioapic_scan_entry: the vectors of IOAPIC pins that
 * are level-triggered (or the RTC's pin) and address this vCPU, plus any such
 * vector still pending or in service here (kvm_apic_pending_eoi), so their
 * EOIs exit and reach the IOAPIC. Returns whether the bitmap changed.
 */
export function scanIoapic(memory: Memory, s: ApicvState, apic: LocalApic, ioapic: IoApic | undefined): boolean {
  const bits = new Uint32Array(8);
  if (ioapic !== undefined) {
    for (let pin = 0; pin < 24; pin++) {
      const [lo, hi] = ioapic.redirectionEntry(pin);
      const level = (lo & (1 << 15)) !== 0;
      if (!level && pin !== RTC_GSI) continue;
      const vector = lo & 0xff;
      const logical = (lo & (1 << 11)) !== 0;
      const pendingEoi = testVector(memory, s.vapicPage + OFF_IRR, vector) || testVector(memory, s.vapicPage + OFF_ISR, vector);
      if (matchesDestination(apic, hi >>> 24, logical, false) || pendingEoi) bits[vector >>> 5]! |= 1 << (vector & 31);
    }
  }
  let changed = false;
  for (let i = 0; i < 8; i++) {
    if (bits[i] !== s.eoiExitBitmap[i]) changed = true;
    s.eoiExitBitmap[i] = bits[i]!;
  }
  return changed;
}

/** vmx_load_eoi_exitmap: EOI_EXIT_BITMAP0-3 from the bitmap (the vCPU's VMCS current on `vmx`). */
export function loadEoiExitmap(vmx: VmxProcessor, s: ApicvState): void {
  const b = s.eoiExitBitmap;
  const fields = [VMCS_FIELD.EOI_EXIT_BITMAP0, VMCS_FIELD.EOI_EXIT_BITMAP1, VMCS_FIELD.EOI_EXIT_BITMAP2, VMCS_FIELD.EOI_EXIT_BITMAP3];
  for (let i = 0; i < 4; i++) vmx.vmwrite(fields[i]!, (BigInt(b[2 * i + 1]!) << 32n) | BigInt(b[2 * i]!));
}
