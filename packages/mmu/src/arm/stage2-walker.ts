/**
 * VMSAv8-64 stage 2 translation (IPA -> PA) with the 4 KiB granule: levels
 * 0-3, table, block and page descriptors, concatenated tables at the
 * starting level, S2AP read/write and XN permissions, the Access flag (faults
 * unless VTCR_EL2.HA lets the walker set it), output-address-size checks
 * against VTCR_EL2.PS, and stage 2 aborts with the level and the ESR-style
 * fault status code (Arm ARM D8.2 "Translation process", D8.3 descriptor
 * formats, D8.4 "Memory access control", D8.15/D8.16 on faults and HPFAR).
 */
import type { Memory, Tracer } from '@hvsim/core';
import { bigintToHex, describeValue, getField64, readState } from '@hvsim/core';
import { TWO_32, checkAddress, highHalf } from '../common/address.js';
import { MmuUsageError } from '../common/mmu-error.js';
import type { TimeOptions } from '../common/memory-access.js';
import { timeSource } from '../common/memory-access.js';
import { WalkResult } from '../common/walk-result.js';
import { DescriptorReader } from './descriptor-reader.js';
import { PS_BITS, S2_ACCESS, S2_FAULT_STATUS, S2_ISS, S2_LO, VTCR_EL2, VTTBR_EL2 } from './stage2-regs.js';
import { TIME_OPTION_NAMES, checkOptionNames, cpuOption } from '../common/option-names.js';

/** Option names the constructor knows (a misspelled one throws). */
const STAGE2_WALKER_OPTIONS = ['cpu', 'xnx', 'tracer', ...TIME_OPTION_NAMES];

const { VALID, TABLE, S2AP_READ, S2AP_WRITE, AF, ADDRESS } = S2_LO;
const S2_ACCESS_MASK = S2_ACCESS.READ | S2_ACCESS.WRITE | S2_ACCESS.EXECUTE | S2_ACCESS.EL0 | S2_ACCESS.S1PTW;

/** Options of {@link Stage2Walker}. */
export interface Stage2WalkerOptions extends TimeOptions {
  /** FEAT_XNX: XN is bits 54:53 and distinguishes EL0 and EL1 execution. Default false. */
  xnx?: boolean;
  /** Receives an `mmu.walk` event per walk. */
  tracer?: Tracer;
  /** Number of the CPU this model's trace events concern (docs/conventions.md "Tracing"); left out of the events when not given. */
  cpu?: number;
}

/** Stage 2 translation for one VMID at a time. */
export class Stage2Walker {
  /** Walks made. */
  walks = 0;
  /** Descriptors read. */
  references = 0;
  /** Walks that ended in a stage 2 abort. */
  faults = 0;

  private vtcr = 0n;
  private vttbr = 0n;
  private vmidValue = 0;
  private startLevel = 1;
  private ipaBits = 40;
  /** 2^ipaBits and 2^outBits, computed once per VTCR_EL2 write (the hot path compares against them). */
  private ipaLimit = 2 ** 40;
  private outLimit = 2 ** 40;
  private startBits = 10;
  private outBits = 40;
  private base = 0;
  private hardwareAf = false;
  private configValid = false;
  private readonly xnx: boolean;
  private readonly reader: DescriptorReader;
  private readonly scratch = new WalkResult();
  private readonly tracer: Tracer | undefined;
  private readonly cpu: number | undefined;
  private readonly now: () => number;

  constructor(
    memory: Memory,
    options: Stage2WalkerOptions = {},
  ) {
    checkOptionNames(options, STAGE2_WALKER_OPTIONS, 'Stage2Walker');
    this.reader = new DescriptorReader(memory);
    this.xnx = options.xnx ?? false;
    this.tracer = options.tracer;
    this.cpu = cpuOption(options.cpu, 'Stage2Walker');
    this.now = timeSource(options);
  }

