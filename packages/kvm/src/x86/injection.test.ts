import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { KVM_CAP, KVM_EXIT, KVM_MP_STATE } from '../generic/constants.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';

type Routine = Generator<Op, void, number>;
const HANDLER = 0x20_0000;

describe('x86 event injection (x86.c kvm_check_and_inject_events, vmx.c vmx_complete_interrupts)', () => {
  it('re-injects an interrupt whose delivery an EPT violation interrupted (the IDT page not yet mapped): delivered exactly once', () => {
    let got = 0;
    function* code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.sti();
      yield g.hlt();
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code });
    m.eoiHandler(0x41, HANDLER, () => {
      got++;
    });
    expect(m.vcpu.run({ maxCycles: 10_000 }).exit_reason).toBe(KVM_EXIT.INTR);
    const violationsBefore = m.vcpu.stats.count('EPT_VIOLATION');
    expect(m.vm.signalMsi({ addressLo: 0xfee0_0000, data: 0x41 })).toBe(1);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(got).toBe(1);
    // Delivery read the IDT (guest page 1), which the VMM wrote but the guest never touched: an EPT violation
    // during delivery, the vector in the IDT-vectoring information, re-injected at the next entry.
    expect(m.vcpu.stats.count('EPT_VIOLATION')).toBeGreaterThan(violationsBefore);
    expect(m.vcpu.apic!.isInService(0x41)).toBe(false);
  });

  it('injects an interrupt that was blocked (IF = 0) through the interrupt window as soon as the guest executes STI', () => {
    const order: string[] = [];
    function* code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.wrmsr(0x1b, 0xfee0_0000 | (1 << 11) | (1 << 10) | (1 << 8)); // x2APIC
      yield g.wrmsr(0x83f, 0x44); // self IPI while IF = 0
      order.push('before sti');
      yield g.sti();
      yield g.compute(1);
      order.push('after sti');
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code });
    m.vm.program.define(HANDLER, function* isr(g: X86Guest): Routine {
      order.push('isr');
      yield g.wrmsr(0x80b, 0);
      yield g.iret();
    });
    m.setGate(0x44, HANDLER);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(order).toEqual(['before sti', 'isr', 'after sti']);
    expect(m.vcpu.stats.count('INTERRUPT_WINDOW')).toBe(1);
  });

  it('routes GSI 0-15 through the in-kernel PIC to the BSP as ExtINT (LINT0), vector from the PIC\'s INTA', () => {
    let vector = -1;
    function* code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      // Linux's init_8259A: ICW1-ICW4 for master (base 0x20) and slave (0x28), then unmask IRQ 3 only.
      for (const [port, value] of [[0x20, 0x11], [0x21, 0x20], [0x21, 0x04], [0x21, 0x01], [0xa0, 0x11], [0xa1, 0x28], [0xa1, 0x02], [0xa1, 0x01], [0x21, 0xf7], [0xa1, 0xff]] as const) {
        yield g.out(port, value);
      }
      yield g.sti();
      yield g.hlt();
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code });
    m.vm.program.define(HANDLER, function* isr(g: X86Guest, v: number): Routine {
      vector = v;
      yield g.out(0x20, 0x20); // non-specific EOI to the master (an in-kernel port: no exit to userspace)
      yield g.iret();
    });
    m.setGate(0x23, HANDLER);
    expect(m.vcpu.run({ maxCycles: 10_000 }).exit_reason).toBe(KVM_EXIT.INTR);
    expect(m.vm.irqLine(3, 1)).toBe(1); // the PIC delivered it; the IOAPIC pin is masked (not counted)
    m.vm.irqLine(3, 0);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(vector).toBe(0x23);
    expect(m.vm.irqchip!.pic!.registers('master').isr).toBe(0);
    expect(m.vcpu.stats.count('KVM_EXIT_IO')).toBe(1); // only the power port reached userspace
  });

  it('answers KVM_CHECK_EXTENSION on the VM as on the system (KVM_CAP_CHECK_EXTENSION_VM); takes kvm_run.cr8 on entry without a LAPIC', () => {
    function* code(g: X86Guest): Routine {
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code, irqchip: false });
    expect(m.vm.checkExtension(KVM_CAP.IRQFD)).toBe(m.kvm.checkExtension(KVM_CAP.IRQFD));
    expect(m.vm.checkExtension(KVM_CAP.X2APIC_API)).toBe(0);
    m.vcpu.kvmRun.cr8 = 16;
    expectErrno(() => m.vcpu.run(), 'EINVAL', /cr8 16/);
    m.vcpu.kvmRun.cr8 = 4;
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(m.vcpu.getSregs().cr8).toBe(4);
  });
});

describe('interrupts between vCPUs (one physical CPU each)', () => {
  it('an IPI from vCPU 0 wakes halted vCPU 1, which takes it at its next entry with no exit to deliver', () => {
    let got = -1;
    function* bsp(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.st32(GUEST.APIC + APIC.ICR_HIGH, 1 << 24); // destination APIC 1
      yield g.st32(GUEST.APIC + APIC.ICR_LOW, 0x50); // fixed, vector 0x50
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code: bsp });
    m.vm.program.define(0x18_0000, function* ap(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.sti();
      yield g.hlt();
      yield g.out(GUEST.POWER, 1);
    });
    m.vm.program.define(HANDLER, function* isr(g: X86Guest, v: number): Routine {
      got = v;
      yield g.st32(GUEST.APIC + APIC.EOI, 0);
      yield g.iret();
    });
    m.setGate(0x50, HANDLER);
    const ap = m.vm.createVcpu(1);
    ap.setMpState(KVM_MP_STATE.RUNNABLE); // an AP starts UNINITIALIZED (kvm_arch_vcpu_create); the VMM starts it itself here
    ap.setSregs(m.vcpu.getSregs());
    ap.setRegs({ rip: 0x18_0000, rsp: 0x7_0000, rflags: 2 });
    expect(ap.run({ maxCycles: 10_000 }).exit_reason).toBe(KVM_EXIT.INTR); // halted, nothing to wake it
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO); // the BSP sends the IPI and stops
    expect(ap.apic!.isRequested(0x50)).toBe(true);
    expect(ap.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(ap.kvmRun.ioData[0]).toBe(1);
    expect(got).toBe(0x50);
    expect(ap.stats.count('EXTERNAL_INTERRUPT')).toBe(0);
    expect(m.vm.stats.count('HLT')).toBe(1);
  });
});
