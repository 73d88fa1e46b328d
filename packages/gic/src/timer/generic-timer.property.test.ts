// The generic timer against a plain bigint reference model of Arm ARM D11.2.4 (DDI 0487E.a): for random
// programs of CVAL / TVAL / CTL / CNTVOFF_EL2 writes, snapshots and clock advances, every register read
// and every output level matches the model, and every output change happens at exactly the cycle the
// model's level changes (the first cycle of the tick at which count >= CVAL starts or stops holding).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TIMER_PPI } from './regs.js';
import { makeTimer } from './test-rig.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

const M64 = (1n << 64n) - 1n;
const TIMERS = ['CNTP', 'CNTV', 'CNTHP'] as const;
const REG = {
  CNTP: { ctl: 'CNTP_CTL_EL0', cval: 'CNTP_CVAL_EL0', tval: 'CNTP_TVAL_EL0' },
  CNTV: { ctl: 'CNTV_CTL_EL0', cval: 'CNTV_CVAL_EL0', tval: 'CNTV_TVAL_EL0' },
  CNTHP: { ctl: 'CNTHP_CTL_EL2', cval: 'CNTHP_CVAL_EL2', tval: 'CNTHP_TVAL_EL2' },
} as const;

type Op =
  | { kind: 'advance'; cycles: number }
  | { kind: 'cval'; t: number; near: boolean; delta: number; raw: bigint }
  | { kind: 'tval'; t: number; value: number }
  | { kind: 'ctl'; t: number; value: number }
  | { kind: 'cntvoff'; near: boolean; delta: number; raw: bigint }
  | { kind: 'snapshot' };

const timerIndex = fc.integer({ min: 0, max: 2 });
/** Operations; advances span up to `maxAdvance` cycles (about ten ticks of the configuration). */
const opArb = (maxAdvance: number): fc.Arbitrary<Op> => fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('advance' as const), cycles: fc.integer({ min: 1, max: maxAdvance }) }) },
  {
    weight: 3,
    arbitrary: fc.record({ kind: fc.constant('cval' as const), t: timerIndex, near: fc.boolean(), delta: fc.integer({ min: -20, max: 40 }), raw: fc.bigInt({ min: 0n, max: M64 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      kind: fc.constant('tval' as const),
      t: timerIndex,
      value: fc.oneof(fc.integer({ min: -20, max: 40 }).map((v) => v >>> 0), fc.integer({ min: 0, max: 0xffff_ffff })),
    }),
  },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('ctl' as const), t: timerIndex, value: fc.integer({ min: 0, max: 7 }) }) },
  {
    weight: 2,
    // Near: the virtual count lands a few ticks either side of 0, so it wraps through 2^64 in the run.
    arbitrary: fc.record({ kind: fc.constant('cntvoff' as const), near: fc.boolean(), delta: fc.integer({ min: -30, max: 10 }), raw: fc.bigInt({ min: 0n, max: M64 }) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'snapshot' as const }) },
);

interface Config {
  counterFrequencyHz: number;
  p: bigint;
  q: bigint;
  maxAdvance: number;
}
const configs: Config[] = [
  { counterFrequencyHz: 62_500_000, p: 1n, q: 40n, maxAdvance: 400 },
  { counterFrequencyHz: 1_000_000_000, p: 2n, q: 5n, maxAdvance: 40 },
];

