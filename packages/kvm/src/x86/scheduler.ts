/**
 * The host scheduler running vCPU threads on physical CPUs, the part of
 * Linux (the CFS/EEVDF scheduler with KVM's preempt notifiers,
 * kvm_sched_out / kvm_sched_in) that decides which vCPU thread has which
 * CPU. Each physical CPU has a run queue of the vCPUs placed on it; the
 * simulation advances all CPUs together in `quantum`-cycle steps, so vCPUs
 * on different CPUs are in guest mode at the same time (an IPI between them
 * is a posted notification, with no exit). vCPUs sharing a CPU take turns:
 * after `timeslice` cycles the running one is preempted — the host's timer
 * interrupt makes it exit (EXTERNAL_INTERRUPT), it is put with `preempted`
 * (vmx_vcpu_pi_put: SN) and the next one is loaded (vmx_vcpu_pi_load: SN
 * cleared, ON recomputed). A vCPU that blocks (HLT) gives its CPU away at
 * once, as its thread sleeps.
 */
import { fail } from '../generic/errors.js';
import type { KvmRun } from './kvm-run.js';
import type { PhysicalCpu } from './pcpu.js';
import { continueRun, finishRun, startRun } from './run-loop.js';
import type { X86VcpuState } from './vcpu-state.js';

/** The host's local-timer vector (LOCAL_TIMER_VECTOR): the scheduler tick that preempts a vCPU. */
export const LOCAL_TIMER_VECTOR = 0xec;

/** Options of a {@link VcpuScheduler}. */
export interface VcpuSchedulerOptions {
  /** Cycles each physical CPU runs before the simulation moves to the next (default 2,000). */
  quantum?: number;
  /** Cycles a vCPU keeps a CPU it shares before it is preempted (default 20,000). */
  timeslice?: number;
}

/** What a run of the scheduler ended with: a vCPU's exit to userspace, or the cycle budget spent. */
export type ScheduleResult = { vcpu: X86VcpuState; run: KvmRun } | undefined;

interface Queue {
  readonly pcpu: PhysicalCpu;
  readonly vcpus: X86VcpuState[];
  current: number;
  since: number;
}

/** Runs vCPU threads on their physical CPUs (see the file comment). */
export class VcpuScheduler {
  private readonly quantum: number;
  private readonly timeslice: number;
  private readonly started = new Set<X86VcpuState>();
  /** Preemptions made (kvm_sched_out with preempted). */
  preemptions = 0;

  constructor(options: VcpuSchedulerOptions = {}) {
    const quantum = options.quantum ?? 2000;
    const timeslice = options.timeslice ?? 20_000;
    if (!Number.isSafeInteger(quantum) || quantum <= 0) fail('EINVAL', `quantum must be a positive integer, got ${String(quantum)}`);
    if (!Number.isSafeInteger(timeslice) || timeslice < quantum) fail('EINVAL', `timeslice must be an integer of at least the quantum (${quantum}), got ${String(timeslice)}`);
    this.quantum = quantum;
    this.timeslice = timeslice;
  }

  /**
   * Runs `vcpus` (each KVM_RUN started here and resumed across calls) for
   * `cycles` cycles of simulated time or until one needs userspace: that
   * vCPU's KVM_RUN returns and its exit is the answer; the others stay
   * where they are (in guest mode, blocked, or waiting for their CPU) for
   * the next call. Every vCPU must be loadable (RUNNABLE or HALTED).
   */
  run(vcpus: readonly X86VcpuState[], cycles: number): ScheduleResult {
    if (!Number.isSafeInteger(cycles) || cycles <= 0) fail('EINVAL', `cycles must be a positive integer, got ${String(cycles)}`);
    const queues = this.queues(vcpus);
    const start = Math.min(...vcpus.map((v) => v.cpu.localTime));
    const end = start + cycles;
    for (let t = start; t < end; ) {
      const sliceEnd = Math.min(t + this.quantum, end);
      for (const q of queues) {
        const done = this.runQueue(q, sliceEnd);
        if (done) return done;
      }
      t = sliceEnd;
    }
    return undefined;
  }

  private queues(vcpus: readonly X86VcpuState[]): Queue[] {
    const byCpu = new Map<PhysicalCpu, Queue>();
    for (const v of vcpus) {
      let q = byCpu.get(v.pcpu);
      if (q === undefined) {
        q = { pcpu: v.pcpu, vcpus: [], current: 0, since: v.cpu.localTime };
        byCpu.set(v.pcpu, q);
      }
      q.vcpus.push(v);
    }
    for (const q of byCpu.values()) {
      // Keep a vCPU that holds the CPU (loaded, mid-run) current.
      const holder = q.vcpus.findIndex((v) => q.pcpu.loaded === v);
      q.current = holder < 0 ? 0 : holder;
    }
    return [...byCpu.values()];
  }

  /** One quantum of one CPU: its current vCPU runs up to `sliceEnd`; returns a userspace exit, if any. */
  private runQueue(q: Queue, sliceEnd: number): ScheduleResult {
    for (let tries = 0; tries < q.vcpus.length; tries++) {
      const v = q.vcpus[q.current]!;
      if (v.cpu.localTime >= sliceEnd) return undefined;
      const shared = q.vcpus.length > 1;
      if (shared && v.cpu.localTime - q.since >= this.timeslice && !v.preemptRequested && !v.blocking) {
        // The scheduler tick: the host timer interrupt takes the CPU; the vCPU exits and is preempted.
        v.preemptRequested = true;
        q.pcpu.sendIpi(LOCAL_TIMER_VECTOR); // in guest mode it forces an exit; otherwise the host takes it now
      }
      v.sliceEnd = sliceEnd;
      const status = this.started.has(v) ? this.resume(v) : this.begin(v);
      if (status === 'done') {
        this.started.delete(v);
        return { vcpu: v, run: finishRun(v) };
      }
      if (status === 'slice' && !(shared && v.blocking)) return undefined;
      // Preempted, or asleep on a shared CPU: the next vCPU of this CPU gets it.
      if (status === 'preempted') {
        this.preemptions++;
        v.put(true); // kvm_sched_out with vcpu->preempted
      }
      const next = (q.current + 1) % q.vcpus.length;
      const w = q.vcpus[next]!;
      w.cpu.localTime = Math.max(w.cpu.localTime, v.cpu.localTime); // it waited for the CPU
      q.current = next;
      q.since = w.cpu.localTime;
    }
    return undefined;
  }

  private begin(v: X86VcpuState): 'done' | 'slice' | 'preempted' {
    this.started.add(v);
    startRun(v, { maxCycles: 1e12 });
    return continueRun(v);
  }

  private resume(v: X86VcpuState): 'done' | 'slice' | 'preempted' {
    if (v.pcpu.loaded !== v && !v.blocking) v.load(); // kvm_sched_in
    v.sliceEnd = Math.max(v.sliceEnd, v.cpu.localTime + 1);
    return continueRun(v);
  }
}
