import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { VMCS_FIELD } from '@hvsim/vmcs';
import { KVM_EXIT, KVM_EXIT_IO_OUT, KVM_INTERNAL_ERROR, KVM_MEM } from '../generic/constants.js';
import { KvmError } from '../generic/errors.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';

type Routine = Generator<Op, void, number>;
const HANDLER = 0x20_0000;

describe('x86 vCPU: exits to userspace (api.rst 5, struct kvm_run)', () => {
  it('without an in-kernel irqchip: KVM_EXIT_HLT, the interrupt window (KVM_EXIT_IRQ_WINDOW_OPEN) and KVM_INTERRUPT (api.rst 4.16)', () => {
    let got = -1;
    function* code(g: X86Guest): Routine {
      yield g.out(0x80, 1);
      yield g.sti();
      while (got < 0) yield g.compute(10);
      yield g.hlt();
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ irqchip: false, code });
    m.vm.program.define(HANDLER, function* isr(g: X86Guest, vector: number): Routine {
      got = vector;
      yield g.iret();
    });
    m.setGate(0x50, HANDLER);
    const run = m.vcpu.kvmRun;
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(run.ready_for_interrupt_injection).toBe(0);
    expect(run.if_flag).toBe(0);
    run.request_interrupt_window = 1;
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IRQ_WINDOW_OPEN);
    expect(run.ready_for_interrupt_injection).toBe(1);
    expect(run.if_flag).toBe(1);
    expect(m.vcpu.stats.count('INTERRUPT_WINDOW')).toBe(1);
    run.request_interrupt_window = 0;
    m.vcpu.interrupt(0x50);
    expectErrno(() => m.vcpu.interrupt(0x51), 'EEXIST');
    expectErrno(() => m.vcpu.interrupt(256), 'EINVAL');
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.HLT);
    expect(got).toBe(0x50);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(run.io.port).toBe(GUEST.POWER);
  });

  it('KVM_EXIT_MMIO for a load or store to no memslot, completed with the data userspace leaves; a read-only slot write exits too (api.rst 4.35)', () => {
    const values: number[] = [];
    function* code(g: X86Guest): Routine {
      values.push(yield g.ld32(GUEST.HOLE + 0x10));
      yield g.st32(GUEST.HOLE + 0x20, 0xcafe_f00d);
      values.push(yield g.ld32(GUEST.HOLE + 0x20_0000));
      yield g.st32(GUEST.HOLE + 0x20_0004, 7);
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code });
    const rom = m.kvm.mmap(0x1000);
    m.kvm.memory.write32(rom, 0x1234);
    m.vm.setUserMemoryRegion({ slot: 1, flags: KVM_MEM.READONLY, guestPhysAddr: GUEST.HOLE + 0x20_0000, memorySize: 0x1000, userspaceAddr: rom });
    const run = m.vcpu.run();
    expect(run.exit_reason).toBe(KVM_EXIT.MMIO);
    expect(run.mmio).toMatchObject({ phys_addr: GUEST.HOLE + 0x10, len: 4, is_write: 0 });
    run.mmio.data.set([0x78, 0x56, 0x34, 0x12]);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.MMIO);
    expect(run.mmio).toMatchObject({ phys_addr: GUEST.HOLE + 0x20, len: 4, is_write: 1 });
    expect([...run.mmio.data.subarray(0, 4)]).toEqual([0x0d, 0xf0, 0xfe, 0xca]);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.MMIO); // the write to the ROM slot
    expect(run.mmio).toMatchObject({ phys_addr: GUEST.HOLE + 0x20_0004, is_write: 1 });
    expect(m.kvm.memory.read32(rom + 4)).toBe(0);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(values).toEqual([0x1234_5678, 0x1234]);
    expect(m.vcpu.stats.count('EPT_MISCONFIG')).toBe(1); // the second access to the cached MMIO page
  });

  it('KVM_EXIT_IO carries direction, size, port and the data in the PIO page; IN data comes back to the guest', () => {
    const got: number[] = [];
    function* code(g: X86Guest): Routine {
      yield g.out(0x3f8, 0x41);
      got.push(yield g.in(0x3fd));
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code });
    const run = m.vcpu.run();
    expect(run.io).toMatchObject({ direction: KVM_EXIT_IO_OUT, size: 1, port: 0x3f8, count: 1, data_offset: 4096 });
    expect(run.mmap[4096]).toBe(0x41);
    expect(m.vcpu.run().io.direction).toBe(0);
    run.ioData[0] = 0x60;
    m.vcpu.run();
    expect(got).toEqual([0x60]);
  });

  it('KVM_RUN with immediate_exit returns EINTR (KVM_CAP_IMMEDIATE_EXIT); a guest with nothing to wake it returns KVM_EXIT_INTR', () => {
    function* code(g: X86Guest): Routine {
      yield g.hlt();
    }
    const m = tinyVmm({ code });
    m.vcpu.kvmRun.immediate_exit = 1;
    expectErrno(() => m.vcpu.run(), 'EINTR');
    expect(m.vcpu.kvmRun.exit_reason).toBe(KVM_EXIT.INTR);
    m.vcpu.kvmRun.immediate_exit = 0;
    expect(m.vcpu.run({ maxCycles: 5000 }).exit_reason).toBe(KVM_EXIT.INTR);
  });

  it('KVM_EXIT_SHUTDOWN on a triple fault, KVM_EXIT_FAIL_ENTRY when VM entry fails', () => {
    function* code(g: X86Guest): Routine {
      yield g.ud2(); // no IDT entries: #UD → #NP → #DF → triple fault
    }
    const m = tinyVmm({ code });
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.SHUTDOWN);
    const n = tinyVmm({ code });
    n.vcpu.vmx.vmwrite(VMCS_FIELD.GUEST_RFLAGS, 0); // RFLAGS bit 1 must be 1 (SDM 3C 27.3.1.4)
    const run = n.vcpu.run();
    expect(run.exit_reason).toBe(KVM_EXIT.FAIL_ENTRY);
    expect(run.fail_entry.hardware_entry_failure_reason).toBe((0x8000_0000 | 33) >>> 0);
  });

  it('KVM_RUN fails with EFAULT when a memslot names userspace memory that is not backed', () => {
    function* code(g: X86Guest): Routine {
      yield g.ld32(GUEST.HOLE);
    }
    const m = tinyVmm({ code });
    m.vm.setUserMemoryRegion({ slot: 2, flags: 0, guestPhysAddr: GUEST.HOLE, memorySize: 0x1000, userspaceAddr: 0x50_0000_0000 });
    expectErrno(() => m.vcpu.run(), 'EFAULT', /not backed/);
  });
});

