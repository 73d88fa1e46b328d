import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseOptions } from './options.js';
import { PROFILES_DIR, loadProfile } from './profiles.js';
import { simulate, type RunResult } from './simulate.js';
import { main } from './cli.js';

const profile = loadProfile('x86-sandybridge');
/** A short window keeps each test well under a second: 0.3M cycles, about 140 µs at 2.1 GHz. */
const SHORT = '300000';
/** These tests drive the storm unless they name another workload (the default run is netperf-rr). */
const run = (argv: string[]): RunResult[] => simulate(parseOptions(['--workload', 'storm', '--duration', SHORT, ...argv]), profile).runs;
const byMode = (runs: RunResult[], mode: string): RunResult => runs.find((r) => r.mode === mode)!;
/** `count` is `perInterrupt` × `n` give or take one interrupt at each edge of the window (raised inside, handled after, or the reverse). */
const expectPer = (count: number | undefined, perInterrupt: number, n: number, what: string): void => {
  expect(Math.abs((count ?? 0) - perInterrupt * n), `${what}: ${count ?? 0} for ${n} interrupts`).toBeLessThanOrEqual(perInterrupt);
};

describe('the simulated host', () => {
  it('gives byte-identical JSON for the same seed and configuration, run twice', () => {
    const argv = ['--mode', 'emulated', '--duration', '150000', '--rate', '300000', '--seed', '42'];
    const a = JSON.stringify(simulate(parseOptions(['--workload', 'storm', '--duration', SHORT, ...argv]), profile));
    const b = JSON.stringify(simulate(parseOptions(['--workload', 'storm', '--duration', SHORT, ...argv]), profile));
    expect(a).toBe(b);
    const c = JSON.stringify(simulate(parseOptions(['--workload', 'storm', '--duration', SHORT, ...argv.slice(0, -1), '43']), profile));
    expect(c).not.toBe(a); // the seed drives the storm's arrivals
  });

  it('emulated (xAPIC): about 2 exits per device interrupt to a running vCPU — the kick and the EOI', () => {
    const r = byMode(run(['--mode', 'native,emulated', '--rate', '200000']), 'emulated');
    const n = r.interrupts.delivered;
    expect(n).toBeGreaterThan(20);
    // api.rst / Linux lapic.c: the EOI write to the xAPIC page is an EPT misconfiguration exit, one per interrupt.
    expectPer(r.exits.byReason.EPT_MISCONFIG, 1, n, 'EPT_MISCONFIG');
    // Delivery to a vCPU in guest mode: kvm_vcpu_kick's IPI exits (EXTERNAL_INTERRUPT), or an interrupt window
    // when it arrives while the guest has IF=0 (in the handler); one or the other per interrupt, a few merge.
    const delivery = (r.exits.byReason.EXTERNAL_INTERRUPT ?? 0) + (r.exits.byReason.INTERRUPT_WINDOW ?? 0);
    expect(delivery / n).toBeGreaterThan(0.8);
    expect(delivery / n).toBeLessThanOrEqual(1.2);
    // Every other exit is a first touch of a guest page (EPT_VIOLATION, warming up at the window's start):
    // without those, about 2 per interrupt (KVM's handling and returns, host.*, slow the guest, so a few more
    // interrupts find IF=0 and take an interrupt window).
    const warmUp = r.exits.byReason.EPT_VIOLATION ?? 0;
    expect(r.exits.total).toBe((r.exits.byReason.EPT_MISCONFIG ?? 0) + delivery + warmUp);
    expect((r.exits.total - warmUp) / n).toBeGreaterThan(1.8);
    expect((r.exits.total - warmUp) / n).toBeLessThan(2.3);
    expect(r.throughput.pctOfNative).toBeLessThan(100);
  });

  it('emulated with a halted vCPU: the delivery costs no exit of its own — the interrupt wakes the vCPU blocked in KVM after its HLT exit and is injected at the next entry', () => {
    const r = byMode(run(['--mode', 'emulated', '--workload', 'timer', '--rate', '50000', '--guest', 'idle']), 'emulated');
    const n = r.interrupts.delivered;
    expect(n).toBeGreaterThan(5);
    expect(r.exits.byReason.EXTERNAL_INTERRUPT ?? 0).toBe(0);
    expectPer(r.exits.byReason.EPT_MISCONFIG, 1, n, 'EPT_MISCONFIG'); // the EOI still exits
    expectPer(r.exits.byReason.HLT, 1, n, 'HLT'); // the guest's own HLT, once per tick, not the delivery's
  });

  it('x2apic: the EOI exits as an MSR write (SDM 3A 11.12.1; no xAPIC page access)', () => {
    const r = byMode(run(['--mode', 'x2apic', '--rate', '200000']), 'x2apic');
    expectPer(r.exits.byReason.MSR_WRITE, 1, r.interrupts.delivered, 'MSR_WRITE');
    expect(r.exits.byReason.EPT_MISCONFIG ?? 0).toBe(0);
  });

  it('apicv: no EOI exit for edge interrupts and no delivery exit (posted, SDM 3C 30.1.3, 30.6); native: no exits at all', () => {
    const runs = run(['--mode', 'native,apicv', '--rate', '200000']);
    const apicv = byMode(runs, 'apicv');
    expect(apicv.interrupts.delivered).toBeGreaterThan(20);
    for (const reason of ['EPT_MISCONFIG', 'APIC_ACCESS', 'APIC_WRITE', 'EOI_INDUCED', 'EXTERNAL_INTERRUPT', 'MSR_WRITE']) expect(apicv.exits.byReason[reason] ?? 0, reason).toBe(0);
    expect(byMode(runs, 'native').exits.total).toBe(0);
  });

  it('storm: every interrupt raised is delivered, coalesced or dropped, with the reason', () => {
    for (const r of run(['--rate', '1000000', '--duration', '200000'])) {
      const i = r.interrupts;
      expect(i.raised, r.mode).toBeGreaterThan(50);
      expect(i.delivered + i.coalesced + i.dropped, r.mode).toBe(i.raised);
      expect(i.coalesced, r.mode).toBe(Object.values(i.coalescedBy).reduce((s, n) => s + n, 0));
      // Where the host answers 'already pending' (native, emulated), every accepted MSI reaches the handler once.
      if (r.mode !== 'apicv' && r.mode !== 'posted') expect(i.coalescedBy.pir, r.mode).toBe(0);
      expect(i.coalescedBy.pir, r.mode).toBeGreaterThanOrEqual(0);
    }
  });

  it('timer: latency and throughput per mode, ordered native, apicv before the emulated modes', () => {
    const runs = run(['--workload', 'timer', '--rate', '100000']);
    for (const r of runs) expect(r.latencyCycles, r.mode).not.toBeNull();
    expect(byMode(runs, 'emulated').latencyCycles!.mean).toBeGreaterThan(byMode(runs, 'native').latencyCycles!.mean);
    expect(byMode(runs, 'emulated').throughput.pctOfNative!).toBeLessThan(byMode(runs, 'apicv').throughput.pctOfNative!);
  });
});

