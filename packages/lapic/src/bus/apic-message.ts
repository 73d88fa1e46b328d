/**
 * What travels on the APIC bus (the system bus in xAPIC/x2APIC systems): an
 * interrupt message with its destination, as an ICR, an IOAPIC redirection
 * entry or an MSI describes it (SDM 3A 11.6.1, 11.11; 82093AA 3.2.4).
 */
import type { DeliveryStatus, TriggerMode } from '@hvsim/core';
import type { DestinationIdentity } from './destination.js';

/** One interrupt message on the APIC bus. Reusable: receivers must not keep it. */
export interface ApicBusMessage {
  /** Message destination address: an APIC ID (physical) or a logical destination (logical). */
  destination: number;
  /** Destination mode: logical (true) or physical (false). */
  logical: boolean;
  /** ICR destination shorthand: 0 none, 1 self, 2 all including self, 3 all excluding self. */
  shorthand: number;
  /** Interrupt vector (0-255; 0-15 are illegal for fixed and lowest-priority messages). */
  vector: number;
  /** Delivery mode as in the ICR: 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 6 SIPI, 7 ExtINT. */
  deliveryMode: number;
  /** Edge or level; level-triggered fixed interrupts set the receiver's TMR bit. */
  trigger: TriggerMode;
  /** Level (assert) bit; a level-triggered message with `level` false is a de-assert. */
  level: boolean;
  /**
   * True when `destination` is a 32-bit x2APIC destination (an IPI from an
   * x2APIC-mode APIC); false for 8-bit xAPIC destinations (xAPIC IPIs,
   * IOAPIC entries, compatibility MSIs). Decides the broadcast address:
   * 0xFFFFFFFF or 0xFF (SDM 3A 11.12.9).
   */
  x2apicDestination: boolean;
  /** Flow identifier of the interrupt (core `InterruptMessage.flow`); 0 or absent: untracked. */
  flow?: number;
}

/**
 * What an interconnect sees of a local APIC: its destination identity and
 * its message input. `LocalApic` is one; ApicBus only attaches LocalApics.
 */
export interface ApicBusEndpoint extends DestinationIdentity {
  /** Accepts a message already resolved to this APIC and says what became of it. */
  acceptBusMessage(message: ApicBusMessage): DeliveryStatus;
}

/**
 * The interconnect a LocalApic sends on. {@link ApicBus} implements
 * it; a VMM with its own routing can implement it instead and
 * `connect` each APIC to it.
 */
export interface ApicBusPort {
  /**
   * Delivers `message` to the APICs it addresses and says what became of it
   * (see ApicBus.deliver for the rule). `sender` is the sending APIC for shorthands.
   */
  deliver(message: ApicBusMessage, sender?: ApicBusEndpoint): DeliveryStatus;
  /** An EOI for a level-triggered vector, broadcast to the IOAPICs (SDM 3A 11.8.5). */
  broadcastEoi(vector: number, sender: ApicBusEndpoint): void;
  /** The APIC's ID, LDR, DFR or mode changed: destination indexes must be updated. */
  apicChanged(apic: ApicBusEndpoint): void;
}

/** A fresh message with every field zero. */
export function emptyMessage(): ApicBusMessage {
  return { destination: 0, logical: false, shorthand: 0, vector: 0, deliveryMode: 0, trigger: 'edge', level: true, x2apicDestination: false, flow: 0 };
}

/**
 * Delivery modes 011b and 110b are reserved in IOAPIC redirection entries
 * (82093AA 3.2.4) and MSI data (SDM 3A 11.11.2): only IPIs carry start-up (110b).
 */
export function isReservedMessageDeliveryMode(mode: number): boolean {
  return mode === 3 || mode === 6;
}
