import { beforeEach, describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC, POSTED_INTR_VECTOR, POSTED_INTR_WAKEUP_VECTOR } from '@hvsim/lapic';
import { KVM_EXIT, KVM_MP_STATE } from '../generic/constants.js';
import { GUEST, tinyVmm as makeVmm, type TinyVmm, type TinyVmmOptions } from '../test-support/tiny-vmm.js';
import type { MmuMode } from './shadow-state.js';

type Routine = Generator<Op, void, number>;
const HANDLER = 0x20_0000;
const VECTOR = 0x30;
const MARK = 0x80;

/** The MMU the tests of the current `describe.each` run on (every test runs on EPT and on shadow paging). */
let mmu: MmuMode = 'ept';
const tinyVmm = (options: TinyVmmOptions): TinyVmm => makeVmm({ mmu, ...options });

/** MMIO exits: EPT misconfigurations (cached MMIO SPTEs) with EPT, #PF exits the shadow MMU answers as MMIO under shadow paging. */
function mmioExits(m: TinyVmm): number {
  return m.vcpu.shadow ? m.vcpu.shadow.faults.mmio : m.vcpu.stats.count('EPT_MISCONFIG');
}

/**
 * Exits by reason since `before` (a snapshot of the same vCPU's counts), MMIO exits as MMIO. EPT violations
 * and fixed shadow #PFs are left out: the first touches of guest RAM pages (stack, IDT, handler) are memslot
 * faults, not the cost of an interrupt.
 */
function exitsSince(m: TinyVmm, before: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const name of ['EXTERNAL_INTERRUPT', 'MMIO', 'APIC_WRITE', 'APIC_ACCESS', 'EOI_INDUCED', 'INTERRUPT_WINDOW', 'HLT', 'MSR_WRITE', 'IO_INSTRUCTION']) {
    const n = (name === 'MMIO' ? mmioExits(m) : m.vcpu.stats.count(name)) - (before.get(name) ?? 0);
    if (n !== 0) out[name] = n;
  }
  return out;
}

function snapshot(m: TinyVmm): Map<string, number> {
  const names = ['EXTERNAL_INTERRUPT', 'EPT_VIOLATION', 'APIC_WRITE', 'APIC_ACCESS', 'EOI_INDUCED', 'INTERRUPT_WINDOW', 'HLT', 'MSR_WRITE', 'IO_INSTRUCTION'];
  const counts = new Map(names.map((n) => [n, m.vcpu.stats.count(n)]));
  counts.set('MMIO', mmioExits(m));
  return counts;
}

/** A guest that enables its APIC, reports at port MARK, then waits (computing or halted) for `want` interrupts of VECTOR. */
function timerGuest(mode: 'emulated' | 'apicv', options: { timer: boolean; halt?: boolean; want?: number }) {
  const state = { got: 0, order: [] as string[] };
  const want = options.want ?? 1;
  const m = tinyVmm({
    interruptMode: mode,
    *code(g: X86Guest): Routine {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      if (options.timer) {
        yield g.st32(GUEST.APIC + APIC.TIMER_DIVIDE_CONFIG, 0xb);
        yield g.st32(GUEST.APIC + APIC.LVT_TIMER, VECTOR);
      }
      yield g.sti();
      yield g.out(MARK, 1);
      if (options.timer) yield g.st32(GUEST.APIC + APIC.TIMER_INITIAL_COUNT, 500);
      while (state.got < want) {
        if (options.halt === true) yield g.hlt();
        else yield g.compute(100);
        state.order.push('guest');
      }
      yield g.out(GUEST.POWER, 0);
    },
  });
  m.vm.program.define(HANDLER, function* isr(g: X86Guest): Routine {
    state.got++;
    state.order.push('handler');
    yield g.st32(GUEST.APIC + APIC.EOI, 0);
    yield g.iret();
  });
  m.setGate(VECTOR, HANDLER);
  return { m, state };
}

/** Runs to the MARK exit and returns the exit counts there. */
function toMark(m: TinyVmm): Map<string, number> {
  const run = m.vcpu.run();
  expect(run.exit_reason).toBe(KVM_EXIT.IO);
  expect(run.io.port).toBe(MARK);
  return snapshot(m);
}

