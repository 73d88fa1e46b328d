/**
 * The architectural invalidation operations over a {@link Tlb}, with their
 * operand checks: INVLPG and MOV to CR3/CR4 (SDM 3A 4.10.4.1 "Operations that
 * Invalidate TLBs and Paging-Structure Caches"), INVPCID (SDM 2 "INVPCID",
 * types 0-3), and INVVPID / INVEPT (SDM 3C 28.3.3 "Invalidating Cached
 * Translation Information"; SDM 3C 30.3 instruction reference). INVPCID and
 * MOV to CR3 raise #GP as a CPU would; INVVPID and INVEPT fail with VM-instruction
 * error 28 ("invalid operand to INVEPT/INVVPID", SDM 3C 30.4).
 */
import { CpuException } from '@hvsim/core';
import { isCanonical } from '../common/address.js';
import { decodeEptp } from '../ept/ept-walker.js';
import type { X86PagingContext } from '../x86/paging-context.js';
import type { Tlb } from './tlb.js';

/** INVPCID types. */
export const INVPCID_TYPE = {
  /** Type 0: the PCID's entries for one linear address (not global ones). */
  INDIVIDUAL_ADDRESS: 0,
  /** Type 1: every entry of one PCID except global ones. */
  SINGLE_CONTEXT: 1,
  /** Type 2: every entry, global ones included. */
  ALL_CONTEXT_INCLUDING_GLOBALS: 2,
  /** Type 3: every entry except global ones. */
  ALL_CONTEXT: 3,
} as const;

/** INVVPID types. */
export const INVVPID_TYPE = {
  /** Type 0: the VPID's entries for one linear address (global ones too). */
  INDIVIDUAL_ADDRESS: 0,
  /** Type 1: every entry of one VPID. */
  SINGLE_CONTEXT: 1,
  /** Type 2: every entry of every VPID but 0. */
  ALL_CONTEXT: 2,
  /** Type 3: every entry of one VPID except global ones. */
  SINGLE_CONTEXT_RETAINING_GLOBALS: 3,
} as const;

/** INVEPT types. */
export const INVEPT_TYPE = {
  /** Type 1: the combined mappings of one EPTP (its EP4TA). */
  SINGLE_CONTEXT: 1,
  /** Type 2: the combined mappings of every EPTP. */
  ALL_CONTEXT: 2,
} as const;

/** VM-instruction error number for a bad INVEPT/INVVPID operand (SDM 3C 30.4). */
export const VM_INSTRUCTION_ERROR_INVALID_INVEPT_INVVPID = 28;

/** INVLPG: the page's entries for the current VPID and PCID plus global ones (SDM 3A 4.10.4.1). */
export function invlpg(tlb: Tlb, ctx: X86PagingContext, vpid: number, hi: number, lo: number): void {
  // A non-canonical operand makes INVLPG a no-op (it does not fault).
  if (!isCanonical(hi, lo, ctx.cr4La57)) return;
  tlb.invalidateAddress(vpid, ctx.pcid, hi, lo, true);
}

/**
 * MOV to CR3 (SDM 3A 4.10.4.1): loads CR3 from `value` (bit 63 is the
 * no-flush hint with CR4.PCIDE = 1) and invalidates as the architecture
 * says. Reserved bits (63 without PCIDE, MAXPHYADDR..62) raise #GP(0).
 */
export function movToCr3(tlb: Tlb, ctx: X86PagingContext, vpid: number, value: bigint): void {
  let v = BigInt.asUintN(64, value);
  const noFlush = ctx.cr4Pcide && v >> 63n === 1n;
  if (ctx.cr4Pcide) v &= ~(1n << 63n);
  if (v >> BigInt(ctx.maxPhyAddr) !== 0n) throw CpuException.gp(`MOV to CR3 of 0x${value.toString(16)} sets bits reserved above MAXPHYADDR ${ctx.maxPhyAddr}`);
  ctx.cr3 = Number(v);
  if (!noFlush) tlb.invalidatePcid(vpid, ctx.pcid, true);
}

/**
 * MOV to CR4 (SDM 3A 4.10.4.1): changing PGE, or clearing PCIDE, flushes
 * everything including globals for every PCID; changing PAE or setting SMEP
 * flushes the current PCID. Updates the context's CR4 flags.
 */
export function movToCr4(tlb: Tlb, ctx: X86PagingContext, vpid: number, next: { pge: boolean; pcide: boolean; smep: boolean; smap?: boolean; pke?: boolean; pks?: boolean }): void {
  if (next.pcide && !ctx.cr4Pcide && ctx.cr3 % 4096 !== 0) throw CpuException.gp('setting CR4.PCIDE requires CR3[11:0] = 0');
  if (next.pge !== ctx.cr4Pge || (ctx.cr4Pcide && !next.pcide)) tlb.invalidateVpid(vpid, false);
  else if (next.smep && !ctx.cr4Smep) tlb.invalidatePcid(vpid, ctx.pcid, false);
  ctx.cr4Pge = next.pge;
  ctx.cr4Pcide = next.pcide;
  ctx.cr4Smep = next.smep;
  if (next.smap !== undefined) ctx.cr4Smap = next.smap;
  if (next.pke !== undefined) ctx.cr4Pke = next.pke;
  if (next.pks !== undefined) ctx.cr4Pks = next.pks;
}

