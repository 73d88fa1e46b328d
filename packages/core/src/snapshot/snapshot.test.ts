import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Bitmap } from '../bits/bitmap.js';
import { base64ToBytes, bigintToHex, bitmapFromHex, bitmapToHex, bytesToBase64, hexToBigint } from './encoding.js';
import { SnapshotError } from './snapshot-error.js';
import { readState } from './state-reader.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 200);

function kindOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    if (e instanceof SnapshotError) return `${e.kind}: ${e.message}`;
    throw e;
  }
  return 'no error';
}

describe('readState', () => {
  it('accepts a state of the right type and version', () => {
    const r = readState({ type: 'hvsim.x', version: 2, n: 5 }, 'hvsim.x', 2);
    expect(r.int('n', 0, 10)).toBe(5);
  });

  it('rejects foreign, wrong-version and non-object states', () => {
    expect(kindOf(() => readState({ type: 'hvsim.y', version: 1 }, 'hvsim.x', 1))).toBe('foreign: hvsim.x: cannot restore a state of type "hvsim.y"');
    expect(kindOf(() => readState({ type: 'hvsim.x', version: 3 }, 'hvsim.x', 1))).toBe('version: hvsim.x: state version 3 (0x3) is not supported (expected 1)');
    expect(kindOf(() => readState([1], 'hvsim.x', 1))).toBe('shape: hvsim.x: a saved state must be an object, got an array');
  });

  it('validates each field and names its full path', () => {
    const r = readState(
      {
        type: 'hvsim.x',
        version: 1,
        id: 300,
        on: 'yes',
        mode: 'x2apic',
        cpus: [{ ppr: 0x20 }, { ppr: -1 }],
        inner: { deadline: '0x10' },
        list: [1, 2, 'x'],
      },
      'hvsim.x',
      1,
    );
    expect(kindOf(() => r.int('id', 0, 255))).toBe('shape: hvsim.x.id must be an integer in [0, 255], got 300 (0x12c)');
    expect(kindOf(() => r.bool('on'))).toBe('shape: hvsim.x.on must be a boolean, got "yes"');
    expect(r.oneOf('mode', ['xapic', 'x2apic'] as const)).toBe('x2apic');
    expect(kindOf(() => r.oneOf('mode', ['disabled'] as const))).toBe('shape: hvsim.x.mode must be one of disabled, got "x2apic"');
    expect(kindOf(() => r.array('cpus', (c) => c.int('ppr', 0, 255)))).toBe('shape: hvsim.x.cpus[1].ppr must be an integer in [0, 255], got -1');
    expect(kindOf(() => r.array('cpus', (c) => c.int('ppr', 0, 255), 3))).toMatch(/cpus must be an array of 3/);
    expect(r.object('inner').bigint('deadline')).toBe(16n);
    expect(kindOf(() => r.object('missing'))).toBe('shape: hvsim.x.missing must be an object, got nothing');
    expect(kindOf(() => r.intArray('list', 0, 9))).toBe('shape: hvsim.x.list[2] must be an integer in [0, 9], got "x"');
    expect(kindOf(() => r.string('id'))).toMatch(/id must be a string/);
    expect(kindOf(() => r.number('on'))).toMatch(/on must be a finite number/);
    expect(r.has('id')).toBe(true);
    expect(r.has('nope')).toBe(false);
    expect(r.raw('mode')).toBe('x2apic');
  });
});

describe('encodings', () => {
  it('encodes bigints as hex and checks the width on decode', () => {
    expect(bigintToHex(0xfee00900n)).toBe('0xfee00900');
    expect(hexToBigint('0xFFFFFFFFFFFFFFFF', 'p')).toBe(0xffff_ffff_ffff_ffffn);
    expect(kindOf(() => hexToBigint('0x1ffff', 'p', 16))).toBe('shape: p = 0x1ffff does not fit in 16 bits');
    expect(kindOf(() => hexToBigint('12', 'p'))).toMatch(/p must be a 0x-prefixed hex string, got "12"/);
    expect(kindOf(() => hexToBigint(12, 'p'))).toMatch(/got number/);
  });

  it('encodes bitmaps as hex words and rejects the wrong size or stray bits', () => {
    const b = new Bitmap(256);
    b.set(0);
    b.set(255);
    const hex = bitmapToHex(b);
    expect(hex).toHaveLength(64);
    expect(hex.startsWith('8')).toBe(true);
    expect(bitmapFromHex(hex, new Bitmap(256), 'irr').toArray()).toEqual([0, 255]);
    expect(kindOf(() => bitmapFromHex(hex, new Bitmap(128), 'irr'))).toBe('shape: irr must be 32 hex digits for a 128-bit set');
    expect(kindOf(() => bitmapFromHex('000000ff', new Bitmap(4), 'x'))).toBe('shape: x has bits set beyond bit 3');
  });

  it('round-trips bytes through base64 (property) and matches RFC 4648 vectors', () => {
    const enc = (s: string): string => bytesToBase64(new TextEncoder().encode(s));
    // RFC 4648 section 10 test vectors.
    expect([enc(''), enc('f'), enc('fo'), enc('foo'), enc('foob'), enc('fooba'), enc('foobar')]).toEqual(['', 'Zg==', 'Zm8=', 'Zm9v', 'Zm9vYg==', 'Zm9vYmE=', 'Zm9vYmFy']);
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 100 }), (bytes) => {
        expect(base64ToBytes(bytesToBase64(bytes), 'b')).toEqual(bytes);
      }),
      { seed, numRuns },
    );
    expect(kindOf(() => base64ToBytes('Zm9', 'b'))).toBe('shape: b must be a base64 string');
    expect(kindOf(() => base64ToBytes('Zm9*', 'b'))).toBe('shape: b is not valid base64 (character 3)');
    expect(kindOf(() => base64ToBytes('Z=9v', 'b'))).toMatch(/not valid base64/);
  });
});
