/**
 * Generic timer register fields, timer identities, interrupt numbers and
 * reset values (Arm ARM DDI 0487, D11.2 "The AArch64 view of the Generic
 * Timer" and the register descriptions of CNTP_CTL_EL0, CNTV_CTL_EL0,
 * CNTHP_CTL_EL2, CNTKCTL_EL1 and CNTHCTL_EL2).
 *
 * Section numbers in this folder are those of DDI 0487E.a, where the Generic
 * Timer is chapter D11 (D11.1.2 the system counter, D11.2 the AArch64 view,
 * D11.2.4 the timers); recent editions renumber it to chapter D12 and put
 * the register pages in D24.10, so registers are cited by page name.
 */
import { bitFlag, bitRange, fieldMask } from '@hvsim/core';

/**
 * The per-PE timers this model implements, as indices: the EL1 physical timer
 * (CNTP_*_EL0), the virtual timer (CNTV_*_EL0) and the EL2 physical timer
 * (CNTHP_*_EL2) (Arm ARM D11.2.4 "Timers").
 */
export const TIMER = {
  /** 0: EL1 physical timer, CNTP_*_EL0. */
  CNTP: 0,
  /** 1: virtual timer, CNTV_*_EL0. */
  CNTV: 1,
  /** 2: EL2 physical timer, CNTHP_*_EL2. */
  CNTHP: 2,
} as const;

/** A timer's index, see {@link TIMER}. */
export type TimerId = (typeof TIMER)[keyof typeof TIMER];

/** A timer's name: `'CNTP'`, `'CNTV'` or `'CNTHP'`. */
export type TimerName = keyof typeof TIMER;

/** Number of timers per PE. */
export const TIMERS_PER_CPU = 3;

/** Most PEs one GenericTimer serves. */
export const MAX_TIMER_CPUS = 1024;

/** Timer names indexed by {@link TimerId}. */
export const TIMER_NAMES: readonly TimerName[] = ['CNTP', 'CNTV', 'CNTHP'];

/**
 * The PPIs the timers drive by default: the Arm Base System Architecture
 * assignments (Arm DEN0094 BSA 3.6, PPI assignments; also QEMU's
 * include/hw/arm/bsa.h `ARCH_TIMER_*_IRQ`): 30 for the EL1
 * physical timer, 27 for the virtual timer, 26 for the EL2 physical timer.
 */
export const TIMER_PPI = {
  /** PPI 30 (INTID 30): EL1 physical timer. */
  CNTP: 30,
  /** PPI 27: virtual timer. */
  CNTV: 27,
  /** PPI 26: EL2 physical timer. */
  CNTHP: 26,
} as const;

/** CNTP_CTL_EL0 / CNTV_CTL_EL0 / CNTHP_CTL_EL2 fields (Arm ARM, CNTP_CTL_EL0 register page); bits [63:3] are RES0. */
export const CNT_CTL = {
  /** Timer enabled. */
  ENABLE: bitFlag(0),
  /** Timer interrupt masked (the condition still shows in ISTATUS). */
  IMASK: bitFlag(1),
  /** Timer condition met (read-only). */
  ISTATUS: bitFlag(2),
} as const;

/** The software-writable bits of a timer CTL register: ENABLE and IMASK. */
export const CNT_CTL_WRITABLE = fieldMask(CNT_CTL.ENABLE) | fieldMask(CNT_CTL.IMASK);

/**
 * CNTKCTL_EL1 fields (Arm ARM, CNTKCTL_EL1 register page): EL0 access to the counters
 * and timers, and the event stream.
 */
export const CNTKCTL = {
  /** Bit 0: EL0 may read CNTPCT_EL0 (and CNTFRQ_EL0). */
  EL0PCTEN: bitFlag(0),
  /** Bit 1: EL0 may read CNTVCT_EL0 (and CNTFRQ_EL0). */
  EL0VCTEN: bitFlag(1),
  /** Bit 2: event stream enable. */
  EVNTEN: bitFlag(2),
  /** Bit 3: event on a 1-to-0 (1) or 0-to-1 (0) transition of the trigger bit. */
  EVNTDIR: bitFlag(3),
  /** Bits [7:4]: counter bit that triggers the event stream. */
  EVNTI: bitRange(7, 4),
  /** Bit 8: EL0 may access the virtual timer registers. */
  EL0VTEN: bitFlag(8),
  /** Bit 9: EL0 may access the EL1 physical timer registers. */
  EL0PTEN: bitFlag(9),
} as const;

/** The CNTKCTL_EL1 bits this model keeps (the rest are RES0 without FEAT_ECV). */
export const CNTKCTL_WRITABLE = 0x3ff;