  /**
   * Loads VTCR_EL2. Only the 4 KiB granule is modelled (TG0 = 0b00; other
   * granules are a caller error). A T0SZ/SL0 combination the starting level
   * cannot resolve makes every walk a level 0 Translation fault.
   */
  setVtcr(vtcr: bigint): void {
    if (typeof vtcr !== 'bigint' || vtcr < 0n || vtcr >= 1n << 64n) throw new MmuUsageError('bad-argument', `VTCR_EL2 must be an unsigned 64-bit bigint, got ${describeValue(vtcr)}`);
    if (getField64(vtcr, VTCR_EL2.TG0) !== 0n) throw new MmuUsageError('bad-argument', `VTCR_EL2 ${bigintToHex(vtcr)}: only the 4 KiB granule (TG0 = 0b00) is modelled`);
    const ps = Number(getField64(vtcr, VTCR_EL2.PS));
    this.vtcr = vtcr;
    this.outBits = PS_BITS[ps] ?? 48;
    if (this.outBits > 48) this.outBits = 48; // 52-bit output needs FEAT_LPA2 with 4 KiB pages (not modelled)
    this.ipaBits = 64 - Number(getField64(vtcr, VTCR_EL2.T0SZ));
    const sl0 = Number(getField64(vtcr, VTCR_EL2.SL0));
    this.startLevel = sl0 === 0 ? 2 : sl0 === 1 ? 1 : sl0 === 2 ? 0 : -1;
    this.hardwareAf = getField64(vtcr, VTCR_EL2.HA) !== 0n;
    // The starting level resolves address bits up to 12 + 9 * (4 - level) - 1;
    // it must resolve at least one bit, with at most 16 concatenated tables.
    const resolved = 12 + 9 * (4 - this.startLevel);
    this.configValid = this.startLevel >= 0 && this.ipaBits <= 48 && this.ipaBits > resolved - 9 && this.ipaBits <= resolved + 4;
    this.ipaLimit = 2 ** this.ipaBits;
    this.outLimit = 2 ** this.outBits;
    this.startBits = this.ipaBits - (12 + 9 * (3 - this.startLevel));
    this.updateVmid();
  }

  /** Loads VTTBR_EL2 (BADDR and VMID). */
  setVttbr(vttbr: bigint): void {
    if (typeof vttbr !== 'bigint' || vttbr < 0n || vttbr >= 1n << 64n) throw new MmuUsageError('bad-argument', `VTTBR_EL2 must be an unsigned 64-bit bigint, got ${describeValue(vttbr)}`);
    this.vttbr = vttbr;
    this.base = Number(getField64(vttbr, VTTBR_EL2.BADDR) << 1n);
    this.updateVmid();
  }

  /** The VMID in VTTBR_EL2, 8 or 16 bits by VTCR_EL2.VS (TLB tag of stage 2 and combined entries). */
  get vmid(): number {
    return this.vmidValue;
  }

  private updateVmid(): void {
    const vmid = Number(getField64(this.vttbr, VTTBR_EL2.VMID));
    // With VTCR_EL2.VS = 0 (8-bit VMIDs) VMID[15:8] are treated as 0 (VTTBR_EL2.VMID).
    this.vmidValue = getField64(this.vtcr, VTCR_EL2.VS) === 0n ? vmid & 0xff : vmid;
  }

  /**
   * Translates `ipa` for `access` ({@link S2_ACCESS} flags). On a fault the
   * result has status `'stage2-fault'`, `level`, `faultStatus` (DFSC/IFSC),
   * `errorCode` (ISS: fault status, WnR, S1PTW) and `guestPhysicalAddress`
   * = the IPA (HPFAR_EL2.FIPA is its bits 51:12).
   * Returns `out`, filled in place. Without `out`, it is one result object
   * this walker reuses on every call (no allocation): read it before the
   * next call, or keep a `clone()`.
   */
  walk(ipa: number, access: number, out: WalkResult = this.scratch): WalkResult {
    checkAddress(ipa, 'IPA');
    if ((access | 0) !== access || (access & ~S2_ACCESS_MASK) !== 0) throw new MmuUsageError('bad-argument', `stage 2 access must be S2_ACCESS flags (0x1f), got ${describeValue(access)}`);
    out.reset(0, 0);
    out.guestPhysicalAddress = ipa;
    this.walks++;
    if (!this.configValid || ipa >= this.ipaLimit) return this.fault(out, access, S2_FAULT_STATUS.TRANSLATION, 0);
    const outLimit = this.outLimit;
    if (this.base >= outLimit) return this.fault(out, access, S2_FAULT_STATUS.ADDRESS_SIZE, 0);
    const hi = highHalf(ipa);
    const lo = ipa >>> 0;
    const reader = this.reader;
    let level = this.startLevel;
    let table = this.base;
    // The starting level may index concatenated tables (up to 16).
    let index = indexAt(level, hi, lo, this.startBits);
    for (;;) {
      const address = table + index * 8;
      const present = reader.read(address);
      out.references++;
      this.references++;
      // A table outside memory: Synchronous External abort on the walk (D8.15).
      if (!present) return this.fault(out, access, S2_FAULT_STATUS.EXTERNAL_ON_WALK, level);
      const dlo = reader.lo;
      const dhi = reader.hi;
      if (out.trace !== null) out.trace.push({ kind: 'stage2', level, address, value: (BigInt(dhi >>> 0) << 32n) | BigInt(dlo >>> 0) });
      if ((dlo & VALID) === 0) return this.fault(out, access, S2_FAULT_STATUS.TRANSLATION, level);
      const isTable = (dlo & TABLE) !== 0;
      // Level 0 blocks (no FEAT_LPA2) and level 3 0b01 descriptors are invalid.
      if (!isTable && (level === 0 || level === 3)) return this.fault(out, access, S2_FAULT_STATUS.TRANSLATION, level);
      const next = (dhi & 0xffff) * TWO_32 + ((dlo & ADDRESS) >>> 0);
      if (next >= outLimit) return this.fault(out, access, S2_FAULT_STATUS.ADDRESS_SIZE, level);
      if (isTable && level < 3) {
        table = next;
        level++;
        index = indexAt(level, hi, lo, 9);
        continue;
      }
      // Leaf: block (levels 1-2) or page (level 3). An Access flag fault
      // comes before a Permission fault; with VTCR_EL2.HA the AF update is
      // made only for an access that passes the permission check.
      if ((dlo & AF) === 0 && !this.hardwareAf) return this.fault(out, access, S2_FAULT_STATUS.ACCESS_FLAG, level);
      const read = (dlo & S2AP_READ) !== 0;
      const write = (dlo & S2AP_WRITE) !== 0;
      const exec = this.executable(dhi, access);
      if (((access & S2_ACCESS.READ) !== 0 && !read) || ((access & S2_ACCESS.WRITE) !== 0 && !write) || ((access & S2_ACCESS.EXECUTE) !== 0 && !exec)) {
        return this.fault(out, access, S2_FAULT_STATUS.PERMISSION, level);
      }
      if ((dlo & AF) === 0) {
        if (!reader.writeLow(address, dlo | AF)) return this.fault(out, access, S2_FAULT_STATUS.EXTERNAL_ON_WALK, level);
        out.adWrites++;
      }
      const size = level === 3 ? 4096 : level === 2 ? 0x20_0000 : 0x4000_0000;
      // Integer masks, not `%` on doubles: the page offset lies in the low halves.
      const mask = size - 1;
      out.level = level;
      out.pageSize = size;
      out.address = next - ((dlo & ADDRESS & mask) >>> 0) + (lo & mask);
      out.writable = write;
      out.executable = exec;
      out.eptPermissions = (read ? 1 : 0) | (write ? 2 : 0) | (exec ? 4 : 0);
      this.tracer?.emit({ kind: 'mmu.walk', cycle: this.now(), source: 'mmu.stage2', cpu: this.cpu, address: ipa, references: out.references });
      return out;
    }
  }

