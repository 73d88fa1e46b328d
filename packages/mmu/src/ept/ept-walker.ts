/**
 * The EPT walker: guest-physical to host-physical translation through 4-level
 * or 5-level EPT (SDM 3C 28.2.2 "EPT Translation Mechanism"), with EPT
 * misconfigurations (28.2.3.1), EPT violations and their exit qualification
 * (28.2.3.2; Table 27-7), 1 GiB and 2 MiB pages, leaf memory types (28.2.6)
 * and accessed/dirty flags when EPTP bit 6 enables them (28.2.4).
 */
import type { Memory, Tracer } from '@hvsim/core';
import { bigintToHex, describeValue, getField64, readState } from '@hvsim/core';
import { TWO_32, checkAddress, highHalf } from '../common/address.js';
import { MmuUsageError } from '../common/mmu-error.js';
import { WalkResult } from '../common/walk-result.js';
import { EntryReader } from '../internal/entry-reader.js';
import type { TimeOptions } from '../common/memory-access.js';
import { timeSource, write32Safe } from '../common/memory-access.js';
// EPT tables index guest-physical addresses with the same 9-bit slices as x86 paging (SDM 3C 28.2.2 "EPT Translation Mechanism").
import { x86TableIndex } from '../x86/page-walker.js';
import { EPTE_LO, EPTP, EPT_MEMORY_TYPE, EPT_QUAL } from './regs.js';
import { TIME_OPTION_NAMES, checkOptionNames, cpuOption } from '../common/option-names.js';

/** Option names of EptWalker (and of NestedWalker, which hands them on). */
export const EPT_WALKER_OPTIONS = ['cpu', 'maxPhyAddr', 'executeOnly', 'page1gb', 'fiveLevel', 'tracer', ...TIME_OPTION_NAMES];

const { RWX, LARGE, ADDRESS, A: EPT_A, D: EPT_D, MEMORY_TYPE_SHIFT, IGNORE_PAT } = EPTE_LO;
const QUAL_WRITE = EPT_QUAL.WRITE;

/** Options of {@link EptWalker}: the processor's EPT capabilities. */
export interface EptWalkerOptions extends TimeOptions {
  /** MAXPHYADDR (36..52); EPT address bits at or above it are reserved. Default 46. */
  maxPhyAddr?: number;
  /** Execute-only translations supported (IA32_VMX_EPT_VPID_CAP bit 0). Default true. */
  executeOnly?: boolean;
  /** 1 GiB EPT pages supported (IA32_VMX_EPT_VPID_CAP bit 17). Default true. */
  page1gb?: boolean;
  /** 5-level EPT supported (IA32_VMX_EPT_VPID_CAP bit 7). Default true. */
  fiveLevel?: boolean;
  /** Receives an `mmu.walk` event per stand-alone walk. */
  tracer?: Tracer;
  /** Number of the CPU this model's trace events concern (docs/conventions.md "Tracing"); left out of the events when not given. */
  cpu?: number;
}

/** Decoded fields of an EPTP. */
export interface EptPointerFields {
  /** EPT paging-structure memory type, bits 2:0: 0 UC or 6 WB. */
  memoryType: number;
  /** Page-walk length: bits 5:3 plus 1. */
  levels: 4 | 5;
  /** Bit 6: accessed and dirty flags for EPT are enabled. */
  accessedDirty: boolean;
  /** Physical address of the EPT PML4/PML5 table (the EP4TA). */
  root: number;
}

/**
 * Decodes an EPTP and checks it as VM entry does (SDM 3C 26.2.1.1 "VM-Execution
 * Control Fields"): memory type UC or WB, a supported walk length, bits 11:8
 * and bits 63:N zero. A bad EPTP is a caller error here, not a walk result.
 */
