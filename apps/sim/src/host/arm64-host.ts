/**
 * What an arm64 run needs of its host beyond `SimHost`: the generic timer's
 * counter in the profile's cycles. On arm64 `sendMsi(dest, intid)` is the
 * storm device's wired SPI `intid` (an edge; without an ITS there is no MSI,
 * and the guest routes the SPI), answered DELIVERED: neither the GIC's wire
 * nor arm64's KVM_IRQ_LINE reports "already pending" (api.rst 4.25: the
 * line status is x86's KVM_IRQ_LINE_STATUS). `timerCurrentCount(i)` is CPU
 * i's CNTV_TVAL_EL0, the ticks to its virtual timer's compare (Arm ARM D11.2.4).
 */
import type { SimHost } from './host.js';

/** An arm64 machine running the guest kernel (see the file comment). */
export interface Arm64SimHost extends SimHost {
  /** Cycles per tick of the system counter (the generic timer's CPU clock over its counter frequency). */
  readonly cyclesPerTick: number;
  /** The cycle at which a guest's virtual count (CNTVCT_EL0, `ticks`) was read, to within a tick. */
  counterToCycles(ticks: number): number;
  /** The cycle at which CPU `i`'s virtual timer fires next (its CNTV_CVAL_EL0). */
  timerNextExpiry(i: number): number;
}
