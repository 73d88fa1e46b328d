import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { KVM_EXIT, KVM_VCPUEVENT_VALID, KVM_X86_SHADOW_INT } from '../generic/constants.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { GUEST, tinyVmm, type TinyVmm } from '../test-support/tiny-vmm.js';
import type { KvmVcpuEvents } from './vcpu-events.js';

type Routine = Generator<Op, void, number>;
const NMI_HANDLER = 0x20_0000;
const IRQ_HANDLER = 0x21_0000;
const COUNTER = 0x5_0000;

/** A guest that counts in memory, with an NMI handler recording where the count stood and an IRQ handler. */
function nmiGuest(options: { irqchip?: boolean; apicv?: boolean; handler?: (g: X86Guest, log: string[]) => Routine } = {}): TinyVmm & { log: string[] } {
  const log: string[] = [];
  function* code(g: X86Guest): Routine {
    if (options.irqchip ?? true) yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
    yield g.out(0x80, 0); // the VMM acts here
    for (let i = 1; i <= 3; i++) yield g.st32(COUNTER, i);
    yield g.out(GUEST.POWER, 0);
  }
  const m = tinyVmm({ irqchip: options.irqchip ?? true, code, ...(options.apicv === true ? { interruptMode: 'apicv' as const } : {}) });
  m.vm.program.define(NMI_HANDLER, options.handler ? (g: X86Guest) => options.handler!(g, log) : function* nmi(g: X86Guest): Routine {
    log.push(`nmi@${yield g.ld32(COUNTER)}`);
    yield g.iret();
  });
  m.vm.program.define(IRQ_HANDLER, function* irq(g: X86Guest, v: number): Routine {
    log.push(`irq${v.toString(16)}@${yield g.ld32(COUNTER)}`);
    yield g.st32(GUEST.APIC + APIC.EOI, 0);
    yield g.iret();
  });
  m.setGate(2, NMI_HANDLER);
  m.setGate(0x40, IRQ_HANDLER);
  return Object.assign(m, { log });
}

describe('KVM_NMI (api.rst 4.67) and NMI injection (x86.c kvm_check_and_inject_events, process_nmi)', () => {
  it.each([false, true])('injects a queued NMI at the next entry, before an interrupt that is also pending (APICv: %s)', (apicv) => {
    const m = nmiGuest({ apicv });
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO); // at OUT 0x80
    m.vcpu.setRegs({ rflags: 0x202 });
    expect(m.vm.signalMsi({ addressLo: 0xfee0_0000, data: 0x40 })).toBe(1);
    m.vcpu.nmi();
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(m.log).toEqual(['nmi@0', 'irq40@0']);
  });

  it('two NMIs queued while none runs are both delivered, one after the other\'s IRET; a third is dropped (one running, one pending)', () => {
    const two = nmiGuest();
    two.vcpu.run();
    two.vcpu.nmi();
    two.vcpu.nmi();
    expect(two.vcpu.getVcpuEvents().nmi.pending).toBe(2);
    expect(two.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(two.log).toEqual(['nmi@0', 'nmi@0']);
    expect(two.vcpu.stats.count('NMI_WINDOW')).toBe(1); // the second waited for the first's IRET
    const three = nmiGuest();
    three.vcpu.run();
    for (let i = 0; i < 3; i++) three.vcpu.nmi();
    three.vcpu.run();
    expect(three.log).toEqual(['nmi@0', 'nmi@0']);
  });

  it('an NMI raised inside the NMI handler stays pending until IRET, then is delivered once (kvm-unit-tests test_pending_nmi)', () => {
    let sent = false;
    const m = nmiGuest({
      *handler(g, log) {
        log.push('nmi');
        if (!sent) {
          sent = true;
          // An NMI IPI to itself (ICR: physical destination 0, delivery mode NMI).
          yield g.st32(GUEST.APIC + APIC.ICR_HIGH, 0);
          yield g.st32(GUEST.APIC + APIC.ICR_LOW, 0x4400);
          log.push('sent');
        }
        yield g.iret();
      },
    });
    m.vcpu.run();
    m.vcpu.nmi();
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(m.log).toEqual(['nmi', 'sent', 'nmi']);
  });

  it('does not inject an NMI in an STI shadow: the interrupt window opens it one instruction later (vmx_nmi_blocked, vmx_enable_nmi_window)', () => {
    const m = nmiGuest();
    m.vcpu.run();
    m.vcpu.kvmRun.immediate_exit = 1;
    expectErrno(() => m.vcpu.run(), 'EINTR'); // completes the OUT (api.rst 5) without running the guest
    m.vcpu.kvmRun.immediate_exit = 0;
    m.vcpu.setRegs({ rflags: 0x202 }); // STI blocking needs RFLAGS.IF = 1 (SDM 3C 26.3.1.5)
    const e = m.vcpu.getVcpuEvents();
    m.vcpu.setVcpuEvents({ ...e, nmi: { ...e.nmi, pending: 1 }, interrupt: { ...e.interrupt, shadow: KVM_X86_SHADOW_INT.STI }, flags: KVM_VCPUEVENT_VALID.NMI_PENDING | KVM_VCPUEVENT_VALID.SHADOW });
    expect(m.vcpu.getVcpuEvents().interrupt.shadow).toBe(KVM_X86_SHADOW_INT.STI);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(m.log).toEqual(['nmi@1']);
    expect(m.vcpu.stats.count('INTERRUPT_WINDOW')).toBe(1);
    expect(m.vcpu.stats.count('NMI_WINDOW')).toBe(0);
  });

  it('wakes a halted vCPU (kvm_vcpu_has_events) and works without an in-kernel irqchip', () => {
    const log: string[] = [];
    function* code(g: X86Guest): Routine {
      yield g.hlt();
      log.push('woke');
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code });
    m.vm.program.define(NMI_HANDLER, function* nmi(g: X86Guest): Routine {
      log.push('nmi');
      yield g.iret();
    });
    m.setGate(2, NMI_HANDLER);
    expect(m.vcpu.run({ maxCycles: 10_000 }).exit_reason).toBe(KVM_EXIT.INTR);
    m.vcpu.nmi();
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(log).toEqual(['nmi', 'woke']);
    const u = nmiGuest({ irqchip: false });
    u.vcpu.run();
    u.vcpu.nmi();
    expect(u.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(u.log).toEqual(['nmi@0']);
  });
});

