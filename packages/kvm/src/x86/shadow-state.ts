/**
 * Shadow paging for a vCPU that runs without EPT (Linux with `ept=0`:
 * arch/x86/kvm/mmu/mmu.c, paging_tmpl.h; vmx.c's exit handlers with
 * !enable_ept): the hardware walks KVM's shadow tables (GUEST_CR3 holds the
 * shadow root), so the guest's paging state is KVM's. #PF exits (the
 * exception bitmap, PFEC mask = match = 0: every #PF) go to
 * `kvm_mmu_page_fault`, MOV to/from CR3 and INVLPG exit (CR3-load/-store
 * and INVLPG exiting), CR0/CR4 bits the MMU depends on are host-owned
 * (guest/host masks, read shadows: SDM 3C 25.6.6). The MMU itself is
 * `@hvsim/mmu`'s `ShadowMmu` over the VM's `ShadowPageTables`.
 */
import type { Memslots, PhysicalMemory } from '@hvsim/core';
import { PageAllocator, ShadowMmu, ShadowPageTables, X86PagingContext } from '@hvsim/mmu';
import { CPU_BASED, SECONDARY, VMCS_FIELD as IMPORTED_VMCS_FIELD, type VmxProcessor } from '@hvsim/vmcs';
import { fail } from '../generic/errors.js';

// A module-local copy: under Node's ESM loader each use of an imported binding is a getter call.
const VMCS_FIELD = IMPORTED_VMCS_FIELD;

/** A VM's MMU: 'ept' (two-dimensional paging, the default) or 'shadow' (shadow paging, EPT off). */
export type MmuMode = 'ept' | 'shadow';

/** Pages of host memory reserved for one VM's shadow page tables (the MMU zaps everything when they run out). */
export const SHADOW_POOL_PAGES = 1024;

/** @internal */
export const TWO_32 = 2 ** 32;
/** @internal #PF (SDM 3A 6.15, vector 14). */
export const PF_VECTOR = 14;
/** @internal #GP. */
export const GP_VECTOR = 13;
/** @internal CR0 bits (SDM 3A 2.5). */
export const CR0_PE = 1;
const CR0_TS = 1 << 3;
const CR0_WP = 1 << 16;
/** @internal */
export const CR0_PG = 0x8000_0000;
/** CR4 bits (SDM 3A 2.5). */
const CR4 = { PVI: 1 << 1, TSD: 1 << 2, DE: 1 << 3, PGE: 1 << 7, PCE: 1 << 8, OSFXSR: 1 << 9, OSXMMEXCPT: 1 << 10, VMXE: 1 << 13, FSGSBASE: 1 << 16, PCIDE: 1 << 17, SMEP: 1 << 20, SMAP: 1 << 21, PKE: 1 << 22 } as const;
/**
 * KVM_VM_CR0_ALWAYS_ON without unrestricted guest (which needs EPT): the
 * hardware runs the guest with paging, protection and CR0.WP on; the guest's
 * own WP is part of the shadow pages' role (mmu.rst "cr0_wp").
 */
const CR0_ALWAYS_ON = CR0_PG | CR0_PE | CR0_WP;
/** KVM_POSSIBLE_CR0_GUEST_BITS: only TS is the guest's (CR0.WP too with EPT); every other bit is host-owned. */
const CR0_HOST_MASK = ~CR0_TS >>> 0;
/** KVM_POSSIBLE_CR4_GUEST_BITS without PGE (vmx.c: PGE is host-owned without EPT: the shadow MMU's role has it). */
const CR4_GUEST_BITS = CR4.PVI | CR4.TSD | CR4.DE | CR4.PCE | CR4.OSFXSR | CR4.OSXMMEXCPT | CR4.FSGSBASE;
const CR4_HOST_MASK = ~CR4_GUEST_BITS >>> 0;
/** @internal CR4 bits this model's CPU holds (others are #GP), without VMXE (the guest has no VMX: KVM answers #GP). */
export const CR4_GUEST_WRITABLE = (1 << 0) | CR4.PVI | CR4.TSD | CR4.DE | (1 << 4) | (1 << 5) | (1 << 6) | CR4.PGE | CR4.PCE | CR4.OSFXSR | CR4.OSXMMEXCPT | CR4.FSGSBASE | CR4.PCIDE | CR4.SMEP | CR4.SMAP | CR4.PKE;
/** @internal CR4.PAE. */
export const CR4_PAE = 1 << 5;
/** EFER.NXE, EFER.LMA. */
const EFER_NXE = 1 << 11;
/** @internal */
export const EFER_LMA = 1 << 10;

