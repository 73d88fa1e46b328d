import { describe, expect, it } from 'vitest';
import { ARM64_INTID } from '../guest/arm64-layout.js';
import { ARM64_CYCLES_PER_TICK, accountSpiStorm, arm64BootParams, arm64WorkloadIntid } from './arm64-workloads.js';

describe('arm64 workloads', () => {
  it('programs the virtual timer in counter ticks: 40 cycles each (62.5 MHz counter at the 2.5 GHz CPU clock)', () => {
    expect(ARM64_CYCLES_PER_TICK).toBe(40);
    // 10,000 ticks/s at 2.4 GHz: 240,000 cycles, 6,000 counter ticks.
    expect(arm64BootParams('timer', { rateHz: 10_000, clockHz: 2.4e9, busy: true, cpus: 2 })).toEqual({ timerTicks: 6000, workChunk: 1000, ipiEvery: 0, cpus: 2, nicWork: 0, nicItr: 0, microReps: 0 });
    // netperf-rr: the server's work per request and the throttle off (NETPERF_RR), no timer, no IPIs.
    expect(arm64BootParams('netperf-rr', { rateHz: 0, clockHz: 2.4e9, busy: true, cpus: 1 })).toEqual({ timerTicks: 0, workChunk: 1000, ipiEvery: 0, cpus: 1, nicWork: 4000, nicItr: 0, microReps: 0 });
    expect(arm64BootParams('micro', { rateHz: 20_000, clockHz: 2.4e9, busy: false, cpus: 1 })).toMatchObject({ microReps: 32, nicWork: 0, workChunk: 0 });
    expect(arm64BootParams('ipi', { rateHz: 20_000, clockHz: 2.4e9, busy: true, cpus: 2 })).toMatchObject({ timerTicks: 0, ipiEvery: 120 });
    expect(arm64BootParams('storm', { rateHz: 1e5, clockHz: 2.4e9, busy: false, cpus: 1 })).toMatchObject({ workChunk: 0 });
    expect([arm64WorkloadIntid('timer'), arm64WorkloadIntid('storm'), arm64WorkloadIntid('ipi'), arm64WorkloadIntid('netperf-rr'), arm64WorkloadIntid('micro')]).toEqual([ARM64_INTID.TIMER, ARM64_INTID.DEVICE, ARM64_INTID.IPI, ARM64_INTID.NIC, ARM64_INTID.DEVICE]);
  });

  it('storm: edges that found the SPI pending merged (IHI0069 4.1): each handler entry served the raises since the one before', () => {
    // Raised at 100, 200, 210, 300; the handler ran at 150, 260 (serving 200 and 210) and 390.
    const a = accountSpiStorm({ raised: 4, accepted: 4, coalesced: 0, dropped: 0, acceptedAt: [100, 200, 210, 300] }, [150, 260, 390]);
    expect(a).toEqual({ raised: 4, delivered: 3, coalesced: 1, dropped: 0, coalescedBy: { pending: 1 }, latencies: [50, 60, 90] });
    expect(a.delivered + a.coalesced + a.dropped).toBe(a.raised);
  });
});
