/**
 * `Tlb.lookupAnswer` and `Tlb.tryAnswer` (the MMU's hit path) against
 * `lookup` then `answer` (the full SDM 3A 4.6 check of the cached rights):
 * same result, same `out`, same counters, for every kind of access, entry
 * and context; `tryAnswer` changes nothing when it does not answer.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { WalkResult } from '../common/walk-result.js';
import { PROPERTY_PARAMS } from '../test-support/fixtures.js';
import { X86PagingContext } from '../x86/paging-context.js';
import { ACCESS } from '../x86/regs.js';
import { NO_EP4TA, Tlb } from './tlb.js';

/** Every valid access (SDM 3A 4.6: user/supervisor, read/write/fetch, implicit supervisor) and some invalid ones. */
const VALID_ACCESSES = [0, ACCESS.WRITE, ACCESS.FETCH, ACCESS.USER, ACCESS.USER | ACCESS.WRITE, ACCESS.USER | ACCESS.FETCH, ACCESS.IMPLICIT, ACCESS.IMPLICIT | ACCESS.WRITE];
const INVALID_ACCESSES = [ACCESS.WRITE | ACCESS.FETCH, ACCESS.USER | ACCESS.IMPLICIT, 0x8, 0.5, -2, Number.NaN];

function walkOf(address: number, pageSize: number, rights: { writable: boolean; user: boolean; executable: boolean; dirty: boolean; pkey: number; ept: number; level: number }): WalkResult {
  const w = new WalkResult();
  w.address = address;
  w.pageSize = pageSize;
  w.level = rights.level;
  w.writable = rights.writable;
  w.user = rights.user;
  w.executable = rights.executable;
  w.dirty = rights.dirty;
  w.protectionKey = rights.pkey;
  w.eptPermissions = rights.ept;
  return w;
}

function counters(tlb: Tlb): number[] {
  return [tlb.hits, tlb.misses, tlb.fills, tlb.invalidations, tlb.epoch];
}

