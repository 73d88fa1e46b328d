/**
 * Local APIC register layout: the xAPIC MMIO page offsets, the x2APIC MSR
 * numbers derived from them, and the field descriptors of each register.
 * SDM 3A 11.4.1 Table 11-1 "Local APIC Register Address Map" (Table 10-1 in
 * older editions); x2APIC MSR map SDM 3A 11.12.1.2 Table 11-6.
 */
import { UsageError, bitFlag, bitRange, describeValue } from '@hvsim/core';

/**
 * The local APIC registers: offsets in the 4 KiB xAPIC page (SDM 3A 11.4.1
 * Table 11-1), named by the SDM's mnemonics without the `APIC_` prefix. The
 * x2APIC MSR of each is derived from its offset ({@link X2APIC}); what each
 * register does is described once in register-file.ts for both views.
 */
export const APIC = {
  /** `0x20` */
  ID: 0x20,
  /** `0x30` */
  VERSION: 0x30,
  /** `0x80` */
  TPR: 0x80,
  /** `0x90` */
  APR: 0x90,
  /** `0xa0` */
  PPR: 0xa0,
  /** `0xb0` */
  EOI: 0xb0,
  /** `0xc0` */
  RRD: 0xc0,
  /** `0xd0` */
  LDR: 0xd0,
  /** `0xe0` */
  DFR: 0xe0,
  /** `0xf0` */
  SVR: 0xf0,
  /** ISR bits 31:0; ISRn at ISR0 + 0x10 * n. Value `0x100`. */
  ISR0: 0x100,
  /** TMR bits 31:0; TMRn at TMR0 + 0x10 * n. Value `0x180`. */
  TMR0: 0x180,
  /** IRR bits 31:0; IRRn at IRR0 + 0x10 * n. Value `0x200`. */
  IRR0: 0x200,
  /** `0x280` */
  ESR: 0x280,
  /** `0x2f0` */
  LVT_CMCI: 0x2f0,
  /** `0x300` */
  ICR_LOW: 0x300,
  /** `0x310` */
  ICR_HIGH: 0x310,
  /** `0x320` */
  LVT_TIMER: 0x320,
  /** `0x330` */
  LVT_THERMAL: 0x330,
  /** `0x340` */
  LVT_PERF: 0x340,
  /** `0x350` */
  LVT_LINT0: 0x350,
  /** `0x360` */
  LVT_LINT1: 0x360,
  /** `0x370` */
  LVT_ERROR: 0x370,
  /** `0x380` */
  TIMER_INITIAL_COUNT: 0x380,
  /** `0x390` */
  TIMER_CURRENT_COUNT: 0x390,
  /** `0x3e0` */
  TIMER_DIVIDE_CONFIG: 0x3e0,
  /** `0x3f0` */
  SELF_IPI: 0x3f0,
} as const;

/** Name of a local APIC register in {@link APIC}. */
export type ApicRegisterName = keyof typeof APIC;

/** A register table with `APIC_` before every name. */
type Prefixed<T> = { readonly [K in keyof T & string as `APIC_${K}`]: T[K] };

/** `table` under the `APIC_` names (the earlier ones), frozen. */
function prefixed<T extends Readonly<Record<string, number>>>(table: T): Prefixed<T> {
  return Object.freeze(Object.fromEntries(Object.entries(table).map(([k, v]) => [`APIC_${k}`, v]))) as Prefixed<T>;
}

/**
 * Offsets of the local APIC registers with the `APIC_` prefix.
 * @deprecated Use {@link APIC} (`APIC_REG.APIC_EOI` is `APIC.EOI`).
 */
export const APIC_REG: { readonly [K in ApicRegisterName as `APIC_${K}`]: (typeof APIC)[K] } = prefixed(APIC);

/**
 * Name of a local APIC register in {@link APIC_REG}.
 * @deprecated Use {@link ApicRegisterName}.
 */
export type ApicRegName = `APIC_${ApicRegisterName}`;

/** Size of the xAPIC register page. */
export const APIC_PAGE_SIZE = 0x1000;
/** Default physical base of the xAPIC page (SDM 3A 11.4.4). */
export const APIC_DEFAULT_BASE = 0xfee0_0000;

