// Halt polling (virt/kvm/kvm_main.c kvm_vcpu_halt, grow_halt_poll_ns, shrink_halt_poll_ns, update_halt_poll_stats;
// Documentation/virt/kvm/halt-polling.rst; api.rst 7.27 KVM_CAP_HALT_POLL).
import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC, POSTED_INTR_VECTOR } from '@hvsim/lapic';
import { KVM_CAP } from '../generic/constants.js';
import { HALT_POLL_DEFAULTS, haltPollParams, type HaltPollParams } from '../generic/halt-poll.js';
import { Kvm } from '../kvm.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';

type Routine = Generator<Op, void, number>;
const VECTOR = 0x41;
const CYCLES_PER_NS = 2.5; // the default x86 cost profile's 2.5 GHz

/** A guest that halts again and again; before each HLT it reports with an OUT, and an MSI wakes it. */
function halter(mode: 'emulated' | 'apicv' = 'emulated', haltPoll?: Partial<HaltPollParams>) {
  let woken = 0;
  const m = tinyVmm({
    interruptMode: mode,
    ...(haltPoll ? { haltPoll } : {}),
    *code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.sti();
      for (;;) {
        yield g.out(0x80, 0);
        yield g.hlt();
      }
    },
  });
  m.eoiHandler(VECTOR, GUEST.ENTRY + 0x800, () => {
    woken++;
  });
  m.vcpu.run(); // up to the first report
  /** One halt: the MSI arrives `ns` after the vCPU reported (it halts a few cycles later). */
  const haltFor = (ns: number): void => {
    const before = woken;
    m.kvm.clock.schedule(m.vcpu.cpu.localTime + ns * CYCLES_PER_NS, () => {
      m.vm.signalMsi({ addressLo: 0xfee0_0000, data: VECTOR });
    });
    expect(m.vcpu.run().io.port).toBe(0x80);
    expect(woken).toBe(before + 1);
  };
  return { m, haltFor, stats: m.vcpu.haltPoll.stats };
}

describe('halt polling (kvm_vcpu_halt)', () => {
  it('starts at 0: the first halt blocks (halt_wakeup), and a short one grows the poll to halt_poll_ns_grow_start', () => {
    const { m, haltFor, stats } = halter();
    expect(m.vcpu.haltPoll.haltPollNs).toBe(0);
    haltFor(2_000);
    expect(stats).toMatchObject({ haltAttemptedPoll: 0, haltSuccessfulPoll: 0, haltWakeup: 1 });
    expect(m.vcpu.haltPoll.haltPollNs).toBe(HALT_POLL_DEFAULTS.haltPollNsGrowStart);
    expect(m.vcpu.pcpu.haltPollCycles).toBe(0);
  });

  it('a wake event within the poll is a successful poll: the vCPU never scheduled out, its CPU spun the while', () => {
    const { m, haltFor, stats } = halter();
    haltFor(2_000);
    const spunBefore = m.vcpu.pcpu.haltPollCycles;
    const t0 = m.vcpu.cpu.localTime;
    haltFor(2_000);
    expect(stats).toMatchObject({ haltAttemptedPoll: 1, haltSuccessfulPoll: 1, haltWakeup: 1, haltPollFailNs: 0 });
    const spun = m.vcpu.pcpu.haltPollCycles - spunBefore;
    expect(spun).toBeGreaterThan(0);
    expect(spun).toBeLessThanOrEqual(m.vcpu.cpu.localTime - t0);
    expect(stats.haltPollSuccessNs).toBe(Math.round(spun / CYCLES_PER_NS));
    expect(m.vcpu.haltPoll.haltPollNs).toBe(10_000); // the poll covered the halt: unchanged
  });

  it('a halt longer than the poll but shorter than halt_poll_ns grows it (×halt_poll_ns_grow) until it covers the halts', () => {
    const { m, haltFor, stats } = halter();
    const seen: number[] = [];
    for (let i = 0; i < 4; i++) {
      haltFor(15_000);
      seen.push(m.vcpu.haltPoll.haltPollNs);
    }
    // 0 → 10000 (no poll) → 20000 (a 10 µs poll missed a 15 µs halt) → kept (covered) → kept.
    expect(seen).toEqual([10_000, 20_000, 20_000, 20_000]);
    expect(stats).toMatchObject({ haltAttemptedPoll: 3, haltSuccessfulPoll: 2, haltWakeup: 2 });
    expect(stats.haltPollFailNs).toBeGreaterThanOrEqual(10_000);
    expect(stats.haltWaitNs).toBeGreaterThan(0);
  });

  it('a halt longer than halt_poll_ns shrinks the poll (÷halt_poll_ns_shrink), to 0 below the grow start', () => {
    const { m, haltFor, stats } = halter();
    for (let i = 0; i < 3; i++) haltFor(15_000); // poll 20000
    haltFor(300_000); // > 200000: wasted poll
    expect(m.vcpu.haltPoll.haltPollNs).toBe(10_000);
    haltFor(300_000);
    expect(m.vcpu.haltPoll.haltPollNs).toBe(0); // 5000 is below halt_poll_ns_grow_start
    expect(stats.haltAttemptedPoll).toBe(4);
    expect(stats.haltSuccessfulPoll).toBe(1);
  });

  it('APICv: while polling the vCPU stays loaded — its descriptor keeps NV 0xF2 and it joins no blocked list', () => {
    const { m, haltFor, stats } = halter('apicv');
    haltFor(2_000); // grows the poll
    let nv = -1;
    let blocked = -1;
    m.kvm.clock.schedule(m.vcpu.cpu.localTime + 1_000, () => {
      nv = m.vcpu.posted!.pid.nv;
      blocked = m.vcpu.pcpu.blocked.size;
    });
    haltFor(2_000);
    expect(stats.haltSuccessfulPoll).toBe(1);
    expect([nv, blocked]).toEqual([POSTED_INTR_VECTOR, 0]);
  });

  it('turned off by the module parameter (halt_poll_ns = 0) or per VM by KVM_CAP_HALT_POLL', () => {
    const off = halter('emulated', { haltPollNs: 0 });
    for (let i = 0; i < 3; i++) off.haltFor(2_000);
    expect(off.stats).toMatchObject({ haltAttemptedPoll: 0, haltWakeup: 3 });
    expect(off.m.vcpu.haltPoll.haltPollNs).toBe(0);
    const capped = halter();
    expect(capped.m.vm.checkExtension(KVM_CAP.HALT_POLL)).toBe(1);
    capped.m.vm.enableCap(KVM_CAP.HALT_POLL, { args: [0] });
    for (let i = 0; i < 3; i++) capped.haltFor(2_000);
    expect(capped.stats.haltAttemptedPoll).toBe(0);
    expect(capped.m.vm.maxHaltPollNs).toBe(0);
    expectErrno(() => capped.m.vm.enableCap(KVM_CAP.HALT_POLL, { args: [2 ** 32] }), 'EINVAL', /32-bit number of ns, got 4294967296/);
  });

  it('checks the module parameters whole (EINVAL naming the field)', () => {
    expect(haltPollParams({ haltPollNs: 5 })).toEqual({ ...HALT_POLL_DEFAULTS, haltPollNs: 5 });
    expectErrno(() => new Kvm({ haltPoll: { haltPollNs: -1 } }), 'EINVAL', /haltPoll\.haltPollNs must be an unsigned 32-bit integer .* got -1/);
    expectErrno(() => new Kvm({ haltPoll: { grow: 2 } as never }), 'EINVAL', /haltPoll: unknown field grow/);
  });
});
