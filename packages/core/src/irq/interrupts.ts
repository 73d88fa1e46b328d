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
  /** Fixed: the vector to the destinations. */
  FIXED: 0,
  /** Lowest priority: the vector to one destination of the set. */
  LOWEST_PRIORITY: 1,
  /** SMI: a system-management interrupt (vector ignored). */
  SMI: 2,
  /** NMI: the non-maskable interrupt (vector ignored). */
  NMI: 4,
  /** INIT: the INIT signal. */
  INIT: 5,
  /** Start-up (SIPI): the vector names the start page. */
  STARTUP: 6,
  /** ExtINT: the vector comes from an external 8259 PIC. */
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
  /** Edge or level trigger. */
  trigger: TriggerMode;
  /** For level-triggered messages, asserted (default) or deasserted. */
  level?: boolean;
  /** Who sent it: a PCI requester ID, the sending APIC ID, an SGI's source CPU. */
  source?: number;
  /**
   * Identity of this interrupt along its path (see {@link FlowIds}); trace
   * events about it repeat it in their `flow` field. 0 or absent: untracked.
   */
  flow?: number;
}

/**
 * What became of one interrupt message, as a controller or router reports it.
 * The numbers are those of KVM_IRQ_LINE_STATUS and KVM_SIGNAL_MSI (api.rst
 * 4.25, 4.71): positive delivered, zero coalesced, negative not delivered.
 * - DELIVERED (1): it reached at least one destination and is newly pending there.
 * - COALESCED (0): every destination already had it pending (nothing new happened).
 * - BLOCKED (-1): masked, filtered or refused (a masked pin, a remapping
 *   fault, a disabled controller, no destination matched).
 * - DROPPED (-2): discarded as the spec says (a reserved delivery mode, an
 *   invalid message), with nothing recorded at the destination.
 * Several destinations combine to the greatest status among them.
 */
export const DELIVERY_STATUS = {
  /** Reached a destination and is newly pending there. */
  DELIVERED: 1,
  /** Every destination already had it pending. */
  COALESCED: 0,
  /** Masked, filtered or refused. */
  BLOCKED: -1,
  /** Discarded as the spec says. */
  DROPPED: -2,
} as const;

/** A numeric delivery status, see {@link DELIVERY_STATUS}. */
export type DeliveryStatus = (typeof DELIVERY_STATUS)[keyof typeof DELIVERY_STATUS];

/** Names of the delivery statuses by value (for traces and messages). */
export const DELIVERY_STATUS_NAME: Readonly<Record<DeliveryStatus, 'delivered' | 'coalesced' | 'blocked' | 'dropped'>> = Object.freeze({
  1: 'delivered',
  0: 'coalesced',
  [-1]: 'blocked',
  [-2]: 'dropped',
});

/**
 * Allocates flow identifiers: positive integers, in order, deterministic for a
 * given sequence of calls. One allocator per simulated host.
 */
export class FlowIds {
  private last = 0;

  /** A new flow identifier (1, 2, 3, ...). */
  next(): number {
    this.last = this.last >= 0x7fff_ffff ? 1 : this.last + 1;
    return this.last;
  }

  /** The identifier `next()` returned last (0 before the first). */
  get current(): number {
    return this.last;
  }
}

/** Anything that accepts an interrupt message: a local APIC, a GIC, a posted-interrupt sink. */
export interface InterruptTarget {
  /** Takes the message and says what became of it. */
  acceptInterrupt(message: InterruptMessage): DeliveryStatus;
}

/**
 * Anything that accepts a message-signalled interrupt as the memory write a
 * device makes: an APIC bus, an IOMMU, an ITS translation frame. `sourceId`
 * is the requester ID (bus:device.function) where the platform carries it.
 */
export interface MsiTarget {
  /** Takes the MSI write and says what became of the interrupt. */
  deliverMsi(address: number, data: number, sourceId?: number): DeliveryStatus;
}

/** A wire whose level a device drives: an IOAPIC pin, a GIC SPI, a CPU's IRQ line. */
export interface InterruptLine {
  /** Drives the line: asserted (true) or deasserted (false). */
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

  /** Drives the line; `onChange` hears only changes of level. */
  setLevel(asserted: boolean): void {
    if (asserted === this.asserted) return;
    this.asserted = asserted;
    this.onChange?.(asserted);
  }
}
