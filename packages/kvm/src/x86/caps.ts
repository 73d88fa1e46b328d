/**
 * What KVM_CHECK_EXTENSION answers on x86 (api.rst 4.3), on the system
 * object and on a VM (KVM_CAP_CHECK_EXTENSION_VM): 1 or the limit for what
 * this model supports, 0 for everything else.
 */
import { KVM_CAP, KVM_MAX_IRQ_ROUTES, KVM_USER_MEM_SLOTS } from '../generic/constants.js';
import { KVM_CLOCK_VALID_FLAGS } from './tsc.js';

/** KVM_MAX_VCPUS on x86 (KVM_CAP_MAX_VCPUS). */
export const KVM_MAX_VCPUS = 1024;
/** KVM_MAX_VCPU_IDS on x86 (KVM_CAP_MAX_VCPU_ID). */
export const KVM_MAX_VCPU_IDS = 4096;

/** The answers of KVM_CHECK_EXTENSION: what this model really supports (0 for everything else). */
const CAPS: ReadonlyMap<number, number> = new Map([
  [KVM_CAP.IRQCHIP, 1],
  [KVM_CAP.HLT, 1],
  [KVM_CAP.USER_MEMORY, 1],
  [KVM_CAP.SET_TSS_ADDR, 1],
  [KVM_CAP.NR_VCPUS, KVM_MAX_VCPUS],
  [KVM_CAP.NR_MEMSLOTS, KVM_USER_MEM_SLOTS],
  [KVM_CAP.MP_STATE, 1],
  [KVM_CAP.SYNC_MMU, 1],
  [KVM_CAP.DESTROY_MEMORY_REGION_WORKS, 1],
  [KVM_CAP.JOIN_MEMORY_REGIONS_WORKS, 1],
  [KVM_CAP.IRQ_ROUTING, KVM_MAX_IRQ_ROUTES],
  [KVM_CAP.IRQ_INJECT_STATUS, 1],
  [KVM_CAP.IRQFD, 1],
  [KVM_CAP.IOEVENTFD, 1],
  [KVM_CAP.IOEVENTFD_NO_LENGTH, 1],
  [KVM_CAP.IOEVENTFD_ANY_LENGTH, 1],
  [KVM_CAP.MAX_VCPUS, KVM_MAX_VCPUS],
  [KVM_CAP.MAX_VCPU_ID, KVM_MAX_VCPU_IDS],
  [KVM_CAP.SIGNAL_MSI, 1],
  [KVM_CAP.READONLY_MEM, 1],
  [KVM_CAP.IRQFD_RESAMPLE, 1],
  [KVM_CAP.CHECK_EXTENSION_VM, 1],
  [KVM_CAP.IMMEDIATE_EXIT, 1],
  [KVM_CAP.TSC_DEADLINE_TIMER, 1],
  [KVM_CAP.USER_NMI, 1],
  [KVM_CAP.VCPU_EVENTS, 1],
  [KVM_CAP.INTR_SHADOW, 1],
  [KVM_CAP.SET_IDENTITY_MAP_ADDR, 1],
  [KVM_CAP.ENABLE_CAP_VM, 1],
  [KVM_CAP.SPLIT_IRQCHIP, 1],
  [KVM_CAP.HALT_POLL, 1],
  [KVM_CAP.ADJUST_CLOCK, KVM_CLOCK_VALID_FLAGS],
]);

/** KVM_CHECK_EXTENSION on x86: 0 when unsupported, else 1 or the capability's limit. */
export function x86CheckExtension(cap: number): number {
  return CAPS.get(cap) ?? 0;
}