/** First x2APIC MSR: MSR = 0x800 + (xAPIC offset >> 4) (SDM 3A 11.12.1.2). */
export const X2APIC_MSR_BASE = 0x800;
/** Last MSR of the x2APIC range. */
export const X2APIC_MSR_LAST = 0x8ff;
/** Registers of {@link APIC} that have no x2APIC MSR (SDM 3A 11.12.1.2 Table 11-6: APR, RRD, DFR and ICR[63:32] are gone). */
type XapicOnlyName = 'APR' | 'RRD' | 'DFR' | 'ICR_HIGH';

/** Name of a register of {@link APIC} that is an x2APIC MSR: all but APR, RRD, DFR and ICR_HIGH (SDM 3A 11.12.1.2 Table 11-6). */
export type X2apicRegisterName = Exclude<ApicRegisterName, 'APR' | 'RRD' | 'DFR' | 'ICR_HIGH'>;

/**
 * Name of a register that is an x2APIC MSR, with the `APIC_` prefix.
 * @deprecated Use {@link X2apicRegisterName}.
 */
export type X2apicRegName = `APIC_${X2apicRegisterName}`;

const XAPIC_ONLY: readonly string[] = ['APR', 'RRD', 'DFR', 'ICR_HIGH'] satisfies XapicOnlyName[];

/** MSR = 0x800 + (xAPIC offset >> 4): the one formula that maps the two views (SDM 3A 11.12.1.2). */
function msrOf(offset: number): number {
  return X2APIC_MSR_BASE + (offset >>> 4);
}

/**
 * The x2APIC MSR of each register of {@link APIC} (SDM 3A 11.12.1.2 Table
 * 11-6, the IA32_X2APIC_* MSRs), derived from its xAPIC offset, so the
 * numbers are written in one place: `X2APIC.EOI` is 0x80B, `X2APIC.TPR`
 * 0x808, `X2APIC.ICR_LOW` the 64-bit ICR 0x830, `X2APIC.SELF_IPI` 0x83F.
 * APR, RRD, DFR and ICR_HIGH have none.
 */
export const X2APIC: Readonly<Record<X2apicRegisterName, number>> = Object.freeze(
  Object.fromEntries(
    Object.entries(APIC)
      .filter(([name]) => !XAPIC_ONLY.includes(name))
      .map(([name, offset]) => [name, msrOf(offset)]),
  ) as Record<X2apicRegisterName, number>,
);

/**
 * The x2APIC MSRs with the `APIC_` prefix (`X2APIC_MSR.APIC_EOI` is 0x80B).
 * @deprecated Use {@link X2APIC} (`X2APIC_MSR.APIC_EOI` is `X2APIC.EOI`).
 */
export const X2APIC_MSR: Readonly<Record<`APIC_${X2apicRegisterName}`, number>> = prefixed(X2APIC);

/** IA32_APIC_BASE (SDM 3A 11.4.4, Figure 11-5). */
export const IA32_APIC_BASE_MSR = 0x1b;
/** IA32_TSC_DEADLINE (SDM 3A 11.5.4.1). */
export const IA32_TSC_DEADLINE_MSR = 0x6e0;

/** The x2APIC MSR that holds the register at xAPIC `offset` (a multiple of 16 below 0x1000). */
export function x2apicMsrForOffset(offset: number): number {
  if (!Number.isInteger(offset) || offset < 0 || offset >= APIC_PAGE_SIZE || (offset & 0xf) !== 0) {
    throw new UsageError('bad-argument', `APIC register offset must be a multiple of 16 in [0, 0xff0], got ${describeValue(offset)}`);
  }
  return msrOf(offset);
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
  /** Bit 8, BSP: this processor is the bootstrap processor. */
  BSP: bitFlag(8),
  /** Bit 10, EXTD: x2APIC mode enable. */
  EXTD: bitFlag(10),
  /** Bit 11, EN: APIC global enable. */
  EN: bitFlag(11),
} as const;

/** Fields of the version register (SDM 3A 11.4.8, Figure 11-7). */
export const VERSION_FIELD = {
  /** Bits 7:0: version (0x1X for an integrated APIC). */
  VERSION: bitRange(7, 0),
  /** Bits 23:16: number of LVT entries minus 1. */
  MAX_LVT: bitRange(23, 16),
  /** Bit 24: directed EOI (EOI-broadcast suppression) is supported. */
  EOI_BROADCAST_SUPPRESSION: bitFlag(24),
} as const;

