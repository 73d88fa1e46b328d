import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { KVM_EXIT, KVM_MP_STATE } from '../generic/constants.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';

type Routine = Generator<Op, void, number>;
const MARK = 0x80;

/** A guest that reports at MARK, then counts LAPIC timer ticks (vector 0x30) until it has `want`. */
function ticking(physicalCpus: number, want: number) {
  const state = { ticks: 0 };
  const m = tinyVmm({
    interruptMode: 'apicv',
    physicalCpus,
    *code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.st32(GUEST.APIC + APIC.TIMER_DIVIDE_CONFIG, 0xb);
      yield g.st32(GUEST.APIC + APIC.LVT_TIMER, (1 << 17) | 0x30);
      yield g.sti();
      yield g.out(MARK, 0);
      yield g.st32(GUEST.APIC + APIC.TIMER_INITIAL_COUNT, 400);
      while (state.ticks < want) yield g.compute(100);
      yield g.out(GUEST.POWER, 0);
    },
  });
  m.vm.program.define(0x20_0000, function* isr(g: X86Guest): Routine {
    state.ticks++;
    yield g.st32(GUEST.APIC + APIC.EOI, 0);
    yield g.iret();
  });
  m.setGate(0x30, 0x20_0000);
  return { m, state };
}

describe('vCPUs on physical CPUs (vcpu_load / vcpu_put, vmx_vcpu_pi_load / put)', () => {
  it('two vCPUs share one physical CPU: each VMCS is made current as its vCPU runs, NDST names that CPU, and a put that is not a block sets SN', () => {
    const { m } = ticking(1, 1);
    const second = m.vm.createVcpu(1);
    expect(second.pcpu).toBe(m.vcpu.pcpu);
    second.setMpState(KVM_MP_STATE.RUNNABLE); // an AP starts UNINITIALIZED
    second.setSregs(m.vcpu.getSregs());
    second.setRegs({ rip: GUEST.ENTRY, rsp: GUEST.STACK_TOP - 0x2000, rflags: 2 });
    expect(m.vcpu.run().io.port).toBe(MARK);
    const pid0 = m.vcpu.posted!.pid;
    expect(pid0.sn).toBe(true); // vmx_vcpu_pi_put of a vCPU that returned to userspace
    expect(second.run().io.port).toBe(MARK); // its VMCS replaces vCPU 0's as current on CPU 0
    expect(m.vcpu.pcpu.vmx.currentVmcs?.address).toBe(second.vmcsRegion);
    expect(pid0.ndst).toBe(0 << 8);
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO); // vCPU 0 again: loaded, SN cleared, its timer posted and delivered
    expect(m.vcpu.stats.count('EXTERNAL_INTERRUPT')).toBe(0);
  });

  it('a vCPU moved to another CPU has its VMCS cleared on the old one and its descriptor pointed at the new one; its notifications follow it', () => {
    const { m, state } = ticking(2, 3);
    expect(m.vcpu.run().io.port).toBe(MARK);
    const cpus = m.vm.interrupts.physicalCpus!;
    const from = cpus.cpu(0);
    const to = cpus.cpu(1);
    m.vcpu.load(to);
    m.vcpu.put(false);
    expect(from.vmx.currentVmcs?.address).not.toBe(m.vcpu.vmcsRegion);
    expect(m.vcpu.posted!.pid.ndst).toBe(1 << 8); // xAPIC NDST: APIC ID in bits 15:8
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(state.ticks).toBe(3);
    expect(m.vcpu.posted!.notifications).toBeGreaterThanOrEqual(1);
    expect(m.vcpu.stats.count('EXTERNAL_INTERRUPT')).toBe(0);
  });

  it('setMode is refused once a vCPU exists, and for an unknown mode or CPU count (EINVAL)', () => {
    const { m } = ticking(1, 1);
    expectErrno(() => m.vm.interrupts.setMode('emulated'), 'EINVAL', /before KVM_CREATE_VCPU/);
    expectErrno(() => m.vm.interrupts.setMode('posted' as 'apicv'), 'EINVAL', /'emulated', 'apicv' or 'eli', got posted/);
    expectErrno(() => m.vm.interrupts.setMode('apicv', { physicalCpus: 0 }), 'EINVAL', /physicalCpus must be an integer in \[1, 1024\], got 0/);
  });
});
