import { HvsimError, PhysicalMemory, RecordingTracer, UsageError } from '@hvsim/core';
import { describe, expect, it } from 'vitest';
import { EntryReader } from '../internal/entry-reader.js';
import { isCanonical, splitAddress, addressToBigint } from './address.js';
import { PageAllocator } from './page-allocator.js';
import { Stage2Builder } from '../arm/stage2-builder.js';
import { EptBuilder } from '../ept/ept-builder.js';
import { X86PageTableBuilder } from '../x86/page-table-builder.js';
import { MmuError } from './mmu-error.js';
import { Tlb } from '../tlb/tlb.js';
import { ArmTlb } from '../arm/arm-tlb.js';
import { ArmMmu } from '../arm/arm-mmu.js';
import { X86Mmu } from '../x86/x86-mmu.js';
import { X86PageWalker } from '../x86/page-walker.js';
import { EptWalker } from '../ept/ept-walker.js';
import { NestedWalker } from '../nested/nested-walker.js';
import { Stage1Walker } from '../arm/stage1-walker.js';
import { Stage2Walker } from '../arm/stage2-walker.js';
import { ShadowMmu } from '../shadow/shadow-mmu.js';
import { ShadowPageTables } from '../shadow/shadow-page-tables.js';
import { Memslots } from '../shadow/memslots.js';
import { ShadowResult } from '../shadow/shadow-stats.js';
import { WalkResult } from './walk-result.js';
import { X86PagingContext } from '../x86/paging-context.js';
import { ACCESS } from '../x86/regs.js';
import { Stage1Builder } from '../arm/stage1-builder.js';
import { Stage1Context } from '../arm/stage1-context.js';
import { S1_ACCESS } from '../arm/stage1-regs.js';
import { makeMemory } from '../test-support/fixtures.js';

describe('SDM 3A 3.3.7.1 "Canonical Addressing"', () => {
  it('checks bits 63:47 (4-level) or 63:56 (LA57)', () => {
    expect(isCanonical(0x0000_7fff, 0xffff_ffff, false)).toBe(true);
    expect(isCanonical(0xffff_8000, 0, false)).toBe(true);
    expect(isCanonical(0x0000_8000, 0, false)).toBe(false);
    expect(isCanonical(0x0000_8000, 0, true)).toBe(true);
    expect(isCanonical(0x0100_0000, 0, true)).toBe(false);
    expect(splitAddress(0xffff_8000_0000_1000n)).toEqual([0xffff_8000, 0x1000]);
    expect(addressToBigint(0xffff_8000, 0x1000)).toBe(0xffff_8000_0000_1000n);
    expect(() => splitAddress(-1n)).toThrow(/unsigned 64-bit/);
  });
});

describe('PageAllocator', () => {
  it('hands out, reuses and tracks pages; rejects foreign pages and bad ranges', () => {
    const a = new PageAllocator(0x1_0000, 0x3000);
    const p = [a.allocate(), a.allocate(), a.allocate()];
    expect(p).toEqual([0x1_0000, 0x1_1000, 0x1_2000]);
    expect(a.tryAllocate()).toBe(-1);
    expect(() => a.allocate()).toThrow(/exhausted/);
    a.release(0x1_1000);
    expect(a.used).toBe(2);
    expect(a.allocate()).toBe(0x1_1000);
    expect(() => a.release(0x5000)).toThrow(/was not allocated/);
    expect(() => new PageAllocator(0x800, 0x1000)).toThrow(/multiples of 4 KiB/);
    const b = new PageAllocator(0x1_0000, 0x3000);
    b.restoreState(JSON.parse(JSON.stringify(a.saveState())));
    expect(b.saveState()).toEqual(a.saveState());
    expect(() => new PageAllocator(0, 0x1000).restoreState(a.saveState())).toThrow(/covers/);
  });
});

