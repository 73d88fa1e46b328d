// Simulated interrupts per wall-clock second (issue 16, "Speed"): the `timer` workload on every vCPU (each
// LAPIC timer periodic at RATE, the kernel's busy loop between ticks), in `posted` (APICv: each tick posted, no
// exit) and `emulated` (each tick a kick exit and an EOI exit), at 1, 16 and 256 vCPUs. Each iteration runs
// the booted machine (boot is outside the measurement) for INTERRUPTS / vCPUs timer periods in one
// host.runUntil, as a run's window does: INTERRUPTS interrupts in the steady state, whatever the vCPU count, so
// the cost per interrupt compares across counts. The iteration checks that the handlers logged that many.
import { bench, describe } from 'vitest';
import { PERCPU, percpuBase } from './guest/layout.js';
import type { SimHost } from './host/host.js';
import { buildHost, type X86Mode } from './host/modes.js';
import { loadProfile } from './profiles.js';
import { QUANTUM, bootHost } from './run.js';
import { bootParams } from './workloads/workloads.js';

/** Interrupts each iteration waits for, over all vCPUs. */
const INTERRUPTS = 512;
/** Each vCPU's timer rate (Hz). */
const RATE = 100_000;
const profile = loadProfile('x86-sandybridge');
/** Cycles of one timer period. */
const PERIOD = Math.round(profile.clockHz / RATE);

/** Interrupts the kernel's handlers logged so far on every CPU. */
function logged(host: SimHost): number {
  let n = 0;
  for (let i = 0; i < host.cpus; i++) n += host.read32(percpuBase(i) + PERCPU.LOGGED);
  return n;
}

/** A booted machine of `mode` with `vcpus` vCPUs, each taking its timer. */
function machine(mode: X86Mode, vcpus: number): SimHost {
  const boot = bootParams('timer', { rateHz: RATE, clockHz: profile.clockHz, busy: true });
  const host = buildHost(mode, { cpus: vcpus, profile, boot, quantum: QUANTUM });
  bootHost(host, mode);
  return host;
}

for (const mode of ['posted', 'emulated'] as const) {
  describe(`${mode}: timer interrupts on every vCPU, ${INTERRUPTS} interrupts per iteration`, () => {
    for (const vcpus of [1, 16, 256]) {
      let host: SimHost | undefined;
      bench(
        `${mode}, ${vcpus} vCPU${vcpus === 1 ? '' : 's'} [ops=${INTERRUPTS}]`,
        () => {
          // The first (warm-up) call boots the machine.
          host ??= machine(mode, vcpus);
          const before = logged(host);
          host.runUntil(host.now() + (INTERRUPTS / vcpus) * PERIOD);
          const n = logged(host) - before;
          // Give or take one per vCPU at the window's edges (a tick raised inside, handled after).
          if (Math.abs(n - INTERRUPTS) > vcpus) throw new Error(`${mode}, ${vcpus} vCPUs: ${n} interrupts in a window of ${INTERRUPTS}`);
        },
        { time: 0, iterations: vcpus === 256 ? 5 : 10, warmupTime: 0, warmupIterations: 1 },
      );
    }
  });
}
