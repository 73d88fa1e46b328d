/**
 * The interrupt command register (SDM 3A 11.6.1, Figure 11-12): which bits
 * software may write in each mode, and sending the IPI an ICR write (or the
 * x2APIC SELF IPI register, 11.12.11) describes.
 */
import { DELIVERY_MODE, fieldMask } from '@hvsim/core';
import { emptyMessage } from '../bus/apic-message.js';
import type { ApicCore } from './apic-core.js';
import { ESR_BIT as IMPORTED_ESR_BIT, ICR_FIELD, ICR_SHORTHAND as IMPORTED_ICR_SHORTHAND } from './regs.js';

// Module-local copies of the imported constants an IPI reads (an imported binding is a getter call under Node's ESM loader).
const FIXED = DELIVERY_MODE.FIXED;
const LOWEST_PRIORITY = DELIVERY_MODE.LOWEST_PRIORITY;
const ESR_BIT = IMPORTED_ESR_BIT;
const ICR_SHORTHAND = IMPORTED_ICR_SHORTHAND;

/** Writable bits of ICR[31:0]: vector, delivery mode, destination mode, level, trigger, shorthand. */
export const ICR_LOW_WRITABLE =
  (fieldMask(ICR_FIELD.VECTOR) |
    fieldMask(ICR_FIELD.DELIVERY_MODE) |
    fieldMask(ICR_FIELD.DESTINATION_MODE) |
    fieldMask(ICR_FIELD.LEVEL) |
    fieldMask(ICR_FIELD.TRIGGER) |
    fieldMask(ICR_FIELD.SHORTHAND)) >>>
  0;
/** ICR[31:0] bits that raise #GP when set by WRMSR 0x830: 31:20, 17:16, 13 (SDM 3A 11.12.9). Bit 12 is ignored. */
export const X2APIC_ICR_RESERVED = 0xfff3_2000;
/** xAPIC ICR_HIGH: only the destination field 31:24 exists. */
export const ICR_HIGH_WRITABLE = fieldMask(ICR_FIELD.XAPIC_DESTINATION);
/** ICR bit 14: level assert. */
const ICR_LEVEL_ASSERT = 1 << 14;
/** ICR bit 15: level-triggered. */
const ICR_TRIGGER_LEVEL = 1 << 15;
/** Delivery modes 3 and 7 are reserved in the ICR (SDM 3A 11.6.1). */
export function isReservedIcrDeliveryMode(mode: number): boolean {
  return mode === 3 || mode === 7;
}

/** Sends the IPI an ICR write describes (SDM 3A 11.6.1). `destination` is 8-bit (xAPIC) or 32-bit (x2APIC). */
export function sendIpi(core: ApicCore, low: number, destination: number): void {
  const vector = low & 0xff;
  const deliveryMode = (low >>> 8) & 7;
  const shorthand = (low >>> 18) & 3;
  if ((deliveryMode === FIXED || deliveryMode === LOWEST_PRIORITY) && vector < 16) {
    core.signalError(ESR_BIT.SEND_ILLEGAL_VECTOR);
  }
  core.tracer?.emit({
    kind: 'ipi.sent',
    cycle: core.clock.now(),
    source: 'lapic',
    cpu: core.config.x2apicId,
    vector,
    destination: shorthand === ICR_SHORTHAND.NONE ? destination : -1,
    args: { deliveryMode, shorthand },
  });
  // Delivery modes 3 and 7 are reserved in the ICR: nothing is sent.
  if (isReservedIcrDeliveryMode(deliveryMode)) return;
  // Processors that cannot send lowest-priority IPIs report a redirectable-IPI error instead (SDM 3A 11.5.3).
  if (deliveryMode === LOWEST_PRIORITY && !core.config.lowestPriorityIpi) {
    core.signalError(ESR_BIT.REDIRECTABLE_IPI);
    return;
  }
  // Pentium 4 and later APICs ignore the ICR level and trigger-mode bits: every IPI is issued
  // edge-triggered and asserted (SDM 3A 11.6.1 ICR fields, Table 11-3 note 2). A level-triggered
  // fixed IPI therefore leaves TMR clear, and an "INIT level de-assert" arrives as an INIT.
  // KVM sends them as written (kvm_apic_send_ipi); option icrLevelTrigger models that.
  const honour = core.config.icrLevelTrigger;
  const levelTriggered = honour && (low & ICR_TRIGGER_LEVEL) !== 0;
  const level = !honour || (low & ICR_LEVEL_ASSERT) !== 0;
  if (shorthand === ICR_SHORTHAND.SELF) {
    core.accept(vector, deliveryMode, levelTriggered, level);
    return;
  }
  // An IPI sent from a receiver's notifier while this one is in flight gets its own message.
  const m = core.ipiDepth === 0 ? core.ipiMessage : emptyMessage();
  m.destination = destination;
  m.logical = (low & 0x800) !== 0;
  m.shorthand = shorthand;
  m.vector = vector;
  m.deliveryMode = deliveryMode;
  m.trigger = levelTriggered ? 'level' : 'edge';
  m.level = level;
  m.flow = 0;
  m.x2apicDestination = core.mode === 'x2apic';
  core.ipiDepth++;
  try {
    if (core.port !== undefined) core.port.deliver(m, core.owner);
    else core.soloDeliver(m);
  } finally {
    core.ipiDepth--;
  }
}

/** x2APIC SELF IPI register: a fixed, edge, self IPI (SDM 3A 11.12.11). */
export function selfIpi(core: ApicCore, vector: number): void {
  if (vector < 16) core.signalError(ESR_BIT.SEND_ILLEGAL_VECTOR);
  core.accept(vector, FIXED, false, true);
}
