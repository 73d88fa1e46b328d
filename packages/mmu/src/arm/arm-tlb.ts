/**
 * An Arm TLB for the EL1&0 translation regime (Arm ARM D8.10 "Translation
 * Lookaside Buffers", D8.13 "TLB maintenance"): entries cache stage 1
 * translations, or combined stage 1 + stage 2 translations under a VMID;
 * non-global entries (nG = 1) are tagged by ASID, global ones match every
 * ASID. The TLBI operations a guest kernel and KVM use are methods and one
 * `tlbi` entry point taking the operation's Xt register. Entries live in
 * typed arrays; a hit allocates nothing. Every invalidation bumps `epoch`,
 * so a CPU's micro-TLB can see that it may be stale.
 */
import type { Tracer } from '@hvsim/core';
import { SeededRandom, describeValue, readState } from '@hvsim/core';
import type { TimeOptions } from '../common/memory-access.js';
import { timeSource } from '../common/memory-access.js';
import { MmuUsageError } from '../common/mmu-error.js';
import type { WalkResult } from '../common/walk-result.js';
import type { TlbReplacement } from '../tlb/tlb.js';
import { TIME_OPTION_NAMES, checkOptionNames, cpuOption } from '../common/option-names.js';

/** Option names the constructor knows (a misspelled one throws). */
const ARM_TLB_OPTIONS = ['cpu', 'entries', 'ways', 'replacement', 'seed', 'ipas2DropsCombined', 'tracer', 'source', ...TIME_OPTION_NAMES];

/** Options of {@link ArmTlb}. */
export interface ArmTlbOptions extends TimeOptions {
  /** Total entries (power of two). Default 64. */
  entries?: number;
  /** Ways per set (power of two dividing `entries`). Default 4. */
  ways?: number;
  /** Victim choice in a full set. Default `'lru'`. */
  replacement?: TlbReplacement;
  /** Seed for `'random'` replacement. */
  seed?: number;
  /**
   * TLBI IPAS2E1/IPAS2LE1 also drop combined stage 1 + stage 2 entries of
   * the IPA. Default true. The architecture does not require it (software
   * follows with TLBI VMALLE1): false keeps them, so a hypervisor that forgets
   * the VMALLE1 sees stale translations as on hardware.
   */
  ipas2DropsCombined?: boolean;
  /** Receives `tlb.hit`/`tlb.miss`/`tlb.flush` events. */
  tracer?: Tracer;
  /** Number of the CPU this model's trace events concern (docs/conventions.md "Tracing"); left out of the events when not given. */
  cpu?: number;
  /** Source name on trace events. Default `'arm-tlb'`. */
  source?: string;
}

/** Stage 2 permission bits kept in a combined entry. */
export const ARM_TLB_S2 = {
  /** `0x1` */
  READ: 0x1,
  /** `0x2` */
  WRITE: 0x2,
  /** Execute, for the Exception level of the access that filled the entry (FEAT_XNX may differ per level). Value `0x4`. */
  EXECUTE_EL1: 0x4,
  /** `0x8` */
  EXECUTE_EL0: 0x8,
} as const;

/**
 * The TLBI operations of the EL1&0 regime: what each invalidates (D8.13 and
 * each instruction's page). `IS` forms act on every PE of the Inner
 * Shareable domain: the caller applies them to each PE's TLB.
 */