describe('cost profiles in the run', () => {
  it('charges the vCPUs the profile\'s VM exit and entry: a 10x costlier world switch lowers emulated throughput', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'hvsim-sim-')), 'slow-exits.json');
    const json = JSON.parse(readFileSync(join(PROFILES_DIR, 'x86-sandybridge.json'), 'utf8')) as { name: string; cpu: Record<string, number> };
    writeFileSync(file, JSON.stringify({ ...json, name: 'slow-exits', cpu: { ...json.cpu, vmExit: 6500, vmEntry: 6500 } }));
    const argv = ['--workload', 'storm', '--duration', '200000', '--mode', 'native,emulated', '--rate', '200000'];
    const base = byMode(simulate(parseOptions(argv), profile).runs, 'emulated');
    const slow = byMode(simulate(parseOptions(argv), loadProfile(file)).runs, 'emulated');
    expect(slow.throughput.pctOfNative!).toBeLessThan(base.throughput.pctOfNative! - 5);
    expect(slow.guestTimeShare).toBeLessThan(base.guestTimeShare);
  });

  it("charges KVM's own work (host.exitHandler per exit, through new Kvm({ x86KvmCosts })): without it emulated mode runs faster, native is unchanged", () => {
    const file = join(mkdtempSync(join(tmpdir(), 'hvsim-sim-')), 'free-kvm.json');
    const json = JSON.parse(readFileSync(join(PROFILES_DIR, 'x86-sandybridge.json'), 'utf8')) as { name: string; host: Record<string, number> };
    writeFileSync(file, JSON.stringify({ ...json, name: 'free-kvm', host: { ...json.host, exitHandler: 0 } }));
    const argv = ['--workload', 'storm', '--duration', '200000', '--mode', 'native,emulated', '--rate', '200000'];
    const runs = simulate(parseOptions(argv), profile).runs;
    const freeRuns = simulate(parseOptions(argv), loadProfile(file)).runs;
    const [base, free] = [byMode(runs, 'emulated'), byMode(freeRuns, 'emulated')];
    expect(free.guestTimeShare).toBeGreaterThan(base.guestTimeShare);
    expect(free.throughput.pctOfNative!).toBeGreaterThan(base.throughput.pctOfNative!);
    expect(JSON.stringify(byMode(freeRuns, 'native'))).toBe(JSON.stringify(byMode(runs, 'native')));
  });
});

