/**
 * PSCI through HVC (Linux arch/arm64/kvm/psci.c; Arm DEN 0022 PSCI 1.1):
 * PSCI_VERSION, CPU_ON, CPU_OFF, AFFINITY_INFO, MIGRATE_INFO_TYPE,
 * SYSTEM_OFF, SYSTEM_RESET and PSCI_FEATURES for a vCPU initialized with
 * KVM_ARM_VCPU_PSCI_0_2 (PSCI 1.1 as Linux reports it); CPU_ON and CPU_OFF
 * for PSCI 0.1 (its function IDs were the DT's choice: KVM's 0.1 IDs are
 * 0x95c1ba5e + n, api.rst's historical values). SYSTEM_OFF and
 * SYSTEM_RESET power every vCPU off and reach userspace as
 * KVM_EXIT_SYSTEM_EVENT; the caller's X0 is INTERNAL_FAILURE in case
 * userspace resumes it.
 */
import { KVM_SYSTEM_EVENT } from '../generic/constants.js';
import { KVM_ARM_PSCI_0_1, KVM_ARM_PSCI_1_1, PSCI_AFFINITY, PSCI_FN, PSCI_RET, SMCCC_RET_NOT_SUPPORTED } from './constants.js';
import type { SmcccArgs } from './smccc.js';

/** PSCI 0.1's function IDs as KVM implements them (KVM_PSCI_FN_BASE 0x95c1ba5e). */
export const KVM_PSCI_0_1_FN = { CPU_SUSPEND: 0x95c1_ba5e, CPU_OFF: 0x95c1_ba5f, CPU_ON: 0x95c1_ba60, MIGRATE: 0x95c1_ba61 } as const;

/** A vCPU as PSCI sees it. */
export interface PsciVcpu {
  readonly id: number;
  readonly mpidr: number;
  readonly psciVersion: number;
  readonly poweredOff: boolean;
  powerOff(): void;
  powerOn(entry: number, context: number): void;
  hasCodeAt(entry: number): boolean;
}

/** What PSCI needs of the VM. */
export interface PsciHost {
  /** Every vCPU of the VM. */
  vcpuList(): readonly PsciVcpu[];
}

/** The answer of one call: X0's halves, or a system event for userspace. */
export interface PsciResult {
  lo: number;
  hi: number;
  /** KVM_SYSTEM_EVENT_SHUTDOWN / RESET, or 0. */
  systemEvent: number;
}

/** MPIDR_EL1's affinity fields (MPIDR_HWID_BITMASK: Aff3 in 39:32, Aff2-Aff0 in 23:0). */
function hwid(x: number): number {
  return (x % 2 ** 24) + Math.floor((x % 2 ** 40) / 2 ** 32) * 2 ** 32;
}

const result: PsciResult = { lo: 0, hi: 0, systemEvent: 0 };

function ret(value: number, systemEvent = 0): PsciResult {
  result.lo = value >>> 0;
  result.hi = value < 0 ? 0xffff_ffff : 0;
  result.systemEvent = systemEvent;
  return result;
}

/** Handles one SMCCC call of `caller` (reused result: read it before the next call). */
export function psciCall(host: PsciHost, caller: PsciVcpu, args: SmcccArgs): PsciResult {
  const fn = args.x0 >>> 0;
  if (caller.psciVersion === KVM_ARM_PSCI_0_1) {
    if (fn === KVM_PSCI_0_1_FN.CPU_OFF) return cpuOff(caller);
    if (fn === KVM_PSCI_0_1_FN.CPU_ON) return cpuOn(host, caller, args);
    return ret(PSCI_RET.NOT_SUPPORTED);
  }
  switch (fn) {
    case PSCI_FN.PSCI_VERSION:
      return ret(KVM_ARM_PSCI_1_1);
    case PSCI_FN.CPU_OFF:
      return cpuOff(caller);
    case PSCI_FN.CPU_ON:
    case PSCI_FN.CPU_ON_64:
      return cpuOn(host, caller, args);
    case PSCI_FN.AFFINITY_INFO:
    case PSCI_FN.AFFINITY_INFO_64:
      return affinityInfo(host, args);
    case PSCI_FN.MIGRATE_INFO_TYPE:
      // "Trusted OS is not present, or does not require migration" (DEN 0022 5.1.9).
      return ret(2);
    case PSCI_FN.SYSTEM_OFF:
    case PSCI_FN.SYSTEM_RESET:
      for (const v of host.vcpuList()) v.powerOff();
      return ret(PSCI_RET.INTERNAL_FAILURE, fn === PSCI_FN.SYSTEM_OFF ? KVM_SYSTEM_EVENT.SHUTDOWN : KVM_SYSTEM_EVENT.RESET);
    case PSCI_FN.PSCI_FEATURES: {
      const f = args.x1 >>> 0;
      const known = [PSCI_FN.PSCI_VERSION, PSCI_FN.CPU_OFF, PSCI_FN.CPU_ON, PSCI_FN.CPU_ON_64, PSCI_FN.AFFINITY_INFO, PSCI_FN.AFFINITY_INFO_64, PSCI_FN.MIGRATE_INFO_TYPE, PSCI_FN.SYSTEM_OFF, PSCI_FN.SYSTEM_RESET, PSCI_FN.PSCI_FEATURES];
      return ret((known as number[]).includes(f) ? PSCI_RET.SUCCESS : PSCI_RET.NOT_SUPPORTED);
    }
    default:
      return ret(SMCCC_RET_NOT_SUPPORTED);
  }
}

function cpuOff(caller: PsciVcpu): PsciResult {
  caller.powerOff();
  return ret(PSCI_RET.SUCCESS);
}

/** kvm_psci_vcpu_on: the target by MPIDR; INVALID_PARAMS when none, ALREADY_ON when it runs. */
function cpuOn(host: PsciHost, caller: PsciVcpu, args: SmcccArgs): PsciResult {
  const mpidr = hwid(args.x1);
  const target = host.vcpuList().find((v) => v.mpidr === mpidr);
  if (target === undefined) return ret(PSCI_RET.INVALID_PARAMS);
  if (!target.poweredOff) return ret(caller.psciVersion === KVM_ARM_PSCI_0_1 ? PSCI_RET.INVALID_PARAMS : PSCI_RET.ALREADY_ON);
  // The model runs code only at defined entries: any other entry point is an address PSCI rejects.
  if (!target.hasCodeAt(args.x2)) return ret(PSCI_RET.INVALID_ADDRESS);
  target.powerOn(args.x2, args.x3);
  return ret(PSCI_RET.SUCCESS);
}

/** AFFINITY_INFO at level 0: ON or OFF of the vCPU with that MPIDR (DEN 0022 5.1.5). */
function affinityInfo(host: PsciHost, args: SmcccArgs): PsciResult {
  if (args.x2 !== 0) return ret(PSCI_RET.INVALID_PARAMS);
  const mpidr = hwid(args.x1);
  const target = host.vcpuList().find((v) => v.mpidr === mpidr);
  if (target === undefined) return ret(PSCI_RET.INVALID_PARAMS);
  return ret(target.poweredOff ? PSCI_AFFINITY.OFF : PSCI_AFFINITY.ON);
}