export function decodeEptp(eptp: bigint, maxPhyAddr = 46, fiveLevel = true): EptPointerFields {
  if (typeof eptp !== 'bigint' || eptp < 0n || eptp > 0xffff_ffff_ffff_ffffn) {
    throw new MmuUsageError('bad-argument', `EPTP must be an unsigned 64-bit bigint, got ${describeValue(eptp)}`);
  }
  const memoryType = Number(getField64(eptp, EPTP.MEMORY_TYPE));
  if (memoryType !== EPT_MEMORY_TYPE.UC && memoryType !== EPT_MEMORY_TYPE.WB) {
    throw new MmuUsageError('bad-argument', `EPTP ${bigintToHex(eptp)}: memory type ${memoryType} is not UC (0) or WB (6)`);
  }
  const walk = Number(getField64(eptp, EPTP.WALK_LENGTH)) + 1;
  if (walk !== 4 && !(walk === 5 && fiveLevel)) {
    throw new MmuUsageError('bad-argument', `EPTP ${bigintToHex(eptp)}: page-walk length ${walk} is not supported`);
  }
  if (getField64(eptp, EPTP.RESERVED) !== 0n || eptp >> BigInt(maxPhyAddr) !== 0n) {
    throw new MmuUsageError('bad-argument', `EPTP ${bigintToHex(eptp)}: reserved bits 11:8 or 63:${maxPhyAddr} are set`);
  }
  return {
    memoryType,
    levels: walk === 5 ? 5 : 4,
    accessedDirty: getField64(eptp, EPTP.AD_ENABLE) !== 0n,
    root: Number(getField64(eptp, EPTP.ADDRESS) << 12n),
  };
}

/** Walks EPT paging structures for one EPTP at a time. */
export class EptWalker {
  /** Stand-alone walks plus translations made for nested walks. */
  walks = 0;
  /** EPT entries read, over all walks. */
  references = 0;
  /** EPT violations produced. */
  violations = 0;
  /** EPT misconfigurations produced. */
  misconfigs = 0;

  /** Permissions (bit 0 R, 1 W, 2 X) of the last successful translation. */
  lastPermissions = 0;
  /** Page size of the last successful translation. */
  lastPageSize = 4096;
  /** EPT memory type of the last successful translation's leaf. */
  lastMemoryType = 0;
  /** Ignore-PAT bit of the last successful translation's leaf. */
  lastIgnorePat = false;

  private eptp = 0n;
  private root = 0;
  private levels = 4;
  private ad = false;
  private readonly maxPhyAddr: number;
  private readonly hiAddrMask: number;
  private readonly rsvdHi: number;
  private readonly executeOnly: boolean;
  private readonly page1gb: boolean;
  private readonly fiveLevel: boolean;
  private readonly tracer: Tracer | undefined;
  private readonly cpu: number | undefined;
  private readonly now: () => number;
  private readonly scratch = new WalkResult();
  private readonly entryHpa = new Float64Array(6);
  private readonly entryLo = new Uint32Array(6);
  private readonly reader: EntryReader;

  constructor(
    private readonly memory: Memory,
    options: EptWalkerOptions = {},
  ) {
    checkOptionNames(options, EPT_WALKER_OPTIONS, 'EptWalker');
    this.reader = new EntryReader(memory);
    const m = options.maxPhyAddr ?? 46;
    if (!Number.isInteger(m) || m < 36 || m > 52) throw new MmuUsageError('bad-argument', `maxPhyAddr must be an integer in [36, 52], got ${describeValue(m)}`);
    this.maxPhyAddr = m;
    this.hiAddrMask = m >= 52 ? 0xfffff : (1 << (m - 32)) - 1;
    this.rsvdHi = 0xfffff & ~this.hiAddrMask;
    this.executeOnly = options.executeOnly ?? true;
    this.page1gb = options.page1gb ?? true;
    this.fiveLevel = options.fiveLevel ?? true;
    this.tracer = options.tracer;
    this.cpu = cpuOption(options.cpu, 'EptWalker');
    this.now = timeSource(options);
  }

  /** Loads an EPTP (checked as VM entry checks it). */
  setEptp(eptp: bigint): void {
    const f = decodeEptp(eptp, this.maxPhyAddr, this.fiveLevel);
    this.eptp = eptp;
    this.root = f.root;
    this.levels = f.levels;
    this.ad = f.accessedDirty;
  }

  /** The current EPTP. */
  getEptp(): bigint {
    return this.eptp;
  }

  /** The EP4TA (EPT PML4/PML5 table address) TLB entries are tagged with (SDM 3C 28.3.1). */
  get ep4ta(): number {
    return this.root;
  }

  /** True when EPTP bit 6 enables accessed and dirty flags. */
  get accessedDirtyEnabled(): boolean {
    return this.ad;
  }

