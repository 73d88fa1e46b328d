/**
 * The processor state a 4-level or 5-level walk depends on (SDM 3A 4.1.1
 * "Four Paging Modes" and 4.6 "Access Rights"): CR0.WP, CR3, the CR4 paging
 * bits, IA32_EFER.NXE, RFLAGS.AC, PKRU and IA32_PKRS, and MAXPHYADDR.
 * Plain mutable fields, read on every walk without allocation.
 */
import { getField64, readState, testField } from '@hvsim/core';
import { MmuUsageError } from '../common/mmu-error.js';
import { X86_CONTROL } from './regs.js';

/** Options of {@link X86PagingContext}; unspecified flags are 0. */
export interface X86PagingContextOptions {
  /** CR3 (bits 51:0; bit 63 is a MOV-to-CR3 operand bit, not part of CR3). */
  cr3?: number;
  /** CR0.WP (bit 16): supervisor-mode writes honour R/W = 0 (SDM 3A 4.6.1). */
  cr0Wp?: boolean;
  /** CR4.PGE (bit 7): G = 1 leaves make global TLB entries (SDM 3A 4.10.2.4). */
  cr4Pge?: boolean;
  /** CR4.PCIDE (bit 17): CR3 bits 11:0 are the PCID (SDM 3A 4.10.1). */
  cr4Pcide?: boolean;
  /** CR4.LA57 (bit 12): 5-level paging (SDM 3A 4.5). */
  cr4La57?: boolean;
  /** CR4.SMEP (bit 20): no supervisor-mode fetch from user-mode pages (SDM 3A 4.6.1). */
  cr4Smep?: boolean;
  /** CR4.SMAP (bit 21): no supervisor-mode data access to user-mode pages unless RFLAGS.AC (SDM 3A 4.6.1). */
  cr4Smap?: boolean;
  /** CR4.PKE (bit 22): protection keys for user-mode pages, from PKRU (SDM 3A 4.6.2). */
  cr4Pke?: boolean;
  /** CR4.PKS (bit 24): protection keys for supervisor-mode pages, from IA32_PKRS (SDM 3A 4.6.2). */
  cr4Pks?: boolean;
  /** IA32_EFER.NXE (bit 11): XD is honoured (else reserved) (SDM 3A 4.6.1). */
  eferNxe?: boolean;
  /** RFLAGS.AC (bit 18): lifts SMAP for explicit supervisor-mode data accesses (SDM 3A 4.6.1). */
  rflagsAc?: boolean;
  /** PKRU: AD (bit 2i) and WD (bit 2i+1) for user-mode protection key i. */
  pkru?: number;
  /** IA32_PKRS: the same for supervisor-mode keys (CR4.PKS). */
  pkrs?: number;
  /** MAXPHYADDR, 36..52 (CPUID.80000008H:EAX[7:0]). Default 46. */
  maxPhyAddr?: number;
  /** 1 GiB pages supported (CPUID.80000001H:EDX.Page1GB[26]). Default true. */
  page1gb?: boolean;
}

function checkU32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffff_ffff) throw new MmuUsageError('bad-argument', `${what} must be a 32-bit unsigned integer, got ${String(value)}`);
  return value;
}

