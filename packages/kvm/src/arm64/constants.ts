/**
 * The arm64 parts of the KVM API with the values of Linux's uapi
 * `arch/arm64/include/uapi/asm/kvm.h` and `<linux/kvm.h>`
 * (Documentation/virt/kvm/api.rst 4.68 KVM_SET_ONE_REG, 4.82
 * KVM_ARM_VCPU_INIT, 4.83 KVM_ARM_PREFERRED_TARGET, 4.25 KVM_IRQ_LINE;
 * devices/arm-vgic-v3.rst), the PSCI function IDs and return codes (Arm DEN
 * 0022 PSCI 1.1, 5.1 and 5.2.2), and the vCPU MP states KVM reports on arm64.
 */

/** `kvm_vcpu_init.target` values (KVM_ARM_TARGET_*); KVM_ARM_PREFERRED_TARGET answers GENERIC_V8. */
export const KVM_ARM_TARGET = {
  AEM_V8: 0,
  FOUNDATION_V8: 1,
  CORTEX_A57: 2,
  XGENE_POTENZA: 3,
  CORTEX_A53: 4,
  GENERIC_V8: 5,
} as const;

/** Feature bit numbers of `kvm_vcpu_init.features[0]` (api.rst 4.82). */
export const KVM_ARM_VCPU_FEATURE = {
  /** The vCPU starts powered off (PSCI CPU_ON brings it up). */
  POWER_OFF: 0,
  /** EL1 is AArch32 (not modelled: EINVAL). */
  EL1_32BIT: 1,
  /** PSCI v0.2 and later (else PSCI v0.1). */
  PSCI_0_2: 2,
  /** The PMUv3 (not modelled: EINVAL). */
  PMU_V3: 3,
  SVE: 4,
  PTRAUTH_ADDRESS: 5,
  PTRAUTH_GENERIC: 6,
  HAS_EL2: 7,
} as const;

/** Feature bits this model implements. */
export const KVM_ARM_VCPU_FEATURES_SUPPORTED = (1 << KVM_ARM_VCPU_FEATURE.POWER_OFF) | (1 << KVM_ARM_VCPU_FEATURE.PSCI_0_2);
/** Feature bits Linux knows (KVM_VCPU_MAX_FEATURES = 8): other bits are ENOENT. */
export const KVM_ARM_VCPU_FEATURES_KNOWN = 0xff;

/** Register id fields (uapi linux/kvm.h, asm/kvm.h): KVM_REG_ARM64 | size | coprocessor group | index. */
export const KVM_REG = {
  ARM64: 0x6000_0000_0000_0000n,
  SIZE_SHIFT: 52n,
  SIZE_U32: 0x0020_0000_0000_0000n,
  SIZE_U64: 0x0030_0000_0000_0000n,
  SIZE_U128: 0x0040_0000_0000_0000n,
  /** Bits 31:16: the coprocessor group. */
  COPROC_SHIFT: 16n,
  /** Core registers (`struct kvm_regs`), indexed by offset / 4. */
  ARM_CORE: 0x0010n,
  /** System registers, indexed by op0:op1:CRn:CRm:op2. */
  ARM64_SYSREG: 0x0013n,
  /** Firmware pseudo-registers (KVM_REG_ARM_PSCI_VERSION...). */
  ARM_FW: 0x0014n,
} as const;

/** `kvm_regs` offsets / 4 of the core registers (KVM_REG_ARM_CORE_REG). */
export const KVM_REG_ARM_CORE_INDEX = {
  /** X0: 0, X1: 2, ... X30: 60. Value `0x00`. */
  X0: 0x00,
  /** `0x3e` */
  SP: 0x3e,
  /** `0x40` */
  PC: 0x40,
  /** `0x42` */
  PSTATE: 0x42,
  /** `0x44` */
  SP_EL1: 0x44,
  /** `0x46` */
  ELR_EL1: 0x46,
  /** SPSR_EL1 (spsr[KVM_SPSR_EL1 = 0]); spsr[1..4] are the AArch32 banks. Value `0x48`. */
  SPSR: 0x48,
  /** fp_regs.vregs[0] (128-bit), then every 4. Value `0x54`. */
  V0: 0x54,
  /** `0xd4` */
  FPSR: 0xd4,
  /** `0xd5` */
  FPCR: 0xd5,
} as const;

