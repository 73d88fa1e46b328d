// KVM's own x86 work charged in cycles (new Kvm({ x86KvmCosts })): the in-kernel handling of every exit
// after its handler (x86.c vcpu_enter_guest), a KVM_RUN returning to userspace, an event injected at entry.
import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { APIC } from '@hvsim/lapic';
import { KVM_EXIT } from '../generic/constants.js';
import { KvmError } from '../generic/errors.js';
import { Kvm } from '../kvm.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';
import { X86_KVM_ZERO_COSTS, x86KvmCosts, type X86KvmCosts } from './kvm-costs.js';

type Routine = Generator<Op, void, number>;
const HANDLER = 0x20_0000;
// Distinct magnitudes, so a wrong count of any one charge shows in the total.
const COSTS: X86KvmCosts = { exitHandler: 1_000, userspaceExit: 100_000, injection: 10_000_000 };

/** CPUID (handled in the kernel), OUT to the serial port (userspace), OUT to the power port (userspace). */
function* plain(g: X86Guest): Routine {
  yield g.cpuid(0);
  yield g.out(GUEST.SERIAL, 0x41);
  yield g.out(GUEST.POWER, 0);
}

/**
 * Two self-IPIs through the ICR (SDM 3A 11.6.1), each handled with an EOI and followed by an OUT that
 * returns to userspace. The first one's delivery touches the IDT, stack and handler pages for the first
 * time: EPT violations interrupt it and KVM injects it again (IDT-vectoring information, SDM 3C 27.2.4).
 * The second, with those pages mapped, is injected once.
 */
function selfIpis(costs?: Partial<X86KvmCosts>): ReturnType<typeof tinyVmm> {
  let taken = 0;
  const m = tinyVmm({
    ...(costs ? { kvmCosts: costs } : {}),
    *code(g) {
      yield g.st32(GUEST.APIC + APIC.SVR, 0x1ff);
      yield g.sti();
      for (let round = 1; round <= 2; round++) {
        yield g.st32(GUEST.APIC + APIC.ICR_LOW, (1 << 18) | 0x40); // self, fixed, edge
        while (taken < round) yield g.compute(10);
        yield g.out(round === 1 ? GUEST.SERIAL : GUEST.POWER, 0x30 + round);
      }
    },
  });
  m.eoiHandler(0x40, HANDLER, () => {
    taken++;
  });
  return m;
}

