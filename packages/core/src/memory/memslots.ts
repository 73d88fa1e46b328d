/**
 * Guest-physical to host-physical memory slots, as KVM keeps them
 * (KVM_SET_USER_MEMORY_REGION, api.rst 4.35; kernel memslots, include/linux/kvm_host.h).
 * Each slot maps `size` bytes of guest-physical space at `guestPhysical` onto
 * host-physical memory at `hostPhysical`. Slots never overlap in
 * guest-physical space; their host ranges may (two guest ranges aliasing one
 * host buffer). Lookups are a binary search behind a last-used-slot cache, as
 * KVM's `last_used_slot`.
 *
 * A slot with `KVM_MEM_LOG_DIRTY_PAGES` keeps a dirty bitmap, one bit per
 * 4 KiB page of the slot; {@link Memslots.getDirtyLog} hands it out and clears
 * it, as KVM_GET_DIRTY_LOG (api.rst 4.8); with manual protection
 * (KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) reading leaves it and
 * {@link Memslots.clearDirtyLog} clears pages, as KVM_CLEAR_DIRTY_LOG
 * (api.rst 4.117).
 */
import { UsageError } from '../errors/hvsim-error.js';
import { assertAddress, assertInteger, assertOptions, describeValue } from '../errors/validate.js';
import { readState, type StateReader } from '../snapshot/state-reader.js';
import { SnapshotError } from '../snapshot/snapshot-error.js';
import { MemoryError } from './memory-error.js';
import type { Memory } from './memory.js';

/** Memslot flag: keep a dirty bitmap for the slot (api.rst 4.35). */
export const KVM_MEM_LOG_DIRTY_PAGES = 1;
/** Memslot flag: guest writes to the slot fail (exit to userspace as MMIO; api.rst 4.35). */
export const KVM_MEM_READONLY = 2;
const KNOWN_FLAGS = KVM_MEM_LOG_DIRTY_PAGES | KVM_MEM_READONLY;

const PAGE = 4096;
const hex = (n: number): string => `0x${n.toString(16)}`;

/** Anything that maps a guest-physical address to a host-physical one. */
export interface GuestPhysicalMap {
  /** Host-physical address of `gpa`, or -1 when no slot holds it (MMIO or absent). */
  translate(gpa: number): number;
  /** True when `gpa` is in a read-only slot (writes exit to userspace as MMIO). */
  isReadOnly?(gpa: number): boolean;
  /** Bumped on every change, so caches built from the map can tell they are stale. */
  readonly generation: number;
}

/** One memory slot (frozen). */
export interface Memslot {
  /** Slot number (KVM's `slot`). */
  readonly id: number;
  /** First guest-physical address (KVM's `guest_phys_addr`). */
  readonly guestPhysical: number;
  /** Size in bytes, a non-zero multiple of 4 KiB (KVM's `memory_size`). */
  readonly size: number;
  /** Host-physical address `guestPhysical` maps to (KVM's `userspace_addr`, here a host-physical address). */
  readonly hostPhysical: number;
  /** True when `flags` has {@link KVM_MEM_READONLY}. */
  readonly readOnly: boolean;
  /** `KVM_MEM_LOG_DIRTY_PAGES` and/or `KVM_MEM_READONLY`. */
  readonly flags: number;
}

/** What {@link Memslots.add} takes: `readOnly` and `flags` are alternatives (either sets READONLY). */
export interface MemslotInit {
  /** Slot number (unique in the set). */
  id: number;
  /** First guest-physical address of the slot (page-aligned). */
  guestPhysical: number;
  /** Size of the slot in bytes (a multiple of the page size). */
  size: number;
  /** Host-physical address the slot's first byte lives at (page-aligned). */
  hostPhysical: number;
  /** Same as `flags: KVM_MEM_READONLY`. */
  readOnly?: boolean;
  /** `KVM_MEM_LOG_DIRTY_PAGES` (1) and/or `KVM_MEM_READONLY` (2); default 0. */
  flags?: number;
}