export const ARM_TLBI = {
  /** All stage 1 entries of the current VMID (every ASID, global too). */
  VMALLE1: 'vmall',
  /** VMALLE1, Inner Shareable: the same on every PE of the domain. */
  VMALLE1IS: 'vmall',
  /** Entries for the VA of Xt: global, or with Xt's ASID. */
  VAE1: 'va',
  /** VAE1, Inner Shareable. */
  VAE1IS: 'va',
  /** As VAE1, last level only (no walk caches are modelled: the same). */
  VALE1: 'va',
  /** VALE1, Inner Shareable. */
  VALE1IS: 'va',
  /** Non-global entries with Xt's ASID. */
  ASIDE1: 'asid',
  /** ASIDE1, Inner Shareable. */
  ASIDE1IS: 'asid',
  /** Entries for the VA of Xt, any ASID. */
  VAAE1: 'vaa',
  /** VAAE1, Inner Shareable. */
  VAAE1IS: 'vaa',
  /** As VAAE1, last level only (no walk caches are modelled: the same). */
  VAALE1: 'vaa',
  /** VAALE1, Inner Shareable. */
  VAALE1IS: 'vaa',
  /** Stage 1, stage 2 and combined entries of the current VMID. */
  VMALLS12E1: 'vmall',
  /** VMALLS12E1, Inner Shareable. */
  VMALLS12E1IS: 'vmall',
  /** Stage 2 entries for the IPA of Xt (combined entries only with `ipas2DropsCombined`). */
  IPAS2E1: 'ipa',
  /** IPAS2E1, Inner Shareable. */
  IPAS2E1IS: 'ipa',
  /** As IPAS2E1, last level only (the same here). */
  IPAS2LE1: 'ipa',
  /** IPAS2LE1, Inner Shareable. */
  IPAS2LE1IS: 'ipa',
  /** Every EL1&0 entry of every VMID. */
  ALLE1: 'all',
  /** ALLE1, Inner Shareable. */
  ALLE1IS: 'all',
} as const;

/** A TLBI operation name. */
export type ArmTlbiOp = keyof typeof ARM_TLBI;

function isPowerOfTwo(n: number): boolean {
  return Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
}

/** Saved state of an {@link ArmTlb}. */
export interface ArmTlbState {
  /** Identifies a saved Arm TLB. */
  type: 'hvsim.mmu.arm-tlb';
  /** Format version (1). */
  version: 1;
  /** Total entries of the saved TLB (must match the restoring one). */
  entries: number;
  /** Ways per set (must match). */
  ways: number;
  /** Victim choice (must match). */
  replacement: TlbReplacement;
  /** hits, misses, fills, invalidations, clock, epoch. */
  counters: number[];
  /** State of the random-replacement generator. */
  random: ReturnType<SeededRandom['saveState']>;
  /** Valid entries: [index, vpn, shift, s1Shift, vmid, asid, global, frame, perms, s2perms, combined, ipa, s2Shift, stamp]. */
  live: number[][];
}

/** A set-associative Arm TLB for 4 KiB, 2 MiB and 1 GiB entries. */
export class ArmTlb {
  /** Lookups that hit. */
  hits = 0;
  /** Lookups that missed. */
  misses = 0;
  /** Entries filled. */
  fills = 0;
  /** Entries dropped by invalidation operations. */
  invalidations = 0;
  /** Bumped by every invalidation operation (whether or not it dropped anything) and by `restoreState`. */
  epoch = 0;

  /** Total entries (a power of two). */
  readonly entries: number;
  /** Ways per set. */
  readonly ways: number;
  /** Victim choice in a full set. */
  readonly replacement: TlbReplacement;
  /** TLBI IPAS2E1/IPAS2LE1 also drop combined entries of the IPA (see {@link ArmTlbOptions.ipas2DropsCombined}). */
  readonly ipas2DropsCombined: boolean;
  private readonly sets: number;
  private readonly lru: boolean;
  private readonly valid: Uint8Array;
  /** VA[55:shift]. */
  private readonly vpn: Float64Array;
  private readonly shift: Uint8Array;
  /** log2 of the stage 1 page the entry belongs to (by-VA invalidation drops every piece of it). */
  private readonly s1Shift: Uint8Array;
  private readonly vmid: Uint16Array;
  private readonly asid: Uint16Array;
  private readonly global: Uint8Array;
  private readonly frame: Float64Array;
  private readonly perms: Uint8Array;
  private readonly s2perms: Uint8Array;
  private readonly combined: Uint8Array;
  /** IPA of the entry's first byte (combined entries). */
  private readonly ipa: Float64Array;
  /** log2 of the stage 2 page that mapped it (combined entries). */
  private readonly s2Shift: Uint8Array;
  private readonly stamp: Float64Array;
  private readonly perSize = new Int32Array(3);
  private clock = 0;
  private readonly random: SeededRandom;
  private readonly tracer: Tracer | undefined;
  private readonly cpu: number | undefined;
  private readonly now: () => number;
  private readonly source: string;

