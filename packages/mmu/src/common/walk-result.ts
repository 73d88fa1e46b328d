/**
 * The value every walker returns: a translation, or the fault that stopped
 * the walk with its architectural code. One object is reused across walks
 * (walkers fill it in place), so a walk allocates nothing unless the caller
 * asked for the list of memory references.
 */
import { addressToBigint, joinHalves } from './address.js';

/** How a walk ended. */
export type WalkStatus =
  /** A translation was found and the access is allowed. */
  | 'ok'
  /** x86 #PF: see `errorCode` and the faulting linear address. */
  | 'page-fault'
  /** EPT violation VM exit: see `exitQualification` and `guestPhysicalAddress`. */
  | 'ept-violation'
  /** EPT misconfiguration VM exit: see `guestPhysicalAddress`. */
  | 'ept-misconfig'
  /** Arm stage-2 abort: see `faultStatus` and `level`. */
  | 'stage2-fault'
  /** Arm stage-1 abort (Data/Instruction Abort): see `faultStatus`, `level`, `errorCode` (ISS) and the VA (FAR). */
  | 'stage1-fault'
  /** A guest paging structure or final address is in no memslot (MMIO or absent). */
  | 'no-memslot';

/** Which translation a recorded reference belongs to. */
export type WalkReferenceKind = 'guest' | 'ept' | 'stage2' | 'host';

/** One paging-structure entry read by a walk (recorded only on request). */
export interface WalkReference {
  /** `'guest'`/`'host'` for x86 paging structures, `'ept'` for EPT, `'stage2'` for Arm. */
  kind: WalkReferenceKind;
  /** Level of the entry (1 = PTE / level-3 descriptor ... see each walker). */
  level: number;
  /** Physical address the entry was read from. */
  address: number;
  /** The entry's value as read. */
  value: bigint;
}

/** Result of a walk; fields not meaningful for the status are left as reset. */
export class WalkResult {
  /** How the walk ended: `'ok'`, or the fault (see {@link WalkStatus}). */
  status: WalkStatus = 'ok';
  /** Translated (host-)physical address of the access. */
  address = 0;
  /** Size of the page that maps it: 4096, 2 MiB or 1 GiB. */
  pageSize = 4096;
  /** Level of the leaf entry, or of the entry where the walk faulted. */
  level = 0;
  /** Paging-structure entries read (guest entries plus EPT or stage-2 entries). */
  references = 0;
  /** Of `references`, those made by the second stage (EPT); 0 for native and memslot-staged walks. */
  secondStageReferences = 0;
  /** Writes made to set accessed/dirty flags. */
  adWrites = 0;

  // Attributes of a successful x86 translation (AND/OR over the walked entries).
  /** Writable: R/W = 1 in every entry. */
  writable = false;
  /** User-mode address: U/S = 1 in every entry. */
  user = false;
  /** Executable: XD = 0 in every entry (or NXE = 0). */
  executable = false;
  /** Leaf G flag. */
  global = false;
  /** Leaf D flag after the walk. */
  dirty = false;
  /** Leaf protection key. */
  protectionKey = 0;
  /** Guest-physical address when the walk is a guest walk under EPT or memslots. */
  guestPhysicalAddress = 0;
  /** EPT permissions of the final translation (bit 0 R, 1 W, 2 X), nested walks only. */
  eptPermissions = 0;
  /** Arm stage 1 permissions of the translation (`S1_PERM` bits: EL1 and EL0 read/write/execute). */
  permissions = 0;

  // Faults.
  /** #PF error code (SDM 3A 4.7). */
  errorCode = 0;
  /** Linear address of the access, bits 63:32 (CR2 on a #PF). */
  linearHi = 0;
  /** Linear address of the access, bits 31:0. */
  linearLo = 0;
  /** EPT-violation exit qualification (SDM 3C Table 27-7, "Exit Qualification for EPT Violations"). */
  exitQualification = 0;
  /** Arm ESR-style fault status code (DFSC/IFSC) of a stage-2 fault. */
  faultStatus = 0;

  /** When non-null, walkers push every entry they read here (teaching and tests; off on the fast path). */
  trace: WalkReference[] | null = null;

  /** Starts recording references into a fresh array (returned). */
  record(): WalkReference[] {
    const list: WalkReference[] = [];
    this.trace = list;
    return list;
  }

  /** Linear address of the access as a number (exact below 2^53). */
  get linearAddress(): number {
    return joinHalves(this.linearHi, this.linearLo);
  }

  /** Linear address of the access as a 64-bit bigint (CR2 for a #PF). */
  linearAddressBigint(): bigint {
    return addressToBigint(this.linearHi, this.linearLo);
  }

  /** True when the walk translated the address. */
  get ok(): boolean {
    return this.status === 'ok';
  }

  /**
   * A copy of this result (of the same class, so a `ShadowResult` keeps its
   * event), to keep past the next walk: walkers and MMUs fill one result
   * object in place on every call. A recorded reference list is copied too.
   */
  clone(): this {
    const copy = Object.assign(Object.create(Object.getPrototypeOf(this) as object) as this, this);
    copy.trace = this.trace === null ? null : this.trace.slice();
    return copy;
  }

  /** Resets the counters and status before a walk (the trace list is kept). */
  reset(hi: number, lo: number): void {
    this.status = 'ok';
    this.address = 0;
    this.pageSize = 4096;
    this.level = 0;
    this.references = 0;
    this.secondStageReferences = 0;
    this.adWrites = 0;
    this.writable = false;
    this.user = false;
    this.executable = false;
    this.global = false;
    this.dirty = false;
    this.protectionKey = 0;
    this.guestPhysicalAddress = 0;
    this.eptPermissions = 0;
    this.permissions = 0;
    this.errorCode = 0;
    this.exitQualification = 0;
    this.faultStatus = 0;
    this.linearHi = hi;
    this.linearLo = lo;
    if (this.trace !== null) this.trace.length = 0;
  }
}
