/**
 * VMSAv8-64 stage 1 translation of the EL1&0 regime (VA -> IPA or PA) with
 * the 4 KiB granule (Arm ARM D8.2 "Translation process", D8.3 descriptor
 * formats, D8.4 memory access control, D8.15/D8.16 faults): two VA ranges
 * selected by VA bit 55, TnSZ/EPDn/TBIn, levels 0-3 with blocks at levels 1
 * and 2, AP[2:1] with PAN, UXN/PXN with WXN, hierarchical table limits, the
 * Access flag (fault, or set by hardware with TCR_EL1.HA), dirty state
 * through DBM with TCR_EL1.HD, output address size checks, and Synchronous
 * External aborts for tables outside memory. With a stage 2 in the context,
 * every table access and the output address go through it (a stage 2 fault
 * on a table access reports S1PTW).
 */
import type { Memory, Tracer } from '@hvsim/core';
import { describeValue } from '@hvsim/core';
import { TWO_32, checkAddress, checkHalves, highHalf } from '../common/address.js';
import type { TimeOptions } from '../common/memory-access.js';
import { timeSource } from '../common/memory-access.js';
import { MmuUsageError } from '../common/mmu-error.js';
import { WalkResult } from '../common/walk-result.js';
import { DescriptorReader } from './descriptor-reader.js';
import type { Stage1Context, Stage1Region } from './stage1-context.js';
import { S1_TABLE_LIMITS, stage1Allows, stage1Permissions } from './stage1-permissions.js';
import { ARM_FAULT_STATUS, ARM_ISS, S1_ACCESS, S1_ACCESS_MASK, S1_HI, S1_LO, S1_PERM } from './stage1-regs.js';
import { S2_ACCESS } from './stage2-regs.js';
import { TIME_OPTION_NAMES, checkOptionNames, cpuOption } from '../common/option-names.js';

/** Option names the constructor knows (a misspelled one throws). */
const STAGE1_WALKER_OPTIONS = ['cpu', 'tracer', ...TIME_OPTION_NAMES];

const { VALID, TABLE, AF, AP_RO, NG, ADDRESS } = S1_LO;
const ALL_PERMS = S1_PERM.PR | S1_PERM.PW | S1_PERM.PX | S1_PERM.UR | S1_PERM.UW | S1_PERM.UX;

/** Options of {@link Stage1Walker}. */
export interface Stage1WalkerOptions extends TimeOptions {
  /** Receives an `mmu.walk` event per walk. */
  tracer?: Tracer;
  /** Number of the CPU this model's trace events concern (docs/conventions.md "Tracing"); left out of the events when not given. */
  cpu?: number;
}

/** Walks stage 1 tables for any {@link Stage1Context}. */
export class Stage1Walker {
  /** Walks made. */
  walks = 0;
  /** Stage 1 descriptors read. */
  references = 0;
  /** Walks that ended in a fault (stage 1 or stage 2). */
  faults = 0;
  /** Size of the stage 2 page that mapped the output of the last successful guest walk (0 without stage 2): a TLB fill needs it. */
  lastStage2PageSize = 0;

  private readonly reader: DescriptorReader;
  private readonly scratch = new WalkResult();
  /** Result of the stage 2 walks a guest walk makes. */
  private readonly s2out = new WalkResult();
  /** Stage 2 references of one stage 2 walk, copied into the caller's trace when it records. */
  private readonly s2trace: WalkResult['trace'] = [];
  private readonly tracer: Tracer | undefined;
  private readonly cpu: number | undefined;
  private readonly now: () => number;

  constructor(memory: Memory, options: Stage1WalkerOptions = {}) {
    checkOptionNames(options, STAGE1_WALKER_OPTIONS, 'Stage1Walker');
    this.reader = new DescriptorReader(memory);
    this.tracer = options.tracer;
    this.cpu = cpuOption(options.cpu, 'Stage1Walker');
    this.now = timeSource(options);
  }

  /**
   * Translates a VA below 2^53 (the TTBR0_EL1 range); see {@link walk64}.
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this walker reuses on every call (no allocation): read it before the
   * next call, or keep a `clone()`.
   */
  walk(ctx: Stage1Context, va: number, access: number, out: WalkResult = this.scratch): WalkResult {
    checkAddress(va, 'VA');
    return this.walk64(ctx, highHalf(va), va >>> 0, access, out);
  }

