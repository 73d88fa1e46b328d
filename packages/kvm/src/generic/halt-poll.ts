/**
 * Halt polling (Linux virt/kvm/kvm_main.c `kvm_vcpu_halt`,
 * `grow_halt_poll_ns`, `shrink_halt_poll_ns`, `update_halt_poll_stats`;
 * Documentation/virt/kvm/halt-polling.rst): a vCPU that halts first
 * busy-waits on its physical CPU for up to `vcpu->halt_poll_ns` for a wake
 * event, and blocks (schedules out) only if none comes. `halt_poll_ns`
 * starts at 0; after each halt it grows (× `halt_poll_ns_grow`, at least
 * `halt_poll_ns_grow_start`) when the halt was shorter than the VM's
 * maximum but longer than the poll, and shrinks (÷ `halt_poll_ns_shrink`,
 * to 0 below the grow start) when the halt outlasted the maximum. The
 * maximum is the `halt_poll_ns` module parameter, or the VM's
 * KVM_CAP_HALT_POLL value (api.rst 7.27).
 */
import { describeValue } from '@hvsim/core';
import { fail } from './errors.js';

/** The kvm module parameters of halt polling (`new Kvm({ haltPoll })`; Linux names in the field comments). */
export interface HaltPollParams {
  /** `halt_poll_ns`: the longest poll, in ns (x86 KVM_HALT_POLL_NS_DEFAULT 200000; 0 turns polling off). */
  readonly haltPollNs: number;
  /** `halt_poll_ns_grow`: the factor a successful short halt grows the poll by (default 2; 0: no growth). */
  readonly haltPollNsGrow: number;
  /** `halt_poll_ns_grow_start`: the poll a grow starts from, and below which a shrink ends polling (default 10000 ns). */
  readonly haltPollNsGrowStart: number;
  /** `halt_poll_ns_shrink`: the divisor of a shrink (default 2; 0 resets the poll to 0). */
  readonly haltPollNsShrink: number;
}

/** Linux's defaults on x86. */
export const HALT_POLL_DEFAULTS: HaltPollParams = Object.freeze({ haltPollNs: 200_000, haltPollNsGrow: 2, haltPollNsGrowStart: 10_000, haltPollNsShrink: 2 });

/** Linux's defaults on arm64: arch/arm64/include/asm/kvm_host.h KVM_HALT_POLL_NS_DEFAULT is 500000 ns. */
export const ARM64_HALT_POLL_DEFAULTS: HaltPollParams = Object.freeze({ ...HALT_POLL_DEFAULTS, haltPollNs: 500_000 });

const FIELDS = ['haltPollNs', 'haltPollNsGrow', 'haltPollNsGrowStart', 'haltPollNsShrink'] as const;

/** Checks the module parameters (missing fields take the architecture's `defaults`); EINVAL naming an unknown field or one that is not an unsigned 32-bit integer. */
export function haltPollParams(value: unknown, defaults: HaltPollParams = HALT_POLL_DEFAULTS): HaltPollParams {
  if (value === undefined) return defaults;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('EINVAL', `haltPoll must be an object, got ${describeValue(value)}`);
  const given = value as Record<string, unknown>;
  const unknown = Object.keys(given).filter((k) => !(FIELDS as readonly string[]).includes(k));
  if (unknown.length > 0) fail('EINVAL', `haltPoll: unknown field ${unknown.join(', ')} (module parameters: ${FIELDS.join(', ')})`);
  const out: Record<string, number> = {};
  for (const f of FIELDS) {
    const v = given[f] ?? defaults[f];
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffff_ffff) fail('EINVAL', `haltPoll.${f} must be an unsigned 32-bit integer (module parameter), got ${describeValue(v)}`);
    out[f] = v;
  }
  return Object.freeze(out as unknown as HaltPollParams);
}

/** KVM_CAP_HALT_POLL's args[0] (api.rst 7.27): the VM's maximum poll in ns; EINVAL naming a value that is not a 32-bit number. */
export function haltPollCapNs(arg: unknown): number {
  const ns = typeof arg === 'bigint' ? Number(arg) : arg;
  if (typeof ns !== 'number' || !Number.isInteger(ns) || ns < 0 || ns > 0xffff_ffff) fail('EINVAL', `KVM_CAP_HALT_POLL args[0] must be a 32-bit number of ns, got ${String(arg)}`);
  return ns;
}

