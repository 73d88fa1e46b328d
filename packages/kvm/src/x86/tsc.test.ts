// The guest TSC (IA32_TSC through KVM_GET/SET_MSRS and the guest's RDMSR/WRMSR; kvm_synchronize_tsc,
// adjust_tsc_offset_guest; SDM 3C 25.6.5 TSC offsetting) and kvmclock (api.rst 4.9 KVM_GET_CLOCK, 4.10 KVM_SET_CLOCK).
import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { CPU_BASED, VMCS_FIELD } from '@hvsim/vmcs';
import { KVM_CAP } from '../generic/constants.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';
import { KVM_MSR_INDEX_LIST, MSR } from './msrs.js';
import { KVM_CLOCK, KVM_CLOCK_VALID_FLAGS } from './tsc.js';

type Routine = Generator<Op, void, number>;
const HZ = 2_500_000_000; // the default x86 cost profile
const tscOf = (m: ReturnType<typeof tinyVmm>, vcpu = m.vcpu): bigint => {
  const e = [{ index: MSR.IA32_TSC, data: 0n }];
  expect(vcpu.getMsrs(e)).toBe(1);
  return e[0]!.data;
};

describe('the guest TSC: IA32_TSC and the VMCS TSC offset', () => {
  it('starts at 0 when the vCPU is created and counts the cycles of its time (kvm_synchronize_tsc(vcpu, 0))', () => {
    const seen: number[] = [];
    const m = tinyVmm({
      *code(g: X86Guest): Routine {
        yield g.compute(1000);
        yield g.out(0x80, 0);
      },
    });
    expect(KVM_MSR_INDEX_LIST).toContain(MSR.IA32_TSC);
    const t0 = m.vcpu.cpu.localTime;
    expect(tscOf(m)).toBe(BigInt(t0 + m.vcpu.tsc.offset));
    m.vcpu.run();
    seen.push(Number(tscOf(m)));
    expect(seen[0]! - Number(BigInt(t0 + m.vcpu.tsc.offset))).toBe(m.vcpu.cpu.localTime - t0);
    // The controls of Linux's vmx.c: TSC offsetting on, the offset in the VMCS.
    expect(m.vcpu.vmx.vmreadNumber(VMCS_FIELD.CPU_BASED_VM_EXEC_CONTROL) & CPU_BASED.USE_TSC_OFFSETTING).not.toBe(0);
  });

  it('KVM_SET_MSRS(IA32_TSC) sets the offset (VMCS TSC_OFFSET) so the guest TSC reads the value written, then counts on', () => {
    const m = tinyVmm({ *code(g: X86Guest): Routine { yield g.compute(5000); yield g.out(0x80, 0); } });
    expect(m.vcpu.setMsrs([{ index: MSR.IA32_TSC, data: 7_000_000_000n }])).toBe(1);
    expect(tscOf(m)).toBe(7_000_000_000n);
    expect(m.vcpu.vmx.vmread(VMCS_FIELD.TSC_OFFSET)).toEqual({ kind: 'value', value: BigInt.asUintN(64, BigInt(7_000_000_000 - m.vcpu.cpu.localTime)) });
    const before = m.vcpu.cpu.localTime;
    m.vcpu.run();
    expect(tscOf(m)).toBe(7_000_000_000n + BigInt(m.vcpu.cpu.localTime - before));
    expect(m.vcpu.setMsrs([{ index: MSR.IA32_TSC, data: 2n ** 60n }])).toBe(0); // beyond this model's 2^53 cycles: refused
  });

  it('keeps vCPUs in step: later vCPUs and a write within a second of the last one take the VM’s current offset', () => {
    const m = tinyVmm({ *code(g: X86Guest): Routine { yield g.out(0x80, 0); } });
    m.kvm.clock.runUntil(HZ / 10); // 100 ms later
    const second = m.vm.createVcpu(1);
    expect(second.tsc.offset).toBe(m.vcpu.tsc.offset); // created: synchronized at 0
    m.vcpu.setMsrs([{ index: MSR.IA32_TSC, data: 50_000_000_000n }]); // a user write far from the last: a new offset
    expect(second.setMsrs([{ index: MSR.IA32_TSC, data: 50_000_100_000n }])).toBe(1); // 40 µs apart: meant to match
    expect(second.tsc.offset).toBe(m.vcpu.tsc.offset);
    second.setMsrs([{ index: MSR.IA32_TSC, data: 90_000_000_000n }]); // 16 s apart: its own offset
    expect(second.tsc.offset).not.toBe(m.vcpu.tsc.offset);
    expect(tscOf(m, second)).toBe(90_000_000_000n);
  });

  it('the guest’s RDMSR of IA32_TSC reads it and its WRMSR moves the offset (adjust_tsc_offset_guest)', () => {
    const got: number[] = [];
    const m = tinyVmm({
      *code(g: X86Guest): Routine {
        got.push(yield g.rdmsr(MSR.IA32_TSC));
        yield g.wrmsr(MSR.IA32_TSC, 1_000_000);
        yield g.out(0x80, 0);
      },
    });
    const offset0 = m.vcpu.tsc.offset;
    m.vcpu.run();
    expect(m.vcpu.stats.count('MSR_READ')).toBe(1);
    expect(got[0]).toBeGreaterThan(0);
    expect(got[0]).toBeLessThan(Number(tscOf(m)));
    expect(m.vcpu.tsc.offset).not.toBe(offset0);
    expect(Number(tscOf(m))).toBeGreaterThanOrEqual(1_000_000);
    expect(Number(tscOf(m))).toBeLessThan(1_000_000 + m.vcpu.cpu.localTime);
  });
});

