/**
 * Access-rights checks of 4-level and 5-level paging (SDM 3A 4.6 "Access
 * Rights", 4.6.1 "Determination of Access Rights", 4.6.2 "Protection Keys")
 * and the page-fault error code they produce (SDM 3A 4.7). Shared by the
 * walkers and by TLB hits, so a cached translation is checked exactly as a
 * walked one.
 */
import { describeValue } from '@hvsim/core';
import { MmuUsageError } from '../common/mmu-error.js';
import type { X86PagingContext } from './paging-context.js';
import { ACCESS, PFEC } from './regs.js';

// Short names for the flags and error-code bits.
const { FETCH } = ACCESS;
const { W, U, ID } = PFEC;

/**
 * Throws `bad-argument` unless `access` is a valid {@link ACCESS}
 * combination: only its bits, and neither USER with IMPLICIT (an implicit
 * access is a supervisor-mode access) nor WRITE with FETCH.
 */
export function checkX86Access(access: number): void {
  // Kept tiny (the throw lives elsewhere) so it inlines into the TLB-hit path. USER with IMPLICIT: bit 16 moved
  // down to bit 2; WRITE with FETCH: bit 4 moved down to bit 1.
  if ((access | 0) !== access || (access & ~AccessBit.MASK) !== 0 || (access & (((access >>> 14) & AccessBit.USER) | ((access >>> 3) & AccessBit.WRITE))) !== 0) badAccess(access);
}

function badAccess(access: number): never {
  throw new MmuUsageError('bad-argument', `access must be ACCESS flags (WRITE 0x2, USER 0x4, FETCH 0x10, IMPLICIT 0x10000; not USER with IMPLICIT, not WRITE with FETCH), got ${describeValue(access)}`);
}

/**
 * Returns 0 when `access` is allowed to a page with the given combined
 * rights, else the #PF error code (P set: a protection fault). `writable`,
 * `user` and `executable` are the AND over all levels (XD ORed), `pkey` the
 * leaf's protection key.
 */
export function x86AccessFault(ctx: X86PagingContext, access: number, writable: boolean, user: boolean, executable: boolean, pkey: number): number {
  return x86AccessFaultBits(ctx, access, (writable ? X86Rights.W : 0) | (user ? X86Rights.U : 0) | (executable ? X86Rights.X : 0), pkey);
}

/**
 * Rights bits of {@link x86AccessFaultBits}: the walkers' accumulated
 * permissions and the TLB's attribute bits (`TLB_ATTR`) use the same layout.
 */
export const enum X86Rights {
  /** R/W = 1 at every level. */
  W = 0x1,
  /** U/S = 1 at every level. */
  U = 0x2,
  /** XD = 0 at every level (or IA32_EFER.NXE = 0). */
  X = 0x4,
}

/**
 * {@link ACCESS} flags and the #PF error-code bits as compile-time constants
 * for the hot paths (the build inlines them; module constants would be
 * loaded and checked at every use). access-rights.test.ts checks that they
 * agree with the tables.
 */
export const enum AccessBit {
  WRITE = 0x2,
  USER = 0x4,
  FETCH = 0x10,
  IMPLICIT = 0x1_0000,
  /** #PF error code P (protection violation). */
  PF_P = 0x1,
  /** #PF error code PK (protection key). */
  PF_PK = 0x20,
  /** Every bit an access may have (`ACCESS_MASK`). */
  MASK = 0x1_0016,
}

/**
 * {@link x86AccessFault} with the combined rights as {@link X86_RIGHTS} bits
 * (what walks and TLB hits carry): small enough to inline into them.
 */
export function x86AccessFaultBits(ctx: X86PagingContext, access: number, rights: number, pkey: number): number {
  // One small function per kind of access (only the kinds a caller makes are inlined into it).
  if ((access & AccessBit.USER) !== 0) return userAccessFault(ctx, access, rights, pkey);
  if ((access & AccessBit.FETCH) !== 0) return supervisorFetchFault(ctx, access, rights);
  return supervisorDataFault(ctx, access, rights, pkey);
}