/**
 * CNTHCTL_EL2 fields when HCR_EL2.E2H is 0 (Arm ARM, CNTHCTL_EL2 register page): EL1
 * (and EL0) access to the physical counter and the EL1 physical timer.
 */
export const CNTHCTL = {
  /** Bit 0: EL1 and EL0 may read CNTPCT_EL0. */
  EL1PCTEN: bitFlag(0),
  /** Bit 1: EL1 and EL0 may access the EL1 physical timer registers. */
  EL1PCEN: bitFlag(1),
  /** Bit 2: event stream enable. */
  EVNTEN: bitFlag(2),
  /** Bit 3: event on a 1-to-0 (1) or 0-to-1 (0) transition of the trigger bit. */
  EVNTDIR: bitFlag(3),
  /** Bits [7:4]: counter bit that triggers the event stream. */
  EVNTI: bitRange(7, 4),
} as const;

/**
 * CNTHCTL_EL2 fields when HCR_EL2.E2H is 1 (FEAT_VHE): the EL0 controls take
 * CNTKCTL_EL1's positions and the EL1 trap controls are EL1PCTEN (bit 10) and EL1PTEN (bit 11).
 */
export const CNTHCTL_E2H = {
  /** Bit 0: EL0 may read CNTPCT_EL0. */
  EL0PCTEN: bitFlag(0),
  /** Bit 1: EL0 may read CNTVCT_EL0. */
  EL0VCTEN: bitFlag(1),
  /** Bit 2: event stream enable. */
  EVNTEN: bitFlag(2),
  /** Bit 3: event on a 1-to-0 (1) or 0-to-1 (0) transition of the trigger bit. */
  EVNTDIR: bitFlag(3),
  /** Bits [7:4]: counter bit that triggers the event stream. */
  EVNTI: bitRange(7, 4),
  /** Bit 8: EL0 may access the virtual timer registers. */
  EL0VTEN: bitFlag(8),
  /** Bit 9: EL0 may access the EL1 physical timer registers. */
  EL0PTEN: bitFlag(9),
  /** Bit 10: EL1 may read CNTPCT_EL0 (else trapped to EL2). */
  EL1PCTEN: bitFlag(10),
  /** Bit 11: EL1 may access the EL1 physical timer registers (else trapped to EL2). */
  EL1PTEN: bitFlag(11),
} as const;

/** The CNTHCTL_EL2 bits this model keeps, by HCR_EL2.E2H (ECV bits are not implemented). */
export const CNTHCTL_WRITABLE = { E2H0: 0xff, E2H1: 0xfff } as const;

/**
 * Reset values. The architecture leaves every one of these UNKNOWN on a warm
 * reset; the model picks fixed values so runs are deterministic:
 * - CTL 0: timers disabled (ENABLE resets UNKNOWN; Linux writes CTL before use);
 * - CVAL 0 and CNTVOFF_EL2 0;
 * - CNTKCTL_EL1 0: EL0 has no counter or timer access until the OS grants it;
 * - CNTHCTL_EL2: EL1PCTEN and EL1PCEN set, as firmware leaves it for an OS
 *   entered at EL1 (no trap), in whichever layout E2H selects.
 * CNTFRQ_EL0 resets to the configured counter frequency, as if firmware had
 * programmed it (it is UNKNOWN until the highest EL writes it).
 */
export const TIMER_RESET = {
  /** Timer CTL registers: 0, disabled. */
  CTL: 0,
  /** Timer CVAL registers: 0. */
  CVAL: 0,
  /** CNTVOFF_EL2: 0. */
  CNTVOFF: 0,
  /** CNTKCTL_EL1: 0, no EL0 access. */
  CNTKCTL: 0,
  /** CNTHCTL_EL2 with E2H = 0: EL1PCTEN and EL1PCEN set. */
  CNTHCTL_E2H0: 0b11,
  /** CNTHCTL_EL2 with E2H = 1: EL1PCTEN and EL1PTEN set. */
  CNTHCTL_E2H1: 0b11 << 10,
} as const;

/**
 * Default counter frequency: 62.5 MHz (a 16 ns tick), the frequency QEMU's
 * `virt` board gave its counter for years and so what most KVM-on-QEMU
 * guests have seen in CNTFRQ_EL0; it divides the default 2.5 GHz CPU clock
 * exactly (40 cycles per tick). Armv8.6 systems run the counter at 1 GHz
 * (D11.1.2), which the `counterFrequencyHz` option also models exactly.
 */
export const DEFAULT_COUNTER_FREQUENCY_HZ = 62_500_000;

/** Default CPU clock rate: 2.5 GHz, the same default as `@hvsim/lapic`'s TSC. */
export const DEFAULT_CPU_FREQUENCY_HZ = 2_500_000_000;