describe('the ipi workload', () => {
  const ipi = (modes: string): RunResult[] => {
    const runs = run(['--workload', 'ipi', '--mode', modes, '--rate', '300000', '--duration', '120000']);
    for (const r of runs) {
      expect(r.interrupts.delivered, r.mode).toBeGreaterThan(10);
      expect(r.interrupts.delivered + r.interrupts.coalesced, r.mode).toBe(r.interrupts.raised);
      expect(r.latencyCycles!.p50, r.mode).toBeGreaterThan(0);
    }
    return runs;
  };

  it('emulated xAPIC: 4 exits per IPI — the two ICR stores, the kick of the running target, its EOI; native none', () => {
    const runs = ipi('native,emulated');
    const r = byMode(runs, 'emulated');
    // SDM 3A 11.6.1: the xAPIC ICR is two stores (high, then low), each an APIC-page exit; the EOI a third.
    expectPer(r.exits.byReason.EPT_MISCONFIG, 3, r.interrupts.delivered, 'EPT_MISCONFIG');
    expectPer(r.exits.byReason.EXTERNAL_INTERRUPT, 1, r.interrupts.delivered, 'EXTERNAL_INTERRUPT');
    expect(byMode(runs, 'native').exits.total).toBe(0);
  });

  it('x2apic: 3 exits per IPI (one ICR WRMSR, the kick, the EOI WRMSR); apicv: 1, the ICR write, trap-like (no IPI virtualization)', () => {
    const runs = ipi('x2apic,apicv');
    const x2 = byMode(runs, 'x2apic');
    expectPer(x2.exits.byReason.MSR_WRITE, 2, x2.interrupts.delivered, 'MSR_WRITE'); // SDM 3A 11.12.9: a 64-bit ICR write
    expectPer(x2.exits.byReason.EXTERNAL_INTERRUPT, 1, x2.interrupts.delivered, 'EXTERNAL_INTERRUPT');
    const v = byMode(runs, 'apicv');
    // SDM 3C 29.4.3.3 (APIC-write emulation): the ICR write exits after the fact; the target takes the IPI posted.
    expectPer(v.exits.byReason.APIC_WRITE, 1, v.interrupts.delivered, 'APIC_WRITE');
    expect(v.exits.byReason.EXTERNAL_INTERRUPT ?? 0).toBe(0);
  });
});

describe('the CLI', () => {
  it('exits with 2 and names the bad option', () => {
    let err = '';
    const code = main(['--mode', 'vapic'], () => undefined, (t) => (err += t), false);
    expect(code).toBe(2);
    expect(err).toMatch(/--mode: unknown mode 'vapic'/);
  });

  it('prints only JSON with --json, in the shape of issue 16', () => {
    let out = '';
    let err = '';
    expect(main(['--json', '--mode', 'native', '--duration', '100000'], (t) => (out += t), (t) => (err += t), true)).toBe(0);
    expect(err).toBe(''); // no progress with --json, even on a terminal
    const json = JSON.parse(out) as { hvsim: string; config: object; runs: RunResult[] };
    expect(json.hvsim).toMatch(/^\d+\.\d+\.\d+$/);
    expect(Object.keys(json.runs[0]!)).toEqual(expect.arrayContaining(['arch', 'mode', 'workload', 'vcpus', 'interrupts', 'exits', 'latencyCycles', 'guestTimeShare', 'throughput']));
    expect(Object.keys(json.runs[0]!.interrupts)).toEqual(expect.arrayContaining(['raised', 'delivered', 'coalesced', 'dropped']));
    // The default run (no --workload): netperf-rr, then micro with its rows.
    expect(json.runs.map((r) => r.workload)).toEqual(['netperf-rr', 'micro']);
    expect(json.runs[1]!.micro).toHaveProperty('virtualIrqCompletion');
  });
});
