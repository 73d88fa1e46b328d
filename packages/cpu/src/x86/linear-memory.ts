/**
 * How an x86 CPU reaches memory from a linear address: through the MMU (its
 * TLB and page walker) when paging is on, with a tiny CPU-side translation
 * cache in front that is dropped whenever the MMU's invalidation epoch
 * changes; then RAM or a device through the physical address space (the
 * cache, RAM page views and the accesses are the shared `PageCache`).
 *
 * Faults are results, not exceptions: an access returns false and leaves the
 * architectural fault (vector, error code, CR2) in the fault fields.
 */
import { UsageError, describeValue, type PhysicalAddressSpace } from '@hvsim/core';
import { ACCESS as IMPORTED_ACCESS, WalkResult, type X86Mmu } from '@hvsim/mmu';
import { PageCache, PAGE_CACHE_SLOTS } from '../memory/page-cache.js';
import { VECTOR } from './regs.js';

// A module-local copy: an imported binding is a getter call under Node's ESM loader (see x86-cpu.ts).
const ACCESS = IMPORTED_ACCESS;

const PAGE = 4096;
const SLOTS = PAGE_CACHE_SLOTS;
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
export class X86LinearMemory extends PageCache {
  /** True while CR0.PG = 1. */
  paging = false;
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

  private readonly userPage = new Uint8Array(3 * SLOTS);
  /**
   * Linear pages whose guest translation ended at an EPT misconfiguration
   * (KVM's MMIO SPTEs: an emulated APIC, a device), by the same index as the
   * translation cache, with the guest-physical frame: a later access re-walks
   * only the EPT for that frame instead of the whole two-dimensional walk.
   * Dropped with the rest of the cache (MMU epoch, flush).
   */
  private readonly exitTags = new Float64Array(3 * SLOTS).fill(Number.NaN);
  private readonly exitFrames = new Float64Array(3 * SLOTS);
  private readonly exitUser = new Uint8Array(3 * SLOTS);
  private readonly walk = new WalkResult();

  constructor(
    space: PhysicalAddressSpace,
    /** The MMU that translates when paging is on. */
    readonly mmu: X86Mmu,
  ) {
    super(space, ACCESS.WRITE);
  }

  /** Physical page of the APIC-access page while in VMX non-root operation with it, else -1. */
  get apicAccessPage(): number {
    return this.interceptPage;
  }

  /** Sets the physical page of the APIC-access page (SDM 3C 30.4), or -1 to end the interception. */
  set apicAccessPage(page: number) {
    if (page === this.interceptPage) return;
    this.interceptPage = page;
    // The entries stay: every access checks the intercepted page after translating. What callers derived under the
    // stamp (a gate or stack page view) may lie on the page now intercepted: a new stamp drops it. Ending an
    // interception (every VM exit) needs neither.
    if (page >= 0) this.stamp++;
  }

  /**
   * The page cache's stamp, after noticing an MMU invalidation: what was
   * translated under the stamp returned still translates the same while it
   * is returned again.
   */
  translationStamp(): number {
    return this.stampAt(this.paging, this.mmu.epoch);
  }

  override flush(): void {
    super.flush();
    this.exitTags.fill(Number.NaN);
  }

  protected override intercepted(pa: number): boolean {
    this.fail(FAULT_APIC_ACCESS, 0, pa);
    return false;
  }

  /**
   * Translates linear `va` for `access` (an mmu `ACCESS` mask); returns the
   * physical address, or -1 with the fault recorded.
   */
  translate(va: number, access: number): number {
    if (this.paging && this.mmu.epoch === this.epoch) {
      // A hit in the CPU-side cache: one table per kind of supervisor access (read, write, fetch); user-mode
      // accesses are not cached. A tag is a canonical page number, so no negative, NaN or non-canonical address
      // matches one; an integer offset leaves only valid addresses.
      const page = Math.floor(va / PAGE);
      const index = ((access & ACCESS.WRITE) !== 0 ? WRITE_TABLE * SLOTS : (access & ACCESS.FETCH) !== 0 ? FETCH_TABLE * SLOTS : 0) + (page & (SLOTS - 1));
      const offset = va - page * PAGE;
      // An implicit access (a gate read, a frame push) may use an entry only for a supervisor page:
      // SMAP makes implicit accesses to user pages fault whatever RFLAGS.AC says (SDM 3A 4.6.1).
      if (this.tags[index] === page && (offset | 0) === offset && (access & ACCESS.USER) === 0 && ((access & ACCESS.IMPLICIT) === 0 || this.userPage[index] === 0)) {
        this.cacheHits++;
        this.lastEntry = index;
        return this.frames[index]! + offset;
      }
    }
    return this.translateMiss(va, access);
  }

  /** A translation the CPU-side cache does not hold (or paging off): the MMU, or the linear address itself. */
  private translateMiss(va: number, access: number): number {
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
    if (cacheable && this.tags[index] === page && ((access & ACCESS.IMPLICIT) === 0 || this.userPage[index] === 0)) {
      this.cacheHits++;
      this.lastEntry = index;
      return this.frames[index]! + (va - page * PAGE);
    }
    if (cacheable && this.exitTags[index] === page && ((access & ACCESS.IMPLICIT) === 0 || this.exitUser[index] === 0)) {
      const gpa = this.exitFrames[index]! + (va - page * PAGE);
      const nested = mmu.nested;
      if (nested !== null) {
        // The guest's own translation is cached (as a TLB holds it until an invalidation); the EPT entry is read again, so a
        // changed SPTE is seen at once (SDM 3C 29.4.2: nothing is cached from a misconfigured EPT entry).
        const r = nested.ept.walk(gpa, (access & ACCESS.FETCH) !== 0 ? EPT_FETCH : (access & ACCESS.WRITE) !== 0 ? EPT_WRITE : EPT_READ, this.walk);
        this.walkReferences += r.references;
        if (r.status === 'ept-misconfig') {
          this.cacheHits++;
          return this.eptExit(r.status, r.exitQualification, gpa, va);
        }
      }
      this.exitTags[index] = Number.NaN;
    }
    this.cacheMisses++;
    const r = mmu.translate(va, access, this.walk);
    this.walkReferences += r.references;
    if (r.status !== 'ok') {
      if (r.status === 'page-fault') return this.fail(VECTOR.PF, r.errorCode, va);
      if (r.status === 'ept-misconfig' && cacheable && mmu.nested !== null) {
        this.exitTags[index] = page;
        this.exitFrames[index] = r.guestPhysicalAddress - (va - page * PAGE);
        this.exitUser[index] = r.user ? 1 : 0;
      }
      if (r.status === 'ept-violation' || r.status === 'ept-misconfig') return this.eptExit(r.status, r.exitQualification, r.guestPhysicalAddress, va);
      throw new UsageError('bad-state', `a translation of 0x${va.toString(16)} ended in ${r.status}: the MMU is neither native nor EPT`);
    }
    // A write is cached only once the D flag is set: the first write must reach the walker to set it.
    if (cacheable && (table !== WRITE_TABLE || r.dirty)) {
      this.userPage[index] = r.user ? 1 : 0;
      this.fill(index, page, r.address - (va - page * PAGE));
    }
    return r.address;
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