  /**
   * Translates `gpa` for `access` (exit-qualification bits 2:0: 1 read, 2
   * write, 4 fetch; `EPT_ACCESS`): `address` is the host-physical
   * address, or the status says which EPT exit it causes.
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this walker reuses on every call (no allocation): read it before the
   * next call, or keep a `clone()`.
   */
  walk(gpa: number, access: number, out: WalkResult = this.scratch): WalkResult {
    checkAddress(gpa, 'guest-physical address');
    if ((access | 0) !== access || access < 1 || access > 7) throw new MmuUsageError('bad-argument', `EPT access must be exit-qualification bits 2:0 (1 read, 2 write, 4 fetch), got ${describeValue(access)}`);
    out.reset(0, 0);
    out.guestPhysicalAddress = gpa;
    const hpa = this.translate(gpa, access, 0, out);
    if (hpa >= 0) {
      out.address = hpa;
      out.pageSize = this.lastPageSize;
      out.eptPermissions = this.lastPermissions;
    }
    this.tracer?.emit({
      kind: 'mmu.walk',
      cycle: this.now(),
      source: 'ept',
      cpu: this.cpu,
      address: gpa,
      references: out.references,
      ...(out.status === 'ok' ? {} : { fault: out.status }),
    });
    return out;
  }

  /**
   * The walk itself, adding to `out.references` and, on a fault, setting
   * `out.status`, `out.level`, `out.guestPhysicalAddress` and (violations)
   * `out.exitQualification` = access | permissions | `qualFlags` (bits 7-8).
   * Returns the host-physical address or -1. Used by the nested walker too.
   */
  translate(gpa: number, access: number, qualFlags: number, out: WalkResult): number {
    this.walks++;
    const reader = this.reader;
    const hi = highHalf(gpa);
    const lo = gpa >>> 0;
    const hiAddrMask = this.hiAddrMask;
    const top = this.levels;
    let table = this.root;
    let level = top;
    let perms = RWX;
    let elo = 0;
    let ehi = 0;
    let refs = 0;
    const ad = this.ad;
    const rsvdHi = this.rsvdHi;
    for (;;) {
      const hpa = table + x86TableIndex(level, hi, lo) * 8;
      reader.read(hpa);
      elo = reader.lo;
      ehi = reader.hi;
      refs++;
      if (out.trace !== null) out.trace.push({ kind: 'ept', level, address: hpa, value: (BigInt(ehi) << 32n) | BigInt(elo) });
      if (ad) {
        this.entryHpa[level] = hpa;
        this.entryLo[level] = elo;
      }
      const rwx = elo & RWX;
      perms &= rwx;
      if (rwx === 0) {
        // Not present (SDM 3C 28.2.2): EPT violation.
        return this.violation(out, gpa, level, refs, access | (perms << 3) | qualFlags);
      }
      const large = (elo & LARGE) !== 0;
      const leaf = level === 1 || (large && level <= 3);
      // Fast accept: readable, bits 7:3 clear, no address bit above MAXPHYADDR
      // (a well-formed non-leaf entry); anything else gets the full check.
      // Fast accept of the common shapes (readable, no address bit above
      // MAXPHYADDR): a non-leaf with bits 7:3 clear, or a 4 KiB leaf of
      // memory type WB or UC; anything else gets the full check.
      const common = (elo & 1) === 1 && (ehi & rsvdHi) === 0 && (leaf ? level === 1 && ((elo & 0x38) === 0x30 || (elo & 0x38) === 0) : (elo & 0xf8) === 0);
      if (!common && this.misconfigured(level, elo, ehi, rwx, large, leaf)) {
        out.references += refs;
        this.references += refs;
        out.status = 'ept-misconfig';
        out.level = level;
        out.guestPhysicalAddress = gpa;
        this.misconfigs++;
        return -1;
      }
      if (leaf) break;
      table = (ehi & hiAddrMask) * TWO_32 + ((elo & ADDRESS) >>> 0);
      level--;
    }
    // Access rights (SDM 3C 28.2.3.2): every entry must allow the access.
    if ((access & ~perms & RWX) !== 0) {
      return this.violation(out, gpa, level, refs, access | (perms << 3) | qualFlags);
    }
    out.references += refs;
    this.references += refs;
    let base: number;
    let size: number;
    if (level === 1) {
      size = 4096;
      base = (ehi & hiAddrMask) * TWO_32 + ((elo & ADDRESS) >>> 0) + (lo & 0xfff);
    } else if (level === 2) {
      size = 0x20_0000;
      base = (ehi & hiAddrMask) * TWO_32 + ((elo & 0xffe0_0000) >>> 0) + (lo & 0x1f_ffff);
    } else {
      size = 0x4000_0000;
      base = (ehi & hiAddrMask) * TWO_32 + ((elo & 0xc000_0000) >>> 0) + (lo & 0x3fff_ffff);
    }
    if (ad) {
      // EPT A/D (SDM 3C 28.2.4): A in every entry used, D in the leaf on a write.
      for (let l = top; l >= level; l--) {
        const old = this.entryLo[l] ?? 0;
        const want = l === level && (access & QUAL_WRITE) !== 0 ? EPT_A | EPT_D : EPT_A;
        // Dropped where no writable memory backs the entry (common/memory-access.ts).
        if ((old & want) !== want && write32Safe(this.memory, this.entryHpa[l] ?? 0, (old | want) >>> 0)) out.adWrites++;
      }
    }
    this.lastPermissions = perms;
    this.lastPageSize = size;
    this.lastMemoryType = (elo >>> MEMORY_TYPE_SHIFT) & 7;
    this.lastIgnorePat = (elo & IGNORE_PAT) !== 0;
    return base;
  }

