/**
 * KVM's hypercalls (arch/x86/kvm/x86.c `kvm_emulate_hypercall`;
 * Documentation/virt/kvm/x86/hypercalls.rst): VMCALL exits unconditionally
 * in VMX non-root operation (SDM 3C 26.1.2) with basic exit reason 18
 * (SDM 3C Appendix C), and KVM answers it in the kernel: RAX holds the
 * number, RBX, RCX, RDX, RSI the arguments, RAX the result; the
 * instruction is skipped. A guest at CPL > 0 gets -KVM_EPERM, an unknown
 * number -KVM_ENOSYS (include/uapi/linux/kvm_para.h).
 *
 * This model's guest CPU passes the number in the operation's `a` and the
 * first two arguments (RBX, RCX) in `b` and `c`; it runs at CPL 0, and the
 * CPL is read from the VMCS's SS access rights as vmx_get_cpl does.
 */
import { VMCS_FIELD as IMPORTED_VMCS_FIELD } from '@hvsim/vmcs';
import type { X86VcpuState } from './vcpu-state.js';

const VMCS_FIELD = IMPORTED_VMCS_FIELD;

/** Hypercall numbers (include/uapi/linux/kvm_para.h). */
export const KVM_HC = {
  VAPIC_POLL_IRQ: 1,
  MMU_OP: 2,
  FEATURES: 3,
  PPC_MAP_MAGIC_PAGE: 4,
  KICK_CPU: 5,
  MIPS_GET_CLOCK_FREQ: 6,
  MIPS_EXIT_VM: 7,
  MIPS_CONSOLE_OUTPUT: 8,
  CLOCK_PAIRING: 9,
  SEND_IPI: 10,
  SCHED_YIELD: 11,
  MAP_GPA_RANGE: 12,
} as const;

/** Hypercall error numbers, returned negated in RAX (kvm_para.h: KVM_ENOSYS is 1000, the others are the errno values). */
export const KVM_HC_ERROR = { EPERM: 1, E2BIG: 7, EFAULT: 14, EINVAL: 22, EOPNOTSUPP: 95, ENOSYS: 1000 } as const;

/** The vCPUs a hypercall can name (kvm_pv_kick_cpu_op looks them up by APIC ID). */
export interface HypercallTarget {
  /** KVM_HC_KICK_CPU's APIC_DM_REMRD delivery: pv_unhalted, KVM_REQ_EVENT, kvm_vcpu_kick. */
  pvKick(): void;
}

/** vmx_get_cpl: the DPL of SS (its access rights' bits 6:5) in protected mode. */
function guestCpl(v: X86VcpuState): number {
  return (v.vmx.vmreadNumber(VMCS_FIELD.GUEST_SS_AR_BYTES) >>> 5) & 3;
}

/**
 * handle_vmcall → kvm_emulate_hypercall: counts the hypercall, computes RAX
 * (64-bit: the guest is in IA-32e mode), skips VMCALL. `targets(apicId)`
 * gives the vCPUs with that physical APIC ID. Returns 1 (re-enter).
 */
export function handleHypercall(v: X86VcpuState, targets: (apicId: number) => readonly HypercallTarget[]): number {
  const op = v.cpu.pendingOperation!;
  const nr = op.a >>> 0;
  v.hypercalls++;
  let ret = -KVM_HC_ERROR.ENOSYS;
  if (guestCpl(v) !== 0) ret = -KVM_HC_ERROR.EPERM;
  else if (nr === KVM_HC.VAPIC_POLL_IRQ) ret = 0;
  else if (nr === KVM_HC.KICK_CPU) {
    // a0 (RBX) flags, a1 (RCX) the APIC ID to wake (kvm_pv_kick_cpu_op). KVM_FEATURE_PV_UNHALT is always offered
    // (KVM_CAP_ENFORCE_PV_FEATURE_CPUID is not enabled); the directed yield (kvm_sched_yield) has no host scheduler to ask.
    for (const t of targets(op.c >>> 0)) t.pvKick();
    ret = 0;
  }
  // kvm_rax_write: a negative result is the 64-bit two's complement.
  if (ret < 0) v.skip(ret >>> 0, 0xffff_ffff);
  else v.skip(ret);
  return 1;
}
