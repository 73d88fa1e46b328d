import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { KVM_EXIT, KVM_MP_STATE, KVM_VCPUEVENT_VALID } from '../generic/constants.js';
import { KvmError } from '../generic/errors.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';

type Routine = Generator<Op, void, number>;
const AP_FLAG = 0x6000;

/** The BSP's INIT-SIPI-SIPI to APIC 1 (SDM 3A 9.4.4.1), start page `vector`. */
function* initSipiSipi(g: X86Guest, vector: number, sipis = 2): Routine {
  yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
  yield g.st32(GUEST.APIC + APIC.ICR_HIGH, 1 << 24);
  yield g.st32(GUEST.APIC + APIC.ICR_LOW, 0x4500); // INIT, assert
  for (let i = 0; i < sipis; i++) yield g.st32(GUEST.APIC + APIC.ICR_LOW, 0x4600 | vector); // STARTUP
  yield g.out(GUEST.POWER, 0);
}

/** Runs a vCPU expecting a KvmError, returning its errno name. */
function runErrno(run: () => unknown): string {
  try {
    run();
  } catch (e) {
    if (e instanceof KvmError) return e.kind;
    throw e;
  }
  return 'none';
}

describe('multiprocessing states and INIT/SIPI (api.rst 4.38, 4.39; lapic.c kvm_apic_accept_events)', () => {
  it('an AP starts UNINITIALIZED; an INIT-SIPI-SIPI from the BSP starts it at vector << 12 in the INIT state (real mode, paging off)', () => {
    const m = tinyVmm({ code: (g) => initSipiSipi(g, 0x08) });
    m.vm.program.define(0x8000, function* trampoline(g: X86Guest): Routine {
      yield g.st32(AP_FLAG, 0xa9); // paging is off: a guest-physical address
      yield g.out(GUEST.POWER, 2);
    });
    const ap = m.vm.createVcpu(1);
    expect(m.vcpu.getMpState()).toBe(KVM_MP_STATE.RUNNABLE);
    expect(ap.getMpState()).toBe(KVM_MP_STATE.UNINITIALIZED);
    // Nothing for it yet: KVM_RUN blocks until the "signal" (EINTR, KVM_EXIT_INTR).
    expect(runErrno(() => ap.run({ maxCycles: 5_000 }))).toBe('EINTR');
    expect(ap.kvmRun.exit_reason).toBe(KVM_EXIT.INTR);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO); // the BSP sent INIT, SIPI, SIPI
    // kvm_arch_vcpu_ioctl_run for an UNINITIALIZED vCPU: accept the events, then EAGAIN.
    expect(runErrno(() => ap.run())).toBe('EAGAIN');
    expect(ap.getMpState()).toBe(KVM_MP_STATE.RUNNABLE);
    expect(ap.getRegs()).toEqual({ rip: 0x8000, rsp: 0, rflags: 2 });
    expect(ap.getSregs()).toMatchObject({ cr0: 0x6000_0030, cr3: 0, cr4: 0, efer: 0, idt: { base: 0, limit: 0xffff } });
    const run = ap.run();
    expect(run.exit_reason).toBe(KVM_EXIT.IO);
    expect(run.ioData[0]).toBe(2);
    expect(m.kvm.memory.read32(m.ram + AP_FLAG)).toBe(0xa9);
  });

  it('a SIPI without an INIT is discarded (the AP stays UNINITIALIZED); an INIT alone leaves it in INIT_RECEIVED, waiting for a SIPI', () => {
    const m = tinyVmm({
      *code(g) {
        yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
        yield g.st32(GUEST.APIC + APIC.ICR_HIGH, 1 << 24);
        yield g.st32(GUEST.APIC + APIC.ICR_LOW, 0x4608); // SIPI first: no INIT before it
        yield g.out(0x80, 0);
        yield g.st32(GUEST.APIC + APIC.ICR_LOW, 0x4500); // now INIT only
        yield g.out(GUEST.POWER, 0);
      },
    });
    const ap = m.vm.createVcpu(1);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(runErrno(() => ap.run())).toBe('EAGAIN');
    expect(ap.getMpState()).toBe(KVM_MP_STATE.UNINITIALIZED);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(runErrno(() => ap.run())).toBe('EAGAIN');
    expect(ap.getMpState()).toBe(KVM_MP_STATE.INIT_RECEIVED);
    expect(runErrno(() => ap.run({ maxCycles: 5_000 }))).toBe('none'); // INIT_RECEIVED blocks in vcpu_run: KVM_EXIT_INTR
    expect(ap.kvmRun.exit_reason).toBe(KVM_EXIT.INTR);
    expect(ap.getMpState()).toBe(KVM_MP_STATE.INIT_RECEIVED);
  });

  it('KVM_SET_MP_STATE: SIPI_RECEIVED latches a SIPI for the vector of KVM_SET_VCPU_EVENTS (KVM_VCPUEVENT_VALID_SIPI_VECTOR)', () => {
    const m = tinyVmm({ code: (g) => initSipiSipi(g, 0x08) });
    m.vm.program.define(0x9000, function* trampoline(g: X86Guest): Routine {
      yield g.out(GUEST.POWER, 9);
    });
    const ap = m.vm.createVcpu(1);
    const e = ap.getVcpuEvents();
    ap.setVcpuEvents({ ...e, sipi_vector: 0x09, flags: KVM_VCPUEVENT_VALID.SIPI_VECTOR });
    ap.setMpState(KVM_MP_STATE.SIPI_RECEIVED);
    expect(ap.getMpState()).toBe(KVM_MP_STATE.RUNNABLE);
    expect(ap.run().ioData[0]).toBe(9);
  });

  it('refuses states with EINVAL: everything but RUNNABLE without the in-kernel LAPIC, AP_RESET_HOLD (SEV-ES), unknown numbers', () => {
    const m = tinyVmm({ irqchip: false, code: (g) => initSipiSipi(g, 8) });
    expect(m.vm.createVcpu(1).getMpState()).toBe(KVM_MP_STATE.RUNNABLE); // no in-kernel LAPIC: every vCPU is runnable
    for (const s of [KVM_MP_STATE.UNINITIALIZED, KVM_MP_STATE.INIT_RECEIVED, KVM_MP_STATE.HALTED, KVM_MP_STATE.SIPI_RECEIVED]) {
      expectErrno(() => m.vcpu.setMpState(s), 'EINVAL', /needs the in-kernel LAPIC/);
    }
    m.vcpu.setMpState(KVM_MP_STATE.RUNNABLE);
    const k = tinyVmm({ code: (g) => initSipiSipi(g, 8) });
    expectErrno(() => k.vcpu.setMpState(KVM_MP_STATE.AP_RESET_HOLD), 'EINVAL', /SEV-ES/);
    expectErrno(() => k.vcpu.setMpState(7), 'EINVAL', /not an x86 multiprocessing state/);
    k.vcpu.setMpState(KVM_MP_STATE.HALTED);
    expect(k.vcpu.getMpState()).toBe(KVM_MP_STATE.HALTED);
  });
});