  constructor(options: ArmTlbOptions = {}) {
    checkOptionNames(options, ARM_TLB_OPTIONS, 'ArmTlb');
    const entries = options.entries ?? 64;
    const ways = options.ways ?? 4;
    if (!isPowerOfTwo(entries) || entries > 1 << 20) throw new MmuUsageError('bad-argument', `Arm TLB entries must be a power of two up to 2^20, got ${describeValue(entries)}`);
    if (!isPowerOfTwo(ways) || ways > entries) throw new MmuUsageError('bad-argument', `Arm TLB ways must be a power of two no larger than entries (${entries}), got ${describeValue(ways)}`);
    const replacement: unknown = options.replacement ?? 'lru';
    if (replacement !== 'lru' && replacement !== 'fifo' && replacement !== 'random') {
      throw new MmuUsageError('bad-argument', `Arm TLB replacement must be 'lru', 'fifo' or 'random', got ${describeValue(replacement)}`);
    }
    this.entries = entries;
    this.ways = ways;
    this.sets = entries / ways;
    this.replacement = replacement;
    this.lru = replacement === 'lru';
    this.ipas2DropsCombined = options.ipas2DropsCombined ?? true;
    this.valid = new Uint8Array(entries);
    this.vpn = new Float64Array(entries);
    this.shift = new Uint8Array(entries);
    this.s1Shift = new Uint8Array(entries);
    this.vmid = new Uint16Array(entries);
    this.asid = new Uint16Array(entries);
    this.global = new Uint8Array(entries);
    this.frame = new Float64Array(entries);
    this.perms = new Uint8Array(entries);
    this.s2perms = new Uint8Array(entries);
    this.combined = new Uint8Array(entries);
    this.ipa = new Float64Array(entries);
    this.s2Shift = new Uint8Array(entries);
    this.stamp = new Float64Array(entries);
    this.random = new SeededRandom(options.seed ?? 1);
    this.tracer = options.tracer;
    this.cpu = cpuOption(options.cpu, 'ArmTlb');
    this.now = timeSource(options);
    this.source = options.source ?? 'arm-tlb';
  }

  /** Valid entries. */
  get size(): number {
    return this.perSize[0]! + this.perSize[1]! + this.perSize[2]!;
  }

  /**
   * Looks up the VA `hi:lo` (bits 63:56 are not part of the tag: the caller
   * has checked the VA range) for `vmid` and the current `asid`. Returns
   * the entry index or -1.
   */
  lookup(vmid: number, asid: number, hi: number, lo: number): number {
    const mask = this.sets - 1;
    const h = hi & 0x00ff_ffff;
    let i = -1;
    if (this.perSize[0] !== 0) i = this.probe(h * 0x10_0000 + (lo >>> 12), ((lo >>> 12) & mask) * this.ways, 12, vmid, asid);
    if (i < 0 && this.perSize[1] !== 0) i = this.probe(h * 0x800 + (lo >>> 21), (((lo >>> 21) | (h << 11)) & mask) * this.ways, 21, vmid, asid);
    if (i < 0 && this.perSize[2] !== 0) i = this.probe(h * 4 + (lo >>> 30), (((lo >>> 30) | (h << 2)) & mask) * this.ways, 30, vmid, asid);
    if (i >= 0) {
      this.hits++;
      if (this.lru) this.stamp[i] = ++this.clock;
      if (this.tracer !== undefined) this.tracer.emit({ kind: 'tlb.hit', cycle: this.now(), source: this.source, cpu: this.cpu, address: h * 0x1_0000_0000 + lo });
      return i;
    }
    this.misses++;
    if (this.tracer !== undefined) this.tracer.emit({ kind: 'tlb.miss', cycle: this.now(), source: this.source, cpu: this.cpu, address: h * 0x1_0000_0000 + lo });
    return -1;
  }