/**
 * Saved state of {@link Memslots}: slots and dirty bitmaps. The generation is
 * not saved: a restore always bumps it, so every cache built from the slots
 * before (a shadow MMU's pages, a guest view's translations) is dropped.
 */
export interface MemslotsState {
  /** Snapshot type tag. */
  type: 'hvsim.memslots';
  /** Snapshot format version. */
  version: 1;
  /** The slots, in slot order. */
  slots: {
    /** Slot number. */
    id: number;
    /** First guest-physical address. */
    guestPhysical: number;
    /** Size in bytes. */
    size: number;
    /** Host-physical address of the first byte. */
    hostPhysical: number;
    /** KVM_MEM_* flags of the slot. */
    flags: number;
    /** The dirty bitmap as 32-bit words, for a slot that logs dirty pages. */
    dirty?: number[];
  }[];
}

// A slot with its lookup bounds and its dirty bitmap (null: not logging).
interface Entry {
  readonly slot: Memslot;
  readonly end: number;
  readonly hostEnd: number;
  dirty: Uint32Array | null;
}

/** Options of {@link Memslots}. */
export interface MemslotsOptions {
  /**
   * KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2 enabled (api.rst 7.18): `getDirtyLog`
   * leaves the bitmap as it is and the VMM clears pages with `clearDirtyLog`
   * just before it copies them. Default false.
   */
  manualDirtyLogProtect?: boolean;
}

/** A set of non-overlapping memory slots with per-slot dirty logging (see the file comment). */
export class Memslots implements GuestPhysicalMap {
  private entries: Entry[] = [];
  private last: Entry | undefined;
  private gen = 0;
  private logging = 0;
  private readonly manualProtect: boolean;

  constructor(options: MemslotsOptions = {}) {
    assertOptions(options, ['manualDirtyLogProtect'], 'Memslots');
    const manual: unknown = options.manualDirtyLogProtect ?? false;
    if (typeof manual !== 'boolean') throw new UsageError('bad-argument', `manualDirtyLogProtect must be a boolean, got ${describeValue(manual)}`);
    this.manualProtect = manual;
  }

  /** Bumped on every add, remove, move, flag change and restore (not by dirty marking). */
  get generation(): number {
    return this.gen;
  }

  /** Number of slots with dirty logging on. */
  get loggingSlots(): number {
    return this.logging;
  }

  /**
   * Adds a slot: `guestPhysical`, `hostPhysical` and `size` are non-zero
   * multiples of 4 KiB (size may not be 0: KVM deletes with size 0, here that
   * is {@link Memslots.remove}); the id is unused; the guest range overlaps
   * no other slot (KVM: EEXIST). Throws `MemoryError` (`bad-argument`,
   * `region-overlap`) naming the values.
   */
  add(init: MemslotInit): Memslot {
    const slot = checkInit(init);
    for (const e of this.entries) {
      if (e.slot.id === slot.id) throw new MemoryError('bad-argument', slot.guestPhysical, `memslot id ${slot.id} is already in use`);
      if (slot.guestPhysical < e.end && e.slot.guestPhysical < slot.guestPhysical + slot.size) {
        throw new MemoryError(
          'region-overlap',
          slot.guestPhysical,
          `memslot ${slot.id} [${hex(slot.guestPhysical)}, +${hex(slot.size)}) overlaps memslot ${e.slot.id} [${hex(e.slot.guestPhysical)}, +${hex(e.slot.size)})`,
        );
      }
    }
    const entry = makeEntry(slot);
    this.entries.push(entry);
    this.entries.sort((a, b) => a.slot.guestPhysical - b.slot.guestPhysical);
    if (entry.dirty) this.logging++;
    this.gen++;
    return slot;
  }

  /** Removes the slot with `id` (KVM: `memory_size` 0). */
  remove(id: number): void {
    const i = this.indexOf(id);
    const [e] = this.entries.splice(i, 1);
    if (e?.dirty) this.logging--;
    this.last = undefined;
    this.gen++;
  }