  /** Saves the counters and the loaded EPTP. */
  saveState(): {
    /** Identifies a saved EPT walker. */
    type: 'hvsim.mmu.ept-walker';
    /** Format version (1). */
    version: 1;
    /** The EPTP, as a hex string. */
    eptp: string;
    /** Walks made. */
    walks: number;
    /** EPT paging-structure entries read. */
    references: number;
    /** Walks that ended in an EPT violation. */
    violations: number;
    /** Walks that ended in an EPT misconfiguration. */
    misconfigs: number;
  } {
    return {
      type: 'hvsim.mmu.ept-walker',
      version: 1,
      eptp: bigintToHex(this.eptp),
      walks: this.walks,
      references: this.references,
      violations: this.violations,
      misconfigs: this.misconfigs,
    };
  }

  /** Restores {@link saveState} output. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.ept-walker', 1);
    const eptp = s.bigint('eptp');
    const counters = [s.address('walks'), s.address('references'), s.address('violations'), s.address('misconfigs')] as const;
    if (eptp === 0n) {
      this.eptp = 0n;
      this.root = 0;
      this.levels = 4;
      this.ad = false;
    } else {
      this.setEptp(eptp);
    }
    [this.walks, this.references, this.violations, this.misconfigs] = counters;
  }

  /** SDM 3C 28.2.3.1 "EPT Misconfigurations" for a present entry. */
  private misconfigured(level: number, elo: number, ehi: number, rwx: number, large: boolean, leaf: boolean): boolean {
    // Write permission without read permission.
    if ((rwx & (EPTE_LO.R | EPTE_LO.W)) === EPTE_LO.W) return true;
    // Execute-only without the capability.
    if (rwx === EPTE_LO.X && !this.executeOnly) return true;
    // Address bits at or above MAXPHYADDR.
    if ((ehi & this.rsvdHi) !== 0) return true;
    if (level >= 4) return (elo & EPTE_LO.RSVD_PML4) !== 0;
    if (!leaf) return (elo & EPTE_LO.RSVD_NONLEAF) !== 0;
    if (large && level === 3 && (!this.page1gb || (elo & EPTE_LO.RSVD_1G) !== 0)) return true;
    if (large && level === 2 && (elo & EPTE_LO.RSVD_2M) !== 0) return true;
    // Reserved leaf memory types 2, 3 and 7.
    const type = (elo >>> EPTE_LO.MEMORY_TYPE_SHIFT) & 7;
    return type === 2 || type === 3 || type === 7;
  }

  /** Records an EPT violation found outside a walk (an A/D write through a read-only translation). */
  reportViolation(out: WalkResult, gpa: number, level: number, qualification: number): void {
    this.violation(out, gpa, level, 0, qualification);
  }

  private violation(out: WalkResult, gpa: number, level: number, refs: number, qualification: number): number {
    out.references += refs;
    this.references += refs;
    out.status = 'ept-violation';
    out.level = level;
    out.guestPhysicalAddress = gpa;
    out.exitQualification = qualification;
    this.violations++;
    return -1;
  }
}
