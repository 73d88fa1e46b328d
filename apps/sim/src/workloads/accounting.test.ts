import { describe, expect, it } from 'vitest';
import { LOG_SENT, VECTOR } from '../guest/layout.js';
import { accountIpis, accountStorm, accountTimer, stormLatencies } from './accounting.js';

describe('interrupt accounting', () => {
  it('storm: the k-th handler entry serves the k-th accepted MSI when none merged', () => {
    expect(stormLatencies([100, 200, 300], [150, 260, 390])).toEqual([50, 60, 90]);
  });

  it('storm: with MSIs merged after acceptance (the PIR), an entry serves every raise since the last one, from the oldest', () => {
    // 200 and 210 merged: one handler entry at 260 served both.
    expect(stormLatencies([100, 200, 210, 300], [150, 260, 390])).toEqual([50, 60, 90]);
    const a = accountStorm({ raised: 5, accepted: 4, coalesced: 1, dropped: 0, acceptedAt: [100, 200, 210, 300] }, [150, 260, 390]);
    expect(a).toMatchObject({ raised: 5, delivered: 3, coalesced: 2, dropped: 0, coalescedBy: { irr: 1, pir: 1 } });
  });

  it('timer: each handler against the latest expiry before it; a missing tick is coalesced', () => {
    // Expiries at 1000, 2000, 3000, 4000 (end 4500): the tick of 3000 never ran.
    const a = accountTimer([{ first: 1000, handled: [1100, 2050, 4200] }], 1000, 4500, 0);
    expect(a).toMatchObject({ raised: 4, delivered: 3, coalesced: 1, latencies: [100, 50, 200] });
  });

  it('ipi: each receive against the oldest unserved send to that CPU, within the CPUs\' skew', () => {
    const cpu0 = [
      { t: 100, what: LOG_SENT + 1 },
      { t: 400, what: VECTOR.IPI }, // the pong
      { t: 1000, what: LOG_SENT + 1 },
    ];
    const cpu1 = [
      { t: 95, what: VECTOR.IPI }, // CPU 1's TSC trails CPU 0's by up to the skew
      { t: 300, what: LOG_SENT + 0 },
    ];
    const a = accountIpis([cpu0, cpu1], VECTOR.IPI, 0, 2000, 10);
    expect(a).toMatchObject({ raised: 3, delivered: 2, coalesced: 1 });
    expect(a.latencies.sort((x, y) => x - y)).toEqual([-5, 100]);
  });
});
