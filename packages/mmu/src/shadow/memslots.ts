/**
 * Guest-physical to host-physical map: KVM's memslots (kvm.md 5f). Each slot
 * maps `size` bytes of guest-physical space at `guestPhysical` onto host
 * physical memory at `hostPhysical`; slots never overlap in guest-physical
 * space. Lookups are a binary search behind a last-used-slot cache.
 */
import { readState } from '@hvsim/core';
import { checkAddress } from '../common/address.js';
import { MmuError } from '../common/mmu-error.js';

/** Anything that maps a guest-physical address to a host-physical one. */
export interface GuestPhysicalMap {
  /** Host-physical address of `gpa`, or -1 when no slot holds it (MMIO or absent). */
  translate(gpa: number): number;
  /** True when `gpa` is in a read-only slot (writes exit to userspace as MMIO). */
  isReadOnly?(gpa: number): boolean;
  /** Bumped on every change, so caches built from the map can tell they are stale. */
  readonly generation: number;
}

/** One memory slot. */
export interface Memslot {
  readonly id: number;
  readonly guestPhysical: number;
  readonly size: number;
  readonly hostPhysical: number;
  readonly readOnly: boolean;
}

/** A set of non-overlapping memory slots. */
export class Memslots implements GuestPhysicalMap {
  private slots: Memslot[] = [];
  private last: Memslot | undefined;
  private gen = 0;

  /** Bumped on every add or remove. */
  get generation(): number {
    return this.gen;
  }

  /** Adds a slot; page-aligned, non-overlapping in guest-physical space, unique id. */
  add(slot: { id: number; guestPhysical: number; size: number; hostPhysical: number; readOnly?: boolean }): Memslot {
    checkAddress(slot.guestPhysical, 'memslot guestPhysical');
    checkAddress(slot.hostPhysical, 'memslot hostPhysical');
    checkAddress(slot.size, 'memslot size');
    if (!Number.isInteger(slot.id) || slot.id < 0) throw new MmuError('bad-argument', `memslot id must be a non-negative integer, got ${String(slot.id)}`);
    if (slot.size === 0 || (slot.guestPhysical | slot.hostPhysical | slot.size) % 4096 !== 0 || slot.guestPhysical % 4096 !== 0 || slot.hostPhysical % 4096 !== 0 || slot.size % 4096 !== 0) {
      throw new MmuError('bad-argument', `memslot ${slot.id}: guestPhysical 0x${slot.guestPhysical.toString(16)}, hostPhysical 0x${slot.hostPhysical.toString(16)} and size 0x${slot.size.toString(16)} must be non-zero multiples of 4 KiB`);
    }
    for (const s of this.slots) {
      if (s.id === slot.id) throw new MmuError('memslot-overlap', `memslot id ${slot.id} is already in use`);
      if (slot.guestPhysical < s.guestPhysical + s.size && s.guestPhysical < slot.guestPhysical + slot.size) {
        throw new MmuError('memslot-overlap', `memslot ${slot.id} [0x${slot.guestPhysical.toString(16)}, +0x${slot.size.toString(16)}) overlaps memslot ${s.id}`);
      }
    }
    const made: Memslot = Object.freeze({ id: slot.id, guestPhysical: slot.guestPhysical, size: slot.size, hostPhysical: slot.hostPhysical, readOnly: slot.readOnly ?? false });
    this.slots.push(made);
    this.slots.sort((a, b) => a.guestPhysical - b.guestPhysical);
    this.gen++;
    return made;
  }

  /** Removes the slot with `id`. */
  remove(id: number): void {
    const i = this.slots.findIndex((s) => s.id === id);
    if (i < 0) throw new MmuError('bad-argument', `no memslot has id ${String(id)}`);
    this.slots.splice(i, 1);
    this.last = undefined;
    this.gen++;
  }

  /** The slots, sorted by guest-physical address. */
  list(): readonly Memslot[] {
    return this.slots;
  }

  /** The slot holding `gpa`, if any. */
  find(gpa: number): Memslot | undefined {
    const last = this.last;
    if (last !== undefined && gpa >= last.guestPhysical && gpa < last.guestPhysical + last.size) return last;
    const slots = this.slots;
    let lo = 0;
    let hi = slots.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const s = slots[mid];
      if (s === undefined) break;
      if (gpa < s.guestPhysical) hi = mid - 1;
      else if (gpa >= s.guestPhysical + s.size) lo = mid + 1;
      else {
        this.last = s;
        return s;
      }
    }
    return undefined;
  }

  translate(gpa: number): number {
    const s = this.find(gpa);
    return s === undefined ? -1 : s.hostPhysical + (gpa - s.guestPhysical);
  }

  isReadOnly(gpa: number): boolean {
    return this.find(gpa)?.readOnly ?? false;
  }

  /** The slots as plain data. */
  saveState(): { type: 'hvsim.mmu.memslots'; version: 1; generation: number; slots: Memslot[] } {
    return { type: 'hvsim.mmu.memslots', version: 1, generation: this.gen, slots: this.slots.map((s) => ({ ...s })) };
  }

  /** Replaces the slots with saved ones. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.memslots', 1);
    const generation = s.address('generation');
    const slots = s.array('slots', (r) => ({
      id: r.address('id'),
      guestPhysical: r.address('guestPhysical'),
      size: r.address('size'),
      hostPhysical: r.address('hostPhysical'),
      readOnly: r.bool('readOnly'),
    }));
    const fresh = new Memslots();
    for (const slot of slots) fresh.add(slot);
    this.slots = fresh.slots;
    this.last = undefined;
    this.gen = generation;
  }
}