/** A vCPU's halt-polling statistics (Linux's `struct kvm_vcpu_stat_generic`; the debugfs name in each comment). */
export interface HaltPollStats {
  /** `halt_attempted_poll`: halts that polled. */
  haltAttemptedPoll: number;
  /** `halt_successful_poll`: of those, the ones whose wake event came before the vCPU scheduled out. */
  haltSuccessfulPoll: number;
  /** `halt_wakeup`: wake-ups of a vCPU that had scheduled out (kvm_vcpu_wake_up found it waiting). */
  haltWakeup: number;
  /** `halt_poll_success_ns`: time spent in successful polls. */
  haltPollSuccessNs: number;
  /** `halt_poll_fail_ns`: time spent in polls that ended without a wake event. */
  haltPollFailNs: number;
  /** `halt_wait_ns`: time spent scheduled out after polling. */
  haltWaitNs: number;
}

/** One vCPU's halt polling: `vcpu->halt_poll_ns` and the statistics (see the file comment). */
export class HaltPoll {
  /** `vcpu->halt_poll_ns`: how long the next halt polls, in ns (starts at 0, as in Linux). */
  haltPollNs = 0;
  /** The counters. */
  readonly stats: HaltPollStats = { haltAttemptedPoll: 0, haltSuccessfulPoll: 0, haltWakeup: 0, haltPollSuccessNs: 0, haltPollFailNs: 0, haltWaitNs: 0 };
  /** Whether the current halt polls (do_halt_poll). */
  private polling = false;

  constructor(
    private readonly params: HaltPollParams,
    /** The VM's maximum poll (kvm->max_halt_poll_ns), read at each halt. */
    private readonly maxNs: () => number,
  ) {}

  /** The start of kvm_vcpu_halt: caps the poll at the VM's maximum and returns how long to poll (ns; 0: block at once). */
  begin(): number {
    const max = this.maxNs();
    if (this.haltPollNs > max) this.haltPollNs = max;
    this.polling = this.haltPollNs > 0;
    return this.haltPollNs;
  }

  /**
   * The end of kvm_vcpu_halt: `haltNs` the whole halt (polling included),
   * `pollNs` the polling, `waited` whether the vCPU scheduled out. Updates
   * the statistics and grows or shrinks the poll.
   */
  end(haltNs: number, pollNs: number, waited: boolean): void {
    const s = this.stats;
    if (this.polling) {
      // update_halt_poll_stats: a poll succeeds when the vCPU never scheduled out.
      s.haltAttemptedPoll++;
      if (!waited) {
        s.haltSuccessfulPoll++;
        s.haltPollSuccessNs += pollNs;
      } else {
        s.haltPollFailNs += pollNs;
      }
    }
    if (waited) s.haltWaitNs += haltNs - pollNs;
    const max = this.maxNs();
    if (max === 0) {
      this.haltPollNs = 0;
      return;
    }
    if (haltNs <= this.haltPollNs) return; // the poll covered the halt: keep it
    if (this.haltPollNs > 0 && haltNs > max) this.shrink(); // a long halt: polling was wasted
    else if (this.haltPollNs < max && haltNs < max) this.grow(); // a short halt the poll missed
  }

  /** kvm_vcpu_wake_up found the vCPU scheduled out. */
  wokeUp(): void {
    this.stats.haltWakeup++;
  }

  /** grow_halt_poll_ns. */
  private grow(): void {
    const { haltPollNsGrow: grow, haltPollNsGrowStart: start } = this.params;
    if (grow === 0) return;
    const val = this.haltPollNs * grow;
    this.haltPollNs = val < start ? start : val;
  }

  /** shrink_halt_poll_ns. */
  private shrink(): void {
    const { haltPollNsShrink: shrink, haltPollNsGrowStart: start } = this.params;
    const val = shrink === 0 ? 0 : Math.floor(this.haltPollNs / shrink);
    this.haltPollNs = val < start ? 0 : val;
  }
}