/** Paging-relevant processor state for one logical processor. */
export class X86PagingContext {
  private cr3Value = 0;
  private root = 0;
  private cr3Low = 0;
  /** CR0.WP (bit 16): supervisor-mode writes honour R/W = 0 (SDM 3A 4.6.1). */
  cr0Wp = false;
  /** CR4.PGE (bit 7): G = 1 leaves make global TLB entries (SDM 3A 4.10.2.4). */
  cr4Pge = false;
  /** CR4.PCIDE (bit 17): CR3 bits 11:0 are the PCID (SDM 3A 4.10.1). */
  cr4Pcide = false;
  /** CR4.LA57 (bit 12): 5-level paging (SDM 3A 4.5). */
  cr4La57 = false;
  /** CR4.SMEP (bit 20): no supervisor-mode fetch from user-mode pages (SDM 3A 4.6.1). */
  cr4Smep = false;
  /** CR4.SMAP (bit 21): no supervisor-mode data access to user-mode pages unless RFLAGS.AC (SDM 3A 4.6.1). */
  cr4Smap = false;
  /** CR4.PKE (bit 22): protection keys for user-mode pages, from PKRU (SDM 3A 4.6.2). */
  cr4Pke = false;
  /** CR4.PKS (bit 24): protection keys for supervisor-mode pages, from IA32_PKRS (SDM 3A 4.6.2). */
  cr4Pks = false;
  /** IA32_EFER.NXE (bit 11): XD is honoured (else reserved) (SDM 3A 4.6.1). */
  eferNxe = false;
  /** RFLAGS.AC (bit 18): lifts SMAP for explicit supervisor-mode data accesses (SDM 3A 4.6.1). */
  rflagsAc = false;
  /** PKRU: AD (bit 2i) and WD (bit 2i+1) for user-mode protection key i (SDM 3A 4.6.2). */
  pkru = 0;
  /** IA32_PKRS: AD (bit 2i) and WD (bit 2i+1) for supervisor-mode protection key i (SDM 3A 4.6.2). */
  pkrs = 0;
  private maxPhy = 46;
  /** 1 GiB pages supported (CPUID.80000001H:EDX.Page1GB[26]); else PS = 1 in a PDPTE is reserved. */
  page1gb = true;

  constructor(options: X86PagingContextOptions = {}) {
    this.cr0Wp = options.cr0Wp ?? false;
    this.cr4Pge = options.cr4Pge ?? false;
    this.cr4Pcide = options.cr4Pcide ?? false;
    this.cr4La57 = options.cr4La57 ?? false;
    this.cr4Smep = options.cr4Smep ?? false;
    this.cr4Smap = options.cr4Smap ?? false;
    this.cr4Pke = options.cr4Pke ?? false;
    this.cr4Pks = options.cr4Pks ?? false;
    this.eferNxe = options.eferNxe ?? false;
    this.rflagsAc = options.rflagsAc ?? false;
    this.pkru = checkU32(options.pkru ?? 0, 'PKRU');
    this.pkrs = checkU32(options.pkrs ?? 0, 'IA32_PKRS');
    this.page1gb = options.page1gb ?? true;
    this.maxPhyAddr = options.maxPhyAddr ?? 46;
    this.cr3 = options.cr3 ?? 0;
  }

  /**
   * Builds a context from architectural register values (SDM 3A 2.5): CR0,
   * CR3, CR4, IA32_EFER and RFLAGS as bigints or numbers.
   */
  static fromRegisters(regs: {
    cr0: bigint | number;
    cr3: bigint | number;
    cr4: bigint | number;
    efer: bigint | number;
    rflags?: bigint | number;
    pkru?: number;
    pkrs?: number;
    maxPhyAddr?: number;
  }): X86PagingContext {
    const num = (v: bigint | number): number => Number(BigInt.asUintN(32, BigInt(v)));
    const cr0 = num(regs.cr0);
    const cr4 = num(regs.cr4);
    const efer = num(regs.efer);
    const rflags = num(regs.rflags ?? 2);
    const cr3 = BigInt(regs.cr3);
    return new X86PagingContext({
      cr3: Number(getField64(cr3, X86_CONTROL.CR3_ADDRESS) << 12n) + Number(getField64(cr3, X86_CONTROL.CR3_PCID)),
      cr0Wp: testField(cr0, X86_CONTROL.CR0_WP),
      cr4Pge: testField(cr4, X86_CONTROL.CR4_PGE),
      cr4Pcide: testField(cr4, X86_CONTROL.CR4_PCIDE),
      cr4La57: testField(cr4, X86_CONTROL.CR4_LA57),
      cr4Smep: testField(cr4, X86_CONTROL.CR4_SMEP),
      cr4Smap: testField(cr4, X86_CONTROL.CR4_SMAP),
      cr4Pke: testField(cr4, X86_CONTROL.CR4_PKE),
      cr4Pks: testField(cr4, X86_CONTROL.CR4_PKS),
      eferNxe: testField(efer, X86_CONTROL.EFER_NXE),
      rflagsAc: testField(rflags, X86_CONTROL.RFLAGS_AC),
      pkru: regs.pkru ?? 0,
      pkrs: regs.pkrs ?? 0,
      maxPhyAddr: regs.maxPhyAddr ?? 46,
    });
  }

