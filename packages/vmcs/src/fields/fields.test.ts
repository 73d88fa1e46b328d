import { describe, expect, it } from 'vitest';
import { ENCODING_FIELD, FIELD_TYPE, FIELD_WIDTH, decodeEncoding, encodingType, encodingWidth, isReadOnlyEncoding } from './encoding.js';
import { VMCS_FIELD, VMCS_FIELD_SPECS } from './field-table.js';
import { FIELD_COUNT, lookupEncoding } from './slots.js';
import { getField } from '@hvsim/core';

// SDM 3C (083) "VMREAD, VMWRITE, and Encodings of VMCS Fields", Table "Structure of VMCS Component Encoding".
describe('VMCS component encodings (SDM 3C "Encodings of VMCS Fields")', () => {
  it('decodes the worked example 0x4826 (guest activity state)', () => {
    expect(decodeEncoding(0x4826)).toEqual({ accessHigh: false, index: 0x13, type: FIELD_TYPE.GUEST_STATE, width: FIELD_WIDTH.BITS32, reservedBitsSet: false });
    expect(decodeEncoding(0x2001).accessHigh).toBe(true);
    expect(decodeEncoding(0x1_0000).reservedBitsSet).toBe(true);
    expect(decodeEncoding(0x1000).reservedBitsSet).toBe(true); // bit 12
  });

  it('every Appendix B field has a valid full encoding whose section matches its width and type', () => {
    const seen = new Set<number>();
    for (const f of VMCS_FIELD_SPECS) {
      const d = decodeEncoding(f.encoding);
      expect(d.reservedBitsSet, f.name).toBe(false);
      expect(d.accessHigh, f.name).toBe(false);
      expect(seen.has(f.encoding), f.name).toBe(false);
      seen.add(f.encoding);
      // Appendix B sections are grouped by width then type: the encoding's top bits say which.
      expect(f.encoding >>> 10, f.name).toBe(d.width * 8 + d.type);
      if (f.name.startsWith('GUEST_') && f.name !== 'GUEST_PHYSICAL_ADDRESS' && f.name !== 'GUEST_LINEAR_ADDRESS') expect(d.type, f.name).toBe(FIELD_TYPE.GUEST_STATE);
      if (f.name.startsWith('HOST_')) expect(d.type, f.name).toBe(FIELD_TYPE.HOST_STATE);
    }
    expect(FIELD_COUNT).toBe(VMCS_FIELD_SPECS.length);
    expect(FIELD_COUNT).toBeGreaterThanOrEqual(170);
  });

  it('derives width and type of the fields this project relies on (x86.md 8)', () => {
    const table: [keyof typeof VMCS_FIELD, number, number, number][] = [
      ['VIRTUAL_PROCESSOR_ID', 0x0000, FIELD_WIDTH.BITS16, FIELD_TYPE.CONTROL],
      ['POSTED_INTR_NV', 0x0002, FIELD_WIDTH.BITS16, FIELD_TYPE.CONTROL],
      ['GUEST_INTR_STATUS', 0x0810, FIELD_WIDTH.BITS16, FIELD_TYPE.GUEST_STATE],
      ['MSR_BITMAP', 0x2004, FIELD_WIDTH.BITS64, FIELD_TYPE.CONTROL],
      ['VIRTUAL_APIC_PAGE_ADDR', 0x2012, FIELD_WIDTH.BITS64, FIELD_TYPE.CONTROL],
      ['APIC_ACCESS_ADDR', 0x2014, FIELD_WIDTH.BITS64, FIELD_TYPE.CONTROL],
      ['POSTED_INTR_DESC_ADDR', 0x2016, FIELD_WIDTH.BITS64, FIELD_TYPE.CONTROL],
      ['EOI_EXIT_BITMAP3', 0x2022, FIELD_WIDTH.BITS64, FIELD_TYPE.CONTROL],
      ['GUEST_PHYSICAL_ADDRESS', 0x2400, FIELD_WIDTH.BITS64, FIELD_TYPE.EXIT_INFO],
      ['VMCS_LINK_POINTER', 0x2800, FIELD_WIDTH.BITS64, FIELD_TYPE.GUEST_STATE],
      ['PIN_BASED_VM_EXEC_CONTROL', 0x4000, FIELD_WIDTH.BITS32, FIELD_TYPE.CONTROL],
      ['TPR_THRESHOLD', 0x401c, FIELD_WIDTH.BITS32, FIELD_TYPE.CONTROL],
      ['VM_INSTRUCTION_ERROR', 0x4400, FIELD_WIDTH.BITS32, FIELD_TYPE.EXIT_INFO],
      ['VMX_INSTRUCTION_INFO', 0x440e, FIELD_WIDTH.BITS32, FIELD_TYPE.EXIT_INFO],
      ['GUEST_ACTIVITY_STATE', 0x4826, FIELD_WIDTH.BITS32, FIELD_TYPE.GUEST_STATE],
      ['VMX_PREEMPTION_TIMER_VALUE', 0x482e, FIELD_WIDTH.BITS32, FIELD_TYPE.GUEST_STATE],
      ['EXIT_QUALIFICATION', 0x6400, FIELD_WIDTH.NATURAL, FIELD_TYPE.EXIT_INFO],
      ['GUEST_RIP', 0x681e, FIELD_WIDTH.NATURAL, FIELD_TYPE.GUEST_STATE],
      ['HOST_RIP', 0x6c16, FIELD_WIDTH.NATURAL, FIELD_TYPE.HOST_STATE],
    ];
    for (const [name, enc, width, type] of table) {
      expect(VMCS_FIELD[name], name).toBe(enc);
      expect(encodingWidth(enc), name).toBe(width);
      expect(encodingType(enc), name).toBe(type);
      expect(isReadOnlyEncoding(enc), name).toBe(type === FIELD_TYPE.EXIT_INFO);
    }
    expect(getField(0x681e, ENCODING_FIELD.INDEX)).toBe(0xf);
  });

  it('maps _HIGH aliases of 64-bit fields only (SDM 3C: "access type" must be full for other widths)', () => {
    for (const f of VMCS_FIELD_SPECS) {
      const full = lookupEncoding(f.encoding);
      expect(full & 1).toBe(0);
      const high = lookupEncoding(f.encoding | 1);
      if (encodingWidth(f.encoding) === FIELD_WIDTH.BITS64) expect(high, f.name).toBe(full + 1);
      else expect(high, f.name).toBe(-1);
    }
    expect(lookupEncoding(0x7fff_ffff)).toBe(-1);
    expect(lookupEncoding(0x6c1e)).toBe(-1); // past the last host natural-width field
  });
});