/** Fields of the spurious-interrupt vector register (SDM 3A 11.9, Figure 11-23). */
export const SVR_FIELD = {
  /** Bits 7:0: spurious vector. */
  VECTOR: bitRange(7, 0),
  /** Bit 8: APIC software enable. */
  APIC_ENABLED: bitFlag(8),
  /** Bit 9: focus processor checking disabled. */
  FOCUS_DISABLED: bitFlag(9),
  /** Bit 12: suppress EOI broadcasts to IOAPICs. */
  EOI_BROADCAST_SUPPRESSION: bitFlag(12),
} as const;

/** Fields of an LVT entry (SDM 3A 11.5.1, Figure 11-8). Which exist depends on the entry. */
export const LVT_FIELD = {
  /** Bits 7:0: vector. */
  VECTOR: bitRange(7, 0),
  /** Bits 10:8: delivery mode (000 fixed, 010 SMI, 100 NMI, 101 INIT, 111 ExtINT). */
  DELIVERY_MODE: bitRange(10, 8),
  /** Bit 12: delivery status (1 send pending). */
  DELIVERY_STATUS: bitFlag(12),
  /** Bit 13: interrupt input pin polarity (LINT0/1; 1 active low). */
  POLARITY: bitFlag(13),
  /** Bit 14: remote IRR (LINT0/1, level-triggered: accepted, EOI not yet received). */
  REMOTE_IRR: bitFlag(14),
  /** Bit 15: trigger mode (LINT0/1; 1 level). */
  TRIGGER: bitFlag(15),
  /** Bit 16: masked. */
  MASK: bitFlag(16),
  /** Bits 18:17: timer mode (LVT timer only), one of {@link TIMER_MODE}. */
  TIMER_MODE: bitRange(18, 17),
} as const;

/** LVT timer modes (SDM 3A 11.5.4, Figure 11-8). */
export const TIMER_MODE = {
  /** 00: one-shot countdown of the initial count. */
  ONE_SHOT: 0,
  /** 01: periodic, reloading the initial count. */
  PERIODIC: 1,
  /** 10: TSC-deadline, armed through IA32_TSC_DEADLINE (SDM 3A 11.5.4.1). */
  TSC_DEADLINE: 2,
} as const;

/** Fields of the ICR (SDM 3A 11.6.1, Figure 11-12); the destination is in the high half. */
export const ICR_FIELD = {
  /** Bits 7:0: vector. */
  VECTOR: bitRange(7, 0),
  /** Bits 10:8: delivery mode (000 fixed, 001 lowest priority, 010 SMI, 100 NMI, 101 INIT, 110 start-up). */
  DELIVERY_MODE: bitRange(10, 8),
  /** Bit 11: destination mode (0 physical, 1 logical). */
  DESTINATION_MODE: bitFlag(11),
  /** Bit 12: delivery status (1 send pending; always 0 in x2APIC mode). */
  DELIVERY_STATUS: bitFlag(12),
  /** Bit 14: level (0 de-assert, for INIT level de-assert only). */
  LEVEL: bitFlag(14),
  /** Bit 15: trigger mode (0 edge, 1 level). */
  TRIGGER: bitFlag(15),
  /** Bits 19:18: destination shorthand, one of {@link ICR_SHORTHAND}. */
  SHORTHAND: bitRange(19, 18),
  /** In the high 32 bits (ICR_HIGH / ICR[63:32]): xAPIC destination. */
  XAPIC_DESTINATION: bitRange(31, 24),
} as const;

/** ICR destination shorthands (SDM 3A 11.6.1). */
export const ICR_SHORTHAND = {
  /** 00: no shorthand; the destination field names the target. */
  NONE: 0,
  /** 01: the issuing APIC. */
  SELF: 1,
  /** 10: all APICs including the issuer. */
  ALL_INCLUDING_SELF: 2,
  /** 11: all APICs except the issuer. */
  ALL_EXCLUDING_SELF: 3,
} as const;

