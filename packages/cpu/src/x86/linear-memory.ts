/**
 * How an x86 CPU reaches memory from a linear address: through the MMU (its
 * TLB and page walker) when paging is on, with a tiny CPU-side translation
 * cache in front that is dropped whenever the MMU's invalidation epoch
 * changes; then RAM or a device through the physical address space.
 *
 * Faults are results, not exceptions: an access returns false and leaves the
 * architectural fault (vector, error code, CR2) in the fault fields.
 */
import { UsageError, describeValue, type Memory, type PageView, type PhysicalAccessResult, type PhysicalAddressSpace, type U64Halves } from '@hvsim/core';
import { ACCESS as IMPORTED_ACCESS, WalkResult, type X86Mmu } from '@hvsim/mmu';
import { VECTOR } from './regs.js';

// A module-local copy: an imported binding is a getter call under Node's ESM loader (see x86-cpu.ts).
const ACCESS = IMPORTED_ACCESS;

const PAGE = 4096;
const SLOTS = 64;
const READ_TABLE = 0;
const WRITE_TABLE = 1;
const FETCH_TABLE = 2;
/** Linear addresses at or above this are non-canonical with 4-level paging (lower half only in this model). */
const CANONICAL_LIMIT = 2 ** 47;

/** `faultVector` of an access that needs a VM exit (EPT violation or misconfiguration; see `exitReason`). */
export const FAULT_VM_EXIT = -1;
/** `faultVector` of an access to the APIC-access page (the physical address is in `faultAddress`). */
export const FAULT_APIC_ACCESS = -2;
/** EPT access bits (SDM 3C 29.3.3 "EPT-Induced VM Exits"): read, write, fetch. */
const EPT_READ = 1;
const EPT_WRITE = 2;
const EPT_FETCH = 4;

/** Linear-address access to memory for one x86 CPU (see the file comment). */
export class X86LinearMemory {
  /** True while CR0.PG = 1. */
  paging = false;
  /** Physical page of the APIC-access page while in VMX non-root operation with it, else -1. */
  apicAccessPage = -1;
  /** For `FAULT_VM_EXIT`: 48 (EPT violation) or 49 (EPT misconfiguration). */
  exitReason = 0;
  /** For `FAULT_VM_EXIT`: the exit qualification. */
  exitQualification = 0;
  /** For `FAULT_VM_EXIT`: the guest-physical address. */
  exitGuestPhysical = 0;
  /** For `FAULT_VM_EXIT`: the guest-linear address (valid when bit 7 of the qualification is set). */
  exitGuestLinear = 0;
  /** Vector of the last fault (a `VECTOR`). */
  faultVector = 0;
  /** Error code of the last fault. */
  faultError = 0;
  /** Linear address of the last #PF (CR2). */
  faultAddress = 0;
  /** Where the last access went. */
  lastTarget: PhysicalAccessResult = 'ram';
  /** Paging-structure references made by the translations of the last access. */
  walkReferences = 0;
  /**
   * Called before an access that may reach a device (any access not served
   * from a cached RAM page view): the CPU brings the clock to its own time
   * there, so device registers and timers see it; RAM hits skip it.
   */
  beforeDeviceAccess: (() => void) | null = null;
  /** Translations answered by the CPU-side cache. */
  cacheHits = 0;
  /** Translations that went to the MMU. */
  cacheMisses = 0;

  private readonly tags = new Float64Array(3 * SLOTS).fill(Number.NaN);
  private readonly frames = new Float64Array(3 * SLOTS);
  private readonly userPage = new Uint8Array(3 * SLOTS);
  /** The RAM page behind each entry (a live view), or null for a device, a hole or ROM. */
  private readonly views: (PageView | null)[] = new Array<PageView | null>(3 * SLOTS).fill(null);
  /** Index of the entry the last `translate` hit or filled, or -1. */
  private lastEntry = -1;
  private readonly ram: Memory;
  private epoch = -1;
  private readonly walk = new WalkResult();
  private readonly scratch: U64Halves = { lo: 0, hi: 0 };

  constructor(
    /** RAM and devices. */
    readonly space: PhysicalAddressSpace,
    /** The MMU that translates when paging is on. */
    readonly mmu: X86Mmu,
  ) {
    this.ram = space.memory;
  }

  /** Drops the CPU-side translation cache. */
  flush(): void {
    this.tags.fill(Number.NaN);
    this.views.fill(null);
  }