  private probe(vpn: number, base: number, shift: number, vmid: number, asid: number): number {
    const vpns = this.vpn;
    for (let i = base, end = base + this.ways; i < end; i++) {
      if (vpns[i] === vpn && this.valid[i] === 1 && this.shift[i] === shift && this.vmid[i] === vmid && (this.global[i] === 1 || this.asid[i] === asid)) return i;
    }
    return -1;
  }

  /** Physical address of `lo` (VA bits 31:0) through entry `i`. */
  physical(i: number, lo: number): number {
    const s = this.shift[i] ?? 12;
    return (this.frame[i] ?? 0) + (lo & (s === 30 ? 0x3fff_ffff : s === 21 ? 0x1f_ffff : 0xfff));
  }

  /** Stage 1 permissions (`S1_PERM`) of entry `i`. */
  permissions(i: number): number {
    return this.perms[i] ?? 0;
  }

  /** {@link ARM_TLB_S2} bits of entry `i` (all set for a stage 1 only entry). */
  stage2Permissions(i: number): number {
    return this.s2perms[i] ?? 0;
  }

  /** True when entry `i` is global. */
  isGlobal(i: number): boolean {
    return this.global[i] === 1;
  }

  /** Bytes entry `i` covers. */
  pageSize(i: number): number {
    const s = this.shift[i];
    return s === 30 ? 0x4000_0000 : s === 21 ? 0x20_0000 : 4096;
  }

  /** Fills a successful result from entry `i` for the VA `hi:lo` (a hit: no references). */
  readInto(i: number, hi: number, lo: number, out: WalkResult): void {
    out.reset(hi, lo);
    const s = this.shift[i] ?? 12;
    const off = lo & (s === 30 ? 0x3fff_ffff : s === 21 ? 0x1f_ffff : 0xfff);
    out.address = (this.frame[i] ?? 0) + off;
    out.pageSize = s === 30 ? 0x4000_0000 : s === 21 ? 0x20_0000 : 4096;
    out.level = s === 30 ? 1 : s === 21 ? 2 : 3;
    out.permissions = this.perms[i] ?? 0;
    out.global = this.global[i] === 1;
    out.eptPermissions = (this.s2perms[i] ?? 0) & 7;
    if (this.combined[i] === 1) out.guestPhysicalAddress = (this.ipa[i] ?? 0) + off;
  }

