/**
 * How an arm64 CPU reaches memory from a virtual address: through the
 * `ArmMmu` (its TLB, the stage 1 walker and, with HCR_EL2.VM, stage 2) when
 * SCTLR_EL1.M = 1 or a stage 2 is attached, with a small CPU-side
 * translation cache in front that is dropped whenever the MMU's invalidation
 * epoch changes or a translation control register is written; then RAM (a
 * live page view) or a device through the physical address space.
 *
 * Faults are results, not exceptions: an access returns false and leaves the
 * abort (stage, fault status, ISS, VA, IPA) in the fault fields.
 */
import { UsageError, describeValue, type Memory, type PageView, type PhysicalAccessResult, type PhysicalAddressSpace, type U64Halves } from '@hvsim/core';
import { S1_ACCESS as IMPORTED_S1_ACCESS, WalkResult, type ArmMmu } from '@hvsim/mmu';

// A module-local copy: an imported binding is a getter call under Node's ESM loader (see x86-cpu.ts).
const S1_ACCESS = IMPORTED_S1_ACCESS;

const PAGE = 4096;
const SLOTS = 64;
const READ_TABLE = 0;
const WRITE_TABLE = 1;
const FETCH_TABLE = 2;

/** `faultStage` of an abort taken to EL1 (a stage 1 fault). */
export const STAGE1_ABORT = 1;
/** `faultStage` of an abort taken to EL2 (a stage 2 fault, possibly on a stage 1 table walk). */
export const STAGE2_ABORT = 2;

/** Virtual-address access to memory for one arm64 CPU (see the file comment). */
export class Arm64VirtualMemory {
  /** Translation through the MMU: SCTLR_EL1.M = 1 or a stage 2 attached (else VA = PA). */
  translating = false;
  /** {@link STAGE1_ABORT} or {@link STAGE2_ABORT} for the last fault. */
  faultStage = 0;
  /** Fault status code (DFSC/IFSC) of the last fault. */
  faultStatus = 0;
  /** ISS bits the walk produced (fault status, WnR, S1PTW). */
  faultIss = 0;
  /** The VA of the last fault (FAR). */
  faultAddress = 0;
  /** The IPA of the last stage 2 fault (HPFAR_EL2). */
  faultIpa = 0;
  /** Where the last access went. */
  lastTarget: PhysicalAccessResult = 'ram';
  /** Descriptor reads made by the translations of the last access. */
  walkReferences = 0;
  /** Translations answered by the CPU-side cache. */
  cacheHits = 0;
  /** Translations that went to the MMU. */
  cacheMisses = 0;

  private readonly tags = new Float64Array(3 * SLOTS).fill(Number.NaN);
  private readonly frames = new Float64Array(3 * SLOTS);
  /** The RAM page behind each entry (a live view), or null for a device, a hole or ROM. */
  private readonly views: (PageView | null)[] = new Array<PageView | null>(3 * SLOTS).fill(null);
  private lastEntry = -1;
  private readonly ram: Memory;
  private epoch = -1;
  private readonly walk = new WalkResult();
  private readonly scratch: U64Halves = { lo: 0, hi: 0 };

  constructor(
    /** RAM and devices (host-physical). */
    readonly space: PhysicalAddressSpace,
    /** The MMU. */
    readonly mmu: ArmMmu,
  ) {
    this.ram = space.memory;
  }

  /** Drops the CPU-side translation cache (TTBR, TCR, SCTLR writes; a new stage 2). */
  flush(): void {
    this.tags.fill(Number.NaN);
    this.views.fill(null);
  }

  /**
   * Translates `va` for `access` (`S1_ACCESS` flags); returns the physical
   * address, or -1 with the fault recorded.
   */
  translate(va: number, access: number): number {
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
    if (cacheable) {
      const frame = r.address - (va - page * PAGE);
      this.tags[index] = page;
      this.frames[index] = frame;
      this.views[index] = this.space.mmio.lookup(frame) === undefined && this.ram.isWritable(frame, PAGE) ? (this.ram.pageView(frame) ?? null) : null;
      this.lastEntry = index;
    }
    return r.address;
  }

  /** Reads `size` bytes at `va` into `out`; false on a fault. A read that reaches nothing returns all ones. */
  read(va: number, size: 1 | 2 | 4 | 8, access: number, out: U64Halves): boolean {
    this.walkReferences = 0;
    const offset = va % PAGE;
    if (offset + size > PAGE) return this.readSplit(va, size, access, out);
    const pa = this.translate(va, access);
    if (pa < 0) return false;
    const entry = this.lastEntry;
    if (entry >= 0) {
      const view = this.views[entry] ?? null;
      if (view !== null && view.generation === this.ram.generation && (offset & (size - 1)) === 0) {
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
    const target = this.space.read(pa, size, out);
    this.lastTarget = target;
    if (target === 'unclaimed') {
      out.lo = size === 8 ? 0xffff_ffff : 2 ** (size * 8) - 1;
      out.hi = size === 8 ? 0xffff_ffff : 0;
    }
    return true;
  }

  /** Writes `size` bytes at `va`; false on a fault. A write to nothing or to ROM is dropped. */
  write(va: number, size: 1 | 2 | 4 | 8, lo: number, hi: number, access: number): boolean {
    this.walkReferences = 0;
    const offset = va % PAGE;
    if (offset + size > PAGE) return this.writeSplit(va, size, lo, hi, access);
    const pa = this.translate(va, access | S1_ACCESS.WRITE);
    if (pa < 0) return false;
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
        if (ram.observed) ram.noteWritten(pa, size);
        return true;
      }
    }
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
    const w = access | S1_ACCESS.WRITE;
    if (this.translate(va, w) < 0 || this.translate(va + first, w) < 0) return false;
    for (let i = 0; i < size; i++) {
      const byte = i < 4 ? (lo >>> (8 * i)) & 0xff : (hi >>> (8 * (i - 4))) & 0xff;
      this.space.write(this.translate(va + i, w), 1, byte);
    }
    this.lastTarget = 'ram';
    return true;
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