/**
 * A user-mode access needs U/S = 1, R/W = 1 to write whatever CR0.WP says,
 * and XD = 0 to fetch (SDM 3A 4.6.1); its data accesses are also subject
 * to the page's protection key (4.6.2).
 */
function userAccessFault(ctx: X86PagingContext, access: number, rights: number, pkey: number): number {
  // The needed bits, as rights bits (ACCESS.WRITE, bit 1, moves to W, bit 0; ACCESS.FETCH, bit 4, to X, bit 2).
  const need = X86Rights.U | ((access >>> 1) & X86Rights.W) | ((access >>> 2) & X86Rights.X);
  const fault = (rights & need) !== need;
  // The keys follow the page (PKRU for a user-mode one, IA32_PKRS otherwise), whatever the access's mode.
  const userPage = (rights & X86Rights.U) !== 0;
  if ((access & AccessBit.FETCH) === 0 && (userPage ? ctx.cr4Pke : ctx.cr4Pks) && protectionKeyForbids(ctx, access, userPage, pkey)) {
    return pageFaultCode(ctx, access, AccessBit.PF_P | AccessBit.PF_PK);
  }
  return fault ? pageFaultCode(ctx, access, AccessBit.PF_P) : 0;
}

/** A supervisor-mode fetch needs XD = 0, and with CR4.SMEP a supervisor-mode address (SDM 3A 4.6.1); keys do not apply to fetches. */
function supervisorFetchFault(ctx: X86PagingContext, access: number, rights: number): number {
  return (rights & X86Rights.X) === 0 || ((rights & X86Rights.U) !== 0 && ctx.cr4Smep) ? pageFaultCode(ctx, access, AccessBit.PF_P) : 0;
}

/**
 * A supervisor-mode data access: SMAP forbids user-mode addresses unless
 * RFLAGS.AC = 1 on an explicit access; CR0.WP = 1 makes read-only pages
 * read-only for it too (SDM 3A 4.6.1); PKRU (CR4.PKE) governs user-mode
 * addresses and IA32_PKRS (CR4.PKS) supervisor-mode ones (4.6.2).
 */
function supervisorDataFault(ctx: X86PagingContext, access: number, rights: number, pkey: number): number {
  const userPage = (rights & X86Rights.U) !== 0;
  const fault = (userPage && ctx.cr4Smap && ((access & AccessBit.IMPLICIT) !== 0 || !ctx.rflagsAc)) || ((access & AccessBit.WRITE) !== 0 && (rights & X86Rights.W) === 0 && ctx.cr0Wp);
  if ((userPage ? ctx.cr4Pke : ctx.cr4Pks) && protectionKeyForbids(ctx, access, userPage, pkey)) return pageFaultCode(ctx, access, AccessBit.PF_P | AccessBit.PF_PK);
  return fault ? pageFaultCode(ctx, access, AccessBit.PF_P) : 0;
}

/** True when the protection-key rights (PKRU for a user-mode page, IA32_PKRS for a supervisor one) forbid the data access (SDM 3A 4.6.2). */
function protectionKeyForbids(ctx: X86PagingContext, access: number, userPage: boolean, pkey: number): boolean {
  const keyRights = (userPage ? ctx.pkru : ctx.pkrs) >>> (2 * pkey);
  // AD forbids every data access; WD forbids writes (supervisor ones only with CR0.WP = 1).
  return (keyRights & 1) !== 0 || ((access & AccessBit.WRITE) !== 0 && (keyRights & 2) !== 0 && ((access & AccessBit.USER) !== 0 || ctx.cr0Wp));
}

/**
 * The #PF error code for `access` plus the given P/RSVD/PK bits (SDM 3A 4.7):
 * W and U from the access; I/D only when IA32_EFER.NXE = 1 or CR4.SMEP = 1.
 */
export function pageFaultCode(ctx: X86PagingContext, access: number, bits: number): number {
  let code = bits | (access & (W | U));
  if ((access & FETCH) !== 0 && (ctx.eferNxe || ctx.cr4Smep)) code |= ID;
  return code;
}
