/**
 * The stage 1 translation controls of the EL1&0 regime for one PE: TCR_EL1,
 * TTBR0_EL1, TTBR1_EL1 and SCTLR_EL1, decoded once per register write so a
 * walk reads plain numbers (Arm ARM D8.1 "Translation controls", D8.2.3
 * "Translation table walk starting level", the TCR_EL1/TTBRn_EL1/SCTLR_EL1
 * register pages). A CPU model writes the registers here on MSR; with
 * `stage2` set (HCR_EL2.VM = 1) every walk is a two-stage guest walk.
 */
import { bigintToHex, describeValue, getField64, readState } from '@hvsim/core';
import { MmuUsageError } from '../common/mmu-error.js';
import { PS_BITS } from './stage2-regs.js';
import type { Stage2Walker } from './stage2-walker.js';
import { SCTLR_EL1, TCR_EL1, TTBR_EL1 } from './stage1-regs.js';

/** TnSZ limits with the 4 KiB granule without FEAT_LPA2 / FEAT_TTST (TCR_EL1.T0SZ). */
export const S1_TNSZ_MIN = 16;
/** Largest TnSZ without FEAT_TTST. */
export const S1_TNSZ_MAX = 39;

/** One VA range (TTBR0_EL1 or TTBR1_EL1 region), decoded. */
export class Stage1Region {
  /** Input address size in bits (64 - effective TnSZ). */
  inputBits = 48;
  /** Level of the first lookup (0-2). */
  startLevel = 0;
  /** Index bits resolved at the starting level. */
  startBits = 9;
  /** Physical (or intermediate physical) address of the starting-level table. */
  base = 0;
  /** EPDn: no walk, every miss is a Translation fault. */
  disabled = false;
  /** TBIn. */
  tbi = false;
  /** TBIDn: TBI for data accesses only. */
  tbid = false;
  /** HPDn: hierarchical permissions ignored. */
  hpd = false;
  /** Mask of VA bits 63:32 that must all equal the region bit (bits 63:inputBits, top byte included). */
  hiMask = 0;
  /** The same without the top byte (TBI). */
  hiMaskTbi = 0;
  /** Mask of VA bits 31:0 that must equal the region bit. */
  loMask = 0;
  /** ASID in this TTBR (masked to 8 bits when TCR_EL1.AS = 0). */
  asid = 0;

  /** Decodes the region from a TnSZ field and a TTBR value. */
  load(tnsz: number, ttbr: bigint, asid16: boolean): void {
    // An out-of-range TnSZ behaves as the nearest limit (TCR_EL1.T0SZ: one of the permitted behaviours).
    const sz = tnsz < S1_TNSZ_MIN ? S1_TNSZ_MIN : tnsz > S1_TNSZ_MAX ? S1_TNSZ_MAX : tnsz;
    const bits = 64 - sz;
    this.inputBits = bits;
    this.startLevel = 4 - Math.ceil((bits - 12) / 9);
    this.startBits = bits - (12 + 9 * (3 - this.startLevel));
    // The table is aligned to its size: lower BADDR bits are treated as 0 (D8.2, TTBR BADDR).
    const align = 2 ** Math.max(3, this.startBits + 3);
    const baddr = Number(getField64(ttbr, TTBR_EL1.BADDR) << 1n);
    this.base = baddr - (baddr % align);
    const asid = Number(getField64(ttbr, TTBR_EL1.ASID));
    this.asid = asid16 ? asid : asid & 0xff;
    // bits 63:inputBits of the VA: inputBits is 25..48
    if (bits >= 32) {
      const m = ~((1 << (bits - 32)) - 1) >>> 0;
      this.hiMask = m;
      this.hiMaskTbi = (m & 0x00ff_ffff) >>> 0;
      this.loMask = 0;
    } else {
      this.hiMask = 0xffff_ffff;
      this.hiMaskTbi = 0x00ff_ffff;
      this.loMask = ~((1 << bits) - 1) >>> 0;
    }
  }
}

/** Saved state of a {@link Stage1Context} (registers as hex strings). */
export interface Stage1ContextState {
  /** Identifies a saved stage 1 context. */
  type: 'hvsim.mmu.stage1-context';
  /** Format version (1). */
  version: 1;
  /** TCR_EL1, hex. */
  tcr: string;
  /** TTBR0_EL1, hex. */
  ttbr0: string;
  /** TTBR1_EL1, hex. */
  ttbr1: string;
  /** SCTLR_EL1, hex. */
  sctlr: string;
}

