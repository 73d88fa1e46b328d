import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { UsageError } from '@hvsim/core';
import { ITS_CMD, ITS_COMMAND_LAYOUT, decodeItsCommand, encodeItsCommand, type ItsCommandName } from './commands.js';
import { itsErrorCode } from './errors.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 200);

/** The command as four 64-bit doublewords (IHI0069 5.3.1: DW0 first, little-endian). */
function dwords(w: Uint32Array): bigint[] {
  const out: bigint[] = [];
  for (let i = 0; i < 4; i++) out.push((BigInt(w[2 * i + 1]!) << 32n) | BigInt(w[2 * i]!));
  return out;
}

const field = (dw: bigint, hi: number, lo: number): bigint => (dw >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n);

describe('ITS command encodings (IHI0069 5.3, each command format figure)', () => {
  it('opcodes', () => {
    expect(ITS_CMD).toMatchObject({ MOVI: 0x01, INT: 0x03, CLEAR: 0x04, SYNC: 0x05, MAPD: 0x08, MAPC: 0x09, MAPTI: 0x0a, MAPI: 0x0b, INV: 0x0c, INVALL: 0x0d, MOVALL: 0x0e, DISCARD: 0x0f });
    expect(ITS_CMD).toMatchObject({ VMOVI: 0x21, VMOVP: 0x22, VSGI: 0x23, VSYNC: 0x25, VMAPP: 0x29, VMAPTI: 0x2a, VMAPI: 0x2b, VINVALL: 0x2d, INVDB: 0x2e });
  });

  // Field, doubleword, bit range: the spec's positions, checked against the encoder.
  it.each([
    ['MAPD', 'deviceId', 0xabcd, 0, 63, 32],
    ['MAPD', 'size', 0x13, 1, 4, 0],
    ['MAPD', 'ittAddress', 0x12_3456_7800, 2, 51, 8],
    ['MAPD', 'valid', 1, 2, 63, 63],
    ['MAPC', 'icid', 0xbeef, 2, 15, 0],
    ['MAPC', 'rdbase', 0x1234, 2, 51, 16],
    ['MAPTI', 'eventId', 0x8765_4321, 1, 31, 0],
    ['MAPTI', 'intid', 0x2345, 1, 63, 32],
    ['MOVALL', 'rdbase2', 7, 3, 51, 16],
    ['VMAPTI', 'vpeId', 0x4321, 1, 47, 32],
    ['VMAPTI', 'vintid', 0x3000, 2, 31, 0],
    ['VMAPTI', 'doorbell', 0x2100, 2, 63, 32],
    ['VMOVI', 'doorbellValid', 1, 2, 0, 0],
    ['VMOVP', 'sequenceNumber', 0x55, 0, 47, 32],
    ['VMOVP', 'itsList', 0xff, 1, 15, 0],
    ['VMOVP', 'doorbell', 0x2200, 3, 31, 0],
    ['VMAPP', 'vptAddress', 0x9_0001_0000, 3, 51, 16],
    ['VMAPP', 'vptSize', 0x1f, 3, 7, 0],
    ['VMAPP', 'alloc', 1, 0, 8, 8],
    ['VMAPP', 'ptz', 1, 0, 9, 9],
    ['VMAPP', 'vconfAddress', 0x7_0001_0000, 0, 51, 16],
    ['VMAPP', 'doorbell', 0x2300, 1, 31, 0],
    ['VSGI', 'vintid', 0xc, 0, 35, 32],
    ['VSGI', 'priority', 0xa, 0, 23, 20],
    ['VSGI', 'group', 1, 0, 10, 10],
    ['VSGI', 'clear', 1, 0, 9, 9],
    ['VSGI', 'enable', 1, 0, 8, 8],
  ] as const)('%s.%s = %i sits in DW%i[%i:%i]', (name, key, value, dw, hi, lo) => {
    const w = encodeItsCommand(name, { [key]: value });
    const d = dwords(w);
    // Address fields hold address[hi:lo] in place; other fields hold the value from bit lo.
    const expected = key.endsWith('Address') ? BigInt(value) >> BigInt(lo) : BigInt(value);
    expect(field(d[dw]!, hi, lo)).toBe(expected);
    expect(field(d[0]!, 7, 0)).toBe(BigInt(ITS_CMD[name]));
  });

  it('decode inverts encode for every command and field (property)', () => {
    const names = Object.keys(ITS_COMMAND_LAYOUT) as ItsCommandName[];
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.array(fc.nat(), { minLength: 24, maxLength: 24 }), (name, raw) => {
        const layout = ITS_COMMAND_LAYOUT[name];
        const fields: Record<string, number> = {};
        let i = 0;
        for (const [key, codec] of Object.entries(layout)) {
          // Any multiple of the alignment up to the field's maximum (addresses reach their high word).
          const { max, align } = codec;
          fields[key] = ((raw[i++]! * align) % (max + 1)) - (((raw[i - 1]! * align) % (max + 1)) % align);
        }
        const cmd = decodeItsCommand(encodeItsCommand(name, fields));
        expect(cmd.name).toBe(name);
        for (const [key, v] of Object.entries(fields)) expect(cmd[key as keyof typeof cmd]).toBe(v);
      }),
      { seed, numRuns },
    );
  });

  it('rejects fields a command does not have, values that do not fit and misaligned addresses', () => {
    expect(() => encodeItsCommand('SYNC', { deviceId: 1 })).toThrow(UsageError);
    expect(() => encodeItsCommand('MAPC', { icid: 0x1_0000 })).toThrow(/icid/);
    expect(() => encodeItsCommand('MAPD', { ittAddress: 0x1001 })).toThrow(/aligned to 256/);
    expect(() => encodeItsCommand('BOGUS' as ItsCommandName)).toThrow(/unknown ITS command/);
  });

  it('an unknown opcode decodes with no name', () => {
    const w = new Uint32Array(8);
    w[0] = 0x77;
    expect(decodeItsCommand(w)).toMatchObject({ opcode: 0x77, name: undefined });
  });

  it('error codes follow 0x01 << 16 | opcode << 8 | reason (E_ITS_* values)', () => {
    expect(itsErrorCode(0x08, 'device-out-of-range')).toBe(0x010801);
    expect(itsErrorCode(0x0a, 'intid-out-of-range')).toBe(0x010a06);
    expect(itsErrorCode(0x09, 'processor-out-of-range')).toBe(0x010902);
    expect(itsErrorCode(0x0e, 'processor-out-of-range')).toBe(0x010e01);
    expect(itsErrorCode(0x0d, 'unmapped-collection')).toBe(0x010d09);
  });
});