describe('kvmclock: KVM_GET_CLOCK and KVM_SET_CLOCK (api.rst 4.9, 4.10)', () => {
  it('counts ns since the VM was created; KVM_SET_CLOCK moves it, so a migrated VM continues from the source', () => {
    const m = tinyVmm({ *code(g: X86Guest): Routine { yield g.out(GUEST.POWER, 0); } });
    expect(m.vm.checkExtension(KVM_CAP.ADJUST_CLOCK)).toBe(KVM_CLOCK_VALID_FLAGS);
    expect(m.kvm.clock.now()).toBe(0); // the VM was created at host time 0 (nothing ran yet)
    m.kvm.clock.runUntil(HZ / 1000); // 1 ms
    const c = m.vm.getClock();
    expect(c.flags).toBe(KVM_CLOCK.TSC_STABLE | KVM_CLOCK.REALTIME | KVM_CLOCK.HOST_TSC);
    expect(c.host_tsc).toBe(HZ / 1000);
    expect([c.clock, c.realtime]).toEqual([1_000_000, 1_000_000]);
    // The destination of a migration: set the source's clock, then time goes on from there.
    const dest = tinyVmm({ *code(g: X86Guest): Routine { yield g.out(GUEST.POWER, 0); } });
    dest.vm.setClock({ clock: 5_000_000_000 });
    dest.kvm.clock.runUntil(dest.kvm.clock.now() + HZ / 1000);
    expect(dest.vm.getClock().clock).toBe(5_001_000_000);
  });

  it('KVM_CLOCK_REALTIME adds the realtime that passed since the source read it', () => {
    const m = tinyVmm({ *code(g: X86Guest): Routine { yield g.out(GUEST.POWER, 0); } });
    m.kvm.clock.runUntil(HZ / 100); // 10 ms of host time
    const now = m.vm.getClock().realtime;
    m.vm.setClock({ clock: 1_000_000, flags: KVM_CLOCK.REALTIME, realtime: now - 2_000_000 });
    expect(m.vm.getClock().clock).toBe(3_000_000);
    expectErrno(() => m.vm.setClock({ clock: 0, flags: 1 }), 'EINVAL', /flags 0x1 has bits outside KVM_CLOCK_VALID_FLAGS \(0xe\)/);
    expectErrno(() => m.vm.setClock({ clock: -1 }), 'EINVAL', /clock must be a non-negative integer/);
  });
});