  /**
   * Changes a slot's flags (KVM_SET_USER_MEMORY_REGION on an existing slot
   * with the same range: KVM_MR_FLAGS_ONLY). Turning dirty logging on starts
   * a clean bitmap; turning it off drops the bitmap. Bumps the generation.
   */
  setFlags(id: number, flags: number): Memslot {
    checkFlags(flags, id);
    const i = this.indexOf(id);
    const old = this.entries[i]!;
    const slot: Memslot = Object.freeze({ ...old.slot, flags, readOnly: (flags & KVM_MEM_READONLY) !== 0 });
    const entry = makeEntry(slot);
    // Logging stays on: keep the pages already dirty.
    if (entry.dirty && old.dirty) entry.dirty = old.dirty;
    this.logging += (entry.dirty ? 1 : 0) - (old.dirty ? 1 : 0);
    this.entries[i] = entry;
    this.last = undefined;
    this.gen++;
    return slot;
  }

  /**
   * Moves slot `id` to another guest-physical address, same size, same host
   * memory (api.rst 4.35: an existing slot may be moved or have its flags
   * changed, not resized; KVM_MR_MOVE). The new place must be 4 KiB-aligned
   * and overlap no other slot. A logging slot starts a clean bitmap (pages
   * dirty before were dirty at the old addresses). Bumps the generation.
   */
  move(id: number, guestPhysical: number): Memslot {
    const i = this.indexOf(id);
    const old = this.entries[i]!.slot;
    const slot = checkInit({ id, guestPhysical, size: old.size, hostPhysical: old.hostPhysical, flags: old.flags });
    for (const e of this.entries) {
      if (e.slot.id !== id && guestPhysical < e.end && e.slot.guestPhysical < guestPhysical + slot.size) {
        throw new MemoryError('region-overlap', guestPhysical, `memslot ${id} moved to [${hex(guestPhysical)}, +${hex(slot.size)}) overlaps memslot ${e.slot.id} [${hex(e.slot.guestPhysical)}, +${hex(e.slot.size)})`);
      }
    }
    this.entries[i] = makeEntry(slot);
    this.entries.sort((a, b) => a.slot.guestPhysical - b.slot.guestPhysical);
    this.last = undefined;
    this.gen++;
    return slot;
  }

  /** The slots, sorted by guest-physical address (a new array each call). */
  list(): readonly Memslot[] {
    return this.entries.map((e) => e.slot);
  }

  /** The slot with `id`, or undefined. */
  get(id: number): Memslot | undefined {
    return this.entries.find((e) => e.slot.id === id)?.slot;
  }

  /** The slot holding `gpa`, if any. */
  find(gpa: number): Memslot | undefined {
    return this.lookup(gpa)?.slot;
  }

  /** Host-physical address of `gpa`, or -1 when no slot holds it. */
  translate(gpa: number): number {
    const e = this.lookup(gpa);
    return e === undefined ? -1 : e.slot.hostPhysical + (gpa - e.slot.guestPhysical);
  }

  /** True when `gpa` is in a read-only slot. */
  isReadOnly(gpa: number): boolean {
    return this.lookup(gpa)?.slot.readOnly ?? false;
  }