describe('x86KvmCosts: KVM-side cycles', () => {
  it('charges the exit handler per exit and the userspace round trip per KVM_RUN return, exactly', () => {
    const base = tinyVmm({ code: plain });
    const costly = tinyVmm({ code: plain, kvmCosts: COSTS });
    // First KVM_RUN: the CPUID exit (in the kernel, api.rst 4.46 KVM_SET_CPUID2), then the serial OUT to userspace.
    expect(base.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(costly.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(costly.vcpu.stats.exits).toBe(2);
    expect(costly.vcpu.stats.userspaceExits).toBe(1);
    expect(costly.vcpu.cpu.localTime - base.vcpu.cpu.localTime).toBe(2 * COSTS.exitHandler + COSTS.userspaceExit);
    // Second KVM_RUN: the power-port OUT.
    expect(base.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(costly.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    const s = costly.vcpu.stats;
    expect([s.exits, s.userspaceExits]).toEqual([base.vcpu.stats.exits, base.vcpu.stats.userspaceExits]);
    expect(costly.vcpu.cpu.localTime - base.vcpu.cpu.localTime).toBe(s.exits * COSTS.exitHandler + s.userspaceExits * COSTS.userspaceExit);
  });

  it('charges an injection each time KVM writes an event for entry (SDM 3C 26.6), re-injections included', () => {
    const base = selfIpis();
    const costly = selfIpis(COSTS);
    // First round: the set-up, the IPI (injected, re-injected after each EPT violation during delivery), the serial OUT.
    expect(base.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(costly.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    const s = costly.vcpu.stats;
    expect([s.exits, s.userspaceExits]).toEqual([base.vcpu.stats.exits, base.vcpu.stats.userspaceExits]);
    const injected = (costly.vcpu.cpu.localTime - base.vcpu.cpu.localTime - s.exits * COSTS.exitHandler - COSTS.userspaceExit) / COSTS.injection;
    expect(Number.isInteger(injected)).toBe(true);
    expect(injected).toBeGreaterThan(1); // the first injection and at least one re-injection
    // Second round, every page mapped: ICR store, EOI store (EPT misconfigurations: the cached MMIO SPTE), OUT.
    const before = [base.vcpu.cpu.localTime, costly.vcpu.cpu.localTime, s.exits] as const;
    expect(base.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(costly.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    expect(s.exits - before[2]).toBe(3);
    expect(costly.vcpu.cpu.localTime - before[1] - (base.vcpu.cpu.localTime - before[0])).toBe(3 * COSTS.exitHandler + COSTS.userspaceExit + COSTS.injection);
  });

  it('moves the clock with the vCPU: an event after the charged cycles fires in the next KVM_RUN', () => {
    const m = tinyVmm({ code: plain, kvmCosts: COSTS });
    m.vcpu.run();
    const t = m.vcpu.cpu.localTime;
    expect(t).toBeGreaterThanOrEqual(2 * COSTS.exitHandler + COSTS.userspaceExit);
    let firedAt = -1;
    m.kvm.clock.schedule(t + 1, () => {
      firedAt = m.kvm.clock.now();
    });
    m.vcpu.run();
    expect(firedAt).toBe(t + 1);
  });

  it('keeps the default behaviour with zero costs: the same cycles as no option at all', () => {
    const none = selfIpis();
    const zero = selfIpis({ exitHandler: 0, userspaceExit: 0, injection: 0 });
    none.runUntilStop();
    zero.runUntilStop();
    expect(zero.vcpu.cpu.localTime).toBe(none.vcpu.cpu.localTime);
    expect(zero.vcpu.stats.snapshot()).toEqual(none.vcpu.stats.snapshot());
    expect(zero.vm.kvmCosts).toEqual(X86_KVM_ZERO_COSTS);
  });

  it('fills missing fields with 0 and freezes what it keeps', () => {
    const c = x86KvmCosts({ exitHandler: 7 });
    expect(c).toEqual({ exitHandler: 7, userspaceExit: 0, injection: 0 });
    expect(Object.isFrozen(c)).toBe(true);
    expect(new Kvm({ x86KvmCosts: { injection: 3 } }).createVm().kvmCosts).toEqual({ exitHandler: 0, userspaceExit: 0, injection: 3 });
  });

  it('rejects unknown and negative fields with EINVAL naming them', () => {
    const bad = (costs: unknown): KvmError => {
      try {
        new Kvm({ x86KvmCosts: costs as X86KvmCosts });
      } catch (e) {
        return e as KvmError;
      }
      throw new Error('accepted');
    };
    const unknown = bad({ exitHandler: 1, perInterrupt: 3000, vmExit: 5 });
    expect(unknown).toBeInstanceOf(KvmError);
    expect(unknown.kind).toBe('EINVAL');
    expect(unknown.message).toMatch(/x86KvmCosts: unknown fields perInterrupt, vmExit/);
    expect(bad({ userspaceExit: -1 }).message).toMatch(/x86KvmCosts\.userspaceExit must be a non-negative number of cycles, got -1/);
    expect(bad({ injection: Number.NaN }).message).toMatch(/x86KvmCosts\.injection must be .* got NaN/);
    expect(bad({ exitHandler: '5' }).message).toMatch(/x86KvmCosts\.exitHandler must be .* got "5"/);
    expect(bad({ exitHandler: 5n }).message).toMatch(/x86KvmCosts\.exitHandler must be .* got 5n/);
    expect(bad(42).message).toMatch(/x86KvmCosts must be an object, got 42/);
  });

  it('charges per exit reason from exitHandlers (a WRMSR unlike an EPT misconfiguration), exitHandler for the others', () => {
    // CPUID (not listed: exitHandler), WRMSR IA32_STAR (MSR_WRITE, kvm_set_msr_common), two MMIO stores to no memslot:
    // the first an EPT violation that caches the MMIO SPTE, the second an EPT misconfiguration (handle_ept_misconfig).
    function* mixed(g: X86Guest): Routine {
      yield g.cpuid(0);
      yield g.wrmsr(0xc000_0081, 0);
      yield g.st32(GUEST.HOLE, 1);
      yield g.st32(GUEST.HOLE, 2);
      yield g.out(GUEST.POWER, 0);
    }
    const costs = { exitHandler: 1, exitHandlers: { MSR_WRITE: 1_000, EPT_MISCONFIG: 100_000 } };
    const base = tinyVmm({ code: mixed });
    const costly = tinyVmm({ code: mixed, kvmCosts: costs });
    for (const m of [base, costly]) {
      for (let i = 0; i < 2; i++) expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.MMIO); // the VMM ignores the device
      expect(m.vcpu.run().exit_reason).toBe(KVM_EXIT.IO);
    }
    const s = costly.vcpu.stats;
    expect([s.count('CPUID'), s.count('MSR_WRITE'), s.count('EPT_MISCONFIG')]).toEqual([1, 1, 1]);
    const others = s.exits - 2;
    expect(costly.vcpu.cpu.localTime - base.vcpu.cpu.localTime).toBe(others * 1 + 1_000 + 100_000);
    expect(costly.vm.kvmCosts.exitHandlers).toEqual({ MSR_WRITE: 1_000, EPT_MISCONFIG: 100_000 });
  });

  it('rejects an exitHandlers entry that is no VMX exit reason name or no cycle count (EINVAL naming it)', () => {
    const msg = (costs: unknown): string => {
      try {
        x86KvmCosts(costs);
      } catch (e) {
        return (e as KvmError).message;
      }
      return 'accepted';
    };
    expect(msg({ exitHandlers: { MSR_WRTE: 5 } })).toMatch(/exitHandlers: MSR_WRTE is not a VMX exit reason name/);
    expect(msg({ exitHandlers: { HLT: -2 } })).toMatch(/exitHandlers\.HLT must be a non-negative number of cycles, got -2/);
    expect(msg({ exitHandlers: [1] })).toMatch(/exitHandlers must be an object of exit-reason names, got \[1\]/);
    expect(msg({ exitHandlers: { toString: 1 } })).toMatch(/toString is not a VMX exit reason name/);
    expect(Object.isFrozen(x86KvmCosts({ exitHandlers: { HLT: 2 } }).exitHandlers)).toBe(true);
  });
});
