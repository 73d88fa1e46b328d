import { describe, expect, it } from 'vitest';
import { APIC, encodeRte } from '@hvsim/lapic';
import type { Op, X86Guest } from '@hvsim/cpu';
import { KVM_EXIT, KVM_MP_STATE } from '../generic/constants.js';
import { EventFd } from '../generic/eventfd.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';

type Routine = Generator<Op, void, number>;
const HANDLER = 0x20_0000;

describe('a kvmtool-style VMM through the KVM API (emulated mode, EPT)', () => {
  it('boots a guest that prints through KVM_EXIT_IO and takes LAPIC timer interrupts while halted: one HLT exit and one EOI exit each, none to deliver', () => {
    let ticks = 0;
    function* code(g: X86Guest): Routine {
      for (const c of 'hi') yield g.out(GUEST.SERIAL, c.charCodeAt(0));
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.st32(GUEST.APIC + APIC.TIMER_DIVIDE_CONFIG, 0xb);
      yield g.st32(GUEST.APIC + APIC.LVT_TIMER, (1 << 17) | 0x30); // periodic, vector 0x30
      yield g.st32(GUEST.APIC + APIC.TIMER_INITIAL_COUNT, 1000);
      while (ticks < 3) {
        yield g.sti(); // STI; HLT: the shadow makes it atomic
        yield g.hlt();
        yield g.cli();
      }
      yield g.out(GUEST.SERIAL, 0x21);
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code });
    m.vm.program.define(HANDLER, function* timer(g: X86Guest): Routine {
      ticks++;
      yield g.st32(GUEST.APIC + APIC.EOI, 0); // xAPIC EOI: an MMIO exit to the in-kernel LAPIC
      yield g.iret();
    });
    m.setGate(0x30, HANDLER);
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(String.fromCharCode(...m.serial)).toBe('hi!');
    expect(ticks).toBe(3);
    const s = m.vcpu.stats;
    // Per interrupt: the HLT exit that blocks, no exit to deliver (injected at the entry after the wake-up),
    // one EPT-misconfiguration exit for the EOI (the APIC page is cached as MMIO after the first access).
    expect(s.count('HLT')).toBe(3);
    expect(s.count('EXTERNAL_INTERRUPT')).toBe(0);
    // The first APIC access takes an EPT violation (the MMIO SPTE is then installed); the four set-up
    // stores and three EOIs are 7 APIC accesses in all.
    expect(s.count('EPT_MISCONFIG')).toBe(6);
    expect(s.count('KVM_EXIT_IO')).toBe(4);
    expect(m.vm.stats.count('HLT')).toBe(3);
  });

  it('takes a timer interrupt while the guest computes: one external-interrupt exit (the kick) to deliver, one exit for the EOI', () => {
    let ticks = 0;
    function* code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.st32(GUEST.APIC + APIC.TIMER_DIVIDE_CONFIG, 0xb);
      yield g.sti();
      yield g.st32(GUEST.APIC + APIC.LVT_TIMER, 0x30); // one-shot
      yield g.st32(GUEST.APIC + APIC.TIMER_INITIAL_COUNT, 100);
      while (ticks === 0) yield g.compute(50);
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code });
    m.vm.program.define(HANDLER, function* timer(g: X86Guest): Routine {
      ticks++;
      yield g.st32(GUEST.APIC + APIC.EOI, 0);
      yield g.iret();
    });
    m.setGate(0x30, HANDLER);
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(ticks).toBe(1);
    expect(m.vcpu.stats.count('EXTERNAL_INTERRUPT')).toBe(1);
    expect(m.vcpu.stats.count('HLT')).toBe(0);
    expect(m.vcpu.stats.count('EPT_MISCONFIG')).toBe(4); // 5 APIC stores; the first was an EPT violation
  });

  it('delivers an IOAPIC-routed interrupt from KVM_IRQ_LINE and from an irqfd to a halted guest (api.rst 4.25, 4.75)', () => {
    let got = 0;
    function* code(g: X86Guest): Routine {
      yield g.out(0x21, 0xff); // mask the 8259s, as an OS using the IOAPIC does (in-kernel PIC: no exit to userspace)
      yield g.out(0xa1, 0xff);
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      // IOAPIC pin 4 -> vector 0x41, edge, APIC 0 (IOREGSEL / IOWIN).
      const [low, high] = encodeRte({ vector: 0x41, destination: 0 });
      yield g.st32(GUEST.IOAPIC, 0x10 + 2 * 4 + 1);
      yield g.st32(GUEST.IOAPIC + 0x10, high);
      yield g.st32(GUEST.IOAPIC, 0x10 + 2 * 4);
      yield g.st32(GUEST.IOAPIC + 0x10, low);
      while (got < 2) {
        yield g.sti();
        yield g.hlt();
        yield g.cli();
      }
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code });
    m.eoiHandler(0x41, HANDLER, () => {
      got++;
    });
    // Nothing wakes the halted guest: KVM_RUN comes back as a signal would make it (KVM_EXIT_INTR).
    expect(m.vcpu.run({ maxCycles: 100_000 }).exit_reason).toBe(KVM_EXIT.INTR);
    expect(m.vcpu.getMpState()).toBe(KVM_MP_STATE.HALTED);
    expect(m.vm.irqLine(4, 1)).toBe(1); // delivered by the IOAPIC; the PIC input is masked (-1, not counted)
    expect(m.vm.irqLine(4, 0)).toBe(1);
    expect(m.vcpu.run({ maxCycles: 100_000 }).exit_reason).toBe(KVM_EXIT.INTR);
    expect(got).toBe(1);
    const fd = new EventFd();
    m.vm.irqfd({ fd, gsi: 4 });
    fd.write(1);
    expect(m.vm.irqfdInjections(fd)).toBe(1);
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(got).toBe(2);
    expect(m.vcpu.stats.count('EXTERNAL_INTERRUPT')).toBe(0);
  });
});
