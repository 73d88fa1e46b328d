/**
 * Every interrupt of a workload accounted for — raised = delivered +
 * coalesced + dropped, coalesced by reason — and each delivery's latency,
 * from what the guest's handlers logged (the TSC at entry) and what raised
 * the interrupts (the storm device's answers, the timer's expiry schedule,
 * the sender's log of its IPIs).
 */
import { LOG_SENT } from '../guest/layout.js';
import type { StormCounts } from './storm-device.js';

/** One log entry: the TSC and what happened (a vector received, or LOG_SENT + destination). */
export interface LogEntry {
  readonly t: number;
  readonly what: number;
}

/** The accounting of one run's interrupts. */
export interface Accounting {
  readonly raised: number;
  readonly delivered: number;
  readonly coalesced: number;
  readonly dropped: number;
  readonly coalescedBy: Record<string, number>;
  readonly latencies: number[];
}

function account(raised: number, delivered: number, dropped: number, coalescedBy: Record<string, number>, latencies: number[]): Accounting {
  const coalesced = Object.values(coalescedBy).reduce((s, n) => s + n, 0);
  return { raised, delivered, coalesced, dropped, coalescedBy, latencies };
}

/**
 * The storm: KVM answers 0 when the vector was already pending in the IRR;
 * with APICv it posts without looking (Linux's vmx_deliver_posted_interrupt),
 * so MSIs merged in the PIR show as accepted but are handled once.
 */
export function accountStorm(c: StormCounts, handled: readonly number[]): Accounting {
  return account(c.raised, handled.length, c.dropped, { irr: c.coalesced, pir: c.accepted - handled.length }, stormLatencies(c.acceptedAt, handled));
}

/**
 * Each handled MSI against the accepted raise(s) it served. When every
 * accepted MSI was handled once, in order (native and the emulated modes,
 * where the host reports a pending vector as coalesced), the k-th handler
 * entry served the k-th raise. When some merged after acceptance (APICv's
 * PIR), a handler entry served the raises since the previous entry; its
 * latency counts from the oldest of them.
 */
export function stormLatencies(acceptedAt: readonly number[], handled: readonly number[]): number[] {
  if (acceptedAt.length === handled.length) return handled.map((h, k) => h - acceptedAt[k]!);
  const out: number[] = [];
  let j = 0;
  for (const h of handled) {
    if (j < acceptedAt.length && acceptedAt[j]! <= h) out.push(h - acceptedAt[j]!);
    while (j < acceptedAt.length && acceptedAt[j]! <= h) j++;
  }
  return out;
}

/**
 * The timer: each CPU's expiries in [first, end) every `period`; a handler
 * served the latest expiry at or before it (`skew` allows for a schedule
 * read on a clock that trails the CPU). A periodic tick that finds the last
 * one still pending in the IRR is lost (SDM 3A 11.5.4): coalesced.
 */
export function accountTimer(perCpu: readonly { first: number; handled: readonly number[] }[], period: number, end: number, skew: number): Accounting {
  let raised = 0;
  const latencies: number[] = [];
  for (const { first, handled } of perCpu) {
    raised += first < end ? Math.ceil((end - first) / period) : 0;
    for (const h of handled) {
      const expiry = first + Math.floor((h - first + skew) / period) * period;
      if (expiry >= first && expiry < end) latencies.push(h - expiry);
    }
  }
  return account(raised, latencies.length, 0, { irr: raised - latencies.length }, latencies);
}

/**
 * IPIs: each CPU's log holds what it sent (LOG_SENT + destination) and what
 * it received (`vector`). Sends in [start, end) are raised; a receive on
 * CPU d served the oldest unserved send to d at or before it. Sends never
 * received found the vector pending already: coalesced in the IRR. The two
 * CPUs' TSCs agree to within `skew` (the scheduler's quantum), so a receive
 * may carry a TSC up to that much before its send's.
 */
export function accountIpis(logs: readonly (readonly LogEntry[])[], vector: number, start: number, end: number, skew: number): Accounting {
  const sends = logs.map(() => [] as number[]);
  for (const log of logs) for (const e of log) if (e.what >= LOG_SENT && e.t >= start && e.t < end) sends[e.what - LOG_SENT]?.push(e.t);
  let raised = 0;
  const latencies: number[] = [];
  logs.forEach((log, d) => {
    const pending = sends[d]!.sort((a, b) => a - b);
    raised += pending.length;
    let j = 0;
    for (const e of log) {
      if (e.what !== vector || j >= pending.length || pending[j]! > e.t + skew) continue;
      latencies.push(e.t - pending[j]!);
      j++;
    }
  });
  return account(raised, latencies.length, 0, { irr: raised - latencies.length }, latencies);
}