  /**
   * Translates the 64-bit VA `hi:lo` for `access` ({@link S1_ACCESS} flags).
   * On success `address` is the PA (the IPA is `guestPhysicalAddress` with a
   * stage 2), `permissions` the {@link S1_PERM} bits, `global` = nG clear,
   * `writable`/`executable`/`user` for this access's Exception level. A
   * fault is status `'stage1-fault'` (or `'stage2-fault'`) with `level`,
   * `faultStatus` (DFSC/IFSC) and `errorCode` (ISS with WnR, S1PTW); the VA
   * for FAR_ELx is `linearAddressBigint()`.
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this walker reuses on every call (no allocation): read it before the
   * next call, or keep a `clone()`.
   */
  walk64(ctx: Stage1Context, hi: number, lo: number, access: number, out: WalkResult = this.scratch): WalkResult {
    checkHalves(hi, lo, 'VA');
    if ((access | 0) !== access || (access & ~S1_ACCESS_MASK) !== 0 || (access & 7) === 0 || (access & 6) === 6) {
      throw new MmuUsageError('bad-argument', `stage 1 access must be S1_ACCESS flags (READ, WRITE or EXECUTE, with EL0 or PAN), got ${describeValue(access)}`);
    }
    out.reset(hi, lo);
    this.walks++;
    this.lastStage2PageSize = 0;
    const region: Stage1Region = (hi & 0x80_0000) !== 0 ? ctx.region1 : ctx.region0;
    if (!ctx.mmuEnabled) return this.flat(ctx, hi, lo, region.tbi && !((access & S1_ACCESS.EXECUTE) !== 0 && region.tbid), access, out);
    if (!stage1InRange(ctx, hi, lo, access) || region.disabled) return this.fault(out, access, ARM_FAULT_STATUS.TRANSLATION, 0);
    const outLimit = ctx.outLimit;
    if (region.base >= outLimit) return this.fault(out, access, ARM_FAULT_STATUS.ADDRESS_SIZE, 0);
    const stage2 = ctx.stage2;
    const reader = this.reader;
    const limitMask = region.hpd ? 0 : S1_TABLE_LIMITS;
    let limits = 0;
    let level = region.startLevel;
    let table = region.base;
    let index = indexAt(level, hi, lo, region.startBits);
    for (;;) {
      const ipa = table + index * 8;
      let address = ipa;
      if (stage2 !== null) {
        // The table access is itself translated by stage 2 (D8.2, "stage 2 translation of stage 1 table accesses").
        const s2 = this.stage2Walk(stage2, ipa, S2_ACCESS.READ | S2_ACCESS.S1PTW, out);
        if (s2 < 0) return out;
        address = s2;
      }
      const read = reader.read(address);
      out.references++;
      this.references++;
      if (!read) return this.fault(out, access, ARM_FAULT_STATUS.EXTERNAL_ON_WALK, level);
      const dlo = reader.lo;
      const dhi = reader.hi;
      if (out.trace !== null) out.trace.push({ kind: 'guest', level, address, value: (BigInt(dhi >>> 0) << 32n) | BigInt(dlo >>> 0) });
      if ((dlo & VALID) === 0) return this.fault(out, access, ARM_FAULT_STATUS.TRANSLATION, level);
      const isTable = (dlo & TABLE) !== 0;
      // Level 0 blocks (no FEAT_LPA2) and level 3 0b01 descriptors are invalid (D8.3).
      if (!isTable && (level === 0 || level === 3)) return this.fault(out, access, ARM_FAULT_STATUS.TRANSLATION, level);
      const next = (dhi & S1_HI.ADDRESS) * TWO_32 + ((dlo & ADDRESS) >>> 0);
      if (next >= outLimit) return this.fault(out, access, ARM_FAULT_STATUS.ADDRESS_SIZE, level);
      if (isTable && level < 3) {
        limits |= dhi & limitMask;
        table = next;
        level++;
        index = indexAt(level, hi, lo, 9);
        continue;
      }
      // Leaf. An Access flag fault comes before a Permission fault; with
      // TCR_EL1.HA the AF update is made only for a permitted access.
      let newLo = dlo;
      if ((dlo & AF) === 0) {
        if (!ctx.hardwareAccessFlag) return this.fault(out, access, ARM_FAULT_STATUS.ACCESS_FLAG, level);
        newLo |= AF;
      }
      let perm = stage1Permissions(dlo, dhi, limits, ctx.wxn);
      if (!stage1Allows(perm, access)) {
        // A write to a clean DBM page (AP[2] = 1, DBM = 1) with TCR_EL1.HD makes it dirty: AP[2] cleared (D8.4.x, hardware dirty state).
        const dirtyable = ctx.hardwareDirty && (access & S1_ACCESS.WRITE) !== 0 && (dhi & S1_HI.DBM) !== 0 && (dlo & AP_RO) !== 0;
        const dirtyPerm = dirtyable ? stage1Permissions(dlo & ~AP_RO, dhi, limits, ctx.wxn) : 0;
        if (!dirtyable || !stage1Allows(dirtyPerm, access)) return this.fault(out, access, ARM_FAULT_STATUS.PERMISSION, level);
        perm = dirtyPerm;
        newLo &= ~AP_RO;
      }
      if (newLo !== dlo) {
        let target = address;
        if (stage2 !== null) {
          // The hardware update is a write for stage 2.
          const s2 = this.stage2Walk(stage2, ipa, S2_ACCESS.WRITE | S2_ACCESS.S1PTW, out);
          if (s2 < 0) return out;
          target = s2;
        }
        if (!reader.writeLow(target, newLo)) return this.fault(out, access, ARM_FAULT_STATUS.EXTERNAL_ON_WALK, level);
        out.adWrites++;
      }
      const size = level === 3 ? 4096 : level === 2 ? 0x20_0000 : 0x4000_0000;
      // Integer masks, not `%` on doubles: the page offset lies in the low halves.
      const mask = size - 1;
      const output = next - ((dlo & ADDRESS & mask) >>> 0) + (lo & mask);
      out.level = level;
      out.pageSize = size;
      out.permissions = perm;
      out.global = (dlo & NG) === 0;
      out.dirty = (newLo & AP_RO) === 0;
      this.describe(out, perm, access);
      if (stage2 !== null) return this.finalStage2(stage2, output, access, out);
      out.address = output;
      this.tracer?.emit({ kind: 'mmu.walk', cycle: this.now(), source: 'mmu.stage1', cpu: this.cpu, address: out.linearAddress, references: out.references });
      return out;
    }
  }