  private lookup(gpa: number): Entry | undefined {
    const last = this.last;
    if (last !== undefined && gpa >= last.slot.guestPhysical && gpa < last.end) return last;
    // NaN compares false both ways and would "match" the middle slot.
    if (!(gpa >= 0)) return undefined;
    const es = this.entries;
    let lo = 0;
    let hi = es.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const e = es[mid]!;
      if (gpa < e.slot.guestPhysical) hi = mid - 1;
      else if (gpa >= e.end) lo = mid + 1;
      else {
        this.last = e;
        return e;
      }
    }
    return undefined;
  }

  private indexOf(id: number): number {
    const i = this.entries.findIndex((e) => e.slot.id === id);
    if (i < 0) throw new MemoryError('region-not-found', 0, `no memslot has id ${describeValue(id)}`);
    return i;
  }

  // --- dirty logging (api.rst 4.8 KVM_GET_DIRTY_LOG, 4.117 KVM_CLEAR_DIRTY_LOG) ---

  /**
   * The live dirty bitmap of slot `id` (bit n = page n of the slot, 32 pages
   * per word), or undefined when the slot does not log dirty pages. Read it;
   * {@link Memslots.getDirtyLog} is how a VMM takes and clears it.
   */
  dirtyBitmap(id: number): Uint32Array | undefined {
    return this.entries[this.indexOf(id)]!.dirty ?? undefined;
  }

  /**
   * KVM_GET_DIRTY_LOG (api.rst 4.8): copies slot `id`'s dirty bitmap into
   * `into` (or a new array of `ceil(pages / 32)` words; bit n = page n of the
   * slot, the layout of KVM's bitmap read as little-endian 32-bit words) and
   * clears it, unless the table was made with `manualDirtyLogProtect` (then
   * {@link Memslots.clearDirtyLog} clears). Throws `UsageError` when the slot
   * does not log dirty pages (KVM: ENOENT) or `into` is too short.
   */
  getDirtyLog(id: number, into?: Uint32Array): Uint32Array {
    const e = this.entries[this.indexOf(id)]!;
    const dirty = e.dirty;
    if (dirty === null) throw new UsageError('bad-state', `memslot ${id} does not log dirty pages (set KVM_MEM_LOG_DIRTY_PAGES)`);
    if (into !== undefined && (!(into instanceof Uint32Array) || into.length < dirty.length)) {
      throw new UsageError('bad-argument', `dirty log of memslot ${id} needs a Uint32Array of at least ${dirty.length} words, got ${into instanceof Uint32Array ? `${into.length} words` : describeValue(into)}`);
    }
    const out = into ?? new Uint32Array(dirty.length);
    out.set(dirty);
    if (!this.manualProtect) dirty.fill(0);
    return out;
  }

  /**
   * KVM_CLEAR_DIRTY_LOG (api.rst 4.117): marks clean the pages `firstPage +
   * n` of slot `id` for every bit n set in `bitmap` (n < `numPages`).
   * `firstPage` must be a multiple of 64, and `numPages` too unless the range
   * ends at the slot's last page; the range must lie in the slot (KVM:
   * EINVAL). Throws `UsageError` naming the bad value.
   */
  clearDirtyLog(id: number, firstPage: number, numPages: number, bitmap: Uint32Array): void {
    const e = this.entries[this.indexOf(id)]!;
    const dirty = e.dirty;
    if (dirty === null) throw new UsageError('bad-state', `memslot ${id} does not log dirty pages (set KVM_MEM_LOG_DIRTY_PAGES)`);
    const pages = e.slot.size / PAGE;
    assertInteger(firstPage, 'first page', 0, pages);
    assertInteger(numPages, 'page count', 0, pages - firstPage);
    if (firstPage % 64 !== 0 || (numPages % 64 !== 0 && firstPage + numPages !== pages)) {
      throw new UsageError('bad-argument', `dirty log clear of memslot ${id}: first page ${firstPage} must be a multiple of 64, and page count ${numPages} too unless the range ends at the slot's last page (${pages})`);
    }
    const words = Math.ceil(numPages / 32);
    if (!(bitmap instanceof Uint32Array) || bitmap.length < words) {
      throw new UsageError('bad-argument', `dirty log clear of ${numPages} pages needs a Uint32Array of at least ${words} words, got ${bitmap instanceof Uint32Array ? `${bitmap.length} words` : describeValue(bitmap)}`);
    }
    // firstPage is a multiple of 64, so word w of `bitmap` is word firstPage/32 + w of the slot's.
    const base = firstPage / 32;
    for (let w = 0; w < words; w++) {
      let mask = bitmap[w]!;
      const left = numPages - w * 32;
      if (left < 32) mask &= (1 << left) - 1;
      dirty[base + w] = (dirty[base + w]! & ~mask) >>> 0;
    }
  }

  /** Marks the pages of guest-physical `[gpa, gpa + size)` dirty in the slots that log them. */
  markDirty(gpa: number, size: number): void {
    if (this.logging === 0) return;
    let a = gpa;
    const end = gpa + size;
    while (a < end) {
      const e = this.lookup(a);
      if (e === undefined) {
        // Skip to the next page: a gap between slots holds no pages to mark.
        a = (Math.floor(a / PAGE) + 1) * PAGE;
        continue;
      }
      const stop = Math.min(end, e.end);
      if (e.dirty) markPages(e.dirty, a - e.slot.guestPhysical, stop - e.slot.guestPhysical);
      a = stop;
    }
  }

  /**
   * Marks dirty the guest pages of every logging slot whose host range holds
   * part of host-physical `[hpa, hpa + size)` (a DMA or a write through EPT
   * lands in host memory; the slot that maps it is where KVM logs it).
   * O(slots logging).
   */
  markHostDirty(hpa: number, size: number): void {
    if (this.logging === 0) return;
    const end = hpa + size;
    for (const e of this.entries) {
      if (e.dirty === null || end <= e.slot.hostPhysical || hpa >= e.hostEnd) continue;
      markPages(e.dirty, Math.max(hpa, e.slot.hostPhysical) - e.slot.hostPhysical, Math.min(end, e.hostEnd) - e.slot.hostPhysical);
    }
  }

  /**
   * Calls `fn(gpa, size)` for each guest-physical range that host-physical
   * `[hpa, hpa + size)` is mapped at (none, one, or several when slots alias).
   */
  forEachGuestRange(hpa: number, size: number, fn: (gpa: number, size: number) => void): void {
    const end = hpa + size;
    for (const e of this.entries) {
      const h = e.slot.hostPhysical;
      if (end <= h || hpa >= e.hostEnd) continue;
      const from = Math.max(hpa, h);
      fn(e.slot.guestPhysical + (from - h), Math.min(end, e.hostEnd) - from);
    }
  }

  /**
   * Logs writes made to host memory (DMA, a CPU writing through EPT, another
   * view of the same RAM) into the dirty bitmaps: attaches a write observer to
   * `host` that maps host-physical addresses back to slots. Returns the
   * function that detaches it.
   */
  logHostWrites(host: Memory): () => void {
    return host.addWriteObserver((hpa, size) => {
      this.markHostDirty(hpa, size);
    });
  }

  // --- snapshots ----------------------------------------------------------

  /** The slots and their dirty bitmaps as plain data. */
  saveState(): MemslotsState {
    return {
      type: 'hvsim.memslots',
      version: 1,
      slots: this.entries.map((e) => ({
        id: e.slot.id,
        guestPhysical: e.slot.guestPhysical,
        size: e.slot.size,
        hostPhysical: e.slot.hostPhysical,
        flags: e.slot.flags,
        ...(e.dirty ? { dirty: Array.from(e.dirty) } : {}),
      })),
    };
  }

  /**
   * Replaces the slots with saved ones, validating the whole state first (a
   * throw changes nothing), and bumps the generation. Also takes the state of
   * mmu's former memslots (`hvsim.mmu.memslots` version 1, whose saved
   * generation is checked and not used).
   */
  restoreState(state: unknown): void {
    const legacy = typeof state === 'object' && state !== null && (state as { type?: unknown }).type === 'hvsim.mmu.memslots';
    const s = legacy ? readState(state, 'hvsim.mmu.memslots', 1) : readState(state, 'hvsim.memslots', 1);
    if (legacy) s.address('generation');
    const inits = s.array('slots', (r) => readSlot(r, legacy));
    const fresh = new Memslots();
    for (const { init, dirty } of inits) {
      try {
        fresh.add(init);
      } catch (err) {
        throw new SnapshotError('shape', `${s.path}: memslot ${init.id}: ${(err as Error).message}`);
      }
      if (dirty !== undefined) {
        const e = fresh.entries.find((x) => x.slot.id === init.id)!;
        if (e.dirty === null || dirty.length !== e.dirty.length) {
          throw new SnapshotError('shape', `${s.path}: memslot ${init.id}: dirty must be ${e.dirty === null ? 'absent without KVM_MEM_LOG_DIRTY_PAGES' : `${e.dirty.length} words`}, got ${dirty.length}`);
        }
        e.dirty.set(dirty);
      }
    }
    this.entries = fresh.entries;
    this.logging = fresh.logging;
    this.last = undefined;
    this.gen++;
  }
}