describe('Tlb.lookupAnswer (the hit path) equals lookup + answer', () => {
  const flags = fc.record({
    cr0Wp: fc.boolean(), cr4Smep: fc.boolean(), cr4Smap: fc.boolean(), cr4Pke: fc.boolean(), cr4Pks: fc.boolean(), rflagsAc: fc.boolean(), eferNxe: fc.boolean(),
    pkru: fc.integer({ min: 0, max: 0xffff_ffff }), pkrs: fc.integer({ min: 0, max: 0xffff_ffff }),
  });
  const entry = fc.record({
    writable: fc.boolean(), user: fc.boolean(), executable: fc.boolean(), dirty: fc.boolean(), writeReady: fc.boolean(),
    pkey: fc.integer({ min: 0, max: 15 }), ept: fc.integer({ min: 0, max: 7 }), combined: fc.boolean(), global: fc.boolean(),
    size: fc.constantFrom(4096, 0x20_0000, 0x4000_0000), level: fc.integer({ min: 0, max: 3 }),
  });

  it('for random entries, contexts and accesses (SDM 3A 4.6.1, 4.6.2, 4.10.2; SDM 3C 28.3.3.2)', () => {
    fc.assert(
      fc.property(flags, entry, fc.constantFrom(...VALID_ACCESSES), fc.integer({ min: 0, max: 0xfff }), fc.boolean(), (f, e, access, offset, traced) => {
        const events: string[] = [];
        const make = (): Tlb => new Tlb({ entries: 16, ways: 4, ...(traced ? { tracer: { emit: (ev: { kind: string }) => events.push(ev.kind) } } : {}) });
        const ctx = new X86PagingContext();
        Object.assign(ctx, f);
        const ep4ta = e.combined ? 0x5000 : NO_EP4TA;
        const la = 0x4000_0000 + offset;
        const fast = make();
        const slow = make();
        for (const tlb of [fast, slow]) tlb.fill(3, 0, ep4ta, 0, la, walkOf(0x80_0000 + (la & (e.size - 1)), e.size, e), e.global, e.writeReady);
        const a = new WalkResult();
        const b = new WalkResult();
        const answered = fast.lookupAnswer(3, e.global ? 7 : 0, ep4ta, 0, la, ctx, access, a);
        const i = slow.lookup(3, e.global ? 7 : 0, ep4ta, 0, la);
        const expected = i >= 0 && slow.answer(i, ctx, access, 0, la, b);
        expect(answered).toBe(expected);
        expect(a).toEqual(b);
        expect(counters(fast)).toEqual(counters(slow));
        // A miss elsewhere: the same too.
        expect(fast.lookupAnswer(3, 0, ep4ta, 0, 0x1000, ctx, access, a)).toBe(false);
        expect(slow.lookup(3, 0, ep4ta, 0, 0x1000)).toBe(-1);
        expect(counters(fast)).toEqual(counters(slow));
        if (traced) expect(events).toEqual(expected || i >= 0 ? ['tlb.hit', 'tlb.hit', 'tlb.miss', 'tlb.miss'] : ['tlb.miss', 'tlb.miss', 'tlb.miss', 'tlb.miss']);
      }),
      PROPERTY_PARAMS,
    );
  });

  it('for every access, rights, D, EPT permissions and CR0.WP/SMEP/SMAP/PKE/PKS/AC combination (exhaustive)', () => {
    const ctx = new X86PagingContext();
    const a = new WalkResult();
    const b = new WalkResult();
    let granted = 0;
    for (let rights = 0; rights < 16; rights++) {
      // -1: a linear mapping; else a combined one with these EPT permissions (bit 0 R, 1 W, 2 X: each alone, none, all).
      for (const ept of [-1, 0, 1, 2, 4, 7]) {
        const e = { writable: (rights & 1) !== 0, user: (rights & 2) !== 0, executable: (rights & 4) !== 0, dirty: (rights & 8) !== 0, pkey: 5, ept: ept < 0 ? 0 : ept, level: 1 };
        const ep4ta = ept < 0 ? NO_EP4TA : 0x5000;
        const fast = new Tlb();
        const slow = new Tlb();
        for (const tlb of [fast, slow]) tlb.fill(0, 0, ep4ta, 0, 0x1000, walkOf(0x80_0000, 4096, e), false);
        for (let f = 0; f < 64; f++) {
          Object.assign(ctx, { cr0Wp: (f & 1) !== 0, cr4Smep: (f & 2) !== 0, cr4Smap: (f & 4) !== 0, cr4Pke: (f & 8) !== 0, cr4Pks: (f & 16) !== 0, rflagsAc: (f & 32) !== 0, pkru: 0x0c00, pkrs: 0x0400 });
          for (const access of VALID_ACCESSES) {
            const answered = fast.lookupAnswer(0, 0, ep4ta, 0, 0x1008, ctx, access, a);
            const i = slow.lookup(0, 0, ep4ta, 0, 0x1008);
            const expected = slow.answer(i, ctx, access, 0, 0x1008, b);
            if (answered !== expected) expect({ rights, ept, f, access, answered }).toEqual({ rights, ept, f, access, answered: expected });
            if (answered) granted++;
          }
        }
        expect(a).toEqual(b);
        expect(counters(fast)).toEqual(counters(slow));
      }
    }
    // Not vacuous: some accesses are answered, some are not.
    expect(granted).toBeGreaterThan(1000);
    expect(granted).toBeLessThan(16 * 6 * 64 * VALID_ACCESSES.length);
  });

  it('tryAnswer answers as lookup + answer or changes nothing, for random entries, contexts and accesses (SDM 3A 4.6, 4.10.2)', () => {
    fc.assert(
      fc.property(flags, entry, fc.constantFrom(...VALID_ACCESSES, ...INVALID_ACCESSES), fc.integer({ min: 0, max: 0xfff }), fc.constantFrom('lru', 'fifo', 'traced'), (f, e, access, offset, kind) => {
        const make = (): Tlb => new Tlb({ entries: 16, ways: 4, ...(kind === 'fifo' ? { replacement: 'fifo' as const } : {}), ...(kind === 'traced' ? { tracer: { emit: () => undefined } } : {}) });
        const ctx = new X86PagingContext();
        Object.assign(ctx, f);
        // A global entry is looked up under another PCID (SDM 3A 4.10.2.4).
        if (e.global) Object.assign(ctx, { cr4Pcide: true, cr3: 7 });
        const ep4ta = e.combined ? 0x5000 : NO_EP4TA;
        const la = 0x4000_0000 + offset;
        const fast = make();
        const slow = make();
        for (const tlb of [fast, slow]) tlb.fill(3, 0, ep4ta, 0, la, walkOf(0x80_0000 + (la & (e.size - 1)), e.size, e), e.global, e.writeReady);
        const a = new WalkResult();
        a.address = 0x1234;
        const untouched = a.clone();
        const before = counters(fast);
        if (!fast.tryAnswer(3, ep4ta, 0, la, ctx, access, a)) {
          // Nothing changed: the caller takes the full path.
          expect(a).toEqual(untouched);
          expect(counters(fast)).toEqual(before);
          return;
        }
        // Only the common case: LRU, untraced, a valid access to a 4 KiB entry.
        expect([kind, e.size, VALID_ACCESSES.includes(access)]).toEqual(['lru', 4096, true]);
        const b = new WalkResult();
        const i = slow.lookup(3, ctx.pcid, ep4ta, 0, la);
        expect(i >= 0 && slow.answer(i, ctx, access, 0, la, b)).toBe(true);
        expect(a).toEqual(b);
        expect(counters(fast)).toEqual(counters(slow));
        // The same LRU order: the next fill of the set evicts the same entry from both.
        for (const tlb of [fast, slow]) for (let k = 1; k <= 4; k++) tlb.fill(3, 0, ep4ta, 0, la + k * 0x10_000, walkOf(0x90_0000, 4096, e), false);
        expect(fast.lookup(3, ctx.pcid, ep4ta, 0, la)).toBe(slow.lookup(3, ctx.pcid, ep4ta, 0, la));
      }),
      PROPERTY_PARAMS,
    );
  });

  it('tryAnswer takes the common case: a user read of a present 4 KiB user page, PCID from CR3 (SDM 3A 4.10.1)', () => {
    const tlb = new Tlb();
    tlb.fill(0, 5, NO_EP4TA, 0, 0x1000, walkOf(0x80_0000, 4096, { writable: false, user: true, executable: false, dirty: false, pkey: 0, ept: 7, level: 1 }), false);
    const ctx = new X86PagingContext({ cr4Pcide: true, cr3: 0x2000 | 5 });
    const out = new WalkResult();
    expect(tlb.tryAnswer(0, NO_EP4TA, 0, 0x1008, ctx, ACCESS.USER, out)).toBe(true);
    expect([out.address, out.user, out.writable, tlb.hits]).toEqual([0x80_0008, true, false, 1]);
    // Another PCID, a write (no W), a fetch (no X): not the common case, nothing counted.
    ctx.cr3 = 0x2000 | 6;
    expect(tlb.tryAnswer(0, NO_EP4TA, 0, 0x1008, ctx, ACCESS.USER, out)).toBe(false);
    ctx.cr3 = 0x2000 | 5;
    expect(tlb.tryAnswer(0, NO_EP4TA, 0, 0x1008, ctx, ACCESS.USER | ACCESS.WRITE, out)).toBe(false);
    expect(tlb.tryAnswer(0, NO_EP4TA, 0, 0x1008, ctx, ACCESS.USER | ACCESS.FETCH, out)).toBe(false);
    expect([tlb.hits, tlb.misses]).toEqual([1, 0]);
  });

  it('rejects a bad access naming it, before counting anything or touching out', () => {
    const tlb = new Tlb();
    const w = walkOf(0x80_0000, 4096, { writable: true, user: true, executable: true, dirty: true, pkey: 0, ept: 7, level: 1 });
    tlb.fill(0, 0, NO_EP4TA, 0, 0x1000, w, false);
    const out = new WalkResult();
    out.address = 0x1234;
    const before = counters(tlb);
    for (const access of INVALID_ACCESSES) {
      expect(() => tlb.lookupAnswer(0, 0, NO_EP4TA, 0, 0x1000, new X86PagingContext(), access, out)).toThrow(/access must be ACCESS flags/);
    }
    expect(counters(tlb)).toEqual(before);
    expect(out.address).toBe(0x1234);
  });

  it('answers a supervisor read of a user page outright without SMAP, and by the full check with it (SDM 3A 4.6.1)', () => {
    const tlb = new Tlb();
    tlb.fill(0, 0, NO_EP4TA, 0, 0x1000, walkOf(0x80_0000, 4096, { writable: true, user: true, executable: true, dirty: true, pkey: 0, ept: 7, level: 1 }), false);
    const ctx = new X86PagingContext();
    const out = new WalkResult();
    expect(tlb.lookupAnswer(0, 0, NO_EP4TA, 0, 0x1008, ctx, 0, out)).toBe(true);
    expect(out.address).toBe(0x80_0008);
    ctx.cr4Smap = true;
    expect(tlb.lookupAnswer(0, 0, NO_EP4TA, 0, 0x1008, ctx, 0, out)).toBe(false);
    ctx.rflagsAc = true;
    expect(tlb.lookupAnswer(0, 0, NO_EP4TA, 0, 0x1008, ctx, 0, out)).toBe(true);
    expect(tlb.lookupAnswer(0, 0, NO_EP4TA, 0, 0x1008, ctx, ACCESS.IMPLICIT, out)).toBe(false);
    expect(tlb.hits).toBe(4);
  });
});
