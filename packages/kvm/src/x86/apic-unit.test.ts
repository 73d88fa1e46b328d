// kvm-unit-tests x86/apic.c behaviours that need a hypervisor (../shared/specs/kvm.md 7a), run as small
// guests through this KVM: each test names the kvm-unit-tests function it follows.
import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { KVM_EXIT, KVM_MP_STATE } from '../generic/constants.js';
import { GUEST, tinyVmm as makeVmm, type TinyVmmOptions } from '../test-support/tiny-vmm.js';
import type { MmuMode } from './shadow-state.js';

type Routine = Generator<Op, void, number>;
const HANDLER = 0x20_0000;
const NMI_HANDLER = 0x21_0000;
const PAGE = GUEST.APIC;

function* enableApic(g: X86Guest): Routine {
  yield g.st32(PAGE + APIC.SVR, 0x1ff);
}

// Each test runs on EPT and on shadow paging (vm.setMmu('shadow') before the first KVM_RUN).
describe.each<MmuMode>(['ept', 'shadow'])('kvm-unit-tests x86/apic.c through KVM (emulated mode, %s)', (mmu) => {
  const tinyVmm = (options: TinyVmmOptions): ReturnType<typeof makeVmm> => {
    const m = makeVmm({ ...options, mmu });
    expect(m.vcpu.shadow === undefined).toBe(mmu === 'ept');
    return m;
  };

  it('test_lapic_existence: the version register reads 0x10-0x15; test_apic_id: the xAPIC ID is the vCPU id and writable without #GP (KVM)', () => {
    const seen: number[] = [];
    const m = tinyVmm({
      *code(g) {
        seen.push(yield g.ld32(PAGE + APIC.VERSION));
        seen.push(yield g.ld32(PAGE + APIC.ID));
        yield g.st32(PAGE + APIC.ID, 5 << 24);
        seen.push(yield g.ld32(PAGE + APIC.ID));
        yield g.out(GUEST.POWER, 0);
      },
    });
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(seen[0]! & 0xff).toBeGreaterThanOrEqual(0x10);
    expect(seen[0]! & 0xff).toBeLessThanOrEqual(0x15);
    expect(seen.slice(1)).toEqual([0, 5 << 24]);
  });

  it('test_self_ipi_xapic: an ICR self-shorthand fixed IPI (vector 0xF1) is delivered exactly once', () => {
    let count = 0;
    const m = tinyVmm({
      *code(g) {
        yield* enableApic(g);
        yield g.sti();
        yield g.st32(PAGE + APIC.ICR_LOW, (1 << 18) | 0xf1); // shorthand self, fixed, edge
        for (let i = 0; i < 5; i++) yield g.compute(100);
        yield g.out(GUEST.POWER, 0);
      },
    });
    m.vm.program.define(HANDLER, function* isr(g: X86Guest): Routine {
      count++;
      yield g.st32(PAGE + APIC.EOI, 0);
      yield g.iret();
    });
    m.setGate(0xf1, HANDLER);
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(count).toBe(1);
  });

  it('test_physical_broadcast: physical destination 0xFF reaches every vCPU exactly once', () => {
    const counts = [0, 0];
    const m = tinyVmm({
      *code(g) {
        yield* enableApic(g);
        yield g.sti();
        yield g.st32(PAGE + APIC.ICR_HIGH, 0xff << 24);
        yield g.st32(PAGE + APIC.ICR_LOW, 0x52);
        yield g.compute(100);
        yield g.out(GUEST.POWER, 0);
      },
    });
    m.vm.program.define(0x18_0000, function* ap(g: X86Guest): Routine {
      yield* enableApic(g);
      yield g.sti();
      yield g.hlt();
      yield g.out(GUEST.POWER, 1);
    });
    m.vm.program.define(HANDLER, function* isr(g: X86Guest): Routine {
      const id = (yield g.ld32(PAGE + APIC.ID)) >>> 24;
      counts[id]!++;
      yield g.st32(PAGE + APIC.EOI, 0);
      yield g.iret();
    });
    m.setGate(0x52, HANDLER);
    const ap = m.vm.createVcpu(1);
    ap.setMpState(KVM_MP_STATE.RUNNABLE); // started by the VMM instead of INIT-SIPI-SIPI
    ap.setSregs(m.vcpu.getSregs());
    ap.setRegs({ rip: 0x18_0000, rsp: 0x7_0000, rflags: 2 });
    expect(ap.run({ maxCycles: 10_000 }).exit_reason).toBe(KVM_EXIT.INTR);
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(ap.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(counts).toEqual([1, 1]);
  });

  it('test_multiple_nmi: an NMI to itself and one from another vCPU, sent back to back, are both received (KVM_NMI counts them)', () => {
    let nmis = 0;
    const m = tinyVmm({
      *code(g) {
        yield* enableApic(g);
        yield g.st32(PAGE + APIC.ICR_HIGH, 0);
        yield g.st32(PAGE + APIC.ICR_LOW, 0x4400); // NMI to APIC 0 (itself)
        yield g.compute(100);
        yield g.out(GUEST.POWER, 0);
      },
    });
    m.vm.program.define(NMI_HANDLER, function* nmi(g: X86Guest): Routine {
      nmis++;
      yield g.iret();
    });
    m.setGate(2, NMI_HANDLER);
    m.vcpu.nmi(); // the other CPU's NMI, already queued when the guest sends its own
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(nmis).toBe(2);
  });

  it('test_apic_timer_one_shot: a one-shot LVTT with divider 1 fires exactly once, no earlier than the initial count', () => {
    let fired = 0;
    let at = 0;
    const m = tinyVmm({
      *code(g) {
        yield* enableApic(g);
        yield g.st32(PAGE + APIC.TIMER_DIVIDE_CONFIG, 0xb);
        yield g.st32(PAGE + APIC.LVT_TIMER, 0xee);
        const start = yield g.rdtsc();
        yield g.st32(PAGE + APIC.TIMER_INITIAL_COUNT, 5_000);
        yield g.sti();
        yield g.hlt();
        for (let i = 0; i < 20; i++) yield g.compute(1_000);
        at -= start;
        yield g.out(GUEST.POWER, 0);
      },
    });
    m.vm.program.define(HANDLER, function* isr(g: X86Guest): Routine {
      fired++;
      at = yield g.rdtsc();
      yield g.st32(PAGE + APIC.EOI, 0);
      yield g.iret();
    });
    m.setGate(0xee, HANDLER);
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(fired).toBe(1);
    expect(at).toBeGreaterThanOrEqual(5_000);
  });

  it('test_tsc_deadline_timer: IA32_TSC_DEADLINE = now fires exactly once (vector 0xEF) and the MSR reads 0 afterwards', () => {
    let fired = 0;
    let after = -1;
    const m = tinyVmm({
      *code(g) {
        yield* enableApic(g);
        yield g.st32(PAGE + APIC.LVT_TIMER, (2 << 17) | 0xef); // TSC-deadline mode
        yield g.sti();
        const now = yield g.rdtsc();
        yield g.wrmsr(0x6e0, now);
        for (let i = 0; i < 5; i++) yield g.compute(200);
        after = yield g.rdmsr(0x6e0);
        yield g.out(GUEST.POWER, 0);
      },
    });
    m.vm.program.define(HANDLER, function* isr(g: X86Guest): Routine {
      fired++;
      yield g.st32(PAGE + APIC.EOI, 0);
      yield g.iret();
    });
    m.setGate(0xef, HANDLER);
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(fired).toBe(1);
    expect(after).toBe(0);
  });

  it('test_enable_x2apic: IA32_APIC_BASE transitions through KVM\'s MSR exit; the invalid ones are #GP(0) in the guest (SDM 3A 11.12.5)', () => {
    const BASE = 0xfee0_0000;
    const EN = 1 << 11;
    const EXTD = 1 << 10;
    const xapic = BASE | EN;
    const x2apic = BASE | EN | EXTD;
    /** Writes `steps` in order; the answer is the index of the write that took #GP, or -1. */
    const gpAt = (steps: number[]): number => {
      const m = tinyVmm({
        *code(g) {
          for (let i = 0; i < steps.length; i++) {
            yield g.out(0x80, i);
            yield g.wrmsr(0x1b, steps[i]! | (1 << 8)); // keep BSP
          }
          yield g.out(GUEST.POWER, 0);
        },
      });
      m.vm.program.define(HANDLER, function* gp(g: X86Guest): Routine {
        yield g.out(GUEST.POWER, 13);
      });
      m.setGate(13, HANDLER);
      let last = -1;
      for (;;) {
        const run = m.vcpu.run();
        if (run.io.port === GUEST.POWER) return run.ioData[0] === 13 ? last : -1;
        last = run.ioData[0]!;
      }
    };
    expect(gpAt([x2apic, BASE | EXTD])).toBe(1); // x2APIC → EXTD without EN
    expect(gpAt([x2apic, xapic])).toBe(1); // x2APIC → xAPIC
    expect(gpAt([x2apic, BASE])).toBe(-1); // x2APIC → disabled
    expect(gpAt([BASE, BASE | EXTD])).toBe(1); // disabled → EXTD only
    expect(gpAt([BASE, x2apic])).toBe(1); // disabled → x2APIC
    expect(gpAt([BASE, xapic])).toBe(-1); // disabled → xAPIC
    expect(gpAt([BASE | EXTD])).toBe(0); // xAPIC → EXTD only
  });

  it('test_apicbase: the APIC page moves with IA32_APIC_BASE (KVM decodes MMIO at the new base); a base bit at MAXPHYADDR or a reserved low bit is #GP(0)', () => {
    const MOVED = GUEST.HOLE; // mapped by the guest's page tables, no RAM behind it
    const results: number[] = [];
    const m = tinyVmm({
      *code(g) {
        yield g.wrmsr(0x1b, (MOVED | 0x900) >>> 0); // EN | BSP at the new base
        results.push(yield g.ld32(MOVED + APIC.VERSION));
        yield g.wrmsrHalves(0x1b, 0xfee0_0900, 1 << (46 - 32)); // bit 46: MAXPHYADDR is 46
        results.push(-1);
      },
    });
    m.vm.program.define(HANDLER, function* gp(g: X86Guest, v: number): Routine {
      results.push(v);
      yield g.out(GUEST.POWER, 0);
    });
    m.setGate(13, HANDLER);
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(results[0]! & 0xff).toBeGreaterThanOrEqual(0x10);
    expect(results.slice(1)).toEqual([13]);
    expect(m.vcpu.getSregs().apic_base).toBe((MOVED | 0x900) >>> 0);
    const low = tinyVmm({
      *code(g) {
        yield g.wrmsr(0x1b, 0xfee0_0900 | 1); // bit 0 is reserved
        yield g.out(GUEST.POWER, 1);
      },
    });
    low.vm.program.define(HANDLER, function* gp(g: X86Guest): Routine {
      yield g.out(GUEST.POWER, 13);
    });
    low.setGate(13, HANDLER);
    expect(low.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(low.vcpu.kvmRun.ioData[0]).toBe(13);
  });
});
