/**
 * Local APIC register layout: the xAPIC MMIO page offsets, the x2APIC MSR
 * numbers derived from them, and the field descriptors of each register.
 * SDM 3A 11.4.1 Table 11-1 "Local APIC Register Address Map" (Table 10-1 in
 * older editions); x2APIC MSR map SDM 3A 11.12.1.2 Table 11-6.
 */
import { UsageError, bitFlag, bitRange, describeValue } from '@hvsim/core';

/** Offsets of the local APIC registers in the 4 KiB xAPIC page (SDM 3A Table 11-1). */
export const APIC_REG = {
  APIC_ID: 0x20,
  APIC_VERSION: 0x30,
  APIC_TPR: 0x80,
  APIC_APR: 0x90,
  APIC_PPR: 0xa0,
  APIC_EOI: 0xb0,
  APIC_RRD: 0xc0,
  APIC_LDR: 0xd0,
  APIC_DFR: 0xe0,
  APIC_SVR: 0xf0,
  APIC_ISR0: 0x100,
  APIC_TMR0: 0x180,
  APIC_IRR0: 0x200,
  APIC_ESR: 0x280,
  APIC_LVT_CMCI: 0x2f0,
  APIC_ICR_LOW: 0x300,
  APIC_ICR_HIGH: 0x310,
  APIC_LVT_TIMER: 0x320,
  APIC_LVT_THERMAL: 0x330,
  APIC_LVT_PERF: 0x340,
  APIC_LVT_LINT0: 0x350,
  APIC_LVT_LINT1: 0x360,
  APIC_LVT_ERROR: 0x370,
  APIC_TIMER_INITIAL_COUNT: 0x380,
  APIC_TIMER_CURRENT_COUNT: 0x390,
  APIC_TIMER_DIVIDE_CONFIG: 0x3e0,
  APIC_SELF_IPI: 0x3f0,
} as const;

/** Name of a local APIC register in {@link APIC_REG}. */
export type ApicRegName = keyof typeof APIC_REG;

/** Size of the xAPIC register page. */
export const APIC_PAGE_SIZE = 0x1000;
/** Default physical base of the xAPIC page (SDM 3A 11.4.4). */
export const APIC_DEFAULT_BASE = 0xfee0_0000;

/** First x2APIC MSR: MSR = 0x800 + (xAPIC offset >> 4) (SDM 3A 11.12.1.2). */
export const X2APIC_MSR_BASE = 0x800;
/** Last MSR of the x2APIC range. */
export const X2APIC_MSR_LAST = 0x8ff;
/** Registers of {@link APIC_REG} that have no x2APIC MSR (SDM 3A 11.12.1.2 Table 11-6: APR, RRD, DFR and ICR[63:32] are gone). */
type XapicOnlyRegName = 'APIC_APR' | 'APIC_RRD' | 'APIC_DFR' | 'APIC_ICR_HIGH';

/** Name of a register that is an x2APIC MSR. */
export type X2apicRegName = Exclude<ApicRegName, XapicOnlyRegName>;

const XAPIC_ONLY: readonly string[] = ['APIC_APR', 'APIC_RRD', 'APIC_DFR', 'APIC_ICR_HIGH'] satisfies XapicOnlyRegName[];

/**
 * The x2APIC MSR of each register (SDM 3A 11.12.1.2 Table 11-6), derived from
 * {@link APIC_REG} as MSR = 0x800 + (offset >> 4), so the numbers are written
 * in one place: `X2APIC_MSR.APIC_EOI` is 0x80B, `APIC_TPR` 0x808, `APIC_ICR_LOW`
 * the 64-bit ICR 0x830, `APIC_SELF_IPI` 0x83F. APR, RRD, DFR and ICR_HIGH have
 * none.
 */
export const X2APIC_MSR: Readonly<Record<X2apicRegName, number>> = Object.freeze(
  Object.fromEntries(
    Object.entries(APIC_REG)
      .filter(([name]) => !XAPIC_ONLY.includes(name))
      .map(([name, offset]) => [name, X2APIC_MSR_BASE + (offset >>> 4)]),
  ) as Record<X2apicRegName, number>,
);

/** IA32_APIC_BASE (SDM 3A 11.4.4, Figure 11-5). */
export const IA32_APIC_BASE_MSR = 0x1b;
/** IA32_TSC_DEADLINE (SDM 3A 11.5.4.1). */
export const IA32_TSC_DEADLINE_MSR = 0x6e0;

/** The x2APIC MSR that holds the register at xAPIC `offset` (a multiple of 16 below 0x1000). */
export function x2apicMsrForOffset(offset: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset >= APIC_PAGE_SIZE || (offset & 0xf) !== 0) {
    throw new UsageError('bad-argument', `APIC register offset must be a multiple of 16 in [0, 0xff0], got ${describeValue(offset)}`);
  }
  return X2APIC_MSR_BASE + (offset >>> 4);
}

/** The xAPIC page offset of x2APIC MSR `msr` (0x800-0x8ff). */
export function offsetForX2apicMsr(msr: number): number {
  if (!Number.isInteger(msr) || msr < X2APIC_MSR_BASE || msr > X2APIC_MSR_LAST) {
    throw new UsageError('bad-argument', `x2APIC MSR must be an integer in [0x800, 0x8ff], got ${describeValue(msr)}`);
  }
  return (msr - X2APIC_MSR_BASE) << 4;
}

