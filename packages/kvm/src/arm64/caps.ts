/**
 * KVM_CHECK_EXTENSION on arm64 (arch/arm64/kvm/arm.c
 * `kvm_vm_ioctl_check_extension` and the generic virt/kvm answers): the
 * capabilities this model implements.
 */
import { KVM_CAP } from '../generic/constants.js';

/** The most vCPUs of an arm64 VM in this model (one physical CPU each). */
export const ARM64_MAX_VCPUS = 8;

/** KVM_CAP_ARM_PSCI (87), KVM_CAP_ARM_PSCI_0_2 (102), KVM_CAP_ARM_IRQ_LINE_LAYOUT_2 (174), KVM_CAP_ARM_VM_IPA_SIZE (165): arm64 numbers of uapi linux/kvm.h. */
export const KVM_CAP_ARM = { PSCI: 87, PSCI_0_2: 102, VM_IPA_SIZE: 165, IRQ_LINE_LAYOUT_2: 174, ONE_REG: 70 } as const;

/** The default IPA size in bits (KVM_PHYS_SHIFT). */
export const ARM64_IPA_BITS = 40;

const ANSWERS = new Map<number, number>([
  [KVM_CAP.IRQCHIP, 1],
  [KVM_CAP.USER_MEMORY, 1],
  [KVM_CAP.NR_VCPUS, ARM64_MAX_VCPUS],
  [KVM_CAP.MAX_VCPUS, ARM64_MAX_VCPUS],
  [KVM_CAP.NR_MEMSLOTS, 32764],
  [KVM_CAP.IRQ_ROUTING, 1],
  [KVM_CAP.IRQFD, 1],
  [KVM_CAP.IOEVENTFD, 1],
  [KVM_CAP.READONLY_MEM, 1],
  [KVM_CAP.DEVICE_CTRL, 1],
  [KVM_CAP.IMMEDIATE_EXIT, 1],
  [KVM_CAP.HALT_POLL, 1],
  [KVM_CAP_ARM.ONE_REG, 1],
  [KVM_CAP_ARM.PSCI, 1],
  [KVM_CAP_ARM.PSCI_0_2, 1],
  [KVM_CAP_ARM.VM_IPA_SIZE, ARM64_IPA_BITS],
  [KVM_CAP_ARM.IRQ_LINE_LAYOUT_2, 1],
]);

/** KVM_CHECK_EXTENSION's answer on arm64: 0 when unsupported. */
export function arm64CheckExtension(cap: number): number {
  return ANSWERS.get(cap) ?? 0;
}