/**
 * INVPCID with descriptor `{ pcid, linear hi:lo }` (SDM 2 "INVPCID"): #GP(0)
 * for a type above 3, a PCID above 4095, a non-canonical address (type 0),
 * or a non-zero PCID for types 0/1 when CR4.PCIDE = 0.
 */
export function invpcid(tlb: Tlb, ctx: X86PagingContext, vpid: number, type: number, pcid: number, hi = 0, lo = 0): void {
  if (!Number.isInteger(type) || type < 0 || type > 3) throw CpuException.gp(`INVPCID type ${String(type)} is not 0-3`);
  if (!Number.isInteger(pcid) || pcid < 0 || pcid > 0xfff) throw CpuException.gp(`INVPCID descriptor PCID ${String(pcid)} has bits 63:12 set`);
  if (type <= 1 && !ctx.cr4Pcide && pcid !== 0) throw CpuException.gp(`INVPCID type ${type} with PCID ${pcid} while CR4.PCIDE = 0`);
  switch (type) {
    case INVPCID_TYPE.INDIVIDUAL_ADDRESS:
      if (!isCanonical(hi, lo, ctx.cr4La57)) throw CpuException.gp('INVPCID individual-address with a non-canonical address');
      tlb.invalidateAddress(vpid, pcid, hi, lo, false);
      return;
    case INVPCID_TYPE.SINGLE_CONTEXT:
      tlb.invalidatePcid(vpid, pcid, true);
      return;
    case INVPCID_TYPE.ALL_CONTEXT_INCLUDING_GLOBALS:
      tlb.invalidateVpid(vpid, false);
      return;
    default:
      tlb.invalidateVpid(vpid, true);
  }
}

/**
 * INVVPID (SDM 3C 28.3.3.3 "Guidelines for Use of the INVVPID Instruction";
 * 30.3 "INVVPID"). Returns 0 on success or VM-instruction error 28 for an
 * unsupported type, VPID 0 with types 0/1/3, or a non-canonical address
 * (type 0). Linear addresses use `la57` for canonicality.
 */
export function invvpid(tlb: Tlb, type: number, vpid: number, hi = 0, lo = 0, la57 = false): number {
  if (!Number.isInteger(type) || type < 0 || type > 3 || !Number.isInteger(vpid) || vpid < 0 || vpid > 0xffff) return VM_INSTRUCTION_ERROR_INVALID_INVEPT_INVVPID;
  if (type !== INVVPID_TYPE.ALL_CONTEXT && vpid === 0) return VM_INSTRUCTION_ERROR_INVALID_INVEPT_INVVPID;
  switch (type) {
    case INVVPID_TYPE.INDIVIDUAL_ADDRESS:
      if (!isCanonical(hi, lo, la57)) return VM_INSTRUCTION_ERROR_INVALID_INVEPT_INVVPID;
      tlb.invalidateAddress(vpid, -1, hi, lo, true);
      return 0;
    case INVVPID_TYPE.SINGLE_CONTEXT:
      tlb.invalidateVpid(vpid, false);
      return 0;
    case INVVPID_TYPE.ALL_CONTEXT:
      tlb.invalidateAllVpidsExceptZero();
      return 0;
    default:
      tlb.invalidateVpid(vpid, true);
      return 0;
  }
}

/**
 * INVEPT (SDM 3C 28.3.3.4 "Guidelines for Use of the INVEPT Instruction";
 * 30.3 "INVEPT"). Single-context invalidates the combined mappings of the
 * EPTP's EP4TA for every VPID and PCID; all-context every combined mapping.
 * Returns 0 or VM-instruction error 28 (bad type or invalid EPTP).
 */
export function invept(tlb: Tlb, type: number, eptp: bigint, maxPhyAddr = 46): number {
  if (type === INVEPT_TYPE.ALL_CONTEXT) {
    tlb.invalidateAllCombined();
    return 0;
  }
  if (type !== INVEPT_TYPE.SINGLE_CONTEXT) return VM_INSTRUCTION_ERROR_INVALID_INVEPT_INVVPID;
  let root: number;
  try {
    root = decodeEptp(eptp, maxPhyAddr).root;
  } catch {
    return VM_INSTRUCTION_ERROR_INVALID_INVEPT_INVVPID;
  }
  tlb.invalidateEp4ta(root);
  return 0;
}
