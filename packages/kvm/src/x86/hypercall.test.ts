// KVM hypercalls through VMCALL (SDM 3C 26.1.2: VMCALL exits unconditionally; Linux kvm_emulate_hypercall,
// Documentation/virt/kvm/x86/hypercalls.rst): handled in the kernel with one VMCALL exit and no userspace exit.
import { describe, expect, it } from 'vitest';
import type { Op, X86Guest } from '@hvsim/cpu';
import { VMCS_FIELD } from '@hvsim/vmcs';
import { KVM_EXIT, KVM_MP_STATE } from '../generic/constants.js';
import { GUEST, tinyVmm } from '../test-support/tiny-vmm.js';
import { KVM_HC, KVM_HC_ERROR } from './hypercall.js';
import type { MmuMode } from './shadow-state.js';

type Routine = Generator<Op, void, number>;
const AP_ENTRY = 0x30_0000;
const MARK = 0x80;

/** RAX's halves for a hypercall result: a negative one is the 64-bit two's complement (kvm_rax_write). */
const rax64 = (ret: number): [number, number] => [ret >>> 0, ret < 0 ? 0xffff_ffff : 0];
/** RAX after the last VMCALL, as exact halves. */
const raxOf = (g: X86Guest): [number, number] => [g.lo, g.hi];

/** VMCALL with RCX (a1) set: the op carries RBX and RCX in its `b` and `c` operands (hypercall.ts). */
function vmcall(g: X86Guest, nr: number, a0 = 0, a1 = 0): Op {
  const op = g.vmcall(nr);
  op.b = a0;
  op.c = a1;
  return op;
}

describe.each<MmuMode>(['ept', 'shadow'])('hypercalls (%s)', (mmu) => {
  it('an unknown number returns -KVM_ENOSYS (-1000) in RAX, KVM_HC_VAPIC_POLL_IRQ 0: one VMCALL exit each, handled in the kernel', () => {
    const results: unknown[] = [];
    const m = tinyVmm({
      mmu,
      *code(g: X86Guest): Routine {
        yield g.out(MARK, 0);
        results.push(yield g.vmcall(KVM_HC.VAPIC_POLL_IRQ));
        yield g.vmcall(0x1234);
        results.push(raxOf(g));
        yield g.out(GUEST.POWER, 0);
      },
    });
    expect(m.vcpu.run().io.port).toBe(MARK);
    const exits = m.vcpu.stats.exits;
    const userspace = m.vcpu.stats.userspaceExits;
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(results).toEqual([0, rax64(-KVM_HC_ERROR.ENOSYS)]);
    expect(m.vcpu.stats.count('VMCALL')).toBe(2);
    expect(m.vcpu.hypercalls).toBe(2);
    expect(m.vcpu.stats.exits - exits).toBe(3); // two VMCALLs and the final OUT
    expect(m.vcpu.stats.userspaceExits - userspace).toBe(1); // only the OUT
  });

  it('KVM_HC_KICK_CPU wakes the halted vCPU with that APIC ID (pv_unhalted; KVM_GET_MP_STATE reads RUNNABLE), with one VMCALL exit on the kicker', () => {
    let apWoke = false;
    let kickResult: [number, number] = [-1, -1];
    const m = tinyVmm({
      mmu,
      *code(g: X86Guest): Routine {
        yield vmcall(g, KVM_HC.KICK_CPU, 0, 1); // a0 flags, a1 = APIC ID 1
        kickResult = raxOf(g);
        yield g.out(GUEST.POWER, 0);
      },
    });
    m.vm.program.define(AP_ENTRY, function* ap(g: X86Guest): Routine {
      yield g.cli(); // no interrupt can wake it: only the kick
      yield g.out(MARK, 1);
      yield g.hlt();
      apWoke = true;
      yield g.out(GUEST.POWER, 1);
    });
    const ap = m.vm.createVcpu(1);
    ap.setMpState(KVM_MP_STATE.RUNNABLE);
    ap.setSregs(m.vcpu.getSregs());
    ap.setRegs({ rip: AP_ENTRY, rsp: GUEST.STACK_TOP - 0x1000, rflags: 2 });
    expect(ap.run().io.port).toBe(MARK);
    expect(ap.run({ maxCycles: 20_000 }).exit_reason).toBe(KVM_EXIT.INTR); // halted, nothing wakes it
    expect(ap.getMpState()).toBe(KVM_MP_STATE.HALTED);
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(kickResult).toEqual([0, 0]);
    expect(m.vcpu.stats.count('VMCALL')).toBe(1);
    expect(ap.getMpState()).toBe(KVM_MP_STATE.RUNNABLE); // kvm_arch_vcpu_ioctl_get_mpstate with pv_unhalted
    expect(ap.run().io.port).toBe(GUEST.POWER);
    expect(apWoke).toBe(true);
    expect(ap.getMpState()).toBe(KVM_MP_STATE.RUNNABLE);
  });

  it('a kick naming no vCPU still returns 0 and wakes nobody', () => {
    let r: [number, number] = [-1, -1];
    const m = tinyVmm({
      mmu,
      *code(g: X86Guest): Routine {
        yield vmcall(g, KVM_HC.KICK_CPU, 0, 7);
        r = raxOf(g);
        yield g.out(GUEST.POWER, 0);
      },
    });
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(r).toEqual([0, 0]);
  });

  it('at CPL > 0 every hypercall returns -KVM_EPERM (kvm_emulate_hypercall checks the CPL: SS.DPL, vmx_get_cpl)', () => {
    let r: [number, number] = [0, 0];
    const m = tinyVmm({
      mmu,
      *code(g: X86Guest): Routine {
        yield g.out(MARK, 0);
        yield g.vmcall(KVM_HC.VAPIC_POLL_IRQ);
        r = raxOf(g);
        yield g.out(GUEST.POWER, 0);
      },
    });
    expect(m.vcpu.run().io.port).toBe(MARK);
    const vmx = m.vcpu.vmx;
    const ar = vmx.vmreadNumber(VMCS_FIELD.GUEST_SS_AR_BYTES);
    vmx.vmwrite32(VMCS_FIELD.GUEST_SS_AR_BYTES, (ar & ~0x60) | (3 << 5)); // SS.DPL = 3
    expect(m.runUntilStop()).toBe(KVM_EXIT.IO);
    expect(r).toEqual(rax64(-KVM_HC_ERROR.EPERM));
  });
});