// Every test runs on EPT and on shadow paging: under shadow paging the APIC-access page is reached through the
// shadow sptes (kvm_vcpu_reload_apic_access_page), so APICv and posting behave, and cost, the same.
describe.each<MmuMode>(['ept', 'shadow'])('%s', (mmuMode) => {
  beforeEach(() => {
    mmu = mmuMode;
  });

  describe('exits per interrupt in each interrupt-delivery mode', () => {
    it('emulated: a LAPIC timer interrupt costs one exit to deliver (the kick) and one for the EOI (SDM 3C 25.2, 26.6.1)', () => {
      const { m, state } = timerGuest('emulated', { timer: true });
      const before = toMark(m);
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(state.got).toBe(1);
      // The initial-count write and the EOI are MMIO (EPT misconfiguration once the page is cached), plus the kick.
      expect(exitsSince(m, before)).toEqual({ EXTERNAL_INTERRUPT: 1, MMIO: 2, IO_INSTRUCTION: 1 });
    });

    it('emulated: an EOI exit after the first re-reads only the MMIO SPTE (the guest translation of the APIC page stays cached), and a periodic timer still costs two exits per interrupt', () => {
      let ticks = 0;
      const m = tinyVmm({
        *code(g: X86Guest): Routine {
          yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
          yield g.st32(GUEST.APIC + APIC.TIMER_DIVIDE_CONFIG, 0xb);
          yield g.st32(GUEST.APIC + APIC.LVT_TIMER, (1 << 17) | VECTOR); // periodic
          yield g.st32(GUEST.APIC + APIC.TIMER_INITIAL_COUNT, 500);
          yield g.sti();
          while (ticks < 6) yield g.compute(100);
          yield g.out(GUEST.POWER, 0);
        },
      });
      m.eoiHandler(VECTOR, HANDLER, () => {
        ticks++;
      });
      const nested = m.vcpu.mmu.nested;
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(ticks).toBe(6);
      // Run the same code again, every page now faulted in (an EPT violation's INVEPT drops the CPU-side cache).
      const walks = nested?.stats().eptMisconfigs ?? 0;
      const spteReads = nested?.ept.misconfigs ?? 0;
      const exits = snapshot(m);
      ticks = 0;
      m.vcpu.setRegs({ rip: GUEST.ENTRY });
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(ticks).toBe(6);
      // 4 set-up stores and 6 EOIs: each an EPT-misconfiguration exit that re-read only the MMIO SPTE, with no two-dimensional
      // walk (under shadow paging: a #PF with PFEC.RSVD on the cached MMIO spte, handle_mmio_page_fault).
      if (nested) {
        expect(nested.stats().eptMisconfigs - walks).toBe(0);
        expect(nested.ept.misconfigs - spteReads).toBe(10);
      }
      const since = exitsSince(m, exits);
      expect(since.MMIO).toBe(10);
      expect(since.EXTERNAL_INTERRUPT).toBeGreaterThanOrEqual(5); // each tick but perhaps the first (set-up exits) is a kick
      expect(m.vcpu.stats.count('EPT_VIOLATION')).toBe(exits.get('EPT_VIOLATION'));
    });

    it('APICv: the same interrupt is posted to the running vCPU and delivered and EOIed with no exit (SDM 3C 30.1.4, 30.6)', () => {
      const { m, state } = timerGuest('apicv', { timer: true });
      const before = toMark(m);
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(state.got).toBe(1);
      // Only the trap-like APIC write of the initial count (the LAPIC starts its timer) and the final OUT.
      expect(exitsSince(m, before)).toEqual({ APIC_WRITE: 1, IO_INSTRUCTION: 1 });
      // Under shadow paging the guest's APIC mapping reaches the APIC-access page through the shadow sptes.
      expect(m.vcpu.shadow === undefined).toBe(mmu === 'ept');
      const posted = m.vcpu.posted!;
      expect(posted.posted).toBe(1);
      expect(posted.notifications).toBe(1); // 0xF2 to the CPU running the guest
      expect(m.vcpu.apicv!.eoiExits).toBe(0);
    });

    it('APICv: a device MSI (KVM_SIGNAL_MSI) posted while the vCPU runs costs no exit (api.rst 4.71)', () => {
      const { m, state } = timerGuest('apicv', { timer: false });
      const before = toMark(m);
      m.kvm.clock.schedule(m.vcpu.cpu.localTime + 1000, () => {
        expect(m.vcpu.mode).toBe('in-guest');
        expect(m.vm.signalMsi({ addressLo: 0xfee0_0000, data: VECTOR })).toBeGreaterThan(0);
      });
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(state.got).toBe(1);
      expect(exitsSince(m, before)).toEqual({ IO_INSTRUCTION: 1 });
      expect(m.vcpu.posted!.notifications).toBe(1);
    });

    it('APICv: a level-triggered IOAPIC interrupt exits once, at its EOI (EOI-exit bitmap, SDM 3C 30.1.4); Remote IRR is 1 before and 0 after', () => {
      const PIN = 16; // GSI 16-23 route to the IOAPIC only (GSI 0-15 also reach the uninitialized PIC)
      const state = { got: 0 };
      const m = tinyVmm({
        interruptMode: 'apicv',
        *code(g: X86Guest): Routine {
          yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
          // IOAPIC redirection entry PIN: vector VECTOR, level-triggered, physical destination APIC 0.
          yield g.st32(GUEST.IOAPIC, 0x10 + 2 * PIN);
          yield g.st32(GUEST.IOAPIC + 0x10, VECTOR | (1 << 15));
          yield g.st32(GUEST.IOAPIC, 0x11 + 2 * PIN);
          yield g.st32(GUEST.IOAPIC + 0x10, 0);
          yield g.sti();
          yield g.out(MARK, 1);
          while (state.got < 1) yield g.compute(100);
          yield g.out(GUEST.POWER, 0);
        },
      });
      m.vm.program.define(HANDLER, function* isr(g: X86Guest): Routine {
        state.got++;
        remoteIrrInHandler = ioapic.remoteIrr(PIN);
        m.vm.irqLine(PIN, 0); // the device drops its line once serviced
        yield g.st32(GUEST.APIC + APIC.EOI, 0);
        yield g.iret();
      });
      m.setGate(VECTOR, HANDLER);
      const ioapic = m.vm.irqchip!.ioapic!;
      let remoteIrrInHandler = false;
      const before = toMark(m);
      m.vm.irqLine(PIN, 1);
      expect(ioapic.remoteIrr(PIN)).toBe(true);
      expect(m.vcpu.posted!.pid.testPir(VECTOR)).toBe(true); // posted to the vCPU outside guest mode: synced at entry
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(state.got).toBe(1);
      expect(remoteIrrInHandler).toBe(true);
      expect(ioapic.remoteIrr(PIN)).toBe(false);
      expect(exitsSince(m, before)).toEqual({ EOI_INDUCED: 1, IO_INSTRUCTION: 1 });
      m.vm.irqLine(PIN, 0);
    });

    it('APICv: an interrupt from another vCPU (x2APIC ICR write) is posted; the receiver takes it with no exit', () => {
      const seen: number[] = [];
      const m = tinyVmm({
        interruptMode: 'apicv',
        *code(g: X86Guest): Routine {
          yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
          // vCPU 0 sends fixed vector 0x50 to APIC 1 (xAPIC ICR: high then low).
          yield g.st32(GUEST.APIC + APIC.ICR_HIGH, 1 << 24);
          yield g.st32(GUEST.APIC + APIC.ICR_LOW, 0x50);
          yield g.out(GUEST.POWER, 0);
        },
      });
      m.vm.program.define(0x30_0000, function* ap(g: X86Guest): Routine {
        yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
        yield g.sti();
        yield g.out(MARK, 1);
        while (seen.length === 0) yield g.compute(50);
        yield g.out(GUEST.POWER, 1);
      });
      m.vm.program.define(HANDLER, function* isr(g: X86Guest, vector: number): Routine {
        seen.push(vector);
        yield g.st32(GUEST.APIC + APIC.EOI, 0);
        yield g.iret();
      });
      m.setGate(0x50, HANDLER);
      const ap = m.vm.createVcpu(1);
      ap.setMpState(KVM_MP_STATE.RUNNABLE); // an AP starts UNINITIALIZED
      ap.setSregs(m.vcpu.getSregs());
      ap.setRegs({ rip: 0x30_0000, rsp: GUEST.STACK_TOP - 0x1000, rflags: 2 });
      expect(ap.run().io.port).toBe(MARK);
      const apBefore = new Map(['EXTERNAL_INTERRUPT', 'INTERRUPT_WINDOW', 'EOI_INDUCED'].map((n) => [n, ap.stats.count(n)]));
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(m.vcpu.stats.count('APIC_WRITE')).toBe(2); // SVR, ICR low (ICR high is virtualized)
      expect(ap.posted!.pid.testPir(0x50)).toBe(true);
      expect(ap.run().io.port).toBe(GUEST.POWER);
      expect(seen).toEqual([0x50]);
      for (const [name, n] of apBefore) expect(ap.stats.count(name)).toBe(n);
    });
  });

  describe('posted interrupts to a halted vCPU (vmx/posted_intr.c)', () => {
    it('a vCPU that blocks gets the wake-up vector 0xF1 and its CPU’s blocked list; a post by the IOMMU wakes it through 0xF1 and the vector is delivered at entry with no injection', () => {
      const { m, state } = timerGuest('apicv', { timer: false, halt: true });
      const before = toMark(m);
      const posted = m.vcpu.posted!;
      const pcpu = m.vcpu.pcpu;
      m.kvm.clock.schedule(m.vcpu.cpu.localTime + 5000, () => {
        // Installed whenever the vCPU blocks with posting active.
        expect(m.vcpu.blocking).toBe(true);
        expect(posted.pid.nv).toBe(POSTED_INTR_WAKEUP_VECTOR);
        expect(pcpu.blocked.has(m.vcpu)).toBe(true);
        // VT-d 5.2.3 as the IOMMU posts: PIR, then ON and a notification with the descriptor's NV to NDST.
        if (posted.pid.post(VECTOR)) m.vm.interrupts.physicalCpus!.byApicId(posted.pid.ndst >>> 8)!.sendIpi(posted.pid.nv);
      });
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(state.got).toBe(1);
      expect(pcpu.interrupts[POSTED_INTR_WAKEUP_VECTOR]).toBe(1);
      expect(posted.pid.nv).toBe(POSTED_INTR_VECTOR); // vcpu_load restored it
      expect(pcpu.blocked.size).toBe(0);
      expect(exitsSince(m, before)).toEqual({ HLT: 1, IO_INSTRUCTION: 1 });
    });

    it('a software post to a blocked vCPU wakes it directly (kvm_vcpu_wake_up, no IPI) and no exit injects it', () => {
      const { m, state } = timerGuest('apicv', { timer: true, halt: true });
      const before = toMark(m);
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(state.got).toBe(1);
      expect(m.vcpu.posted!.notifications).toBe(0);
      expect(m.vcpu.pcpu.interrupts[POSTED_INTR_WAKEUP_VECTOR]).toBe(0);
      expect(exitsSince(m, before)).toEqual({ APIC_WRITE: 1, HLT: 1, IO_INSTRUCTION: 1 });
    });
  });

  describe("Linux's lost posted interrupts, as regressions", () => {
    it('ON is recomputed when SN is cleared: a post made while SN was set (PIR only) is delivered at the next entry', () => {
      const { m, state } = timerGuest('apicv', { timer: false });
      toMark(m);
      const pid = m.vcpu.posted!.pid;
      expect(pid.sn).toBe(true); // vcpu_put of a vCPU that did not block
      expect(pid.post(VECTOR)).toBe(false); // VT-d: SN suppresses ON and the notification
      expect(pid.on).toBe(false);
      let onAtEntry = false;
      m.vcpu.entryRace = (point) => {
        if (point === 'before-guest-mode') onAtEntry ||= pid.on;
      };
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(onAtEntry).toBe(true);
      expect(state.got).toBe(1);
      expect(state.order[0]).toBe('handler');
    });

    it('the PIR is synced after the vCPU enters guest mode: a post just before sees it outside and only wakes it, yet it is delivered at this entry', () => {
      const { m, state } = timerGuest('apicv', { timer: false });
      const before = toMark(m);
      let fired = false;
      m.vcpu.entryRace = (point) => {
        if (point !== 'before-guest-mode' || fired) return;
        fired = true;
        m.vm.signalMsi({ addressLo: 0xfee0_0000, data: VECTOR });
      };
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(state.order[0]).toBe('handler'); // before any guest work after the entry
      expect(m.vcpu.posted!.notifications).toBe(0);
      expect(exitsSince(m, before)).toEqual({ IO_INSTRUCTION: 1 });
    });

    it('an interrupt arriving between event injection and VM entry (emulated mode) cancels the entry and is injected at once', () => {
      const { m, state } = timerGuest('emulated', { timer: false });
      toMark(m);
      let fired = false;
      m.vcpu.entryRace = (point) => {
        if (point !== 'before-guest-mode' || fired) return;
        fired = true;
        m.vcpu.apic!.acceptInterrupt({ vector: VECTOR, trigger: 'edge' });
      };
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(state.order[0]).toBe('handler');
      expect(state.got).toBe(1);
    });

    it('KVM_GET_LAPIC under APICv syncs the PIR first and reports IRR, ISR and TPR from the virtual-APIC page (api.rst 4.57)', () => {
      const { m } = timerGuest('apicv', { timer: false });
      toMark(m);
      m.vm.signalMsi({ addressLo: 0xfee0_0000, data: 0x61 });
      const image = new DataView(m.vcpu.getLapic().buffer);
      expect(image.getUint32(0x200 + 3 * 0x10, true)).toBe(1 << 1); // IRR bit 0x61
      expect(m.vcpu.posted!.pid.on).toBe(false);
      expect(m.vcpu.apic!.highestRequestedVector()).toBe(-1); // the LocalApic's own IRR stays unused
    });

    it('x2APIC guest: virtualize-x2APIC mode with the MSR bitmap of vmx_update_msr_bitmap_x2apic — self-IPI and EOI virtualized, TPR read passed through, the current count and SVR writes exit (SDM 3C 30.5)', () => {
      const seen: number[] = [];
      const reads: number[] = [];
      const m = tinyVmm({
        interruptMode: 'apicv',
        *code(g: X86Guest): Routine {
          yield g.wrmsr(0x1b, 0xfee0_0000 | (1 << 11) | (1 << 10) | (1 << 8)); // IA32_APIC_BASE: EN | EXTD (BSP)
          yield g.wrmsr(0x80f, 0x1ff); // SVR: intercepted
          yield g.sti();
          yield g.out(MARK, 0);
          yield g.wrmsr(0x83f, VECTOR); // SELF IPI: virtualized (virtual-interrupt delivery)
          for (let i = 0; i < 3 && seen.length === 0; i++) yield g.compute(10);
          reads.push(yield g.rdmsr(0x808)); // TPR: read passed through (VTPR)
          reads.push(yield g.rdmsr(0x839)); // current count: intercepted
          yield g.out(GUEST.POWER, 0);
        },
      });
      m.vm.program.define(HANDLER, function* isr(g: X86Guest, vector: number): Routine {
        seen.push(vector);
        yield g.wrmsr(0x80b, 0); // EOI: virtualized
        yield g.iret();
      });
      m.setGate(VECTOR, HANDLER);
      const before = toMark(m);
      expect(m.vcpu.apic!.isX2apic).toBe(true);
      expect(m.vcpu.apicv!.x2apic).toBe(true);
      expect(m.vcpu.stats.count('MSR_WRITE')).toBe(2); // IA32_APIC_BASE, SVR
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(seen).toEqual([VECTOR]); // delivered exactly once (kvm-unit-tests test_self_ipi_x2apic)
      expect(reads).toEqual([0, 0]);
      expect({ ...exitsSince(m, before), MSR_READ: m.vcpu.stats.count('MSR_READ') }).toEqual({ IO_INSTRUCTION: 1, MSR_READ: 1 });
    });

    it('an IOAPIC rescan while a level vector is in service keeps its EOI exit (kvm_apic_pending_eoi), so Remote IRR still clears (kvm-unit-tests vmx_eoi_bitmap_ioapic_scan_test)', () => {
      const PIN = 17;
      const state = { got: 0 };
      const m = tinyVmm({
        interruptMode: 'apicv',
        *code(g: X86Guest): Routine {
          yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
          yield g.st32(GUEST.IOAPIC, 0x10 + 2 * PIN);
          yield g.st32(GUEST.IOAPIC + 0x10, VECTOR | (1 << 15)); // level, vector VECTOR, APIC 0
          yield g.sti();
          yield g.out(MARK, 1);
          while (state.got < 1) yield g.compute(100);
          yield g.out(GUEST.POWER, 0);
        },
      });
      const ioapic = m.vm.irqchip!.ioapic!;
      m.vm.program.define(HANDLER, function* isr(g: X86Guest): Routine {
        state.got++;
        m.vm.irqLine(PIN, 0);
        // Re-target the pin to another APIC while its vector is in service here: the rescan no longer
        // matches this vCPU, but the in-service vector keeps its bit (kvm_scan_ioapic_entry).
        yield g.st32(GUEST.IOAPIC, 0x11 + 2 * PIN);
        yield g.st32(GUEST.IOAPIC + 0x10, 5 << 24);
        yield g.st32(GUEST.APIC + APIC.EOI, 0);
        yield g.iret();
      });
      m.setGate(VECTOR, HANDLER);
      const before = toMark(m);
      m.vm.irqLine(PIN, 1);
      expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
      expect(state.got).toBe(1);
      expect(exitsSince(m, before).EOI_INDUCED).toBe(1);
      expect(ioapic.remoteIrr(PIN)).toBe(false);
    });
  });
});