describe('KVM_GET_VCPU_EVENTS / KVM_SET_VCPU_EVENTS (api.rst 4.31, 4.32)', () => {
  it('reports NMI_PENDING | SHADOW | SMM, pending and masked NMIs, and sipi_vector 0', () => {
    const m = nmiGuest();
    const e0 = m.vcpu.getVcpuEvents();
    expect(e0.flags).toBe(KVM_VCPUEVENT_VALID.NMI_PENDING | KVM_VCPUEVENT_VALID.SHADOW | KVM_VCPUEVENT_VALID.SMM);
    expect(e0.nmi).toEqual({ injected: 0, pending: 0, masked: 0 });
    expect(e0.sipi_vector).toBe(0);
    m.vcpu.nmi();
    expect(m.vcpu.getVcpuEvents().nmi.pending).toBe(1);
    m.vcpu.setVcpuEvents({ ...e0, nmi: { injected: 0, pending: 0, masked: 1 }, flags: KVM_VCPUEVENT_VALID.SHADOW });
    const e1 = m.vcpu.getVcpuEvents();
    expect(e1.nmi.masked).toBe(1);
    expect(e1.nmi.pending).toBe(1); // without KVM_VCPUEVENT_VALID_NMI_PENDING the pending count is kept
  });

  it('an injected exception set by userspace is delivered at the next entry; an injected interrupt too', () => {
    const m = nmiGuest();
    m.vm.program.define(0x22_0000, function* ud(g: X86Guest): Routine {
      m.log.push('#UD');
      yield g.iret();
    });
    m.setGate(6, 0x22_0000);
    m.vcpu.run();
    m.vcpu.setRegs({ rflags: 0x202 }); // an injected external interrupt needs RFLAGS.IF = 1 at VM entry
    const e = m.vcpu.getVcpuEvents();
    m.vcpu.setVcpuEvents({ ...e, exception: { injected: 1, nr: 6, has_error_code: 0, pending: 0, error_code: 0 }, interrupt: { injected: 1, nr: 0x40, soft: 0, shadow: 0 } });
    const back = m.vcpu.getVcpuEvents();
    expect(back.exception).toMatchObject({ injected: 1, nr: 6 });
    expect(back.interrupt).toMatchObject({ injected: 1, nr: 0x40 });
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(m.log).toEqual(['#UD', 'irq40@0']);
  });

  it('refuses bad structs with EINVAL and changes nothing: unknown flags, PAYLOAD and TRIPLE_FAULT (capabilities not offered), exception vector > 31 or 2, SMM state', () => {
    const m = nmiGuest();
    const e: KvmVcpuEvents = m.vcpu.getVcpuEvents();
    const bad: [Partial<KvmVcpuEvents>, RegExp][] = [
      [{ flags: 0x100 }, /flags 0x100/],
      [{ flags: KVM_VCPUEVENT_VALID.PAYLOAD }, /KVM_CAP_EXCEPTION_PAYLOAD/],
      [{ flags: KVM_VCPUEVENT_VALID.TRIPLE_FAULT }, /TRIPLE_FAULT/],
      [{ exception: { injected: 1, nr: 32, has_error_code: 0, pending: 0, error_code: 0 } }, /exception.nr 32/],
      [{ exception: { injected: 1, nr: 2, has_error_code: 0, pending: 0, error_code: 0 } }, /exception.nr 2/],
      [{ smi: { smm: 1, pending: 0, smm_inside_nmi: 0, latched_init: 0 } }, /no SMM/],
      [{ nmi: { injected: 0, pending: 256, masked: 0 } }, /nmi.pending/],
    ];
    for (const [patch, message] of bad) expectErrno(() => m.vcpu.setVcpuEvents({ ...e, ...patch }), 'EINVAL', message);
    expectErrno(() => m.vcpu.setVcpuEvents(null as unknown as KvmVcpuEvents), 'EFAULT');
    expect(m.vcpu.getVcpuEvents()).toEqual(e);
  });
});