describe('EntryReader (64-bit entries as halves over PhysicalMemory)', () => {
  it('reads exactly what read32 reads, sees region removal and restores, and reads all ones outside RAM', () => {
    const memory = new PhysicalMemory();
    memory.addRegion(0, 0x10_000);
    memory.write32(0x2008, 0x1234_5678);
    memory.write32(0x200c, 0x9abc_def0);
    const r = new EntryReader(memory);
    r.read(0x2008);
    expect([r.lo, r.hi]).toEqual([memory.read32(0x2008), memory.read32(0x200c)]);
    r.read(0x3000); // never written: zero
    expect([r.lo, r.hi]).toEqual([0, 0]);
    const saved = memory.saveState();
    memory.write32(0x2008, 1);
    memory.restoreState(saved);
    r.read(0x2008);
    expect(r.lo).toBe(0x1234_5678);
    memory.removeRegion(0);
    // Outside memory an entry reads as all ones (master-abort; common/memory-access.ts), never a MemoryError.
    r.read(0x2008);
    expect([r.lo, r.hi]).toEqual([0xffff_ffff, 0xffff_ffff]);
  });
});

describe('table builders share one mapping check (4 KiB / 2 MiB / 1 GiB, aligned, non-negative)', () => {
  it('rejects bad sizes, misaligned or negative addresses in all three formats, naming the values', () => {
    const { memory, tables } = makeMemory();
    const x86 = new X86PageTableBuilder(memory, tables);
    const ept = new EptBuilder(memory, tables);
    const s2 = new Stage2Builder(memory, tables, 1, 40);
    expect(() => x86.map(0x1000, 0x2000, { pageSize: 0x1_0000 })).toThrow(/got 65536/);
    expect(() => x86.map(-0x1000, 0x2000)).toThrow(/linear must be a non-negative/);
    expect(() => ept.map(0x20_0000, 0x1000, { pageSize: 0x20_0000 })).toThrow(/gpa 0x200000 and hpa 0x1000 must be aligned/);
    expect(() => s2.map(0x1000, Number.NaN)).toThrow(/pa must be a non-negative/);
    expect(() => s2.map(0x1000, 0x2000, { pageSize: 3 })).toThrow(UsageError);
  });
});

/** The thrown error, for checks of its class, kind and message. */
function thrown(f: () => unknown): unknown {
  try {
    f();
  } catch (e) {
    return e;
  }
  throw new Error('nothing was thrown');
}

