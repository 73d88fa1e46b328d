/**
 * Adapts an `ApicBus` from `@hvsim/lapic` (or anything with its
 * `deliverMsi` and `deliver` methods) into an {@link IommuInterruptTarget},
 * so remapped interrupts with 32-bit x2APIC destinations reach the bus as
 * bus messages with a 32-bit destination instead of compatibility MSIs.
 * The bus's delivery status (and the request's flow id) pass through.
 */
import type { DeliveryStatus } from '@hvsim/core';
import type { ApicBusMessage } from '@hvsim/lapic';
import type { IommuInterruptTarget } from './target.js';

/** The part of `ApicBus` the adapter uses. */
export interface ApicBusLike {
  /** Delivers a compatibility-format MSI write (address, data) from requester `sourceId`. */
  deliverMsi(address: number, data: number, sourceId?: number, flow?: number): DeliveryStatus;
  /** Delivers a decoded message (used for 32-bit x2APIC destinations an MSI address cannot carry). */
  deliver(message: ApicBusMessage): DeliveryStatus;
}

/** An interrupt target delivering through `bus`: compatibility MSIs as written, x2APIC destinations as 32-bit bus messages. */
export function apicBusTarget(bus: ApicBusLike): IommuInterruptTarget {
  // One message object, reused: the bus resolves it before returning.
  const message: ApicBusMessage = {
    destination: 0,
    logical: false,
    shorthand: 0,
    vector: 0,
    deliveryMode: 0,
    trigger: 'edge',
    level: true,
    x2apicDestination: true,
    flow: 0,
  };
  return {
    deliverMsi(address, data, sourceId, flow) {
      return bus.deliverMsi(address, data, sourceId, flow ?? 0);
    },
    deliverX2apicMsi(destination, address, data, _sourceId, flow) {
      // Compatibility MSI fields (SDM 3A 11.11): DM address bit 2; vector, delivery mode, level, trigger in the data.
      message.destination = destination;
      message.logical = (address & 0x4) !== 0;
      message.vector = data & 0xff;
      message.deliveryMode = (data >>> 8) & 7;
      message.trigger = (data & 0x8000) !== 0 ? 'level' : 'edge';
      message.level = (data & 0x4000) !== 0;
      message.flow = flow ?? 0;
      return bus.deliver(message);
    },
  };
}