/** Options of {@link Stage1Context}. */
export interface Stage1ContextOptions {
  /** TCR_EL1 (T0SZ/T1SZ, TG0/TG1, IPS, HA/HD, EPD0/EPD1). Default 0. */
  tcr?: bigint;
  /** TTBR0_EL1: ASID (bits 63:48) and the base of the lower VA range's tables. Default 0. */
  ttbr0?: bigint;
  /** TTBR1_EL1: ASID (bits 63:48) and the base of the upper VA range's tables. Default 0. */
  ttbr1?: bigint;
  /** SCTLR_EL1 (M enables stage 1). Default 1 (M = 1). */
  sctlr?: bigint;
  /** Implemented physical address size (ID_AA64MMFR0_EL1.PARange) in bits, 32..48. Default 48. */
  paBits?: number;
  /** Stage 2 of the guest's VM (HCR_EL2.VM = 1); null for no stage 2. */
  stage2?: Stage2Walker | null;
}

function check64(value: bigint, name: string): bigint {
  if (typeof value !== 'bigint' || value < 0n || value >= 1n << 64n) throw new MmuUsageError('bad-argument', `${name} must be an unsigned 64-bit bigint, got ${describeValue(value)}`);
  return value;
}

/** TCR_EL1, TTBR0_EL1, TTBR1_EL1 and SCTLR_EL1 of one PE, decoded. */
export class Stage1Context {
  /** The TTBR0_EL1 region (VA bit 55 = 0). */
  readonly region0 = new Stage1Region();
  /** The TTBR1_EL1 region (VA bit 55 = 1). */
  readonly region1 = new Stage1Region();
  /** Implemented PA size. */
  readonly paBits: number;
  /** Output address size of stage 1: min(TCR_EL1.IPS, implemented), at most 48. */
  outBits = 48;
  /** 2^outBits: output addresses at or above it are an Address size fault. */
  outLimit = 2 ** 48;
  /** SCTLR_EL1.M. */
  mmuEnabled = true;
  /** SCTLR_EL1.WXN. */
  wxn = false;
  /** TCR_EL1.HA. */
  hardwareAccessFlag = false;
  /** TCR_EL1.HD with HA (dirty state is managed only when both are 1). */
  hardwareDirty = false;
  /** True when TCR_EL1.TG0/TG1 named a granule other than 4 KiB (treated as 4 KiB: the only one implemented). */
  granuleIgnored = false;
  /** The current ASID (TTBR0 or TTBR1 per TCR_EL1.A1; 8 bits when TCR_EL1.AS = 0). */
  asid = 0;
  /** Stage 2 (HCR_EL2.VM = 1): stage 1 output and table addresses are IPAs. */
  stage2: Stage2Walker | null;

  private tcrValue = 0n;
  private ttbr0Value = 0n;
  private ttbr1Value = 0n;
  private sctlrValue = 1n;

  constructor(options: Stage1ContextOptions = {}) {
    const pa = options.paBits ?? 48;
    if (!Number.isInteger(pa) || pa < 32 || pa > 48) throw new MmuUsageError('bad-argument', `paBits must be an integer in [32, 48], got ${describeValue(pa)}`);
    this.paBits = pa;
    this.stage2 = options.stage2 ?? null;
    this.tcrValue = check64(options.tcr ?? 0n, 'TCR_EL1');
    this.ttbr0Value = check64(options.ttbr0 ?? 0n, 'TTBR0_EL1');
    this.ttbr1Value = check64(options.ttbr1 ?? 0n, 'TTBR1_EL1');
    this.sctlrValue = check64(options.sctlr ?? 1n, 'SCTLR_EL1');
    this.decode();
  }

  /** TCR_EL1 as written. */
  get tcr(): bigint {
    return this.tcrValue;
  }

  /** TTBR0_EL1 as written. */
  get ttbr0(): bigint {
    return this.ttbr0Value;
  }

  /** TTBR1_EL1 as written. */
  get ttbr1(): bigint {
    return this.ttbr1Value;
  }

