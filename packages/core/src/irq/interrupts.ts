/**
 * How interrupts travel between models. A device, an IOMMU, an ITS or a KVM
 * routing table delivers an {@link InterruptMessage} into any controller that
 * is an {@link InterruptTarget}; wired (level) interrupts are
 * {@link InterruptLine}s; controllers tell their CPU an interrupt is
 * deliverable through a notifier callback, so a halted CPU is woken without
 * polling. Nobody needs to know the concrete class on the other side.
 */

/** Edge-triggered (a one-time event) or level-triggered (a held line). */
export type TriggerMode = 'edge' | 'level';

/**
 * Delivery modes as numbered in the x86 ICR, LVT, IOAPIC redirection entry
 * and MSI data register (SDM 3A 11.6.1). Arm controllers use only FIXED.
 */
export const DELIVERY_MODE = {
  FIXED: 0,
  LOWEST_PRIORITY: 1,
  SMI: 2,
  NMI: 4,
  INIT: 5,
  STARTUP: 6,
  EXTINT: 7,
} as const;

/** A numeric delivery mode, see {@link DELIVERY_MODE}. */
export type DeliveryMode = (typeof DELIVERY_MODE)[keyof typeof DELIVERY_MODE];

/** One interrupt as the interconnect carries it. Reusable: targets must not keep it. */
export interface InterruptMessage {
  /** x86 vector (0-255), or Arm INTID. */
  vector: number;
  /** x86 delivery mode (default {@link DELIVERY_MODE}.FIXED); ignored by Arm controllers. */
  deliveryMode?: number;
  trigger: TriggerMode;
  /** For level-triggered messages, asserted (default) or deasserted. */
  level?: boolean;
  /** Who sent it: a PCI requester ID, the sending APIC ID, an SGI's source CPU. */
  source?: number;
}

/** Anything that accepts an interrupt message: a local APIC, a GIC, a posted-interrupt sink. */
export interface InterruptTarget {
  acceptInterrupt(message: InterruptMessage): void;
}

/**
 * Anything that accepts a message-signalled interrupt as the memory write a
 * device makes: an APIC bus, an IOMMU, an ITS translation frame. `sourceId`
 * is the requester ID (bus:device.function) where the platform carries it.
 */
export interface MsiTarget {
  deliverMsi(address: number, data: number, sourceId?: number): void;
}

/** A wire whose level a device drives: an IOAPIC pin, a GIC SPI, a CPU's IRQ line. */
export interface InterruptLine {
  setLevel(asserted: boolean): void;
}

/** Called by a controller when an interrupt becomes deliverable to its CPU. */
export type InterruptNotifier = () => void;

/** An {@link InterruptLine} that remembers its level and reports changes to `onChange`. */
export class LevelLine implements InterruptLine {
  private asserted = false;

  constructor(private readonly onChange?: (asserted: boolean) => void) {}

  /** Current level of the line. */
  get level(): boolean {
    return this.asserted;
  }

  setLevel(asserted: boolean): void {
    if (asserted === this.asserted) return;
    this.asserted = asserted;
    this.onChange?.(asserted);
  }
}