function run(config: Config, ops: readonly Op[]): void {
  const rig = makeTimer({ cpus: 1, counterFrequencyHz: config.counterFrequencyHz });
  const { timer, clock, changes } = rig;
  // The reference model.
  const ctl = [0, 0, 0];
  const cval = [0n, 0n, 0n];
  let cntvoff = 0n;
  const phys = (cycle: number): bigint => (BigInt(cycle) * config.p) / config.q;
  const countOf = (t: number, cycle: number): bigint => (t === 1 ? (phys(cycle) - cntvoff) & M64 : phys(cycle));
  const met = (t: number, cycle: number): boolean => (ctl[t]! & 1) === 1 && countOf(t, cycle) >= cval[t]!;
  const level = (t: number, cycle: number): boolean => met(t, cycle) && (ctl[t]! & 2) === 0;

  // One comparison per step (expect() per field would dominate the run time).
  const check = (): void => {
    const now = clock.now();
    const got: unknown[] = [timer.read(0, 'CNTPCT_EL0'), timer.read(0, 'CNTVCT_EL0')];
    const want: unknown[] = [phys(now), countOf(1, now)];
    TIMERS.forEach((name, t) => {
      got.push(timer.outputLevel(0, name), rig.line(0, TIMER_PPI[name]), timer.read(0, REG[name].ctl), timer.read(0, REG[name].cval), timer.read(0, REG[name].tval));
      want.push(level(t, now), level(t, now), BigInt(ctl[t]! | (met(t, now) ? 4 : 0)), cval[t], (cval[t]! - countOf(t, now)) & 0xffff_ffffn);
    });
    if (got.some((v, i) => v !== want[i])) expect(got).toEqual(want);
  };

  for (const op of ops) {
    const now = clock.now();
    switch (op.kind) {
      case 'advance': {
        const from = changes.length;
        // Expected output changes: only at cycles where the count ticks can a level change.
        const expected: { cycle: number; intid: number; level: boolean }[] = [];
        const prev = TIMERS.map((_, t) => level(t, now));
        // The first cycle of tick k is ceil(k * q / p).
        for (let k = phys(now) + 1n; ; k++) {
          const c = Number((k * config.q + config.p - 1n) / config.p);
          if (c > now + op.cycles) break;
          TIMERS.forEach((name, t) => {
            const l = level(t, c);
            if (l !== prev[t]) expected.push({ cycle: c, intid: TIMER_PPI[name], level: l });
            prev[t] = l;
          });
        }
        clock.advance(op.cycles);
        const got = changes.slice(from).map((x) => ({ cycle: x.cycle, intid: x.intid, level: x.level }));
        const byCycleThenIntid = (a: { cycle: number; intid: number }, b: { cycle: number; intid: number }): number => a.cycle - b.cycle || a.intid - b.intid;
        got.sort(byCycleThenIntid);
        expected.sort(byCycleThenIntid);
        const same = got.length === expected.length && got.every((g, i) => g.cycle === expected[i]!.cycle && g.intid === expected[i]!.intid && g.level === expected[i]!.level);
        if (!same) expect(got).toEqual(expected);
        break;
      }
      case 'cval': {
        const v = op.near ? (countOf(op.t, now) + BigInt(op.delta)) & M64 : op.raw;
        timer.write(0, REG[TIMERS[op.t]!].cval, v);
        cval[op.t] = v;
        break;
      }
      case 'tval': {
        timer.write(0, REG[TIMERS[op.t]!].tval, BigInt(op.value));
        cval[op.t] = (countOf(op.t, now) + BigInt.asIntN(32, BigInt(op.value))) & M64;
        break;
      }
      case 'ctl':
        timer.write(0, REG[TIMERS[op.t]!].ctl, BigInt(op.value));
        ctl[op.t] = op.value & 3;
        break;
      case 'cntvoff': {
        const v = op.near ? (phys(now) - BigInt(op.delta)) & M64 : op.raw;
        timer.write(0, 'CNTVOFF_EL2', v);
        cntvoff = v;
        break;
      }
      case 'snapshot':
        timer.restoreState(JSON.parse(JSON.stringify(timer.saveState())));
        break;
    }
    check();
  }
}

describe('GenericTimer against a reference model', () => {
  it.each(configs)('matches the model at $counterFrequencyHz Hz on a 2.5 GHz clock', (config) => {
    fc.assert(
      fc.property(fc.array(opArb(config.maxAdvance), { minLength: 8, maxLength: 40 }), (ops) => {
        run(config, ops);
      }),
      { seed, numRuns },
    );
  });
});
