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
import { ACCESS, ACCESS_MASK, PFEC } from './regs.js';

// Short names for the flags and error-code bits.
const { USER, WRITE, FETCH, IMPLICIT } = ACCESS;
const { P, PK, W, U, ID } = PFEC;

/**
 * Throws `bad-argument` unless `access` is a valid {@link ACCESS}
 * combination: only its bits, and neither USER with IMPLICIT (an implicit
 * access is a supervisor-mode access) nor WRITE with FETCH.
 */
export function checkX86Access(access: number): void {
  // Kept tiny (the throw lives elsewhere) so it inlines into the TLB-hit path.
  if ((access | 0) !== access || (access & ~ACCESS_MASK) !== 0 || (access & (USER | IMPLICIT)) === (USER | IMPLICIT) || (access & (WRITE | FETCH)) === (WRITE | FETCH)) badAccess(access);
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
  const isUser = (access & USER) !== 0;
  const isWrite = (access & WRITE) !== 0;
  const isFetch = (access & FETCH) !== 0;
  let fault = false;
  if (isUser) {
    // User-mode accesses need a user-mode address; writes need R/W = 1 at every
    // level whatever CR0.WP says; fetches need XD = 0 (SDM 3A 4.6.1).
    fault = !user || (isWrite && !writable) || (isFetch && !executable);
  } else if (isFetch) {
    // Supervisor fetch: XD, then SMEP forbids fetching from user-mode addresses.
    fault = !executable || (user && ctx.cr4Smep);
  } else {
    // Supervisor data access: SMAP forbids user-mode addresses unless RFLAGS.AC = 1
    // on an explicit access; CR0.WP = 1 makes read-only pages read-only for it too.
    if (user && ctx.cr4Smap && ((access & IMPLICIT) !== 0 || !ctx.rflagsAc)) fault = true;
    if (isWrite && !writable && ctx.cr0Wp) fault = true;
  }
  let pk = false;
  if (!isFetch) {
    // Protection keys govern data accesses only (SDM 3A 4.6.2): PKRU for
    // user-mode addresses (CR4.PKE), IA32_PKRS for supervisor ones (CR4.PKS).
    let rights = -1;
    if (user) {
      if (ctx.cr4Pke) rights = ctx.pkru;
    } else if (ctx.cr4Pks) {
      rights = ctx.pkrs;
    }
    if (rights !== -1) {
      const ad = (rights >>> (2 * pkey)) & 1;
      const wd = (rights >>> (2 * pkey + 1)) & 1;
      pk = ad === 1 || (isWrite && wd === 1 && (isUser || ctx.cr0Wp));
    }
  }
  if (!fault && !pk) return 0;
  return pageFaultCode(ctx, access, P | (pk ? PK : 0));
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