  /** SCTLR_EL1.M = 0: VA = output address, every access permitted (D8.2.x, "stage 1 disabled"). */
  private flat(ctx: Stage1Context, hi: number, lo: number, tbi: boolean, access: number, out: WalkResult): WalkResult {
    const h = tbi ? hi & 0x00ff_ffff : hi;
    const va = h * TWO_32 + lo;
    if (h >= 0x20_0000 || va >= 2 ** ctx.paBits) return this.fault(out, access, ARM_FAULT_STATUS.ADDRESS_SIZE, 0);
    out.level = 0;
    out.pageSize = 4096;
    out.permissions = ALL_PERMS;
    out.global = true;
    out.dirty = true;
    this.describe(out, ALL_PERMS, access);
    if (ctx.stage2 !== null) return this.finalStage2(ctx.stage2, va, access, out);
    out.address = va;
    return out;
  }

  private describe(out: WalkResult, perm: number, access: number): void {
    const el0 = (access & S1_ACCESS.EL0) !== 0;
    out.writable = (perm & (el0 ? S1_PERM.UW : S1_PERM.PW)) !== 0;
    out.executable = (perm & (el0 ? S1_PERM.UX : S1_PERM.PX)) !== 0;
    out.user = (perm & S1_PERM.UR) !== 0;
  }