/** Error status register bits (SDM 3A 11.5.3, Figure 11-9). */
export const ESR_BIT = {
  /** Bit 0: send checksum error (P6/Pentium APIC bus only). */
  SEND_CHECKSUM: 1 << 0,
  /** Bit 1: receive checksum error (P6/Pentium APIC bus only). */
  RECEIVE_CHECKSUM: 1 << 1,
  /** Bit 2: send accept error (P6/Pentium APIC bus only). */
  SEND_ACCEPT: 1 << 2,
  /** Bit 3: receive accept error (P6/Pentium APIC bus only). */
  RECEIVE_ACCEPT: 1 << 3,
  /** Bit 4: redirectable IPI (lowest priority not supported). */
  REDIRECTABLE_IPI: 1 << 4,
  /** Bit 5: send illegal vector (vector 0-15 sent). */
  SEND_ILLEGAL_VECTOR: 1 << 5,
  /** Bit 6: receive illegal vector (vector 0-15 received or in an LVT entry). */
  RECEIVE_ILLEGAL_VECTOR: 1 << 6,
  /** Bit 7: illegal register address (xAPIC access to a reserved offset). */
  ILLEGAL_REGISTER_ADDRESS: 1 << 7,
} as const;

/** Logical destination register fields (SDM 3A 11.6.2.2, Figure 11-13). */
export const LDR_FIELD = {
  /** Bits 31:24: logical APIC ID. */
  XAPIC_LOGICAL_ID: bitRange(31,
  24),
} as const;
/** Destination format register model field (SDM 3A 11.6.2.2, Figure 11-14): 0b1111 flat, 0b0000 cluster. */
export const DFR_FIELD = {
  /** Bits 31:28: model, one of {@link DFR_MODEL}. */
  MODEL: bitRange(31,
  28),
} as const;
/** DFR models. */
export const DFR_MODEL = {
  /** 0000: cluster model (cluster in LDR bits 31:28, member bits in 27:24). */
  CLUSTER: 0x0,
  /** 1111: flat model (one bit per APIC in LDR bits 31:24). */
  FLAT: 0xf,
} as const;

/** Timer divide configuration bits used (SDM 3A 11.5.4, Figure 11-10): bits 0, 1 and 3. */
export const DIVIDE_CONFIG_MASK = 0xb;

/** Reset values (SDM 3A 11.4.7.1 "Local APIC State After Power-Up or Reset"). */
export const APIC_RESET = {
  /** TPR: 0. */
  TPR: 0,
  /** LDR: 0. */
  LDR: 0,
  /** `0xffffffff` */
  DFR: 0xffff_ffff,
  /** `0x000000ff` */
  SVR: 0x0000_00ff,
  /** `0x00010000` */
  LVT: 0x0001_0000,
  /** ICR (both halves): 0. */
  ICR: 0,
  /** Timer initial count: 0. */
  TIMER_INITIAL_COUNT: 0,
  /** Timer divide configuration: 0 (divide by 2). */
  TIMER_DIVIDE_CONFIG: 0,
  /** ESR: 0. */
  ESR: 0,
} as const;

/** One of the seven LVT entries, in the order of {@link LVT_OFFSETS}. */
export const LVT_INDEX = {
  /** LVT CMCI (offset 0x2F0). */
  CMCI: 0,
  /** LVT timer (0x320). */
  TIMER: 1,
  /** LVT thermal sensor (0x330). */
  THERMAL: 2,
  /** LVT performance monitoring counters (0x340). */
  PERF: 3,
  /** LVT LINT0 (0x350). */
  LINT0: 4,
  /** LVT LINT1 (0x360). */
  LINT1: 5,
  /** LVT error (0x370). */
  ERROR: 6,
} as const;
/** Offsets of the LVT entries, indexed by {@link LVT_INDEX}. */
export const LVT_OFFSETS: readonly number[] = [APIC.LVT_CMCI, APIC.LVT_TIMER, APIC.LVT_THERMAL, APIC.LVT_PERF, APIC.LVT_LINT0, APIC.LVT_LINT1, APIC.LVT_ERROR];

/** x2APIC logical destination register (SDM 3A 11.12.10.2): cluster in 31:16, one-hot logical ID in 15:0. */
export const X2APIC_LDR_FIELD = {
  /** Bits 31:16: cluster ID (x2APIC ID bits 19:4). */
  CLUSTER: bitRange(31,
  16),
  /** Bits 15:0: one-hot logical ID within the cluster (1 << x2APIC ID bits 3:0). */
  LOGICAL_ID: bitRange(15,
  0),
} as const;

/** Number of 32-bit words of each 256-bit register (ISR, TMR, IRR). */
export const VECTOR_WORDS = 8;