  /**
   * Caches a successful walk of the VA `hi:lo` for `vmid` and `asid` (the
   * ASID is ignored for a global walk). `stage2PageSize` is the size of the
   * stage 2 page that mapped the output (0: no stage 2); `el0` says which
   * Exception level's stage 2 execute permission the walk reports.
   */
  fill(vmid: number, asid: number, hi: number, lo: number, walk: WalkResult, stage2PageSize = 0, el0 = false): number {
    if ((vmid & 0xffff) !== vmid || (asid & 0xffff) !== asid) throw new MmuUsageError('bad-argument', `Arm TLB tags must be a VMID and an ASID in [0, 0xffff], got ${describeValue(vmid)}, ${describeValue(asid)}`);
    if (walk.status !== 'ok') throw new MmuUsageError('bad-argument', `only a successful walk can be cached, got status '${walk.status}'`);
    const shift = walk.pageSize === 0x4000_0000 ? 30 : walk.pageSize === 0x20_0000 ? 21 : 12;
    const s1Shift = walk.level === 1 ? 30 : walk.level === 2 ? 21 : 12;
    const h = hi & 0x00ff_ffff;
    const vpn = h * 2 ** (32 - shift) + (lo >>> shift);
    const base = ((shift === 12 ? lo >>> 12 : shift === 21 ? (lo >>> 21) | (h << 11) : (lo >>> 30) | (h << 2)) & (this.sets - 1)) * this.ways;
    const global = walk.global;
    let victim = -1;
    for (let i = base; i < base + this.ways; i++) {
      if (this.valid[i] === 1 && this.vpn[i] === vpn && this.shift[i] === shift && this.vmid[i] === vmid && (this.asid[i] === asid || this.global[i] === 1 || global)) {
        victim = i;
        break;
      }
    }
    if (victim < 0) {
      for (let i = base; i < base + this.ways; i++) {
        if (this.valid[i] === 0) {
          victim = i;
          break;
        }
      }
    }
    if (victim < 0) victim = this.chooseVictim(base);
    if (this.valid[victim] === 1) this.perSize[sizeIndex(this.shift[victim] ?? 12)]!--;
    const mask = shift === 30 ? 0x3fff_ffff : shift === 21 ? 0x1f_ffff : 0xfff;
    this.valid[victim] = 1;
    this.vpn[victim] = vpn;
    this.shift[victim] = shift;
    this.s1Shift[victim] = s1Shift > shift ? s1Shift : shift;
    this.vmid[victim] = vmid;
    this.asid[victim] = global ? 0 : asid;
    this.global[victim] = global ? 1 : 0;
    this.frame[victim] = walk.address - (lo & mask);
    this.perms[victim] = walk.permissions;
    const combined = stage2PageSize > 0;
    this.combined[victim] = combined ? 1 : 0;
    if (combined) {
      const p = walk.eptPermissions;
      this.s2perms[victim] = (p & 3) | ((p & 4) !== 0 ? (el0 ? ARM_TLB_S2.EXECUTE_EL0 : ARM_TLB_S2.EXECUTE_EL1) : 0);
      this.ipa[victim] = walk.guestPhysicalAddress - (lo & mask);
      this.s2Shift[victim] = stage2PageSize === 0x4000_0000 ? 30 : stage2PageSize === 0x20_0000 ? 21 : 12;
    } else {
      this.s2perms[victim] = 0xf;
      this.ipa[victim] = 0;
      this.s2Shift[victim] = 0;
    }
    this.stamp[victim] = ++this.clock;
    this.perSize[sizeIndex(shift)]!++;
    this.fills++;
    return victim;
  }

  // --- TLB maintenance (Arm ARM D8.13) ------------------------------------

  /**
   * Executes TLBI `op` for the current `vmid` with the operand register Xt
   * as halves: VA[55:12] in Xt[43:0] and the ASID in Xt[63:48] for the
   * by-VA/ASID forms, IPA[47:12] in Xt[35:0] for IPAS2. Returns the entries
   * dropped.
   */
  tlbi(op: ArmTlbiOp, vmid: number, xtHi = 0, xtLo = 0): number {
    const kind = (ARM_TLBI as Record<string, string | undefined>)[op];
    if (kind === undefined) throw new MmuUsageError('bad-argument', `unknown TLBI operation ${describeValue(op)} (see ARM_TLBI)`);
    if ((vmid & 0xffff) !== vmid) throw new MmuUsageError('bad-argument', `VMID must be in [0, 0xffff], got ${describeValue(vmid)}`);
    if (typeof xtHi !== 'number' || typeof xtLo !== 'number' || xtHi >>> 0 !== xtHi || xtLo >>> 0 !== xtLo) throw new MmuUsageError('bad-argument', `TLBI ${op} operand halves must be unsigned 32-bit integers, got ${describeValue(xtHi)}, ${describeValue(xtLo)}`);
    const vaPage = (xtHi & 0xfff) * 0x1_0000_0000 + xtLo;
    const asid = xtHi >>> 16;
    switch (kind) {
      case 'vmall':
        return this.invalidateVmid(vmid);
      case 'va':
        return this.invalidateVa(vmid, asid, vaPage);
      case 'vaa':
        return this.invalidateVa(vmid, -1, vaPage);
      case 'asid':
        return this.invalidateAsid(vmid, asid);
      case 'ipa':
        return this.invalidateIpa(vmid, ((xtHi & 0xf) * 0x1_0000_0000 + xtLo) * 4096);
      default:
        return this.invalidateAll();
    }
  }

