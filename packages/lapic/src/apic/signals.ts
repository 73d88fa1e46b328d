/**
 * Signals that bypass IRR/ISR and go straight to the processor: NMI, SMI,
 * INIT, SIPI and ExtINT (SDM 3A 11.6.1 delivery modes; 11.5.1 LVT).
 */

/** Bits of LocalApic.pendingSignals. */
export const PENDING_SIGNAL = {
  /** An NMI is pending (delivery mode 100). */
  NMI: 1,
  /** An SMI is pending (delivery mode 010). */
  SMI: 2,
  /** An INIT is pending (delivery mode 101). */
  INIT: 4,
  /** A start-up IPI is pending (delivery mode 110); its vector is the SIPI vector. */
  SIPI: 8,
  /** An ExtINT is pending (delivery mode 111): the vector comes from the 8259A. */
  EXTINT: 16,
} as const;