describe('x86 vCPU: exits handled in the kernel', () => {
  it('CPUID answers from KVM_SET_CPUID2 (all four registers; api.rst 4.73); E2BIG above 256 entries', () => {
    const got: number[] = [];
    function* code(g: X86Guest): Routine {
      got.push(yield g.cpuid(0x4000_0000));
      got.push(g.ebx, g.ecx, g.edx);
      got.push(yield g.cpuid(7, 1));
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code });
    m.vcpu.setCpuid2([
      { function: 0x4000_0000, eax: 0x4000_0001, ebx: 0x4b4d564b, ecx: 0x564b4d56, edx: 0x4d },
      { function: 7, index: 1, flags: 1, eax: 0x17, ebx: 0, ecx: 0, edx: 0 },
    ]);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(got).toEqual([0x4000_0001, 0x4b4d564b, 0x564b4d56, 0x4d, 0x17]);
    expect(m.vcpu.stats.count('CPUID')).toBe(2);
    expectErrno(() => m.vcpu.setCpuid2(Array.from({ length: 257 }, () => ({ function: 0, eax: 0, ebx: 0, ecx: 0, edx: 0 }))), 'E2BIG');
  });

  it('x2APIC: MSR exits reach the in-kernel LAPIC; a self-IPI is injected at the next entry and its EOI is one WRMSR exit', () => {
    let got = 0;
    function* code(g: X86Guest): Routine {
      yield g.wrmsr(0x1b, 0xfee0_0000 | (1 << 11) | (1 << 10) | (1 << 8)); // IA32_APIC_BASE: EN | EXTD (BSP)
      yield g.wrmsr(0x80f, 0x1ff); // SVR
      yield g.sti();
      yield g.wrmsr(0x83f, 0x44); // SELF IPI
      while (got === 0) yield g.compute(10);
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code });
    m.vm.program.define(HANDLER, function* isr(g: X86Guest): Routine {
      got++;
      yield g.wrmsr(0x80b, 0); // x2APIC EOI
      yield g.iret();
    });
    m.setGate(0x44, HANDLER);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(got).toBe(1);
    expect(m.vcpu.stats.count('MSR_WRITE')).toBe(4);
    // The self-IPI arrives while the vCPU is outside guest mode (handling the WRMSR exit): no kick IPI, no exit to deliver.
    expect(m.vcpu.stats.count('EXTERNAL_INTERRUPT')).toBe(0);
    expect(m.vcpu.apic!.isX2apic).toBe(true);
    expect(m.vcpu.kvmRun.apic_base).toBe(0xfee0_0d00);
  });

  it('an MSR KVM does not emulate raises #GP(0) in the guest', () => {
    let vector = -1;
    function* code(g: X86Guest): Routine {
      yield g.wrmsr(0x1234_5678, 1);
    }
    const m = tinyVmm({ code });
    m.vm.program.define(HANDLER, function* gp(g: X86Guest, v: number): Routine {
      vector = v;
      yield g.out(GUEST.POWER, 0);
    });
    m.setGate(13, HANDLER);
    expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(vector).toBe(13);
  });

  it('dirty logging sees the guest stores that go through EPT (api.rst 4.8)', () => {
    function* code(g: X86Guest): Routine {
      yield g.st32(0x40_0010, 1);
      yield g.st32(0x40_3000, 1);
      yield g.out(GUEST.POWER, 0);
    }
    const m = tinyVmm({ code });
    m.vm.setUserMemoryRegion({ slot: 0, flags: KVM_MEM.LOG_DIRTY_PAGES, guestPhysAddr: 0, memorySize: GUEST.RAM, userspaceAddr: m.ram });
    m.vcpu.run();
    const log = m.vm.getDirtyLog(0);
    const pages: number[] = [];
    log.forEach((w, i) => {
      for (let b = 0; b < 32; b++) if ((w >>> b) & 1) pages.push(i * 32 + b);
    });
    expect(pages).toContain(0x400);
    expect(pages).toContain(0x403);
  });

  it('an access with nothing behind it that is not a load or store is an internal error (emulation failure)', () => {
    function* code(g: X86Guest): Routine {
      yield g.sti();
      yield g.compute(1);
    }
    const m = tinyVmm({ code });
    m.vcpu.setSregs({ idt: { base: GUEST.HOLE, limit: 0xfff } }); // the IDT in no memslot
    const img = m.vcpu.getLapic();
    new DataView(img.buffer).setUint32(0xf0, 0x1ff, true);
    m.vcpu.setLapic(img);
    m.vm.signalMsi({ addressLo: 0xfee0_0000, data: 0x30 });
    const run = m.vcpu.run();
    expect(run.exit_reason).toBe(KVM_EXIT.INTERNAL_ERROR);
    expect(run.internal.suberror).toBe(KVM_INTERNAL_ERROR.EMULATION);
  });
});