/** A VM's shadow page tables over its memslots, with the host pages they live in. */
export function createShadowPageTables(memory: PhysicalMemory, memslots: Memslots, allocKernelPages: (pages: number) => number): ShadowPageTables {
  const pool = allocKernelPages(SHADOW_POOL_PAGES);
  return new ShadowPageTables(memory, { memslots, shadowPages: new PageAllocator(pool, SHADOW_POOL_PAGES * 4096) });
}

/** A vCPU's shadow paging: its `ShadowMmu` (guest CR3, CR0.WP, CR4, EFER.NXE in its context) and the exits it took. */
export class ShadowPaging {
  /** The vCPU's shadow MMU (KVM's vcpu->arch.mmu in shadow mode). */
  readonly mmu: ShadowMmu;
  /** #PF exits by outcome: fixed, injected into the guest, write-protected guest tables emulated, MMIO. */
  readonly faults = { fixed: 0, injected: 0, emulated: 0, mmio: 0 };
  /** MOV to CR3, MOV from CR3, INVLPG exits, CR0/CR4 writes. */
  readonly intercepts = { cr3Loads: 0, cr3Stores: 0, invlpgs: 0, crWrites: 0 };
  /**
   * The guest's CR2 (KVM's vcpu->arch.cr2): a #PF that exits leaves CR2
   * alone (SDM 3C 27.1), only an injected #PF sets it.
   */
  guestCr2 = 0;
  /** The MMU epoch the hardware TLB last matched. */
  private seenEpoch = -1;

  constructor(memory: PhysicalMemory, vm: ShadowPageTables, vpid: number, cpu: number) {
    this.mmu = new ShadowMmu(memory, { vm, vpid, cpu, context: new X86PagingContext() });
  }

  /** The guest's CR3 (a guest-physical address; the hardware's GUEST_CR3 is the shadow root). */
  get guestCr3(): number {
    return this.mmu.context.cr3;
  }

  /** @internal The hardware TLB is stale when the shadow MMU's epoch moved (zaps, INVLPG, CR3 loads, remote flushes): true once per change. */
  epochMoved(): boolean {
    const e = this.mmu.epoch;
    if (e === this.seenEpoch) return false;
    this.seenEpoch = e;
    return true;
  }
}

/**
 * vmx.c without EPT: secondary "enable EPT" and "unrestricted guest" off (the latter needs EPT, SDM 3C 27.2.1.1), CR3-load/-store and INVLPG
 * exiting, #PF in the exception bitmap with PFEC mask = match = 0 (every #PF
 * exits, SDM 3C 25.6.3), CR0/CR4 guest/host masks with read shadows holding
 * the guest's values, the guest's CR3 moved into the MMU. Applied to a
 * vCPU's current VMCS before its first entry.
 */
export function enableShadowControls(vmx: VmxProcessor, shadow: ShadowPaging): void {
  const proc = vmx.vmreadNumber(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL);
  vmx.vmwrite32(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL, (proc | CPU_BASED.CR3_LOAD_EXITING | CPU_BASED.CR3_STORE_EXITING | CPU_BASED.INVLPG_EXITING) >>> 0);
  const proc2 = vmx.vmreadNumber(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL);
  vmx.vmwrite32(VMCS_FIELD.SECONDARY_VM_EXEC_CONTROL, (proc2 & ~(SECONDARY.ENABLE_EPT | SECONDARY.UNRESTRICTED_GUEST)) >>> 0);
  const bitmap = vmx.vmreadNumber(VMCS_FIELD.EXCEPTION_BITMAP);
  vmx.vmwrite32(VMCS_FIELD.EXCEPTION_BITMAP, (bitmap | (1 << PF_VECTOR)) >>> 0);
  vmx.vmwrite32(VMCS_FIELD.PAGE_FAULT_ERROR_CODE_MASK, 0);
  vmx.vmwrite32(VMCS_FIELD.PAGE_FAULT_ERROR_CODE_MATCH, 0);
  vmx.vmwrite(VMCS_FIELD.CR0_GUEST_HOST_MASK, CR0_HOST_MASK);
  vmx.vmwrite(VMCS_FIELD.CR4_GUEST_HOST_MASK, CR4_HOST_MASK);
  adoptGuestRegisters(vmx, shadow);
}

/**
 * Moves guest CR0, CR3, CR4 and EFER as written into the VMCS (before shadow
 * paging, or by an INIT reset) to where shadow paging keeps them: the read
 * shadows, the MMU's context and CR3, the shadow root in GUEST_CR3.
 */