  /** {@link tlbi} with Xt as a bigint. */
  tlbiValue(op: ArmTlbiOp, vmid: number, xt: bigint): number {
    if (typeof xt !== 'bigint' || xt < 0n || xt >= 1n << 64n) throw new MmuUsageError('bad-argument', `TLBI ${op} operand must be an unsigned 64-bit bigint, got ${describeValue(xt)}`);
    return this.tlbi(op, vmid, Number(xt >> 32n), Number(xt & 0xffff_ffffn));
  }

  /** Drops every entry of `vmid` (VMALLE1, VMALLS12E1). */
  invalidateVmid(vmid: number): number {
    return this.invalidateWhere((i) => this.vmid[i] === vmid);
  }

  /** Drops non-global entries of `vmid` tagged with `asid` (ASIDE1). */
  invalidateAsid(vmid: number, asid: number): number {
    return this.invalidateWhere((i) => this.vmid[i] === vmid && this.global[i] === 0 && this.asid[i] === asid);
  }

  /**
   * Drops the entries of `vmid` for the stage 1 page holding the VA whose
   * bits 55:12 are `vaPage`: global ones and those tagged `asid` (VAE1,
   * VALE1), or any ASID when `asid` is -1 (VAAE1, VAALE1).
   */
  invalidateVa(vmid: number, asid: number, vaPage: number): number {
    return this.invalidateWhere((i) => {
      if (this.vmid[i] !== vmid) return false;
      if (asid >= 0 && this.global[i] === 0 && this.asid[i] !== asid) return false;
      const shift = this.shift[i] ?? 12;
      const page = this.s1Shift[i] ?? shift;
      return Math.floor((this.vpn[i] ?? 0) / 2 ** (page - shift)) === Math.floor(vaPage / 2 ** (page - 12));
    });
  }

  /**
   * IPAS2E1/IPAS2LE1: drops stage 2 entries of `vmid` for `ipa`. Only
   * combined entries are cached here, dropped when `ipas2DropsCombined`
   * (their stage 2 page holds `ipa`); otherwise nothing is dropped.
   */
  invalidateIpa(vmid: number, ipa: number): number {
    if (!this.ipas2DropsCombined) return this.invalidateWhere(() => false);
    return this.invalidateWhere((i) => {
      if (this.vmid[i] !== vmid || this.combined[i] !== 1) return false;
      const s2 = 2 ** (this.s2Shift[i] ?? 12);
      const entryIpa = this.ipa[i] ?? 0;
      return Math.floor(entryIpa / s2) === Math.floor(ipa / s2);
    });
  }

  /** Drops everything (ALLE1). */
  invalidateAll(): number {
    return this.invalidateWhere(() => true);
  }

  /** Saves counters, configuration and contents (entries survive restore). */
  saveState(): ArmTlbState {
    const live: number[][] = [];
    for (let i = 0; i < this.entries; i++) {
      if (this.valid[i] !== 1) continue;
      live.push([
        i,
        this.vpn[i] ?? 0,
        this.shift[i] ?? 12,
        this.s1Shift[i] ?? 12,
        this.vmid[i] ?? 0,
        this.asid[i] ?? 0,
        this.global[i] ?? 0,
        this.frame[i] ?? 0,
        this.perms[i] ?? 0,
        this.s2perms[i] ?? 0,
        this.combined[i] ?? 0,
        this.ipa[i] ?? 0,
        this.s2Shift[i] ?? 0,
        this.stamp[i] ?? 0,
      ]);
    }
    return {
      type: 'hvsim.mmu.arm-tlb',
      version: 1,
      entries: this.entries,
      ways: this.ways,
      replacement: this.replacement,
      counters: [this.hits, this.misses, this.fills, this.invalidations, this.clock, this.epoch],
      random: this.random.saveState(),
      live,
    };
  }

