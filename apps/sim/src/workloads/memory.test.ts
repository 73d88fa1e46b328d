// The `memory` workload under EPT and under shadow paging (--mmu): the structural facts of each MMU
// (Linux vmx.c with and without enable_ept; mmu.c kvm_mmu_page_fault, kvm_mmu_invlpg, kvm_mmu_new_pgd).
import { describe, expect, it } from 'vitest';
import { main } from '../cli.js';
import { parseOptions } from '../options.js';
import { loadProfile } from '../profiles.js';
import { simulate, type RunResult } from '../simulate.js';
import { MEMORY } from './workloads.js';

const profile = loadProfile('x86-sandybridge');
/** About 120 µs at 2.1 GHz: a few dozen time slices under either MMU, well under a second of wall time. */
const SHORT = '250000';
const cache = new Map<string, RunResult[]>();
/** One run of `posted` (and native, its baseline) per MMU and duration, shared by the tests that read it. */
const memory = (mmu: 'ept' | 'shadow', duration = SHORT): RunResult[] => {
  const key = `${mmu} ${duration}`;
  if (!cache.has(key)) cache.set(key, simulate(parseOptions(['--workload', 'memory', '--mode', 'posted', '--mmu', mmu, '--duration', duration]), profile).runs);
  return cache.get(key)!;
};
/** Pages the guest touches at most: each process's data pages and its four tables (PML4, PDPT, PD, PT). */
const PAGES = MEMORY.processes * (MEMORY.pagesPerSlice + 4);

describe('the memory workload: process switches, page faults and INVLPG under EPT and shadow paging', () => {
  it('EPT: no CR3, INVLPG or #PF exits; EPT violations only on the first touch of each page (SDM 3C 28.3.3.1)', () => {
    const [r] = memory('ept');
    expect(Object.keys(r!.exits.byReason)).toEqual(['EPT_VIOLATION']);
    const violations = r!.exits.byReason.EPT_VIOLATION!;
    expect(violations).toBeGreaterThan(MEMORY.processes * MEMORY.pagesPerSlice - 1);
    expect(violations).toBeLessThanOrEqual(PAGES);
    expect(r!.interrupts).toMatchObject({ raised: 0, delivered: 0 });
    expect(r!.exits.perInterrupt).toBeNull();
    expect(r!.throughput.unit).toBe('memory operations/s');
  });

  it('EPT: a longer window touches no new page — the same violations, the work goes on without exits', () => {
    const [r] = memory('ept');
    const [longer] = memory('ept', String(1.5 * Number(SHORT)));
    expect(longer!.exits.byReason).toEqual(r!.exits.byReason);
    expect(longer!.throughput.value).toBeGreaterThan(r!.throughput.value); // the window's first touches weigh less
  });

  it('shadow paging: every process switch (MOV to CR3) and INVLPG exits, #PF exits fill, inject and emulate; no EPT exits (SDM 3C 25.1.3, 26.3)', () => {
    const [r] = memory('shadow');
    const e = r!.exits.byReason;
    expect(Object.keys(e).sort()).toEqual(['CR_ACCESS', 'EXCEPTION_NMI', 'INVLPG']);
    // One CR3 load and one INVLPG per time slice; the window holds `ops / pagesPerSlice` slices, give or take one at each edge.
    const seconds = Number(SHORT) / profile.clockHz;
    const slices = (r!.throughput.value * seconds) / MEMORY.pagesPerSlice;
    expect(Math.abs(e.CR_ACCESS! - slices)).toBeLessThanOrEqual(2);
    expect(Math.abs(e.INVLPG! - slices)).toBeLessThanOrEqual(2);
    // Per slice at least: the PTE cleared (a write to a shadowed table, emulated), the guest's own #PF (injected)
    // and its handler's PTE write (emulated).
    expect(e.EXCEPTION_NMI!).toBeGreaterThanOrEqual(3 * (slices - MEMORY.processes));
    expect(r!.pageFaults).toBeGreaterThan(0);
    expect(r!.exits.perThousandOperations).toBeGreaterThan(100);
  });

  it('throughput: shadow paging < EPT < native; the guest handles the same page faults under both MMUs', () => {
    const [ept] = memory('ept');
    const [shadow] = memory('shadow');
    expect(shadow!.throughput.value).toBeLessThan(ept!.throughput.value);
    expect(ept!.throughput.pctOfNative).toBeLessThan(100);
    expect(shadow!.throughput.pctOfNative).toBeLessThan(ept!.throughput.pctOfNative!);
    expect(shadow!.guestTimeShare).toBeLessThan(ept!.guestTimeShare);
    // The guest's demand paging is the same work under both: one fault per slice after each process's first.
    for (const r of [ept!, shadow!]) expect(r.pageFaults).toBeGreaterThan(0);
  });

  it('--json: config.mmu, byte-identical for the same configuration; --mmu is refused natively', () => {
    const json = (): string => {
      let out = '';
      expect(main(['--workload', 'memory', '--mode', 'emulated', '--mmu', 'shadow', '--duration', '100000', '--json'], (t) => (out += t), () => undefined, false)).toBe(0);
      return out;
    };
    const a = json();
    expect(json()).toBe(a);
    const parsed = JSON.parse(a) as { config: { mmu: string; workload: string }; runs: RunResult[] };
    expect(parsed.config).toMatchObject({ mmu: 'shadow', workload: 'memory' });
    expect(parsed.runs[0]!.exits.byReason.CR_ACCESS).toBeGreaterThan(0);
    let err = '';
    expect(main(['--workload', 'memory', '--mode', 'native', '--mmu', 'shadow'], () => undefined, (t) => (err += t), false)).toBe(2);
    expect(err).toMatch(/--mmu shadow with --mode native/);
  });
});