/** Fields of IA32_APIC_BASE (SDM 3A Figure 11-5). Bits 7:0 and 9 are reserved. */
export const APIC_BASE_FIELD = {
  BSP: bitFlag(8),
  EXTD: bitFlag(10),
  EN: bitFlag(11),
} as const;

/** Fields of the version register (SDM 3A 11.4.8, Figure 11-7). */
export const VERSION_FIELD = {
  VERSION: bitRange(7, 0),
  MAX_LVT: bitRange(23, 16),
  EOI_BROADCAST_SUPPRESSION: bitFlag(24),
} as const;

/** Fields of the spurious-interrupt vector register (SDM 3A 11.9, Figure 11-23). */
export const SVR_FIELD = {
  VECTOR: bitRange(7, 0),
  APIC_ENABLED: bitFlag(8),
  FOCUS_DISABLED: bitFlag(9),
  EOI_BROADCAST_SUPPRESSION: bitFlag(12),
} as const;

/** Fields of an LVT entry (SDM 3A 11.5.1, Figure 11-8). Which exist depends on the entry. */
export const LVT_FIELD = {
  VECTOR: bitRange(7, 0),
  DELIVERY_MODE: bitRange(10, 8),
  DELIVERY_STATUS: bitFlag(12),
  POLARITY: bitFlag(13),
  REMOTE_IRR: bitFlag(14),
  TRIGGER: bitFlag(15),
  MASK: bitFlag(16),
  TIMER_MODE: bitRange(18, 17),
} as const;

/** LVT timer modes (SDM 3A 11.5.4, Figure 11-8). */
export const TIMER_MODE = { ONE_SHOT: 0, PERIODIC: 1, TSC_DEADLINE: 2 } as const;

/** Fields of the ICR (SDM 3A 11.6.1, Figure 11-12); the destination is in the high half. */
export const ICR_FIELD = {
  VECTOR: bitRange(7, 0),
  DELIVERY_MODE: bitRange(10, 8),
  DESTINATION_MODE: bitFlag(11),
  DELIVERY_STATUS: bitFlag(12),
  LEVEL: bitFlag(14),
  TRIGGER: bitFlag(15),
  SHORTHAND: bitRange(19, 18),
  /** In the high 32 bits (ICR_HIGH / ICR[63:32]): xAPIC destination. */
  XAPIC_DESTINATION: bitRange(31, 24),
} as const;

/** ICR destination shorthands (SDM 3A 11.6.1). */
export const ICR_SHORTHAND = { NONE: 0, SELF: 1, ALL_INCLUDING_SELF: 2, ALL_EXCLUDING_SELF: 3 } as const;

/** Error status register bits (SDM 3A 11.5.3, Figure 11-9). */
export const ESR_BIT = {
  SEND_CHECKSUM: 1 << 0,
  RECEIVE_CHECKSUM: 1 << 1,
  SEND_ACCEPT: 1 << 2,
  RECEIVE_ACCEPT: 1 << 3,
  REDIRECTABLE_IPI: 1 << 4,
  SEND_ILLEGAL_VECTOR: 1 << 5,
  RECEIVE_ILLEGAL_VECTOR: 1 << 6,
  ILLEGAL_REGISTER_ADDRESS: 1 << 7,
} as const;

/** Logical destination register fields (SDM 3A 11.6.2.2, Figure 11-13). */
export const LDR_FIELD = { XAPIC_LOGICAL_ID: bitRange(31, 24) } as const;
/** Destination format register model field (SDM 3A 11.6.2.2, Figure 11-14): 0b1111 flat, 0b0000 cluster. */
export const DFR_FIELD = { MODEL: bitRange(31, 28) } as const;
/** DFR models. */
export const DFR_MODEL = { CLUSTER: 0x0, FLAT: 0xf } as const;

/** Timer divide configuration bits used (SDM 3A 11.5.4, Figure 11-10): bits 0, 1 and 3. */
export const DIVIDE_CONFIG_MASK = 0xb;

/** Reset values (SDM 3A 11.4.7.1 "Local APIC State After Power-Up or Reset"). */
export const APIC_RESET = {
  TPR: 0,
  LDR: 0,
  DFR: 0xffff_ffff,
  SVR: 0x0000_00ff,
  LVT: 0x0001_0000,
  ICR: 0,
  TIMER_INITIAL_COUNT: 0,
  TIMER_DIVIDE_CONFIG: 0,
  ESR: 0,
} as const;

/** One of the seven LVT entries, in the order of {@link LVT_OFFSETS}. */
export const LVT_INDEX = { CMCI: 0, TIMER: 1, THERMAL: 2, PERF: 3, LINT0: 4, LINT1: 5, ERROR: 6 } as const;
/** Offsets of the LVT entries, indexed by {@link LVT_INDEX}. */
export const LVT_OFFSETS: readonly number[] = [
  APIC_REG.APIC_LVT_CMCI,
  APIC_REG.APIC_LVT_TIMER,
  APIC_REG.APIC_LVT_THERMAL,
  APIC_REG.APIC_LVT_PERF,
  APIC_REG.APIC_LVT_LINT0,
  APIC_REG.APIC_LVT_LINT1,
  APIC_REG.APIC_LVT_ERROR,
];

/** x2APIC logical destination register (SDM 3A 11.12.10.2): cluster in 31:16, one-hot logical ID in 15:0. */
export const X2APIC_LDR_FIELD = { CLUSTER: bitRange(31, 16), LOGICAL_ID: bitRange(15, 0) } as const;

/** Number of 32-bit words of each 256-bit register (ISR, TMR, IRR). */
export const VECTOR_WORDS = 8;