  /**
   * Translates linear `va` for `access` (an mmu `ACCESS` mask); returns the
   * physical address, or -1 with the fault recorded.
   */
  translate(va: number, access: number): number {
    if (!Number.isSafeInteger(va) || va < 0) throw new UsageError('bad-argument', `linear address must be a non-negative safe integer, got ${describeValue(va)}`);
    this.lastEntry = -1;
    if (!this.paging) {
      if (va >= 0x1_0000_0000) return this.fail(VECTOR.GP, 0, 0);
      const nested = this.mmu.nested;
      return nested === null ? va : this.eptOnly(va, access);
    }
    if (va >= CANONICAL_LIMIT) return this.fail(VECTOR.GP, 0, 0);
    const mmu = this.mmu;
    if (mmu.epoch !== this.epoch) {
      this.flush();
      this.epoch = mmu.epoch;
    }
    const page = Math.floor(va / PAGE);
    const slot = page & (SLOTS - 1);
    // One table per kind of supervisor access: read, write, fetch. User-mode accesses are not cached.
    const table = (access & ACCESS.WRITE) !== 0 ? WRITE_TABLE : (access & ACCESS.FETCH) !== 0 ? FETCH_TABLE : READ_TABLE;
    const cacheable = (access & ACCESS.USER) === 0;
    const index = table * SLOTS + slot;
    // An implicit access (a gate read, a frame push) may use an entry only for a supervisor page:
    // SMAP makes implicit accesses to user pages fault whatever RFLAGS.AC says (SDM 3A 4.6.1).
    if (cacheable && this.tags[index] === page && ((access & ACCESS.IMPLICIT) === 0 || this.userPage[index] === 0)) {
      this.cacheHits++;
      this.lastEntry = index;
      return this.frames[index]! + (va - page * PAGE);
    }
    this.cacheMisses++;
    const r = mmu.translate(va, access, this.walk);
    this.walkReferences += r.references;
    if (r.status !== 'ok') {
      if (r.status === 'page-fault') return this.fail(VECTOR.PF, r.errorCode, va);
      if (r.status === 'ept-violation' || r.status === 'ept-misconfig') return this.eptExit(r.status, r.exitQualification, r.guestPhysicalAddress, va);
      throw new UsageError('bad-state', `a translation of 0x${va.toString(16)} ended in ${r.status}: the MMU is neither native nor EPT`);
    }
    // A write is cached only once the D flag is set: the first write must reach the walker to set it.
    if (cacheable && (table !== WRITE_TABLE || r.dirty)) {
      const frame = r.address - (va - page * PAGE);
      this.tags[index] = page;
      this.frames[index] = frame;
      this.userPage[index] = r.user ? 1 : 0;
      // RAM behind the page is reached through a live view; a device page, a hole or ROM is not.
      this.views[index] = this.space.mmio.lookup(frame) === undefined && this.ram.isWritable(frame, PAGE) ? (this.ram.pageView(frame) ?? null) : null;
      this.lastEntry = index;
    }
    return r.address;
  }

  /**
   * Reads `size` bytes at linear `va` into `out`; false on a fault. A read
   * that reaches nothing returns all ones (the platform's master abort).
   */
  read(va: number, size: 1 | 2 | 4 | 8, access: number, out: U64Halves): boolean {
    this.walkReferences = 0;
    const offset = va % PAGE;
    if (offset + size > PAGE) return this.readSplit(va, size, access, out);
    const pa = this.translate(va, access);
    if (pa < 0) return false;
    if (this.apicAccessPage >= 0 && pa - (pa % PAGE) === this.apicAccessPage) return this.fail(FAULT_APIC_ACCESS, 0, pa) >= 0;
    const entry = this.lastEntry;
    if (entry >= 0) {
      const view = this.views[entry] ?? null;
      if (view !== null && view.generation === this.ram.generation && (offset & (size - 1)) === 0) {
        // An aligned access to a RAM page: straight to the page, no lookup.
        this.lastTarget = 'ram';
        if (size === 4) out.lo = view.words[offset >>> 2]!;
        else if (size === 8) {
          out.lo = view.words[offset >>> 2]!;
          out.hi = view.words[(offset >>> 2) + 1]!;
          return true;
        } else if (size === 1) out.lo = view.bytes[offset]!;
        else out.lo = view.bytes[offset]! | (view.bytes[offset + 1]! << 8);
        out.hi = 0;
        return true;
      }
    }
    this.beforeDeviceAccess?.();
    const target = this.space.read(pa, size, out);
    this.lastTarget = target;
    if (target === 'unclaimed') {
      out.lo = size === 8 ? 0xffff_ffff : 2 ** (size * 8) - 1;
      out.hi = size === 8 ? 0xffff_ffff : 0;
    }
    return true;
  }