  /** Saves VTCR_EL2, VTTBR_EL2 and the counters. */
  saveState(): {
    /** Identifies a saved stage 2 walker. */
    type: 'hvsim.mmu.stage2';
    /** Format version (1). */
    version: 1;
    /** VTCR_EL2, hex. */
    vtcr: string;
    /** VTTBR_EL2, hex. */
    vttbr: string;
    /** walks, references, faults. */
    counters: number[];
  } {
    return { type: 'hvsim.mmu.stage2', version: 1, vtcr: bigintToHex(this.vtcr), vttbr: bigintToHex(this.vttbr), counters: [this.walks, this.references, this.faults] };
  }

  /** Restores {@link saveState} output. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.stage2', 1);
    const vtcr = s.bigint('vtcr');
    const vttbr = s.bigint('vttbr');
    const counters = s.intArray('counters', 0, Number.MAX_SAFE_INTEGER, 3);
    this.setVtcr(vtcr);
    this.setVttbr(vttbr);
    [this.walks, this.references, this.faults] = counters as [number, number, number];
  }

  private executable(dhi: number, access: number): boolean {
    // XN is descriptor bits 54:53, i.e. bits 22:21 of the high half.
    const xn = (dhi >>> 21) & 3;
    if (!this.xnx) return (xn & 2) === 0;
    // FEAT_XNX: 00 EL1 and EL0, 01 EL0 only, 10 neither, 11 EL1 only.
    const el0 = (access & S2_ACCESS.EL0) !== 0;
    return xn === 0 || (xn === 1 && el0) || (xn === 3 && !el0);
  }

  private fault(out: WalkResult, access: number, status: number, level: number): WalkResult {
    out.status = 'stage2-fault';
    out.level = level;
    out.faultStatus = status + level;
    out.errorCode = out.faultStatus | ((access & S2_ACCESS.WRITE) !== 0 ? S2_ISS.WNR : 0) | ((access & S2_ACCESS.S1PTW) !== 0 ? S2_ISS.S1PTW : 0);
    this.faults++;
    this.tracer?.emit({ kind: 'mmu.walk', cycle: this.now(), source: 'mmu.stage2', cpu: this.cpu, address: out.guestPhysicalAddress, references: out.references, fault: 'stage2-fault' });
    return out;
  }
}

/** Index of the descriptor at `level` using `bits` index bits (more than 9 at a concatenated starting level). */
function indexAt(level: number, hi: number, lo: number, bits: number): number {
  const shift = 12 + 9 * (3 - level);
  const value = shift >= 32 ? hi >>> (shift - 32) : (lo >>> shift) | (hi << (32 - shift));
  return value & ((1 << bits) - 1);
}