/** Builds `ARM64_SYS_REG(op0, op1, crn, crm, op2)`. */
export function arm64SysRegId(op0: number, op1: number, crn: number, crm: number, op2: number): bigint {
  return KVM_REG.ARM64 | KVM_REG.SIZE_U64 | (KVM_REG.ARM64_SYSREG << KVM_REG.COPROC_SHIFT) | BigInt((op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2);
}

/** Builds a KVM_REG_ARM_CORE register id of `size` (KVM_REG.SIZE_U32/U64/U128) at `index`. */
export function arm64CoreRegId(index: number, size: bigint = KVM_REG.SIZE_U64): bigint {
  return KVM_REG.ARM64 | size | (KVM_REG.ARM_CORE << KVM_REG.COPROC_SHIFT) | BigInt(index);
}

/**
 * Timer register ids (asm/kvm.h). KVM_REG_ARM_TIMER_CVAL and _CNT carry each
 * other's encodings — a historical swap kept as ABI: CVAL is (3,3,14,0,2)
 * and CNT (3,3,14,3,2).
 */
export const KVM_REG_ARM_TIMER = {
  CTL: arm64SysRegId(3, 3, 14, 3, 1),
  CVAL: arm64SysRegId(3, 3, 14, 0, 2),
  CNT: arm64SysRegId(3, 3, 14, 3, 2),
} as const;

/** KVM_REG_ARM_PSCI_VERSION, a firmware pseudo-register (KVM_REG_ARM_FW_REG(0)). */
export const KVM_REG_ARM_PSCI_VERSION = KVM_REG.ARM64 | KVM_REG.SIZE_U64 | (KVM_REG.ARM_FW << KVM_REG.COPROC_SHIFT);

/** `kvm_create_device.type` values of the Arm interrupt controllers. */
export const KVM_DEV_TYPE = { VFIO: 4, ARM_VGIC_V2: 5, ARM_VGIC_V3: 7, ARM_VGIC_ITS: 8 } as const;

/** KVM_CREATE_DEVICE flag: only test whether the type is supported. */
export const KVM_CREATE_DEVICE_TEST = 1;

/** `kvm_device_attr.group` values of the vGIC devices (arm-vgic-v3.rst). */
export const KVM_DEV_ARM_VGIC_GRP = {
  ADDR: 0,
  DIST_REGS: 1,
  CPU_REGS: 2,
  NR_IRQS: 3,
  CTRL: 4,
  REDIST_REGS: 5,
  CPU_SYSREGS: 6,
  LEVEL_INFO: 7,
  ITS_REGS: 8,
} as const;

/** Attributes of KVM_DEV_ARM_VGIC_GRP_CTRL. */
export const KVM_DEV_ARM_VGIC_CTRL = { INIT: 0, ITS_SAVE_TABLES: 1, ITS_RESTORE_TABLES: 2, SAVE_PENDING_TABLES: 3, ITS_RESET: 4 } as const;

/** Attributes of KVM_DEV_ARM_VGIC_GRP_ADDR for a GICv3. */
export const KVM_VGIC_V3_ADDR_TYPE = { DIST: 2, REDIST: 3, ITS: 4, REDIST_REGION: 5 } as const;

/** KVM_IRQ_LINE's `irq` on arm64 (api.rst 4.25): type in bits 27:24 (31:28 on older ABIs: vcpu2_index), vcpu_index 23:16, irq_id 15:0. */
export const KVM_ARM_IRQ_TYPE = { CPU: 0, SPI: 1, PPI: 2 } as const;
/** KVM_ARM_IRQ_CPU_IRQ and _FIQ: the line of a vCPU without an in-kernel GIC. */
export const KVM_ARM_IRQ_CPU = { IRQ: 0, FIQ: 1 } as const;

/** KVM_GET/SET_MP_STATE values on arm64. */
export const KVM_ARM_MP_STATE = { RUNNABLE: 0, STOPPED: 5, SUSPENDED: 9 } as const;

/** PSCI function IDs (DEN 0022 5.1): SMC32 at 0x8400_00xx, SMC64 at 0xC400_00xx. */
export const PSCI_FN = {
  /** `0x84000000` */
  PSCI_VERSION: 0x8400_0000,
  /** `0x84000001` */
  CPU_SUSPEND: 0x8400_0001,
  /** `0xc4000001` */
  CPU_SUSPEND_64: 0xc400_0001,
  /** `0x84000002` */
  CPU_OFF: 0x8400_0002,
  /** `0x84000003` */
  CPU_ON: 0x8400_0003,
  /** `0xc4000003` */
  CPU_ON_64: 0xc400_0003,
  /** `0x84000004` */
  AFFINITY_INFO: 0x8400_0004,
  /** `0xc4000004` */
  AFFINITY_INFO_64: 0xc400_0004,
  /** `0x84000006` */
  MIGRATE_INFO_TYPE: 0x8400_0006,
  /** `0x84000008` */
  SYSTEM_OFF: 0x8400_0008,
  /** `0x84000009` */
  SYSTEM_RESET: 0x8400_0009,
  /** `0x8400000a` */
  PSCI_FEATURES: 0x8400_000a,
} as const;

/** PSCI return codes (DEN 0022 5.2.2), as X0 holds them (64-bit two's complement). */
export const PSCI_RET = {
  SUCCESS: 0,
  NOT_SUPPORTED: -1,
  INVALID_PARAMS: -2,
  DENIED: -3,
  ALREADY_ON: -4,
  ON_PENDING: -5,
  INTERNAL_FAILURE: -6,
  NOT_PRESENT: -7,
  DISABLED: -8,
  INVALID_ADDRESS: -9,
} as const;

/** AFFINITY_INFO answers (DEN 0022 5.1.5). */
export const PSCI_AFFINITY = { ON: 0, OFF: 1, ON_PENDING: 2 } as const;

/** PSCI_VERSION's answer: 1.1 (KVM_ARM_PSCI_LATEST), major in bits 31:16. */
export const KVM_ARM_PSCI_1_1 = 0x1_0001;
/** PSCI 0.2's version number. */
export const KVM_ARM_PSCI_0_2 = 0x2;
/** PSCI 0.1 (no PSCI_VERSION call): KVM_REG_ARM_PSCI_VERSION reads 0. */
export const KVM_ARM_PSCI_0_1 = 0;

/** The SMCCC "unknown function" return value (SMCCC_RET_NOT_SUPPORTED). */
export const SMCCC_RET_NOT_SUPPORTED = -1;

/** MPIDR_EL1.Aff0-Aff3 bits (MPIDR_HWID_BITMASK). */
export const MPIDR_HWID_BITMASK = 0xff_00ff_ffff;