function checkFlags(flags: number, id: number): void {
  if (!Number.isInteger(flags) || flags < 0 || (flags & ~KNOWN_FLAGS) !== 0 || flags > 0xffff_ffff) {
    throw new UsageError('bad-argument', `memslot ${describeValue(id)} flags must be a combination of KVM_MEM_LOG_DIRTY_PAGES (1) and KVM_MEM_READONLY (2), got ${describeValue(flags)}`);
  }
}

function checkInit(init: MemslotInit): Memslot {
  if (typeof init !== 'object' || (init as unknown) === null) throw new UsageError('bad-argument', `a memslot must be an object, got ${describeValue(init)}`);
  assertOptions(init, ['id', 'guestPhysical', 'size', 'hostPhysical', 'readOnly', 'flags'], 'a memslot');
  assertInteger(init.id, 'memslot id', 0, 0xffff_ffff);
  assertAddress(init.guestPhysical, `memslot ${init.id} guestPhysical`);
  assertAddress(init.hostPhysical, `memslot ${init.id} hostPhysical`);
  assertAddress(init.size, `memslot ${init.id} size`);
  if (init.readOnly !== undefined && typeof init.readOnly !== 'boolean') {
    throw new UsageError('bad-argument', `memslot ${init.id} readOnly must be a boolean, got ${describeValue(init.readOnly)}`);
  }
  if (init.flags !== undefined) checkFlags(init.flags, init.id);
  const flags = (init.flags ?? 0) | (init.readOnly === true ? KVM_MEM_READONLY : 0);
  checkFlags(flags, init.id);
  const { id, guestPhysical, hostPhysical, size } = init;
  if (size === 0 || guestPhysical % PAGE !== 0 || hostPhysical % PAGE !== 0 || size % PAGE !== 0) {
    throw new MemoryError(
      'bad-argument',
      guestPhysical,
      `memslot ${id}: guestPhysical ${hex(guestPhysical)}, hostPhysical ${hex(hostPhysical)} and size ${hex(size)} must be non-zero multiples of 4 KiB`,
    );
  }
  if (guestPhysical + size > 2 ** 53 || hostPhysical + size > 2 ** 53) {
    throw new MemoryError('bad-argument', guestPhysical, `memslot ${id}: [${hex(guestPhysical)}, +${hex(size)}) runs past 2^53`);
  }
  return Object.freeze({ id, guestPhysical, size, hostPhysical, readOnly: (flags & KVM_MEM_READONLY) !== 0, flags });
}

