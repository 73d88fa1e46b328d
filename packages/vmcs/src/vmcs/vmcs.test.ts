import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PhysicalMemory, UsageError } from '@hvsim/core';
import { FIELD_WIDTH, encodingWidth, isReadOnlyEncoding } from '../fields/encoding.js';
import { VMCS_FIELD_SPECS } from '../fields/field-table.js';
import { rootFixture } from '../internal/test-setup.js';
import { Vmcs } from './vmcs.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 200);
const MASK = [0xffffn, 0xffff_ffff_ffff_ffffn, 0xffff_ffffn, 0xffff_ffff_ffff_ffffn];

describe('VMCS field storage (SDM 3C "VMREAD, VMWRITE, and Encodings of VMCS Fields")', () => {
  it('property: VMWRITE then VMREAD returns the value truncated to the field width, for every writable field', () => {
    const { p } = rootFixture({ vmwriteAnyField: true });
    const writable = VMCS_FIELD_SPECS.filter((f) => p.supportsField(f.encoding));
    fc.assert(
      fc.property(fc.constantFrom(...writable), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), (field, value) => {
        expect(p.vmwrite(field.encoding, value).kind).toBe('succeed');
        const r = p.vmread(field.encoding);
        expect(r).toEqual({ kind: 'value', value: value & MASK[encodingWidth(field.encoding)]! });
        if (encodingWidth(field.encoding) === FIELD_WIDTH.BITS64) {
          expect(p.vmread(field.encoding | 1)).toEqual({ kind: 'value', value: (value >> 32n) & 0xffff_ffffn });
        }
      }),
      { seed, numRuns },
    );
  });

  it('property: a VMCS survives VMCLEAR + VMPTRLD through its memory region bit for bit', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...VMCS_FIELD_SPECS), fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), { maxLength: 30 }), (writes) => {
        const memory = new PhysicalMemory();
        memory.addRegion(0, 0x2000);
        const a = new Vmcs(0x1000);
        a.launchState = 'launched';
        for (const [f, v] of writes) a.write(f.encoding, v);
        a.flushTo(memory);
        const b = Vmcs.loadFrom(memory, 0x1000);
        // Compared as JSON text (exact, and cheap enough for every run); a difference is shown field by field.
        const [sa, sb] = [JSON.stringify(a.saveState()), JSON.stringify(b.saveState())];
        if (sa !== sb) expect(b.saveState()).toEqual(a.saveState());
        expect(sb).toBe(sa);
      }),
      { seed, numRuns },
    );
  });

  it('the region format fits in 4 KiB and read-only fields are exactly the type-1 encodings', () => {
    expect(16 + VMCS_FIELD_SPECS.length * 8).toBeLessThanOrEqual(4096);
    const ro = VMCS_FIELD_SPECS.filter((f) => isReadOnlyEncoding(f.encoding)).map((f) => f.name);
    expect(ro).toEqual([
      'GUEST_PHYSICAL_ADDRESS',
      'VM_INSTRUCTION_ERROR',
      'VM_EXIT_REASON',
      'VM_EXIT_INTR_INFO',
      'VM_EXIT_INTR_ERROR_CODE',
      'IDT_VECTORING_INFO_FIELD',
      'IDT_VECTORING_ERROR_CODE',
      'VM_EXIT_INSTRUCTION_LEN',
      'VMX_INSTRUCTION_INFO',
      'EXIT_QUALIFICATION',
      'IO_RCX',
      'IO_RSI',
      'IO_RDI',
      'IO_RIP',
      'GUEST_LINEAR_ADDRESS',
    ]);
  });

  it('names the bad encoding in its error', () => {
    const v = new Vmcs(0);
    expect(() => v.read(0x4001)).toThrow(UsageError);
    expect(() => v.read(0x4001)).toThrow('0x4001 is not a VMCS field encoding (SDM 3C Appendix B)');
    // A non-integer is no encoding at all (it must not round onto a field).
    expect(() => v.read(0x4000 + 0.5)).toThrow('16384.5 is not a VMCS field encoding');
    expect(() => v.read32(-0x4000)).toThrow('-16384 is not a VMCS field encoding');
    v.set('GUEST_RIP', 0x1234n);
    expect(v.get('GUEST_RIP')).toBe(0x1234n);
    v.set('GUEST_INTR_STATUS', 0x3141);
    expect(v.nonZeroFields()).toEqual([['GUEST_INTR_STATUS', 0x3141n], ['GUEST_RIP', 0x1234n]]);
    expect(v.readNumber(0x681e)).toBe(0x1234);
    expect(v.read32(0x681e)).toBe(0x1234);
  });
});