  /** The output IPA through stage 2 (the final access; a fault here has S1PTW = 0). */
  private finalStage2(stage2: NonNullable<Stage1Context['stage2']>, ipa: number, access: number, out: WalkResult): WalkResult {
    out.guestPhysicalAddress = ipa;
    if (this.stage2Walk(stage2, ipa, access & (S2_ACCESS.READ | S2_ACCESS.WRITE | S2_ACCESS.EXECUTE | S2_ACCESS.EL0), out) < 0) return out;
    const s2 = this.s2out;
    out.address = s2.address;
    this.lastStage2PageSize = s2.pageSize;
    // A combined translation covers the smaller of the two pages.
    if (s2.pageSize < out.pageSize) out.pageSize = s2.pageSize;
    out.eptPermissions = s2.eptPermissions;
    if (!s2.writable) out.writable = false;
    if (!s2.executable) out.executable = false;
    this.tracer?.emit({ kind: 'mmu.walk', cycle: this.now(), source: 'mmu.stage1', cpu: this.cpu, address: out.linearAddress, references: out.references });
    return out;
  }

  /**
   * Translates `ipa` through stage 2 and adds its references to `out`.
   * Returns the PA, or -1 after copying a stage 2 fault into `out`.
   */
  private stage2Walk(stage2: NonNullable<Stage1Context['stage2']>, ipa: number, access: number, out: WalkResult): number {
    const s2 = this.s2out;
    s2.trace = out.trace === null ? null : this.s2trace;
    stage2.walk(ipa, access, s2);
    out.references += s2.references;
    out.secondStageReferences += s2.references;
    out.adWrites += s2.adWrites;
    if (out.trace !== null && s2.trace !== null) for (const r of s2.trace) out.trace.push(r);
    if (s2.status === 'ok') return s2.address;
    this.faults++;
    out.status = 'stage2-fault';
    out.level = s2.level;
    out.faultStatus = s2.faultStatus;
    out.errorCode = s2.errorCode;
    out.guestPhysicalAddress = s2.guestPhysicalAddress;
    this.tracer?.emit({ kind: 'mmu.walk', cycle: this.now(), source: 'mmu.stage1', cpu: this.cpu, address: out.linearAddress, references: out.references, fault: 'stage2-fault' });
    return -1;
  }

  private fault(out: WalkResult, access: number, status: number, level: number): WalkResult {
    out.status = 'stage1-fault';
    out.level = level;
    out.faultStatus = status + level;
    // WnR is 0 for an Instruction Abort.
    out.errorCode = out.faultStatus | ((access & (S1_ACCESS.WRITE | S1_ACCESS.EXECUTE)) === S1_ACCESS.WRITE ? ARM_ISS.WNR : 0);
    this.faults++;
    this.tracer?.emit({ kind: 'mmu.walk', cycle: this.now(), source: 'mmu.stage1', cpu: this.cpu, address: out.linearAddress, references: out.references, fault: 'stage1-fault' });
    return out;
  }
}

/**
 * True when the VA `hi:lo` lies in the TTBR0_EL1 or TTBR1_EL1 range that
 * VA bit 55 selects: bits 63:(64 - TnSZ) all equal to bit 55, the top byte
 * excluded when TBIn applies to the access (D8.2, "VA ranges" and "Address
 * tagging"). Outside it, a walk is a level 0 Translation fault.
 */
export function stage1InRange(ctx: Stage1Context, hi: number, lo: number, access: number): boolean {
  const upper = (hi & 0x80_0000) !== 0; // VA bit 55
  const region = upper ? ctx.region1 : ctx.region0;
  const tbi = region.tbi && !((access & S1_ACCESS.EXECUTE) !== 0 && region.tbid);
  const hiMask = tbi ? region.hiMaskTbi : region.hiMask;
  const loMask = region.loMask;
  return (hi & hiMask) >>> 0 === (upper ? hiMask : 0) && (lo & loMask) >>> 0 === (upper ? loMask : 0);
}

/** Index of the descriptor at `level` using `bits` index bits (fewer than 9 at a starting level that resolves fewer). */
function indexAt(level: number, hi: number, lo: number, bits: number): number {
  const shift = 12 + 9 * (3 - level);
  const value = shift >= 32 ? hi >>> (shift - 32) : (lo >>> shift) | (hi << (32 - shift));
  return value & ((1 << bits) - 1);
}