describe('host misuse throws core\'s UsageError (docs/conventions.md "Errors")', () => {
  it('every misuse error is a UsageError, and still an MmuError for older code', () => {
    const e = thrown(() => new Tlb({ entries: 3 }));
    expect(e).toBeInstanceOf(UsageError);
    expect(e).toBeInstanceOf(HvsimError);
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the deprecated class must keep matching
    expect(e).toBeInstanceOf(MmuError);
    expect(e).toMatchObject({ name: 'MmuError', kind: 'bad-argument', message: 'TLB entries must be a power of two up to 2^20, got 3' });
  });

  it("a bad option value is 'bad-argument' (formerly 'bad-option'), naming the value", () => {
    expect(thrown(() => new Tlb({ ways: 128, entries: 64 }))).toMatchObject({ kind: 'bad-argument', message: 'TLB ways must be a power of two no larger than entries (64), got 128' });
    expect(thrown(() => new ArmTlb({ replacement: 'mru' as never }))).toMatchObject({ kind: 'bad-argument', message: "Arm TLB replacement must be 'lru', 'fifo' or 'random', got \"mru\"" });
    expect(thrown(() => new EptWalker(new PhysicalMemory(), { maxPhyAddr: 60 }))).toMatchObject({ kind: 'bad-argument', message: 'maxPhyAddr must be an integer in [36, 52], got 60 (0x3c)' });
  });

  it("an unknown option name is 'unknown-name', naming it and the known ones", () => {
    const memory = new PhysicalMemory();
    const cases: [() => unknown, string][] = [
      [() => new Tlb({ entires: 64 } as never), 'Tlb has no option "entires"'],
      [() => new ArmTlb({ way: 2 } as never), 'ArmTlb has no option "way"'],
      [() => new X86Mmu(memory, { tbl: {} } as never), 'X86Mmu has no option "tbl"'],
      [() => new ArmMmu(memory, { now: () => 0 } as never), 'ArmMmu has no option "now"'],
      [() => new X86PageWalker(memory, { tracr: null } as never), 'X86PageWalker has no option "tracr"'],
      [() => new EptWalker(memory, { executeonly: true } as never), 'EptWalker has no option "executeonly"'],
      [() => new NestedWalker(memory, { fivelevel: true } as never), 'NestedWalker has no option "fivelevel"'],
      [() => new Stage1Walker(memory, { xnx: true } as never), 'Stage1Walker has no option "xnx"'],
      [() => new Stage2Walker(memory, { XNX: true } as never), 'Stage2Walker has no option "XNX"'],
      [() => new ShadowPageTables(memory, { memslots: new Memslots(), shadowPages: new PageAllocator(0x10_0000, 0x10_0000), vpid: 1 } as never), 'ShadowPageTables has no option "vpid"'],
      [() => new ShadowMmu(memory, { memslots: new Memslots(), shadowPages: new PageAllocator(0x10_0000, 0x10_0000), onFlush: () => undefined } as never), 'ShadowMmu has no option "onFlush"'],
    ];
    for (const [f, message] of cases) {
      const e = thrown(f);
      expect(e).toBeInstanceOf(UsageError);
      expect(e).toMatchObject({ kind: 'unknown-name' });
      expect((e as Error).message).toContain(message);
      expect((e as Error).message).toMatch(/\(known: [a-zA-Z0-9, ]+\)$/);
    }
    expect(thrown(() => new Tlb(7 as never))).toMatchObject({ kind: 'bad-argument', message: 'Tlb options must be an object, got 7 (0x7)' });
  });

  it('a bigint where a number is expected (and the reverse) is a UsageError naming the value, never a bare TypeError (issue 12)', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    const ctx = new X86PagingContext({ cr3: pt.root });
    const mmu = new X86Mmu(memory, { context: ctx });
    const s1 = new Stage1Context({ tcr: Stage1Builder.tcr() });
    const arm = new ArmMmu(memory, { context: s1 });
    const cases: [() => unknown, RegExp][] = [
      [() => new X86PageWalker(memory).walk64(ctx, 0, 5n as never, ACCESS.READ), /linear address halves must be unsigned 32-bit integers, got hi 0 \(0x0\), lo 5n/],
      [() => new NestedWalker(memory).walk64(ctx, 1n as never, 0, ACCESS.READ), /linear address halves .* got hi 1n/],
      [() => mmu.translate64(2 ** 32, 0, ACCESS.READ), /linear address halves .* got hi 4294967296/],
      [() => arm.translate64(0, 7n as never, S1_ACCESS.READ), /VA halves .* lo 7n/],
      [() => new Stage1Walker(memory).walk64(s1, 1.5, 0, S1_ACCESS.READ), /VA halves .* got hi 1.5/],
      [() => arm.tlbi('VAE1', 5n as never, 0), /TLBI VAE1 operand halves must be unsigned 32-bit integers, got 5n/],
      [() => mmu.movToCr3('0x1000' as never), /MOV to CR3 value must be a bigint, got "0x1000"/],
      [() => mmu.movToCr3(-4096), /MOV to CR3 value must be a non-negative safe integer, got -4096/],
      [() => mmu.movToCr4(5 as never), /MOV to CR4 takes \{ pge, pcide, smep, smap\?, pke\?, pks\? \}, got 5/],
      [() => mmu.movToCr4({ pge: 1, pcide: false, smep: false } as never), /MOV to CR4 pge must be a boolean, got 1/],
      [() => mmu.movToCr4({ pge: false, pcide: false, smep: false, la57: true } as never), /MOV to CR4 has no flag "la57"/],
    ];
    for (const [f, message] of cases) {
      const e = thrown(f);
      expect(e).toBeInstanceOf(UsageError);
      expect((e as Error).message).toMatch(message);
    }
    mmu.movToCr3(pt.root); // a number below 2^53 is accepted, as for invlpg
    expect(ctx.cr3).toBe(pt.root);
  });

  it("an exhausted page allocator is 'bad-state' (formerly 'out-of-shadow-pages'), naming the range", () => {
    const pages = new PageAllocator(0x10_0000, 0x1000);
    pages.allocate();
    expect(thrown(() => pages.allocate())).toMatchObject({ kind: 'bad-state', message: 'page allocator [0x100000, +0x1000) is exhausted' });
  });
});