  /** SCTLR_EL1 as written. */
  get sctlr(): bigint {
    return this.sctlrValue;
  }

  /** MSR TCR_EL1. */
  setTcr(value: bigint): void {
    this.tcrValue = check64(value, 'TCR_EL1');
    this.decode();
  }

  /** MSR TTBR0_EL1. */
  setTtbr0(value: bigint): void {
    this.ttbr0Value = check64(value, 'TTBR0_EL1');
    this.decode();
  }

  /** MSR TTBR1_EL1. */
  setTtbr1(value: bigint): void {
    this.ttbr1Value = check64(value, 'TTBR1_EL1');
    this.decode();
  }

  /** MSR SCTLR_EL1 (M and WXN are used). */
  setSctlr(value: bigint): void {
    this.sctlrValue = check64(value, 'SCTLR_EL1');
    this.decode();
  }

  /** Saves the four registers (the stage 2 wiring is not state: the owner re-attaches it). */
  saveState(): Stage1ContextState {
    return { type: 'hvsim.mmu.stage1-context', version: 1, tcr: bigintToHex(this.tcrValue), ttbr0: bigintToHex(this.ttbr0Value), ttbr1: bigintToHex(this.ttbr1Value), sctlr: bigintToHex(this.sctlrValue) };
  }

  /** Restores {@link saveState} output; a bad state changes nothing. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.stage1-context', 1);
    const tcr = s.bigint('tcr');
    const ttbr0 = s.bigint('ttbr0');
    const ttbr1 = s.bigint('ttbr1');
    const sctlr = s.bigint('sctlr');
    this.tcrValue = tcr;
    this.ttbr0Value = ttbr0;
    this.ttbr1Value = ttbr1;
    this.sctlrValue = sctlr;
    this.decode();
  }

  /** A short description for messages. */
  toString(): string {
    return `TCR_EL1 ${bigintToHex(this.tcrValue)} TTBR0_EL1 ${bigintToHex(this.ttbr0Value)} TTBR1_EL1 ${bigintToHex(this.ttbr1Value)}`;
  }

  private decode(): void {
    const tcr = this.tcrValue;
    const f = (field: (typeof TCR_EL1)[keyof typeof TCR_EL1]): number => Number(getField64(tcr, field));
    const asid16 = f(TCR_EL1.AS) === 1;
    this.region0.load(f(TCR_EL1.T0SZ), this.ttbr0Value, asid16);
    this.region1.load(f(TCR_EL1.T1SZ), this.ttbr1Value, asid16);
    this.region0.disabled = f(TCR_EL1.EPD0) === 1;
    this.region1.disabled = f(TCR_EL1.EPD1) === 1;
    this.region0.tbi = f(TCR_EL1.TBI0) === 1;
    this.region1.tbi = f(TCR_EL1.TBI1) === 1;
    this.region0.tbid = f(TCR_EL1.TBID0) === 1;
    this.region1.tbid = f(TCR_EL1.TBID1) === 1;
    this.region0.hpd = f(TCR_EL1.HPD0) === 1;
    this.region1.hpd = f(TCR_EL1.HPD1) === 1;
    // TG0 0b00 and TG1 0b10 are 4 KiB; any other value is treated as 4 KiB, the only size implemented (TCR_EL1.TG0/TG1).
    this.granuleIgnored = f(TCR_EL1.TG0) !== 0 || f(TCR_EL1.TG1) !== 2;
    // IPS 0b110 (52 bits) needs FEAT_LPA2 with 4 KiB; reserved values act as the implemented size.
    const ips = PS_BITS[f(TCR_EL1.IPS)] ?? this.paBits;
    this.outBits = Math.min(ips, this.paBits);
    this.outLimit = 2 ** this.outBits;
    this.hardwareAccessFlag = f(TCR_EL1.HA) === 1;
    this.hardwareDirty = this.hardwareAccessFlag && f(TCR_EL1.HD) === 1;
    this.asid = f(TCR_EL1.A1) === 1 ? this.region1.asid : this.region0.asid;
    this.mmuEnabled = getField64(this.sctlrValue, SCTLR_EL1.M) === 1n;
    this.wxn = getField64(this.sctlrValue, SCTLR_EL1.WXN) === 1n;
  }
}