  /** Writes `size` bytes at linear `va`; false on a fault. A write to nothing or to ROM is dropped. */
  write(va: number, size: 1 | 2 | 4 | 8, lo: number, hi: number, access: number): boolean {
    this.walkReferences = 0;
    const offset = va % PAGE;
    if (offset + size > PAGE) return this.writeSplit(va, size, lo, hi, access);
    const pa = this.translate(va, access | ACCESS.WRITE);
    if (pa < 0) return false;
    if (this.apicAccessPage >= 0 && pa - (pa % PAGE) === this.apicAccessPage) return this.fail(FAULT_APIC_ACCESS, 0, pa) >= 0;
    const entry = this.lastEntry;
    if (entry >= 0) {
      const view = this.views[entry] ?? null;
      const ram = this.ram;
      if (view !== null && view.generation === ram.generation && (offset & (size - 1)) === 0) {
        this.lastTarget = 'ram';
        if (size === 4) view.words[offset >>> 2] = lo;
        else if (size === 8) {
          view.words[offset >>> 2] = lo;
          view.words[(offset >>> 2) + 1] = hi;
        } else if (size === 1) view.bytes[offset] = lo;
        else {
          view.bytes[offset] = lo;
          view.bytes[offset + 1] = lo >>> 8;
        }
        // Writes through a view are invisible to write observers (dirty logging) unless told.
        if (ram.observed) ram.noteWritten(pa, size);
        return true;
      }
    }
    this.beforeDeviceAccess?.();
    this.lastTarget = this.space.write(pa, size, lo, hi);
    return true;
  }

  /** An access that crosses a page: both pages are translated (and may fault) before any byte moves. */
  private readSplit(va: number, size: number, access: number, out: U64Halves): boolean {
    const first = PAGE - (va % PAGE);
    if (this.translate(va, access) < 0 || this.translate(va + first, access) < 0) return false;
    let lo = 0;
    let hi = 0;
    const b = this.scratch;
    for (let i = size - 1; i >= 0; i--) {
      const pa = this.translate(va + i, access);
      if (this.space.read(pa, 1, b) === 'unclaimed') b.lo = 0xff;
      if (i >= 4) hi = ((hi << 8) | b.lo) >>> 0;
      else lo = ((lo << 8) | b.lo) >>> 0;
    }
    out.lo = lo;
    out.hi = hi;
    this.lastTarget = 'ram';
    return true;
  }

  private writeSplit(va: number, size: number, lo: number, hi: number, access: number): boolean {
    const first = PAGE - (va % PAGE);
    const w = access | ACCESS.WRITE;
    if (this.translate(va, w) < 0 || this.translate(va + first, w) < 0) return false;
    for (let i = 0; i < size; i++) {
      const byte = i < 4 ? (lo >>> (8 * i)) & 0xff : (hi >>> (8 * (i - 4))) & 0xff;
      this.space.write(this.translate(va + i, w), 1, byte);
    }
    this.lastTarget = 'ram';
    return true;
  }

  /** Guest paging off under EPT: the linear address is the guest-physical one (unrestricted guest). */
  private eptOnly(gpa: number, access: number): number {
    const nested = this.mmu.nested!;
    const kind = (access & ACCESS.FETCH) !== 0 ? EPT_FETCH : (access & ACCESS.WRITE) !== 0 ? EPT_WRITE : EPT_READ;
    const r = nested.ept.walk(gpa, kind, this.walk);
    this.walkReferences += r.references;
    if (r.status === 'ok') return r.address;
    return this.eptExit(r.status, r.exitQualification, gpa, gpa);
  }

  private eptExit(status: string, qualification: number, gpa: number, gla: number): number {
    this.exitReason = status === 'ept-violation' ? 48 : 49;
    this.exitQualification = qualification;
    this.exitGuestPhysical = gpa;
    this.exitGuestLinear = gla;
    return this.fail(FAULT_VM_EXIT, 0, 0);
  }

  private fail(vector: number, errorCode: number, address: number): number {
    this.faultVector = vector;
    this.faultError = errorCode;
    this.faultAddress = address;
    return -1;
  }
}
