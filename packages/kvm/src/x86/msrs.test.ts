import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { KVM_MAX_IO_MSRS } from '../generic/constants.js';
import { Kvm } from '../kvm.js';
import { expectErrno } from '../test-support/expect-errno.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';
import { KVM_MSR_INDEX_LIST, MSR, type KvmMsrEntry } from './msrs.js';

type Routine = Generator<Op, void, number>;
function* idle(g: X86Guest): Routine {
  yield g.out(GUEST.POWER, 0);
}

describe('KVM_GET_MSR_INDEX_LIST, KVM_GET_MSRS, KVM_SET_MSRS (api.rst 4.3, 4.18, 4.19)', () => {
  it('the index list names the MSRs a VMM migrates (msrs_to_save, then emulated_msrs); IA32_APIC_BASE is not in it', () => {
    const list = new Kvm().getMsrIndexList();
    expect(list).toEqual([...KVM_MSR_INDEX_LIST]);
    expect(list).toContain(MSR.LSTAR);
    expect(list).toContain(MSR.IA32_TSC_DEADLINE);
    expect(list).not.toContain(MSR.IA32_APIC_BASE);
    expectErrno(() => new Kvm({ arch: 'arm64' }).getMsrIndexList(), 'ENOTTY', /x86 ioctl/);
  });

  it('KVM_GET_MSRS reads the reset values (PAT 0x0007040600070406, MISC_ENABLE with PEBS/BTS unavailable) and returns the count read', () => {
    const { vcpu } = tinyVmm({ code: idle });
    const entries: KvmMsrEntry[] = [MSR.IA32_CR_PAT, MSR.IA32_MISC_ENABLE, MSR.LSTAR, MSR.IA32_APIC_BASE].map((index) => ({ index, data: 0n }));
    expect(vcpu.getMsrs(entries)).toBe(4);
    expect(entries.map((e) => e.data)).toEqual([0x0007_0406_0007_0406n, 0x1800n, 0n, 0xfee0_0900n]);
  });

  it('KVM_SET_MSRS writes in order and stops at the first MSR it refuses, returning how many it wrote (msr_io / __msr_io)', () => {
    const { vcpu } = tinyVmm({ code: idle });
    const n = vcpu.setMsrs([
      { index: MSR.LSTAR, data: 0xffff_8000_0000_1000n },
      { index: MSR.STAR, data: 0x0023_0010_0000_0000n },
      { index: MSR.KERNEL_GS_BASE, data: 0x0000_8000_0000_0000n }, // not canonical: refused
      { index: MSR.CSTAR, data: 0x1000n }, // never reached
    ]);
    expect(n).toBe(2);
    const back = [MSR.LSTAR, MSR.STAR, MSR.KERNEL_GS_BASE, MSR.CSTAR].map((index) => ({ index, data: 0n }));
    expect(vcpu.getMsrs(back)).toBe(4);
    expect(back.map((e) => e.data)).toEqual([0xffff_8000_0000_1000n, 0x0023_0010_0000_0000n, 0n, 0n]);
  });

  it('refuses invalid values as kvm_set_msr_common does: a PAT memory type 2 or 3, TSC_AUX above 32 bits; an unknown MSR stops KVM_GET_MSRS', () => {
    const { vcpu } = tinyVmm({ code: idle });
    expect(vcpu.setMsrs([{ index: MSR.IA32_CR_PAT, data: 0x0007_0406_0007_0402n }])).toBe(0);
    expect(vcpu.setMsrs([{ index: MSR.TSC_AUX, data: 1n << 32n }])).toBe(0);
    expect(vcpu.setMsrs([{ index: MSR.TSC_AUX, data: 7n }])).toBe(1);
    const entries = [{ index: MSR.TSC_AUX, data: 0n }, { index: 0x1234, data: 0n }, { index: MSR.STAR, data: 0n }];
    expect(vcpu.getMsrs(entries)).toBe(1);
    expect(entries[0]!.data).toBe(7n);
  });

  it('x2APIC MSRs are reachable only in x2APIC mode; IA32_APIC_BASE follows the LAPIC\'s transition rules', () => {
    const { vcpu } = tinyVmm({ code: idle });
    expect(vcpu.getMsrs([{ index: 0x802, data: 0n }])).toBe(0); // x2APIC ID in xAPIC mode
    expect(vcpu.setMsrs([{ index: MSR.IA32_APIC_BASE, data: 0xfee0_0000n | (1n << 10n) }])).toBe(0); // EXTD without EN: invalid (SDM 3A 11.12.5)
    expect(vcpu.setMsrs([{ index: MSR.IA32_APIC_BASE, data: 0xfee0_0000n | (1n << 11n) | (1n << 10n) | (1n << 8n) }])).toBe(1);
    const id = [{ index: 0x802, data: 0n }];
    expect(vcpu.getMsrs(id)).toBe(1);
    expect(id[0]!.data).toBe(0n);
  });

  it('E2BIG for MAX_IO_MSRS entries or more, EFAULT for no array, EINVAL for a value that is not a bigint (nothing written)', () => {
    const { vcpu } = tinyVmm({ code: idle });
    const many = Array.from({ length: KVM_MAX_IO_MSRS }, () => ({ index: MSR.STAR, data: 0n }));
    expectErrno(() => vcpu.getMsrs(many), 'E2BIG', /256/);
    expect(vcpu.getMsrs(many.slice(1))).toBe(KVM_MAX_IO_MSRS - 1);
    expectErrno(() => vcpu.getMsrs(null as unknown as KvmMsrEntry[]), 'EFAULT');
    expectErrno(() => vcpu.setMsrs([{ index: MSR.STAR, data: 5n }, { index: MSR.LSTAR, data: 5 as unknown as bigint }]), 'EINVAL', /entry 1 .*bigint/);
    const star = [{ index: MSR.STAR, data: 1n }];
    vcpu.getMsrs(star);
    expect(star[0]!.data).toBe(0n);
  });

  it('the guest\'s RDMSR/WRMSR of a stored MSR reach the same value KVM_GET_MSRS reads; an invalid PAT is #GP(0)', () => {
    const seen: number[] = [];
    const m = tinyVmm({
      *code(g: X86Guest) {
        yield g.wrmsrHalves(MSR.LSTAR, 0x1000, 0xffff_8000);
        seen.push(yield g.rdmsr(MSR.LSTAR));
        yield g.wrmsr(MSR.IA32_CR_PAT, 0x0202); // memory type 2 is reserved
        yield g.out(GUEST.POWER, 0);
      },
    });
    m.vm.program.define(0x20_0000, function* gp(g: X86Guest, v: number): Routine {
      seen.push(v);
      yield g.out(GUEST.POWER, 1);
    });
    m.setGate(13, 0x20_0000);
    expect(m.vcpu.run().ioData[0]).toBe(1);
    expect(seen).toEqual([Number(0xffff_8000_0000_1000n), 13]); // RDMSR's 64-bit result as a number
    const back = [{ index: MSR.LSTAR, data: 0n }, { index: MSR.IA32_CR_PAT, data: 0n }];
    expect(m.vcpu.getMsrs(back)).toBe(2);
    expect(back.map((e) => e.data)).toEqual([0xffff_8000_0000_1000n, 0x0007_0406_0007_0406n]);
  });
});
