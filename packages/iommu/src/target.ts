/**
 * Where the IOMMU's interrupts go: remapped interrupts, posted-interrupt
 * notification events and its own fault and invalidation events.
 */
import type { DeliveryStatus, MsiTarget } from '@hvsim/core';

/**
 * The interrupt target of an {@link IntelIommu}: anything that accepts a
 * compatibility-format MSI write, such as `ApicBus` from `@hvsim/lapic`.
 *
 * A remapped interrupt is re-encoded as a compatibility-format MSI (SDM 3A
 * 11.11): destination in address bits 19:12, RH bit 3, DM bit 2; vector,
 * delivery mode, level (asserted) and trigger in the data. That format has
 * only 8 destination bits, so an IRTE with a 32-bit x2APIC destination
 * (IRTA.EIME = 1) needs {@link IommuInterruptTarget.deliverX2apicMsi}: when
 * the target has it, every EIME = 1 interrupt goes through it; when it does
 * not, EIME = 1 interrupts whose destination fits 8 bits go through
 * `deliverMsi` and wider ones throw a `UsageError` naming the destination
 * (a wiring mistake, not a guest action).
 */
export interface IommuInterruptTarget extends MsiTarget {
  /**
   * Takes a compatibility-format MSI write and says what became of it.
   * `flow` is the flow id the device gave `sendMsi` (0 = untracked), for the
   * target's own trace events; `ApicBus.deliverMsi` takes it.
   */
  deliverMsi(address: number, data: number, sourceId?: number, flow?: number): DeliveryStatus;
  /**
   * Delivers an interrupt addressed to a 32-bit x2APIC destination.
   * `address` is a compatibility MSI address carrying RH (bit 3) and DM
   * (bit 2) with destination bits 19:12 zero; `data` is compatibility MSI data.
   * Returns what became of the interrupt, as `deliverMsi` does.
   */
  deliverX2apicMsi?(destination: number, address: number, data: number, sourceId?: number, flow?: number): DeliveryStatus;
}
