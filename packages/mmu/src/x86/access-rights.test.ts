import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROPERTY_PARAMS } from '../test-support/fixtures.js';
import { TLB_ATTR, TlbAttr } from '../tlb/tlb.js';
import { AccessBit, X86Rights, checkX86Access, x86AccessFault, x86AccessFaultBits } from './access-rights.js';
import { X86PagingContext } from './paging-context.js';
import { ACCESS, ACCESS_MASK, PFEC } from './regs.js';

/**
 * SDM 3A 4.6.1 and 4.6.2 read directly, one rule per line: the oracle the
 * packed-rights check (walks and TLB hits) is held to.
 */
function sdmAccessFault(ctx: X86PagingContext, access: number, w: boolean, u: boolean, x: boolean, pkey: number): number {
  const isUser = (access & ACCESS.USER) !== 0;
  const isWrite = (access & ACCESS.WRITE) !== 0;
  const isFetch = (access & ACCESS.FETCH) !== 0;
  const implicit = (access & ACCESS.IMPLICIT) !== 0;
  let fault = false;
  if (isUser && !u) fault = true; // user-mode access to a supervisor-mode address
  if (isUser && isWrite && !w) fault = true; // user-mode write to a read-only address, whatever CR0.WP
  if (isFetch && !x) fault = true; // fetch from an XD address
  if (!isUser && isFetch && u && ctx.cr4Smep) fault = true; // SMEP
  if (!isUser && !isFetch && u && ctx.cr4Smap && (implicit || !ctx.rflagsAc)) fault = true; // SMAP
  if (!isUser && isWrite && !w && ctx.cr0Wp) fault = true; // supervisor write, CR0.WP = 1
  let pk = false;
  const keys = u ? (ctx.cr4Pke ? ctx.pkru : -1) : ctx.cr4Pks ? ctx.pkrs : -1;
  if (!isFetch && keys !== -1) {
    const ad = Math.floor(keys / 4 ** pkey) % 2 === 1;
    const wd = Math.floor(keys / (2 * 4 ** pkey)) % 2 === 1;
    pk = ad || (isWrite && wd && (isUser || ctx.cr0Wp));
  }
  if (!fault && !pk) return 0;
  let code = PFEC.P | (pk ? PFEC.PK : 0) | (isWrite ? PFEC.W : 0) | (isUser ? PFEC.U : 0);
  if (isFetch && (ctx.eferNxe || ctx.cr4Smep)) code |= PFEC.ID;
  return code;
}

const ACCESSES = [0, ACCESS.WRITE, ACCESS.USER, ACCESS.USER | ACCESS.WRITE, ACCESS.FETCH, ACCESS.USER | ACCESS.FETCH, ACCESS.IMPLICIT, ACCESS.IMPLICIT | ACCESS.WRITE];

describe('SDM 3A 4.6: the access-rights check on packed rights', () => {
  it('agrees with the rules read one by one, for every access, rights and protection-key setting', () => {
    fc.assert(
      fc.property(
        fc.record({
          cr0Wp: fc.boolean(),
          cr4Smep: fc.boolean(),
          cr4Smap: fc.boolean(),
          cr4Pke: fc.boolean(),
          cr4Pks: fc.boolean(),
          eferNxe: fc.boolean(),
          rflagsAc: fc.boolean(),
          pkru: fc.nat({ max: 0xffff_ffff }),
          pkrs: fc.nat({ max: 0xffff_ffff }),
        }),
        fc.integer({ min: 0, max: 15 }),
        (flags, pkey) => {
          const ctx = new X86PagingContext(flags);
          let bad = '';
          for (const access of ACCESSES) {
            for (let rights = 0; rights < 8; rights++) {
              const w = (rights & X86Rights.W) !== 0;
              const u = (rights & X86Rights.U) !== 0;
              const x = (rights & X86Rights.X) !== 0;
              const want = sdmAccessFault(ctx, access, w, u, x, pkey);
              const got = x86AccessFaultBits(ctx, access, rights, pkey);
              if (got !== want || x86AccessFault(ctx, access, w, u, x, pkey) !== want) bad = `access ${access} rights ${rights}: ${got} != ${want}`;
            }
          }
          expect(bad).toBe('');
        },
      ),
      PROPERTY_PARAMS,
    );
  });

  it('refuses what ACCESS cannot be: unknown bits, USER with IMPLICIT, WRITE with FETCH', () => {
    const flags = [ACCESS.WRITE, ACCESS.USER, ACCESS.FETCH, ACCESS.IMPLICIT];
    const stray = [0, 0x1, 0x8, 0x20, 0x8000, 0x2_0000, 0x8000_0000 | 0];
    const wrong: number[] = [];
    for (let set = 0; set < 16; set++) {
      for (const extra of stray) {
        const access = flags.reduce((a, f, k) => ((set >> k) & 1 ? a | f : a), extra);
        const valid = extra === 0 && !((access & ACCESS.USER) !== 0 && (access & ACCESS.IMPLICIT) !== 0) && !((access & ACCESS.WRITE) !== 0 && (access & ACCESS.FETCH) !== 0);
        let threw = false;
        try {
          checkX86Access(access);
        } catch (e) {
          threw = e instanceof Error && /access must be ACCESS flags/.test(e.message);
        }
        if (threw === valid) wrong.push(access);
      }
    }
    expect(wrong).toEqual([]);
    expect(() => { checkX86Access(0.5); }).toThrow(/got 0.5/);
  });

  it('keeps the hot paths\' compile-time constants equal to the tables', () => {
    expect([AccessBit.WRITE, AccessBit.USER, AccessBit.FETCH, AccessBit.IMPLICIT, AccessBit.MASK]).toEqual([ACCESS.WRITE, ACCESS.USER, ACCESS.FETCH, ACCESS.IMPLICIT, ACCESS_MASK]);
    expect([AccessBit.PF_P, AccessBit.PF_PK]).toEqual([PFEC.P, PFEC.PK]);
    expect([TlbAttr.WRITABLE, TlbAttr.USER, TlbAttr.EXECUTABLE, TlbAttr.DIRTY]).toEqual([TLB_ATTR.WRITABLE, TLB_ATTR.USER, TLB_ATTR.EXECUTABLE, TLB_ATTR.DIRTY]);
    // The TLB's W, U and X attributes are rights bits.
    expect([TlbAttr.WRITABLE, TlbAttr.USER, TlbAttr.EXECUTABLE, TlbAttr.RIGHTS]).toEqual([X86Rights.W, X86Rights.U, X86Rights.X, X86Rights.W | X86Rights.U | X86Rights.X]);
  });
});