export function adoptGuestRegisters(vmx: VmxProcessor, shadow: ShadowPaging): void {
  const cr0 = vmx.vmreadNumber(VMCS_FIELD.GUEST_CR0) >>> 0;
  const cr4 = (vmx.vmreadNumber(VMCS_FIELD.GUEST_CR4) & ~CR4.VMXE) >>> 0;
  const cr3 = vmx.vmreadNumber(VMCS_FIELD.GUEST_CR3);
  const efer = vmx.vmreadNumber(VMCS_FIELD.GUEST_IA32_EFER);
  writeGuestCr0(vmx, shadow, cr0);
  writeGuestCr4(vmx, shadow, cr4);
  setGuestEfer(shadow, efer);
  shadow.mmu.setCr3(cr3);
  vmx.vmwrite(VMCS_FIELD.GUEST_CR3, shadow.mmu.shadowRoot);
}

/** The guest's CR0 (the read shadow: every bit but TS is host-owned). */
export function guestCr0(vmx: VmxProcessor): number {
  const shadowed = vmx.vmreadNumber(VMCS_FIELD.CR0_READ_SHADOW) >>> 0;
  return ((shadowed & CR0_HOST_MASK) | (vmx.vmreadNumber(VMCS_FIELD.GUEST_CR0) & ~CR0_HOST_MASK)) >>> 0;
}

/** The guest's CR4 (the read shadow for host-owned bits). */
export function guestCr4(vmx: VmxProcessor): number {
  const shadowed = vmx.vmreadNumber(VMCS_FIELD.CR4_READ_SHADOW) >>> 0;
  return ((shadowed & CR4_HOST_MASK) | (vmx.vmreadNumber(VMCS_FIELD.GUEST_CR4) & ~CR4_HOST_MASK)) >>> 0;
}

/** vmx_set_cr0 without EPT: the read shadow holds the guest's value, the hardware the value with CR0_ALWAYS_ON; the MMU's role follows WP. */
export function writeGuestCr0(vmx: VmxProcessor, shadow: ShadowPaging, cr0: number): void {
  vmx.vmwrite(VMCS_FIELD.CR0_READ_SHADOW, cr0 >>> 0);
  vmx.vmwrite(VMCS_FIELD.GUEST_CR0, (cr0 | CR0_ALWAYS_ON) >>> 0);
  const ctx = shadow.mmu.context;
  const wp = (cr0 & CR0_WP) !== 0;
  if (ctx.cr0Wp !== wp) {
    ctx.cr0Wp = wp;
    shadow.mmu.contextChanged(); // kvm_post_set_cr0 → kvm_mmu_reset_context
  }
}

/** vmx_set_cr4 without EPT: the read shadow holds the guest's value, the hardware has VMXE too; the MMU's role follows PGE, PCIDE, SMEP, SMAP, PKE. */
export function writeGuestCr4(vmx: VmxProcessor, shadow: ShadowPaging, cr4: number): void {
  vmx.vmwrite(VMCS_FIELD.CR4_READ_SHADOW, cr4 >>> 0);
  vmx.vmwrite(VMCS_FIELD.GUEST_CR4, (cr4 | CR4.VMXE) >>> 0);
  const ctx = shadow.mmu.context;
  const pge = (cr4 & CR4.PGE) !== 0;
  const smep = (cr4 & CR4.SMEP) !== 0;
  const smap = (cr4 & CR4.SMAP) !== 0;
  const pke = (cr4 & CR4.PKE) !== 0;
  const pcide = (cr4 & CR4.PCIDE) !== 0;
  if (ctx.cr4Pge === pge && ctx.cr4Smep === smep && ctx.cr4Smap === smap && ctx.cr4Pke === pke && ctx.cr4Pcide === pcide) return;
  ctx.cr4Pge = pge;
  ctx.cr4Smep = smep;
  ctx.cr4Smap = smap;
  ctx.cr4Pke = pke;
  ctx.cr4Pcide = pcide;
  shadow.mmu.contextChanged(); // kvm_post_set_cr4 → kvm_mmu_reset_context
}

/** EFER.NXE is part of the MMU's role (set_efer → kvm_mmu_reset_context). */
export function setGuestEfer(shadow: ShadowPaging, efer: number): void {
  const ctx = shadow.mmu.context;
  const nxe = (efer & EFER_NXE) !== 0;
  if (ctx.eferNxe === nxe) return;
  ctx.eferNxe = nxe;
  shadow.mmu.contextChanged();
}

/** KVM_SET_SREGS's CR3 under shadow paging: the MMU switches roots, the hardware gets the shadow root. */
export function setGuestCr3(vmx: VmxProcessor, shadow: ShadowPaging, cr3: number): void {
  shadow.mmu.setCr3(cr3);
  vmx.vmwrite(VMCS_FIELD.GUEST_CR3, shadow.mmu.shadowRoot);
}

/** Checks a VM's MMU choice (EINVAL naming the value). */
export function checkMmuMode(mode: unknown): MmuMode {
  if (mode !== 'ept' && mode !== 'shadow') fail('EINVAL', `the MMU must be 'ept' or 'shadow', got ${String(mode)}`);
  return mode;
}
