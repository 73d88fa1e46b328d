/**
 * Storage layout of VMCS fields: each field gets a slot in two parallel
 * Uint32Arrays (bits 31:0 and 63:32). An encoding maps to its slot through a
 * 32K-entry table, so VMREAD/VMWRITE are two array loads. The `_HIGH` alias
 * of a 64-bit field (encoding | 1) maps to the same slot.
 */
import { ENCODING_FIELD, FIELD_WIDTH, type FieldWidth } from './encoding.js';
import { VMCS_FIELD_SPECS, type VmcsFieldSpec } from './field-table.js';
import { getField } from '@hvsim/core';

/** Number of field slots. */
export const FIELD_COUNT = VMCS_FIELD_SPECS.length;

/** Encoding (bits 14:0) to slot * 2 + (1 when the _HIGH alias); -1 when no field. */
const LOOKUP = new Int16Array(0x8000).fill(-1);
/** Width of each slot's field. */
export const SLOT_WIDTH = new Uint8Array(FIELD_COUNT);
/** Spec of each slot's field. */
export const SLOT_SPEC: readonly VmcsFieldSpec[] = VMCS_FIELD_SPECS;

VMCS_FIELD_SPECS.forEach((spec, slot) => {
  const width = getField(spec.encoding, ENCODING_FIELD.WIDTH) as FieldWidth;
  SLOT_WIDTH[slot] = width;
  LOOKUP[spec.encoding] = slot * 2;
  if (width === FIELD_WIDTH.BITS64) LOOKUP[spec.encoding | 1] = slot * 2 + 1;
});

/**
 * Slot code of an encoding: `slot * 2 + high`, or -1 when the encoding names
 * no field (including any encoding with bits 31:15 set, and any number that
 * is not an unsigned 32-bit integer).
 */
export function lookupEncoding(encoding: number): number {
  return encoding >>> 0 === encoding && encoding < 0x8000 ? LOOKUP[encoding]! : -1;
}

/** Slot of a known full encoding; throws for a non-field (a bug in this package). */
export function slotOf(encoding: number): number {
  const code = lookupEncoding(encoding);
  if (code < 0 || (code & 1) !== 0) throw new Error(`internal: 0x${encoding.toString(16)} is not a full VMCS field encoding`);
  return code >> 1;
}
