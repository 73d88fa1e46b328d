/**
 * VMCS component encodings (SDM 3C "VMREAD, VMWRITE, and Encodings of VMCS
 * Fields", Table "Structure of VMCS Component Encoding"). The width and type
 * of every field follow from its encoding bits.
 */
import { bitFlag, bitRange, getField } from '@hvsim/core';

/** Bits of a 32-bit VMCS component encoding. */
export const ENCODING_FIELD = {
  /** 0 = full, 1 = high (bits 63:32 of a 64-bit field). */
  ACCESS_TYPE: bitFlag(0),
  /** Bits 9:1: index among fields of the same width and type. */
  INDEX: bitRange(9, 1),
  /** 0 control, 1 VM-exit information (read-only data), 2 guest state, 3 host state. */
  TYPE: bitRange(11, 10),
  /** 0 16-bit, 1 64-bit, 2 32-bit, 3 natural-width. */
  WIDTH: bitRange(14, 13),
} as const;

/** Field widths (encoding bits 14:13). */
export const FIELD_WIDTH = {
  /** 0: 16-bit. */
  BITS16: 0,
  /** 1: 64-bit. */
  BITS64: 1,
  /** 2: 32-bit. */
  BITS32: 2,
  /** 3: natural width (64 bits on processors that support Intel 64). */
  NATURAL: 3,
} as const;
/** Field types (encoding bits 11:10). */
export const FIELD_TYPE = {
  /** 0: control. */
  CONTROL: 0,
  /** 1: VM-exit information (read-only data). */
  EXIT_INFO: 1,
  /** 2: guest state. */
  GUEST_STATE: 2,
  /** 3: host state. */
  HOST_STATE: 3,
} as const;

/** Numeric field width (0-3). */
export type FieldWidth = (typeof FIELD_WIDTH)[keyof typeof FIELD_WIDTH];
/** Numeric field type (0-3). */
export type FieldType = (typeof FIELD_TYPE)[keyof typeof FIELD_TYPE];

/** A decoded VMCS component encoding. */
export interface DecodedEncoding {
  /** Access type, bit 0: the encoding names bits 63:32 of a 64-bit field. */
  readonly accessHigh: boolean;
  /** Index, bits 9:1. */
  readonly index: number;
  /** Field type, bits 11:10. */
  readonly type: FieldType;
  /** Width, bits 14:13. */
  readonly width: FieldWidth;
  /** Bits 12 and 31:15 are reserved in an encoding; any set makes it no VMCS component. */
  readonly reservedBitsSet: boolean;
}

const RESERVED_MASK = 0xffff_9000; // bits 31:15 and 12

/** Splits an encoding into its parts (SDM 3C Table "Structure of VMCS Component Encoding"). */
export function decodeEncoding(encoding: number): DecodedEncoding {
  const e = encoding >>> 0;
  return {
    accessHigh: getField(e, ENCODING_FIELD.ACCESS_TYPE) === 1,
    index: getField(e, ENCODING_FIELD.INDEX),
    type: getField(e, ENCODING_FIELD.TYPE) as FieldType,
    width: getField(e, ENCODING_FIELD.WIDTH) as FieldWidth,
    reservedBitsSet: (e & RESERVED_MASK) !== 0,
  };
}

/** Width of a field from its encoding. */
export function encodingWidth(encoding: number): FieldWidth {
  return getField(encoding, ENCODING_FIELD.WIDTH) as FieldWidth;
}

/** Type of a field from its encoding. */
export function encodingType(encoding: number): FieldType {
  return getField(encoding, ENCODING_FIELD.TYPE) as FieldType;
}

/** True for the read-only VM-exit information fields (type 1). */
export function isReadOnlyEncoding(encoding: number): boolean {
  return encodingType(encoding) === FIELD_TYPE.EXIT_INFO;
}
