/**
 * The guest-physical map the shadow MMU builds its sptes from: the VM's
 * memslots plus KVM's private pages, and the guest frames KVM write-tracks.
 *
 * - The APIC-access page: Linux maps APIC_DEFAULT_PHYS_BASE to it through a
 *   private memslot (APIC_ACCESS_PAGE_PRIVATE_MEMSLOT, vmx.c
 *   `vmx_alloc_apic_access_page`), so without EPT the shadow sptes of the
 *   guest's APIC mapping point at it and the processor sees an access to
 *   the APIC-access address (SDM 3C 30.4: with EPT off, the physical
 *   address) — `kvm_vcpu_reload_apic_access_page`.
 * - ELI's shadow IDT page, read-only (the guest cannot write the shadow).
 * - Write-tracked frames (KVM's page tracking, `kvm_write_track_add_gfn`):
 *   ELI's guest IDT pages, mapped read-only in every spte so each store
 *   faults and KVM emulates it (the EPT path maps them read-only in EPT).
 *
 * The private pages are not user memslots: KVM_GET_DIRTY_LOG, migration and
 * device assignment see only the VM's `Memslots`, which this view delegates
 * to (it is a `Memslots` so that `ShadowPageTables` keeps dirty logging).
 */
import { Memslots, type Memslot } from '@hvsim/core';
import { fail } from '../generic/errors.js';

const PAGE = 4096;

/** The VM's memslots as the shadow MMU sees them (see the file comment). */
export class ShadowSlots extends Memslots {
  private readonly extra = new Map<number, { hpa: number; readOnly: boolean }>();
  private readonly tracked = new Set<number>();
  private own = 0;

  constructor(private readonly slots: Memslots) {
    super();
  }

  /** Maps guest page `gpa` to host page `hpa` (a KVM-private page), read-only or not; the shadow tables are zapped at their next check. */
  mapPrivate(gpa: number, hpa: number, readOnly: boolean): void {
    const gfn = Math.floor(gpa / PAGE);
    const old = this.extra.get(gfn);
    if (old?.hpa === hpa && old.readOnly === readOnly) return;
    this.extra.set(gfn, { hpa: hpa - (hpa % PAGE), readOnly });
    this.own++;
  }

  /** Write-tracks exactly the guest pages `gpas` (KVM's page tracking; ELI's IDT): their sptes are read-only. */
  trackWrites(gpas: readonly number[]): void {
    const next = new Set(gpas.map((g) => Math.floor(g / PAGE)));
    if (next.size === this.tracked.size && [...next].every((g) => this.tracked.has(g))) return;
    this.tracked.clear();
    for (const g of next) this.tracked.add(g);
    this.own++;
  }

  /** Whether guest page `gpa` is write-tracked. */
  isTracked(gpa: number): boolean {
    return this.tracked.size > 0 && this.tracked.has(Math.floor(gpa / PAGE));
  }

  override get generation(): number {
    return this.slots.generation + this.own;
  }

  override get loggingSlots(): number {
    return this.slots.loggingSlots;
  }

  override translate(gpa: number): number {
    if (this.extra.size > 0) {
      const e = this.extra.get(Math.floor(gpa / PAGE));
      if (e) return e.hpa + (gpa % PAGE);
    }
    return this.slots.translate(gpa);
  }

  override isReadOnly(gpa: number): boolean {
    if (this.extra.size > 0) {
      const e = this.extra.get(Math.floor(gpa / PAGE));
      if (e) return e.readOnly;
    }
    return this.isTracked(gpa) || this.slots.isReadOnly(gpa);
  }

  override list(): readonly Memslot[] {
    return this.slots.list();
  }

  override get(id: number): Memslot | undefined {
    return this.slots.get(id);
  }

  override find(gpa: number): Memslot | undefined {
    return this.slots.find(gpa);
  }

  override dirtyBitmap(id: number): Uint32Array | undefined {
    return this.slots.dirtyBitmap(id);
  }

  override getDirtyLog(id: number, into?: Uint32Array): Uint32Array {
    return this.slots.getDirtyLog(id, into);
  }

  override clearDirtyLog(id: number, firstPage: number, numPages: number, bitmap: Uint32Array): void {
    this.slots.clearDirtyLog(id, firstPage, numPages, bitmap);
  }

  override markDirty(gpa: number, size: number): void {
    this.slots.markDirty(gpa, size);
  }

  override markHostDirty(hpa: number, size: number): void {
    this.slots.markHostDirty(hpa, size);
  }

  override add(): Memslot {
    return fail('EINVAL', 'the shadow MMU view of the memslots is read-only: change the VM memslots (KVM_SET_USER_MEMORY_REGION)');
  }
}