  /** MAXPHYADDR in bits (36..52). */
  get maxPhyAddr(): number {
    return this.maxPhy;
  }

  /** Sets MAXPHYADDR (an integer in [36, 52], else `bad-argument`); the root address is re-masked to bits (M-1):12. */
  set maxPhyAddr(bits: number) {
    if (!Number.isInteger(bits) || bits < 36 || bits > 52) {
      throw new MmuUsageError('bad-argument', `MAXPHYADDR must be an integer in [36, 52], got ${String(bits)}`);
    }
    this.maxPhy = bits;
    this.updateRoot();
  }

  /** CR3: bits 51:0 (the root table address and the PCID or PWT/PCD). */
  get cr3(): number {
    return this.cr3Value;
  }

  /** Loads CR3 (an integer below 2^52, else `bad-argument`): the root is bits (M-1):12, the PCID bits 11:0. */
  set cr3(value: number) {
    if (!Number.isSafeInteger(value) || value < 0 || value >= 2 ** 52) {
      throw new MmuUsageError('bad-argument', `CR3 must be an integer in [0, 2^52), got ${String(value)}`);
    }
    this.cr3Value = value;
    this.cr3Low = value % 4096;
    this.updateRoot();
  }

  /** Physical address of the root table: CR3 bits (M-1):12 (SDM 3A 4.5, Table 4-14). Cached: read on every walk. */
  get rootAddress(): number {
    return this.root;
  }

  private updateRoot(): void {
    this.root = (Math.floor(this.cr3Value / 4096) % 2 ** (this.maxPhy - 12)) * 4096;
  }

  /** The current PCID: CR3 bits 11:0 when CR4.PCIDE = 1, else 0 (SDM 3A 4.10.1). */
  get pcid(): number {
    return this.cr4Pcide ? this.cr3Low : 0; // CR3[11:0] (X86_CONTROL.CR3_PCID); read on every translation
  }

  /** Number of paging levels: 5 with CR4.LA57, else 4. */
  get levels(): 4 | 5 {
    return this.cr4La57 ? 5 : 4;
  }

  /** A JSON-safe copy of every field (for embedding in a model's saved state). */
  saveState(): {
    /** Identifies a saved paging context. */
    type: 'hvsim.mmu.x86-paging-context';
    /** Format version of the saved context (1). */
    version: 1;
  } & Required<X86PagingContextOptions> {
    return {
      type: 'hvsim.mmu.x86-paging-context',
      version: 1,
      cr3: this.cr3,
      cr0Wp: this.cr0Wp,
      cr4Pge: this.cr4Pge,
      cr4Pcide: this.cr4Pcide,
      cr4La57: this.cr4La57,
      cr4Smep: this.cr4Smep,
      cr4Smap: this.cr4Smap,
      cr4Pke: this.cr4Pke,
      cr4Pks: this.cr4Pks,
      eferNxe: this.eferNxe,
      rflagsAc: this.rflagsAc,
      pkru: this.pkru,
      pkrs: this.pkrs,
      maxPhyAddr: this.maxPhy,
      page1gb: this.page1gb,
    };
  }

  /** Restores every field from {@link saveState} output. */
  restoreState(state: unknown): void {
    const s = readState(state, 'hvsim.mmu.x86-paging-context', 1);
    const next = {
      cr3: s.int('cr3', 0, 2 ** 52 - 1),
      cr0Wp: s.bool('cr0Wp'),
      cr4Pge: s.bool('cr4Pge'),
      cr4Pcide: s.bool('cr4Pcide'),
      cr4La57: s.bool('cr4La57'),
      cr4Smep: s.bool('cr4Smep'),
      cr4Smap: s.bool('cr4Smap'),
      cr4Pke: s.bool('cr4Pke'),
      cr4Pks: s.bool('cr4Pks'),
      eferNxe: s.bool('eferNxe'),
      rflagsAc: s.bool('rflagsAc'),
      pkru: s.u32('pkru'),
      pkrs: s.u32('pkrs'),
      maxPhyAddr: s.int('maxPhyAddr', 36, 52),
      page1gb: s.bool('page1gb'),
    };
    const { maxPhyAddr, ...flags } = next;
    Object.assign(this, flags);
    this.maxPhyAddr = maxPhyAddr;
  }
}
