/**
 * Interrupt priority arithmetic (SDM 3A 11.8.3.1 "Task and Processor
 * Priorities", 11.6.2.4 arbitration priority). The priority class of a
 * vector is its bits 7:4.
 */

/** Priority class of a vector or priority register: bits 7:4. */
export function priorityClass(value: number): number {
  return (value >>> 4) & 0xf;
}

/**
 * PPR from TPR and the highest in-service vector ISRV (0 when none):
 * PPR = TPR when TPR[7:4] >= ISRV[7:4], else ISRV[7:4] << 4 (SDM 3A 11.8.3.1).
 */
export function computePpr(tpr: number, isrv: number): number {
  return (tpr & 0xf0) >= (isrv & 0xf0) ? tpr & 0xff : isrv & 0xf0;
}

/**
 * APR as the SDM defines it for the P6 family (SDM 3A 11.6.2.4 figure
 * "Arbitration Priority Register"): TPR when TPR[7:4] >= IRRV[7:4] and
 * TPR[7:4] > ISRV[7:4]; otherwise max(TPR[7:4] AND ISRV[7:4], IRRV[7:4]) << 4.
 * IRRV and ISRV are the highest vectors in IRR and ISR (0 when none).
 */
export function computeApr(tpr: number, isrv: number, irrv: number): number {
  const t = priorityClass(tpr);
  const s = priorityClass(isrv);
  const r = priorityClass(irrv);
  if (t >= r && t > s) return tpr & 0xff;
  return Math.max(t & s, r) << 4;
}
