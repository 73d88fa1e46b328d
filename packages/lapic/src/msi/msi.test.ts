import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '@hvsim/core';
import {
  decodeMsi,
  decodeRemappableMsi,
  encodeMsi,
  encodeRemappableMsi,
  isMsiAddress,
  isRemappableMsi,
  remappableMsiIndex,
  type MsiMessage,
} from './msi.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

describe('compatibility MSI format (SDM 3A 11.11.1-11.11.2)', () => {
  it('decodes the address and data fields', () => {
    // address: dest 0x12, RH=1, DM=1 (logical); data: vector 0x41, lowest priority, level, asserted
    const m = decodeMsi(0xfee1200c, 0xc141);
    expect(m).toEqual({
      destinationId: 0x12,
      destinationMode: 'logical',
      redirectionHint: true,
      vector: 0x41,
      deliveryMode: 1,
      trigger: 'level',
      level: true,
    });
    expect(decodeMsi(0xfee00000, 0x0030)).toMatchObject({ destinationId: 0, destinationMode: 'physical', redirectionHint: false, trigger: 'edge', level: false });
  });

  it('ignores reserved address bits 11:5 unless the extended destination ID is enabled', () => {
    // SDM 3A 11.11.1: bits 11:4 reserved; KVM's extended destination ID puts destination bits 14:8 in 11:5.
    expect(decodeMsi(0xfee01fe0, 0x30).destinationId).toBe(1);
    expect(decodeMsi(0xfee01fe0, 0x30, { extendedDestinationId: true }).destinationId).toBe(0x7f01);
  });

  it('rejects addresses outside the MSI window', () => {
    expect(isMsiAddress(0xfee00000)).toBe(true);
    expect(isMsiAddress(0xfeefffff)).toBe(true);
    expect(isMsiAddress(0xfef00000)).toBe(false);
    expect(isMsiAddress(0xfedfffff)).toBe(false);
    expect(() => decodeMsi(0xfec00000, 0)).toThrow(UsageError);
    expect(() => decodeMsi(0xfec00000, 0)).toThrow('MSI address must be in [0xfee00000, 0xfeefffff], got 4273995776 (0xfec00000)');
    expect(() => decodeMsi(0xfee00000, -1)).toThrow('MSI data must be an unsigned 32-bit integer');
  });

  it('encode/decode round-trips every field', () => {
    const arb = fc.record({
      destinationId: fc.integer({ min: 0, max: 255 }),
      destinationMode: fc.constantFrom('physical' as const, 'logical' as const),
      redirectionHint: fc.boolean(),
      vector: fc.integer({ min: 0, max: 255 }),
      deliveryMode: fc.integer({ min: 0, max: 7 }),
      trigger: fc.constantFrom('edge' as const, 'level' as const),
      level: fc.boolean(),
    });
    fc.assert(
      fc.property(arb, (m: MsiMessage) => {
        const { address, data } = encodeMsi(m);
        expect(isRemappableMsi(address)).toBe(false);
        expect(decodeMsi(address, data)).toEqual(m);
      }),
      { seed, numRuns },
    );
  });

  it('encode validates its input', () => {
    const m: MsiMessage = { destinationId: 256, destinationMode: 'physical', redirectionHint: false, vector: 1, deliveryMode: 0, trigger: 'edge', level: false };
    expect(() => encodeMsi(m)).toThrow('MSI destinationId must be an integer in [0, 255], got 256 (0x100)');
    expect(encodeMsi(m, { extendedDestinationId: true }).address).toBe(0xfee00020);
    expect(() => encodeMsi({ ...m, destinationId: 0, vector: 256 })).toThrow('MSI vector');
  });
});

describe('remappable MSI format (VT-d 5.1.2.2)', () => {
  it('decodes handle, SHV and sub-handle', () => {
    // handle[14:0] = 0x1234 in bits 19:5, handle[15] in bit 2, format bit 4, SHV bit 3
    const address = (0xfee00000 | (0x1234 << 5) | 0x10 | 0x8 | 0x4) >>> 0;
    expect(isRemappableMsi(address)).toBe(true);
    const r = decodeRemappableMsi(address, 0x0000_0005);
    expect(r).toEqual({ handle: 0x9234, shv: true, subhandle: 5 });
    expect(remappableMsiIndex(r)).toBe(0x9239);
    expect(remappableMsiIndex({ ...r, shv: false })).toBe(0x9234);
  });

  it('round-trips', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.boolean(), fc.integer({ min: 0, max: 0xffff }), (handle, shv, sub) => {
        const subhandle = shv ? sub : 0;
        const { address, data } = encodeRemappableMsi({ handle, shv, subhandle });
        expect(isMsiAddress(address)).toBe(true);
        expect(isRemappableMsi(address)).toBe(true);
        expect(decodeRemappableMsi(address, data)).toEqual({ handle, shv, subhandle });
      }),
      { seed, numRuns },
    );
  });
});