function makeEntry(slot: Memslot): Entry {
  const pages = slot.size / PAGE;
  return {
    slot,
    end: slot.guestPhysical + slot.size,
    hostEnd: slot.hostPhysical + slot.size,
    dirty: (slot.flags & KVM_MEM_LOG_DIRTY_PAGES) !== 0 ? new Uint32Array(Math.ceil(pages / 32)) : null,
  };
}

/** Sets the bits of the pages holding byte offsets `[from, to)` of a slot. */
function markPages(bitmap: Uint32Array, from: number, to: number): void {
  const last = Math.floor((to - 1) / PAGE);
  for (let p = Math.floor(from / PAGE); p <= last; p++) {
    const w = p >>> 5;
    bitmap[w] = bitmap[w]! | (1 << (p & 31));
  }
}

function readSlot(r: StateReader, legacy: boolean): { init: MemslotInit; dirty: number[] | undefined } {
  const init: MemslotInit = {
    id: r.int('id', 0, 0xffff_ffff),
    guestPhysical: r.address('guestPhysical'),
    size: r.address('size'),
    hostPhysical: r.address('hostPhysical'),
  };
  if (legacy) init.readOnly = r.bool('readOnly');
  else init.flags = r.int('flags', 0, KNOWN_FLAGS);
  const dirty = !legacy && r.has('dirty') ? r.intArray('dirty', 0, 0xffff_ffff) : undefined;
  return { init, dirty };
}
