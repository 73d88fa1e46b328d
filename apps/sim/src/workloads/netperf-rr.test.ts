import { beforeAll, describe, expect, it } from 'vitest';
import { parseOptions } from '../options.js';
import { loadProfile } from '../profiles.js';
import { simulate, type RunResult } from '../simulate.js';

const profile = loadProfile('x86-sandybridge');
/** 0.3M cycles (~140 µs at 2.1 GHz): about 20 transactions, well under a second per mode. */
const run = (modes: string, more: string[] = []): RunResult[] => simulate(parseOptions(['--workload', 'netperf-rr', '--duration', '300000', '--mode', modes, ...more]), profile).runs;
const byMode = (runs: RunResult[], mode: string): RunResult => runs.find((r) => r.mode === mode)!;
/** Exits per delivered device interrupt, without the warm-up's first touches of guest pages (EPT_VIOLATION). */
const perInterrupt = (r: RunResult): number => (r.exits.total - (r.exits.byReason.EPT_VIOLATION ?? 0)) / r.interrupts.delivered;

/** Every frame and interrupt cause of a run accounted for. */
function expectAccounted(r: RunResult): void {
  const i = r.interrupts;
  expect(i.delivered + i.coalesced + i.dropped, r.mode).toBe(i.raised);
  const p = r.packets!;
  expect(p.requests, r.mode).toBe(p.requestsInFlight + p.nicReceived);
  expect(p.nicReceived, r.mode).toBe(p.toRing + p.droppedNoDescriptor + p.droppedDmaFault);
  expect(p.served, r.mode).toBeLessThanOrEqual(p.toRing);
  expect(p.responses + p.responseDmaFaults, r.mode).toBeLessThanOrEqual(p.served);
  expect(p.responses, r.mode).toBe(p.responsesInFlight + p.clientReceived);
  // After the drain every request was answered: no drop, no fault, nothing left on a wire or in a ring.
  expect([p.droppedNoDescriptor, p.droppedDmaFault, p.responseDmaFaults, p.requestsInFlight, p.responsesInFlight], r.mode).toEqual([0, 0, 0, 0, 0]);
  expect(p.clientReceived, r.mode).toBe(p.requests);
}

describe('netperf-rr over the assigned NIC', () => {
  /** The virtual modes, run once for the tests that compare them. */
  let virtual: RunResult[] = [];
  beforeAll(() => {
    virtual = run('emulated,apicv,eli,posted', ['--duration', '150000']);
  });

  it('native and posted: request/response through the NIC, DMA through the IOMMU, every frame and interrupt accounted for; posted costs no exit per device interrupt (VT-d 5.2.3, 9.11)', () => {
    const runs = run('native,posted');
    for (const r of runs) {
      expect(r.interrupts.delivered, r.mode).toBeGreaterThan(10);
      expect(r.throughput.unit).toBe('transactions/s');
      expect(r.transactionLatencyCycles!.p50, r.mode).toBeGreaterThan(r.latencyCycles!.p50);
      expectAccounted(r);
    }
    const posted = byMode(runs, 'posted');
    expect(posted.exits.byReason.EXTERNAL_INTERRUPT ?? 0).toBe(0);
    expect(perInterrupt(posted)).toBe(0);
    expect(byMode(runs, 'native').exits.total).toBe(0);
    expect(posted.throughput.pctOfNative!).toBeGreaterThan(90);
  });

  it('through the host (remapped IRTE → host vector → eventfd → irqfd): about 2 exits per device interrupt emulated (the host vector, the EOI), 1 with APICv (the EOI virtualized); throughput ordered emulated < apicv <= posted', () => {
    const [emulated, apicv, posted] = ['emulated', 'apicv', 'posted'].map((m) => byMode(virtual, m));
    for (const r of [emulated!, apicv!]) {
      expect(r.interrupts.delivered, r.mode).toBeGreaterThan(5);
      expectAccounted(r);
      // The host vector arrives at the CPU running the vCPU: an exit (SDM 3C 25.2), whose handler signals the eventfd.
      expect(Math.abs((r.exits.byReason.EXTERNAL_INTERRUPT ?? 0) - r.interrupts.delivered), r.mode).toBeLessThanOrEqual(1);
    }
    // Give or take an interrupt at each edge of the window (raised inside, handled after, or the reverse).
    expect(Math.abs(perInterrupt(emulated!) - 2) * emulated!.interrupts.delivered).toBeLessThanOrEqual(2);
    expect(Math.abs(perInterrupt(apicv!) - 1) * apicv!.interrupts.delivered).toBeLessThanOrEqual(1);
    expect(perInterrupt(posted!)).toBe(0);
    // Each exit on the critical path lengthens the round trip: the host vector's, and (emulated) the EOI's, which ends
    // the hard interrupt before the ring is served (Linux's NAPI).
    expect(emulated!.transactionLatencyCycles!.p50).toBeGreaterThan(apicv!.transactionLatencyCycles!.p50);
    expect(apicv!.transactionLatencyCycles!.p50).toBeGreaterThan(posted!.transactionLatencyCycles!.p50);
    expect(emulated!.throughput.pctOfNative!).toBeLessThanOrEqual(apicv!.throughput.pctOfNative!);
    expect(apicv!.throughput.pctOfNative!).toBeLessThan(posted!.throughput.pctOfNative!);
    expect(emulated!.guestTimeShare).toBeLessThan(apicv!.guestTimeShare);
  });

  it('eli: the NIC’s vector through the shadow IDT and its x2APIC EOI passed through, about 0 exits per device interrupt; emulated < apicv <= eli, posted (ELI, ASPLOS 2012)', () => {
    const [emulated, apicv, eli, posted] = ['emulated', 'apicv', 'eli', 'posted'].map((m) => byMode(virtual, m));
    expectAccounted(eli!);
    expect(eli!.interrupts.delivered).toBeGreaterThan(5);
    // Direct mode: external-interrupt exiting off (SDM 3C 25.6.1), the EOI's WRMSR 80BH not intercepted (SDM 3C 25.6.9).
    expect(eli!.exits.byReason.EXTERNAL_INTERRUPT ?? 0).toBe(0);
    expect(eli!.exits.byReason.MSR_WRITE ?? 0).toBe(0);
    expect(eli!.exits.byReason.EXCEPTION_NMI ?? 0).toBe(0); // no #NP: only the assigned vector arrived
    expect(perInterrupt(eli!)).toBe(0);
    expect(emulated!.throughput.pctOfNative!).toBeLessThan(apicv!.throughput.pctOfNative!);
    expect(apicv!.throughput.pctOfNative!).toBeLessThan(eli!.throughput.pctOfNative!);
    expect(apicv!.throughput.pctOfNative!).toBeLessThan(posted!.throughput.pctOfNative!);
    expect(eli!.latencyCycles!.p50).toBeLessThan(apicv!.latencyCycles!.p50);
  });

  it('gives byte-identical JSON for the same seed and configuration', () => {
    const options = parseOptions(['--workload', 'netperf-rr', '--duration', '150000', '--mode', 'posted', '--seed', '9']);
    expect(JSON.stringify(simulate(options, profile))).toBe(JSON.stringify(simulate(options, profile)));
  });
});