  /** Restores {@link saveState} output into a TLB of the same geometry; checks everything before changing anything. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.arm-tlb', 1);
    const entries = s.int('entries', 1, 1 << 20);
    const ways = s.int('ways', 1, 1 << 20);
    const replacement = s.oneOf('replacement', ['lru', 'fifo', 'random'] as const);
    if (entries !== this.entries || ways !== this.ways || replacement !== this.replacement) {
      throw new MmuUsageError('bad-argument', `Arm TLB state is for ${entries} entries, ${ways} ways, ${replacement}; this TLB has ${this.entries}, ${this.ways}, ${this.replacement}`);
    }
    const counters = s.intArray('counters', 0, Number.MAX_SAFE_INTEGER, 6);
    const random = s.raw('random');
    const live = s.raw('live');
    if (!Array.isArray(live)) throw new MmuUsageError('bad-argument', 'hvsim.mmu.arm-tlb.live must be an array');
    const seen = new Set<number>();
    const rows = live.map((row: unknown, n) => {
      if (!Array.isArray(row) || row.length !== 14 || !row.every((v) => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0)) {
        throw new MmuUsageError('bad-argument', `hvsim.mmu.arm-tlb.live[${n}] must be an array of 14 non-negative integers`);
      }
      const r = row as number[];
      const [index, , shift, s1Shift, vmid, asid, global, , perms, s2perms, combined, , s2Shift] = r as [number, number, number, number, number, number, number, number, number, number, number, number, number];
      const okShift = (v: number): boolean => v === 12 || v === 21 || v === 30;
      if (index >= entries || seen.has(index) || !okShift(shift) || !okShift(s1Shift) || s1Shift < shift || vmid > 0xffff || asid > 0xffff || global > 1 || perms > 0x3f || s2perms > 0xf || combined > 1 || (combined === 1 && !okShift(s2Shift))) {
        throw new MmuUsageError('bad-argument', `hvsim.mmu.arm-tlb.live[${n}] has a bad index, page shift or tag`);
      }
      seen.add(index);
      return r;
    });
    const probe = new SeededRandom(1);
    probe.restoreState(random); // validates before anything changes
    this.random.restoreState(random);
    this.valid.fill(0);
    this.perSize.fill(0);
    for (const r of rows) {
      const i = r[0] ?? 0;
      this.valid[i] = 1;
      this.vpn[i] = r[1] ?? 0;
      this.shift[i] = r[2] ?? 12;
      this.s1Shift[i] = r[3] ?? 12;
      this.vmid[i] = r[4] ?? 0;
      this.asid[i] = r[5] ?? 0;
      this.global[i] = r[6] ?? 0;
      this.frame[i] = r[7] ?? 0;
      this.perms[i] = r[8] ?? 0;
      this.s2perms[i] = r[9] ?? 0;
      this.combined[i] = r[10] ?? 0;
      this.ipa[i] = r[11] ?? 0;
      this.s2Shift[i] = r[12] ?? 0;
      this.stamp[i] = r[13] ?? 0;
      this.perSize[sizeIndex(this.shift[i] ?? 12)]!++;
    }
    [this.hits, this.misses, this.fills, this.invalidations, this.clock, this.epoch] = counters as [number, number, number, number, number, number];
    // A micro-TLB filled before the restore must not trust its entries.
    this.epoch++;
  }

  private chooseVictim(base: number): number {
    if (this.replacement === 'random') return base + (this.random.nextU32() & (this.ways - 1));
    // LRU stamps are refreshed on every hit; FIFO stamps only on fill.
    let victim = base;
    for (let i = base + 1; i < base + this.ways; i++) if ((this.stamp[i] ?? 0) < (this.stamp[victim] ?? 0)) victim = i;
    return victim;
  }

  private invalidateWhere(match: (i: number) => boolean): number {
    this.epoch++;
    let n = 0;
    for (let i = 0; i < this.entries; i++) {
      if (this.valid[i] === 1 && match(i)) {
        this.valid[i] = 0;
        this.perSize[sizeIndex(this.shift[i] ?? 12)]!--;
        n++;
      }
    }
    this.invalidations += n;
    if (n > 0) this.tracer?.emit({ kind: 'tlb.flush', cycle: this.now(), source: this.source, cpu: this.cpu, address: 0, args: { entries: n } });
    return n;
  }
}

function sizeIndex(shift: number): number {
  return shift === 30 ? 2 : shift === 21 ? 1 : 0;
}
