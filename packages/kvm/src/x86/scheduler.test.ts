import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC, POSTED_INTR_VECTOR } from '@hvsim/lapic';
import { KVM_EXIT, KVM_MP_STATE } from '../generic/constants.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';
import { LOCAL_TIMER_VECTOR, VcpuScheduler } from './scheduler.js';
import type { X86Vcpu } from './vcpu.js';

type Routine = Generator<Op, void, number>;
const AP_ENTRY = 0x30_0000;
const HANDLER = 0x20_0000;

/** A VM whose vCPU 0 runs `bsp` and vCPU 1 runs `ap` (both 64-bit, sharing the page tables). */
function twoVcpus(physicalCpus: number, bsp: (g: X86Guest) => Routine, ap: (g: X86Guest) => Routine) {
  const m = tinyVmm({ interruptMode: 'apicv', physicalCpus, code: bsp });
  m.vm.program.define(AP_ENTRY, ap);
  const second = m.vm.createVcpu(1);
  second.setMpState(KVM_MP_STATE.RUNNABLE);
  second.setSregs(m.vcpu.getSregs());
  second.setRegs({ rip: AP_ENTRY, rsp: GUEST.STACK_TOP - 0x4000, rflags: 2 });
  return { m, second };
}

/** Runs the scheduler until every vCPU wrote the power port; returns the order in which they stopped. */
function runAll(sched: VcpuScheduler, vcpus: X86Vcpu[]): number[] {
  const stopped: number[] = [];
  let live = [...vcpus];
  for (let i = 0; i < 100 && live.length > 0; i++) {
    const r = sched.run(live, 10_000_000);
    if (r === undefined) continue;
    expect(r.run.exit_reason).toBe(KVM_EXIT.IO);
    expect(r.run.io.port).toBe(GUEST.POWER);
    stopped.push(r.vcpu.id);
    live = live.filter((v) => v !== r.vcpu);
  }
  return stopped;
}

describe('the host scheduler: vCPU threads on physical CPUs', () => {
  it('two vCPUs on two CPUs are in guest mode together: an IPI between them is a posted notification, taken with no exit (SDM 3C 30.6)', () => {
    const got: number[] = [];
    let sent = false;
    const { m, second } = twoVcpus(
      2,
      function* bsp(g: X86Guest): Routine {
        yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
        for (let i = 0; i < 20; i++) yield g.compute(500); // vCPU 1 is well into its loop
        yield g.st32(GUEST.APIC + APIC.ICR_HIGH, 1 << 24);
        yield g.st32(GUEST.APIC + APIC.ICR_LOW, 0x50);
        sent = true;
        yield g.out(GUEST.POWER, 0);
      },
      function* ap(g: X86Guest): Routine {
        yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
        yield g.sti();
        while (got.length === 0) yield g.compute(100);
        yield g.out(GUEST.POWER, 1);
      },
    );
    m.vm.program.define(HANDLER, function* isr(g: X86Guest, vector: number): Routine {
      got.push(vector);
      yield g.st32(GUEST.APIC + APIC.EOI, 0);
      yield g.iret();
    });
    m.setGate(0x50, HANDLER);
    expect(second.pcpu).not.toBe(m.vcpu.pcpu);
    const sched = new VcpuScheduler({ quantum: 1000 });
    expect(runAll(sched, [m.vcpu, second])).toEqual([0, 1]);
    expect(sent).toBe(true);
    expect(got).toEqual([0x50]);
    expect(second.posted!.notifications).toBe(1); // vCPU 1 was in guest mode when the IPI was posted
    expect(second.stats.count('EXTERNAL_INTERRUPT')).toBe(0);
    expect(second.pcpu.interrupts[POSTED_INTR_VECTOR]).toBe(0); // taken by posted-interrupt processing, not the host
    expect(sched.preemptions).toBe(0);
  });

  it('two vCPUs sharing one CPU take turns: the timeslice preempts the running one (an exit, SN set) and loads the other', () => {
    const progress: number[] = [];
    let snWhilePreempted = false;
    const loop = (id: number) =>
      function* worker(g: X86Guest): Routine {
        yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
        for (let i = 0; i < 60; i++) {
          progress.push(id);
          yield g.compute(1000);
        }
        yield g.out(GUEST.POWER, id);
      };
    const { m, second } = twoVcpus(1, loop(0), loop(1));
    expect(second.pcpu).toBe(m.vcpu.pcpu);
    const pcpu = m.vcpu.pcpu;
    m.kvm.clock.schedule(30_000, () => {
      const waiting = pcpu.loaded === m.vcpu ? second : m.vcpu;
      snWhilePreempted = waiting.posted!.pid.sn;
    });
    const sched = new VcpuScheduler({ quantum: 1000, timeslice: 10_000 });
    const stopped = runAll(sched, [m.vcpu, second]);
    expect(stopped.sort()).toEqual([0, 1]);
    expect(sched.preemptions).toBeGreaterThanOrEqual(4);
    expect(snWhilePreempted).toBe(true);
    // Each vCPU was forced out by the host's timer interrupt at least once.
    expect(m.vcpu.stats.count('EXTERNAL_INTERRUPT')).toBeGreaterThanOrEqual(1);
    expect(second.stats.count('EXTERNAL_INTERRUPT')).toBeGreaterThanOrEqual(1);
    expect(pcpu.interrupts[LOCAL_TIMER_VECTOR]).toBeGreaterThanOrEqual(2);
    // Turns: both made progress in the first half of the run.
    const firstHalf = progress.slice(0, 60);
    expect(firstHalf).toContain(0);
    expect(firstHalf).toContain(1);
  });

  it('checks its options and cycle budget (EINVAL)', () => {
    expectErrno(() => new VcpuScheduler({ quantum: 0 }), 'EINVAL', /quantum must be a positive integer, got 0/);
    expectErrno(() => new VcpuScheduler({ quantum: 100, timeslice: 50 }), 'EINVAL', /timeslice must be an integer of at least the quantum \(100\), got 50/);
    expectErrno(() => new VcpuScheduler().run([], 0), 'EINVAL', /cycles must be a positive integer, got 0/);
  });
});
