/**
 * How an arm64 CPU reaches memory from a virtual address: through the
 * `ArmMmu` (its TLB, the stage 1 walker and, with HCR_EL2.VM, stage 2) when
 * SCTLR_EL1.M = 1 or a stage 2 is attached, with a small CPU-side
 * translation cache in front that is dropped whenever the MMU's invalidation
 * epoch changes or a translation control register is written; then RAM (a
 * live page view) or a device through the physical address space (the
 * shared `PageCache`).
 *
 * Faults are results, not exceptions: an access returns false and leaves the
 * abort (stage, fault status, ISS, VA, IPA) in the fault fields.
 */
import { UsageError, describeValue, type PhysicalAddressSpace } from '@hvsim/core';
import { S1_ACCESS as IMPORTED_S1_ACCESS, WalkResult, type ArmMmu } from '@hvsim/mmu';
import { PageCache, PAGE_CACHE_SLOTS } from '../memory/page-cache.js';

// A module-local copy: an imported binding is a getter call under Node's ESM loader (see x86-cpu.ts).
const S1_ACCESS = IMPORTED_S1_ACCESS;

const PAGE = 4096;
const SLOTS = PAGE_CACHE_SLOTS;
const READ_TABLE = 0;
const WRITE_TABLE = 1;
const FETCH_TABLE = 2;

/** `faultStage` of an abort taken to EL1 (a stage 1 fault). */
export const STAGE1_ABORT = 1;
/** `faultStage` of an abort taken to EL2 (a stage 2 fault, possibly on a stage 1 table walk). */
export const STAGE2_ABORT = 2;

/** Virtual-address access to memory for one arm64 CPU (see the file comment). */
export class Arm64VirtualMemory extends PageCache {
  /** Translation through the MMU: SCTLR_EL1.M = 1 or a stage 2 attached (else VA = PA). */
  translating = false;
  /** 1 (stage 1) or 2 (stage 2): where the last fault was found. */
  faultStage = 0;
  /** Fault status code (DFSC/IFSC) of the last fault. */
  faultStatus = 0;
  /** ISS bits the walk produced (fault status, WnR, S1PTW). */
  faultIss = 0;
  /** The VA of the last fault (FAR). */
  faultAddress = 0;
  /** The IPA of the last stage 2 fault (HPFAR_EL2). */
  faultIpa = 0;

  private readonly walk = new WalkResult();

  constructor(
    space: PhysicalAddressSpace,
    /** The MMU. */
    readonly mmu: ArmMmu,
  ) {
    super(space, S1_ACCESS.WRITE);
  }

  /**
   * Translates `va` for `access` (`S1_ACCESS` flags); returns the physical
   * address, or -1 with the fault recorded.
   */
  translate(va: number, access: number): number {
    if (this.translating && this.mmu.epoch === this.epoch) {
      // A hit in the CPU-side cache (EL1 accesses only: EL0 permissions differ and EL0 code is rare in this model).
      // A tag is a page number below 2^41, so no negative or NaN address matches one; an integer offset leaves only valid ones.
      const page = Math.floor(va / PAGE);
      const index = ((access & S1_ACCESS.WRITE) !== 0 ? WRITE_TABLE * SLOTS : (access & S1_ACCESS.EXECUTE) !== 0 ? FETCH_TABLE * SLOTS : 0) + (page & (SLOTS - 1));
      const offset = va - page * PAGE;
      if (this.tags[index] === page && (offset | 0) === offset && (access & S1_ACCESS.EL0) === 0) {
        this.cacheHits++;
        this.lastEntry = index;
        return this.frames[index]! + offset;
      }
    }
    return this.translateMiss(va, access);
  }

  /**
   * The page cache's stamp, after noticing an MMU invalidation: a
   * translation made while translating under the stamp returned still
   * translates the same while it is returned again (a change of regime,
   * SCTLR_EL1.M, stage 2, TTBR/TCR, flushes and moves it).
   */
  translationStamp(): number {
    return this.stampAt(this.translating, this.mmu.epoch);
  }

  /** A translation the CPU-side cache does not hold (or translation off): the MMU, or the address itself. */
  private translateMiss(va: number, access: number): number {
    if (!Number.isSafeInteger(va) || va < 0) throw new UsageError('bad-argument', `virtual address must be a non-negative safe integer, got ${describeValue(va)}`);
    this.lastEntry = -1;
    const mmu = this.mmu;
    if (!this.translating) {
      // SCTLR_EL1.M = 0 without stage 2: VA = PA up to the implemented PA size (D8.2.10, an Address size fault above).
      if (va >= 2 ** mmu.context.paBits) return this.fail(STAGE1_ABORT, 0, 0, va, 0);
      return va;
    }
    if (mmu.epoch !== this.epoch) {
      this.flush();
      this.epoch = mmu.epoch;
    }
    const page = Math.floor(va / PAGE);
    const slot = page & (SLOTS - 1);
    const table = (access & S1_ACCESS.WRITE) !== 0 ? WRITE_TABLE : (access & S1_ACCESS.EXECUTE) !== 0 ? FETCH_TABLE : READ_TABLE;
    // EL1 accesses only: EL0 permissions differ and EL0 code is rare in this model.
    const cacheable = (access & S1_ACCESS.EL0) === 0;
    const index = table * SLOTS + slot;
    if (cacheable && this.tags[index] === page) {
      this.cacheHits++;
      this.lastEntry = index;
      return this.frames[index]! + (va - page * PAGE);
    }
    this.cacheMisses++;
    const r = mmu.translate(va, access, this.walk);
    this.walkReferences += r.references;
    if (r.status !== 'ok') {
      if (r.status === 'stage1-fault') return this.fail(STAGE1_ABORT, r.faultStatus, r.errorCode, va, 0);
      if (r.status === 'stage2-fault') return this.fail(STAGE2_ABORT, r.faultStatus, r.errorCode, va, r.guestPhysicalAddress);
      throw new UsageError('bad-state', `a translation of 0x${va.toString(16)} ended in ${r.status}: the MMU is no Arm MMU`);
    }
    if (cacheable) this.fill(index, page, r.address - (va - page * PAGE));
    return r.address;
  }

  private fail(stage: number, status: number, iss: number, va: number, ipa: number): number {
    this.faultStage = stage;
    this.faultStatus = status;
    this.faultIss = iss;
    this.faultAddress = va;
    this.faultIpa = ipa;
    return -1;
  }
}