describe('x86 vCPU: register and LAPIC ioctls', () => {
  it('KVM_GET/SET_REGS and SREGS round-trip and refuse bad values with EINVAL, changing nothing', () => {
    function* code(g: X86Guest): Routine {
      yield g.hlt();
    }
    const m = tinyVmm({ code });
    expect(m.vcpu.getRegs()).toEqual({ rip: GUEST.ENTRY, rsp: GUEST.STACK_TOP, rflags: 2 });
    const s = m.vcpu.getSregs();
    expect(s.cr4 & (1 << 13)).toBe(0); // CR4.VMXE is hidden from the guest's view
    expect(s.efer).toBe(0xd00);
    const before = JSON.stringify(m.vcpu.getSregs());
    expectErrno(() => m.vcpu.setSregs({ cr8: 16 }), 'EINVAL', /cr8 16/);
    expectErrno(() => m.vcpu.setSregs({ cr4: 0x20 | (1 << 11), cr3: 0x5000 }), 'EINVAL', /CR4/);
    expectErrno(() => m.vcpu.setSregs({ apic_base: 0xfee0_0000 | (1 << 10) }), 'EINVAL', /apic_base/);
    expectErrno(() => m.vcpu.setRegs({ rip: 0x12_3456 }), 'EINVAL', /no guest code/);
    expect(JSON.stringify(m.vcpu.getSregs())).toBe(before);
    m.vcpu.setSregs({ cr8: 5 });
    expect(m.vcpu.getSregs().cr8).toBe(5);
  });

  it('KVM_GET/SET_LAPIC move the 1 KiB register image; EINVAL without the in-kernel LAPIC or for a wrong size', () => {
    function* code(g: X86Guest): Routine {
      yield g.hlt();
    }
    const m = tinyVmm({ code });
    const img = m.vcpu.getLapic();
    expect(img.length).toBe(1024);
    new DataView(img.buffer).setUint32(0x80, 0x30, true); // TPR
    m.vcpu.setLapic(img);
    expect(m.vcpu.getSregs().cr8).toBe(3);
    expectErrno(() => m.vcpu.setLapic(new Uint8Array(10)), 'EINVAL', /1024/);
    const n = tinyVmm({ irqchip: false, code });
    expectErrno(() => n.vcpu.getLapic(), 'EINVAL');
    expectErrno(() => m.vcpu.interrupt(0x40), 'ENXIO');
    expect(new KvmError('ENXIO', '').errno).toBe(6);
  });
});