describe('reused results (docs/conventions.md "Results that are reused")', () => {
  it('a walk without `out` fills one object the walker reuses; clone() keeps a copy past the next walk', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    pt.map(0x40_1000, 0x12_3000);
    const ctx = new X86PagingContext({ cr3: pt.root });
    const walker = new X86PageWalker(memory);
    const first = walker.walk(ctx, 0x40_1010, ACCESS.READ);
    const kept = first.clone();
    const second = walker.walk(ctx, 0x50_0000, ACCESS.READ);
    expect(second).toBe(first); // the same object, refilled
    expect([first.status, kept.status, kept.address, kept.linearAddress]).toEqual(['page-fault', 'ok', 0x12_3010, 0x40_1010]);
    expect(kept).toBeInstanceOf(WalkResult);
    const out = new WalkResult();
    const refs = out.record();
    expect(walker.walk(ctx, 0x40_1010, ACCESS.READ, out)).toBe(out);
    const copy = out.clone();
    expect(copy.trace).toEqual(refs);
    expect(copy.trace).not.toBe(refs);
    const shadow = new ShadowResult();
    shadow.event = 'mmio';
    const shadowCopy = shadow.clone();
    expect(shadowCopy).toBeInstanceOf(ShadowResult);
    expect(shadowCopy.event).toBe('mmio');
  });
});

describe('trace events carry the `cpu` option (docs/conventions.md "Tracing")', () => {
  it('X86Mmu hands it to its TLB and walkers, ArmMmu to its TLB and stage 1 walker; without it events have no cpu', () => {
    const { memory, tables } = makeMemory();
    const pt = new X86PageTableBuilder(memory, tables);
    pt.map(0x40_1000, 0x12_3000);
    const tracer = new RecordingTracer();
    const mmu = new X86Mmu(memory, { context: { cr3: pt.root }, tracer, cpu: 3 });
    mmu.translate(0x40_1000, ACCESS.READ);
    mmu.translate(0x40_1000, ACCESS.READ);
    mmu.invlpg(0x40_1000);
    expect(tracer.events().map((e) => `${e.source}:${e.kind}:${String(e.cpu)}`)).toEqual(['tlb:tlb.miss:3', 'mmu:mmu.walk:3', 'tlb:tlb.hit:3', 'tlb:tlb.flush:3']);
    const s1 = new Stage1Builder(memory, tables);
    s1.map(0x40_1000, 0x12_3000);
    const arm = new RecordingTracer();
    new ArmMmu(memory, { context: new Stage1Context({ tcr: Stage1Builder.tcr(), ttbr0: s1.ttbr() }), tracer: arm, cpu: 1 }).translate(0x40_1000, S1_ACCESS.READ);
    expect(arm.events().map((e) => `${e.source}:${String(e.cpu)}`)).toEqual(['arm-tlb:1', 'mmu.stage1:1']);
    const plain = new RecordingTracer();
    new X86PageWalker(memory, { tracer: plain }).walk(new X86PagingContext({ cr3: pt.root }), 0x40_1000, ACCESS.READ);
    expect(plain.events()[0]?.cpu).toBeUndefined();
    expect(() => new Tlb({ cpu: -1 })).toThrow('Tlb cpu must be a non-negative integer, got -1');
  });
});
