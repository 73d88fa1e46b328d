import { describe, expect, it } from 'vitest';
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import { CPU_BASED, EXIT_REASON, PIN_BASED, SECONDARY, VM_EXIT } from '@hvsim/vmcs';
import type { X86Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { GUEST, HOST, vmxMachine } from '../test-support/vmx-machine.js';

type Routine = Generator<Op, void, number>;

describe('X86Cpu in VMX non-root operation (SDM 3C 26, 27)', () => {
  it('exits exactly where the controls ask: CPUID always, OUT with unconditional I/O exiting, HLT with HLT exiting, not RDMSR under a zero MSR bitmap', () => {
    const m = vmxMachine({ proc: CPU_BASED.UNCOND_IO_EXITING | CPU_BASED.HLT_EXITING, msrBitmap: HOST.MSR_BITMAP });
    const seen: number[] = [];
    m.program.define(GUEST.ENTRY, function* main(g: X86Guest): Routine {
      seen.push(yield g.cpuid(0));
      yield g.out(0x3f8, 0x41);
      seen.push((yield g.rdmsr(0x10)) > 0 ? 1 : 0); // IA32_TSC: no exit
      yield g.hlt();
      seen.push(7);
    });
    m.cpu.start(GUEST.ENTRY);
    // CPUID (SDM 3C 26.1.2): the host emulates it and completes the operation with EAX.
    expect(m.enterAndRun(1_000_000)).toBe('exit');
    expect(m.cpu.lastExit!.basicReason).toBe(EXIT_REASON.CPUID);
    m.cpu.completePendingOperation(0xd);
    // OUT (SDM 3C 26.1.3): the exit qualification names port, size and direction; the pending op carries the value.
    expect(m.enterAndRun(1_000_000)).toBe('exit');
    const out = m.cpu.lastExit!;
    expect(out.basicReason).toBe(EXIT_REASON.IO_INSTRUCTION);
    expect(out.qualification >>> 16).toBe(0x3f8);
    expect(m.cpu.pendingOperation).toMatchObject({ a: 0x3f8, b: 0x41, size: 1 });
    m.cpu.completePendingOperation();
    expect(m.enterAndRun(1_000_000)).toBe('exit');
    expect(m.cpu.lastExit!.basicReason).toBe(EXIT_REASON.HLT);
    m.cpu.completePendingOperation();
    expect(m.enterAndRun(1_000_000)).toBe('finished');
    expect(m.exits).toEqual([EXIT_REASON.CPUID, EXIT_REASON.IO_INSTRUCTION, EXIT_REASON.HLT]);
    expect(seen).toEqual([0xd, 1, 7]);
  });

  it('completes an emulated CPUID with all four registers (KVM kvm_emulate_cpuid)', () => {
    const m = vmxMachine();
    const seen: number[] = [];
    m.program.define(GUEST.ENTRY, function* main(g: X86Guest): Routine {
      yield g.cpuid(0);
      seen.push(g.eax, g.ebx, g.ecx, g.edx);
    });
    m.cpu.start(GUEST.ENTRY);
    expect(m.enterAndRun(1_000_000)).toBe('exit');
    expect(() => m.cpu.completePendingCpuid(1.5, 0, 0, 0)).toThrow(/integer registers, got 1.5/);
    m.cpu.completePendingCpuid(0xd, 0x4b4d564b, 0x564b4d56, 0x4d);
    expect(m.enterAndRun(1_000_000)).toBe('finished');
    expect(seen).toEqual([0xd, 0x4b4d564b, 0x564b4d56, 0x4d]);
    expect(() => m.cpu.completePendingCpuid(0, 0, 0, 0)).toThrow(/no CPUID is pending/);
  });

  it('runs clock events that fall due while the guest computes (a LAPIC timer interrupt exits at its time)', () => {
    const m = vmxMachine({ pin: PIN_BASED.EXT_INTR_EXITING, exit: VM_EXIT.ACK_INTR_ON_EXIT });
    m.program.define(GUEST.ENTRY, function* main(g: X86Guest): Routine {
      for (;;) yield g.compute(100);
    });
    m.cpu.start(GUEST.ENTRY);
    // The host APIC's timer: one-shot, vector 0x30, 5,000 timer ticks from now.
    m.hostApic.mmioWrite(0x3e0, 4, 0xb);
    m.hostApic.mmioWrite(0x320, 4, 0x30);
    m.hostApic.mmioWrite(0x380, 4, 5000);
    expect(m.enterAndRun(100_000_000)).toBe('exit');
    expect(m.cpu.lastExit!.basicReason).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(m.cpu.lastExit!.acknowledgedVector).toBe(0x30);
    expect(m.cpu.localTime).toBeLessThan(10_000_000);
  });

  it('writes the guest state into the VMCS at an exit (SDM 3C 28.3)', () => {
    const m = vmxMachine();
    m.program.define(GUEST.ENTRY, function* main(g: X86Guest): Routine {
      yield g.compute(5);
      yield g.cpuid(1);
    });
    m.cpu.start(GUEST.ENTRY);
    m.enterAndRun(1_000_000);
    const vmcs = m.vmx.currentVmcs!;
    expect(vmcs.readNumber(0x681e)).toBe(GUEST.ENTRY + 1); // GUEST_RIP: the CPUID, second operation
    expect(vmcs.readNumber(0x681c)).toBe(GUEST.STACK_TOP); // GUEST_RSP
  });

  it('exits on an EPT violation with the guest-physical address and retries the access after the host maps it (SDM 3C 29.3.3)', () => {
    const m = vmxMachine();
    const HOLE = 0xa0_0000; // guest-linear = guest-physical, beyond the 8 MiB EPT maps
    const values: number[] = [];
    m.program.define(GUEST.ENTRY, function* main(g: X86Guest): Routine {
      values.push(yield g.ld32(HOLE + 0x10));
    });
    m.cpu.start(GUEST.ENTRY);
    expect(m.enterAndRun(1_000_000)).toBe('exit');
    const exit = m.cpu.lastExit!;
    expect(exit.basicReason).toBe(EXIT_REASON.EPT_VIOLATION);
    expect(exit.guestPhysicalAddress).toBe(HOLE + 0x10);
    expect(exit.qualification & 1).toBe(1); // a data read
    // The host backs the page (KVM's tdp fault handler) and re-enters: the load runs again.
    m.memory.write32(0x200_0000 + 0x10, 0xfeed);
    m.ept.map(HOLE, 0x200_0000, { pageSize: 4096 });
    expect(m.enterAndRun(1_000_000)).toBe('finished');
    expect(values).toEqual([0xfeed]);
  });

  it('exits on every access to a page whose EPT entry is misconfigured (KVM MMIO SPTE) with the same information; the guest translation is kept, the EPT entry read again each time, so a fixed entry is used at once (SDM 3C 29.3.3.1, 29.4.2)', () => {
    const m = vmxMachine();
    const MMIO = 0xa0_0000; // guest-linear = guest-physical
    const values: number[] = [];
    m.program.define(GUEST.ENTRY, function* main(g: X86Guest): Routine {
      for (let i = 0; i < 3; i++) yield g.st32(MMIO + 0xb0, i);
      values.push(yield g.ld32(MMIO + 0xb0));
    });
    m.ept.map(MMIO, 0, { pageSize: 4096, permissions: 6 }); // write+execute without read: misconfigured (28.2.3.1)
    m.cpu.start(GUEST.ENTRY);
    const nested = m.mmu.nested!;
    const seen: [number, number, number, number][] = [];
    for (let i = 0; i < 3; i++) {
      expect(m.enterAndRun(1_000_000)).toBe('exit');
      const e = m.cpu.lastExit!;
      seen.push([e.basicReason, e.guestPhysicalAddress, e.qualification, m.cpu.pendingOperation!.b]);
      m.cpu.completePendingOperation(); // emulated by the host: skipped
    }
    expect(seen).toEqual([0, 1, 2].map((i) => [EXIT_REASON.EPT_MISCONFIG, MMIO + 0xb0, seen[0]![2], i]));
    // The first store walked both dimensions; the next two re-read only the EPT entry of the cached guest-physical page.
    expect(nested.stats().eptMisconfigs).toBe(1);
    expect(nested.ept.misconfigs).toBe(3);
    // The host makes the page RAM without INVEPT: nothing was cached from the misconfigured entry, so the load reaches RAM.
    m.memory.write32(0x200_0000 + 0xb0, 0xfeed);
    m.ept.map(MMIO, 0x200_0000, { pageSize: 4096 });
    expect(m.enterAndRun(1_000_000)).toBe('finished');
    expect(values).toEqual([0xfeed]);
    expect(m.exits.length).toBe(3);
  });

  it('keeps the MMU epoch (and the CPU-side translations) across VM exits and entries that change no paging control (VPID-tagged TLB, SDM 3C 28.1)', () => {
    const m = vmxMachine();
    m.program.define(GUEST.ENTRY, function* main(g: X86Guest): Routine {
      yield g.st32(GUEST.DATA, 1);
      yield g.cpuid(0);
      yield g.st32(GUEST.DATA, 2);
    });
    m.cpu.start(GUEST.ENTRY);
    expect(m.enterAndRun(1_000_000)).toBe('exit');
    const epoch = m.mmu.epoch;
    const misses = m.cpu.memory.cacheMisses;
    m.cpu.completePendingOperation(0);
    expect(m.enterAndRun(1_000_000)).toBe('finished');
    expect(m.mmu.epoch).toBe(epoch);
    // The second store to the data page hit the translation the first one made (the code itself takes no translation).
    expect(m.cpu.memory.cacheMisses).toBe(misses);
  });

  it('exits on an external interrupt with acknowledge-on-exit and leaves the vector in service at the host APIC (SDM 3C 26.2, 28.2.2)', () => {
    const m = vmxMachine({ pin: PIN_BASED.EXT_INTR_EXITING, exit: VM_EXIT.ACK_INTR_ON_EXIT });
    m.program.define(GUEST.ENTRY, function* main(g: X86Guest): Routine {
      for (;;) yield g.compute(10);
    });
    m.cpu.start(GUEST.ENTRY);
    m.hostApic.acceptInterrupt({ vector: 0x30, trigger: 'edge' });
    expect(m.enterAndRun(1_000_000)).toBe('exit');
    expect(m.cpu.lastExit!.basicReason).toBe(EXIT_REASON.EXTERNAL_INTERRUPT);
    expect(m.cpu.lastExit!.acknowledgedVector).toBe(0x30);
    expect(m.hostApic.isInService(0x30)).toBe(true);
  });

  it('delivers a posted interrupt to a halted guest with no VM exit, and virtualizes its x2APIC EOI (SDM 3C 30.6, 30.1.3)', () => {
    const m = vmxMachine({
      pin: PIN_BASED.EXT_INTR_EXITING | PIN_BASED.PROCESS_POSTED_INTERRUPTS,
      proc2: SECONDARY.VIRTUALIZE_X2APIC_MODE | SECONDARY.APIC_REGISTER_VIRTUALIZATION | SECONDARY.VIRTUAL_INTERRUPT_DELIVERY,
      exit: VM_EXIT.ACK_INTR_ON_EXIT,
      virtualApicPage: HOST.VAPIC,
      msrBitmap: HOST.MSR_BITMAP,
      postedInterruptDescriptor: HOST.PID,
      notificationVector: 0xf2,
    });
    let handled = 0;
    m.program.define(0x20_1000, function* handler(g: X86Guest, vector: number): Routine {
      handled = vector;
      yield g.wrmsr(0x80b, 0); // x2APIC EOI: virtualized
      yield g.iret();
    });
    m.setGate(0x41, { target: 0x20_1000 });
    m.program.define(GUEST.ENTRY, function* main(g: X86Guest): Routine {
      while (handled === 0) {
        yield g.sti();
        yield g.hlt();
        yield g.cli();
      }
    });
    m.cpu.start(GUEST.ENTRY);
    expect(m.enterAndRun(100_000)).toBe('halted');
    // A device (or another vCPU) posts 0x41 and sends the notification vector to this physical CPU.
    new PostedInterruptDescriptor(m.memory, HOST.PID).postFromSoftware(0x41);
    m.hostApic.acceptInterrupt({ vector: 0xf2, trigger: 'edge' });
    expect(m.cpu.run(200_000)).toBe('finished');
    expect(handled).toBe(0x41);
    expect(m.exits).toEqual([]);
    expect(m.hostApic.isInService(0xf2)).toBe(false); // acknowledged and EOI'd by the posted-interrupt processing
    expect(m.vmx.vapic.svi).toBe(0); // the virtual EOI completed it
  });

  it('rejects host misuse', () => {
    const m = vmxMachine();
    expect(() => m.cpu.completePendingOperation()).toThrow(/no operation is pending/);
    expect(() => m.cpu.attachVmx({} as never)).toThrow(/needs a VmxProcessor/);
    m.cpu.detachVmx();
    expect(() => m.cpu.enterGuest(null)).toThrow(/no VMX processor is attached/);
  });
});
