/**
 * INTID ranges (IHI0069 2.2, "INTIDs"; IHI0048B 2.2.1, "Interrupt IDs").
 */

/** First Software Generated Interrupt. */
export const SGI_BASE = 0;
/** Number of SGIs per CPU interface. */
export const SGI_COUNT = 16;
/** First Private Peripheral Interrupt. */
export const PPI_BASE = 16;
/** Number of PPIs per CPU interface (without the GICv3.1 extended range). */
export const PPI_COUNT = 16;
/** First Shared Peripheral Interrupt. */
export const SPI_BASE = 32;
/** Highest INTID an SPI can have. */
export const SPI_MAX = 1019;
/** Number of banked (per-CPU) INTIDs: the SGIs and PPIs. */
export const PRIVATE_COUNT = 32;
/** IHI0069 2.2.1: returned to EL3 when the HPPI is Secure Group 1 (not used with DS = 1). */
export const INTID_SECURE = 1020;
/** IHI0069 2.2.1: returned to EL3 when the HPPI is Non-secure Group 1 (not used with DS = 1). */
export const INTID_NONSECURE = 1021;
/** IHI0048B 3.4.3: returned by GICC_IAR when the HPPI is Group 1 and AckCtl is 0. */
export const INTID_GROUP1_NOT_ACKED = 1022;
/** The spurious INTID: nothing to acknowledge (IHI0048B 3.2.5, IHI0069 2.2.1). */
export const INTID_SPURIOUS = 1023;
/** First LPI (IHI0069 5.1): LPIs live in memory tables and are added by the ITS work. */
export const LPI_BASE = 8192;

/** True for 1020-1023, the INTIDs that never name an interrupt. */
export function isSpecialIntid(intid: number): boolean {
  return intid >= INTID_SECURE && intid <= INTID_SPURIOUS;
}

/** The kind of an INTID, for messages and routing. */
export type IntidKind = 'sgi' | 'ppi' | 'spi' | 'special' | 'reserved' | 'lpi';

/** Classifies an INTID (IHI0069 Table 2-1). */
export function intidKind(intid: number): IntidKind {
  if (intid < PPI_BASE) return 'sgi';
  if (intid < SPI_BASE) return 'ppi';
  if (intid <= SPI_MAX) return 'spi';
  if (intid <= INTID_SPURIOUS) return 'special';
  if (intid >= LPI_BASE) return 'lpi';
  return 'reserved';
}
