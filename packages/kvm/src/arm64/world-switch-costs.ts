/**
 * What KVM's world switch costs on arm64, in cycles, beyond the trap to EL2
 * and the ERET back that `@hvsim/cpu` charges itself: one code path with two
 * cost configurations (Linux arch/arm64/kvm/hyp/nvhe/switch.c and
 * hyp/vhe/switch.c). Split mode ("nVHE") runs the host kernel at EL1, so
 * every exit switches the whole EL1 context and the vGIC state twice (a
 * hypercall is 6,413 cycles on a Cortex-A57 in Dall et al., USENIX ATC 2017,
 * Table 2; 3,250 of ISCA 2016's 6,500 are the vGIC); with VHE the host runs
 * at EL2 and the same round trip is 752 cycles. A return to userspace adds
 * the rest of that paper's "I/O User" row.
 */

/** Cycles of one arm64 KVM configuration. */
export interface Arm64WorldSwitchCosts {
  /** Which configuration. */
  readonly mode: 'nvhe' | 'vhe';
  /** Per exit handled in the kernel, round trip, beyond the CPU's trap and ERET (switch.c's __kvm_vcpu_run and the exit handler). */
  readonly exit: number;
  /** Extra per exit that returns to userspace (KVM_RUN returns and is called again). */
  readonly userspace: number;
  /** Where each number comes from. */
  readonly sources: Readonly<Record<'exit' | 'userspace', string>>;
}

const ATC17 = 'Dall et al., USENIX ATC 2017, Table 2 (AMD Seattle, Cortex-A57)';
/** The CPU's own trap to EL2 (72) and ERET from EL2 (65), already charged by @hvsim/cpu. */
const TRAP_AND_ERET = 72 + 65;

/** Split-mode KVM (host kernel at EL1, a hypervisor stub at EL2). */
export const ARM64_NVHE_COSTS: Arm64WorldSwitchCosts = Object.freeze({
  mode: 'nvhe',
  exit: 6413 - TRAP_AND_ERET,
  userspace: 10_012 - 6413,
  sources: Object.freeze({
    exit: `hypercall 6,413 cycles, split-mode KVM, less the CPU's trap and ERET (${ATC17})`,
    userspace: `I/O User 10,012 less hypercall 6,413 (${ATC17})`,
  }),
});

/** VHE KVM (host kernel at EL2). */
export const ARM64_VHE_COSTS: Arm64WorldSwitchCosts = Object.freeze({
  mode: 'vhe',
  exit: 752 - TRAP_AND_ERET,
  userspace: 7630 - 752,
  sources: Object.freeze({
    exit: `hypercall 752 cycles, VHE-style KVM, less the CPU's trap and ERET (${ATC17})`,
    userspace: `I/O User 7,630 less hypercall 752 (${ATC17})`,
  }),
});
