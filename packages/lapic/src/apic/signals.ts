/**
 * Signals that bypass IRR/ISR and go straight to the processor: NMI, SMI,
 * INIT, SIPI and ExtINT (SDM 3A 11.6.1 delivery modes; 11.5.1 LVT).
 */

/** Bits of LocalApic.pendingSignals. */
export const PENDING_SIGNAL = { NMI: 1, SMI: 2, INIT: 4, SIPI: 8, EXTINT: 16 } as const;
