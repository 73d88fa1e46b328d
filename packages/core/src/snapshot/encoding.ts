/**
 * Encodings that keep saved states JSON-safe: 64-bit values as hex strings,
 * bitmaps as hex words, byte arrays as base64. Decoders validate and name the
 * field they were decoding in their error.
 */
import { Bitmap } from '../bits/bitmap.js';
import { SnapshotError } from './snapshot-error.js';

/** `0x`-prefixed lowercase hex of a non-negative bigint. */
export function bigintToHex(value: bigint): string {
  return `0x${value.toString(16)}`;
}

/** Parses {@link bigintToHex}'s output; `bits` bounds the value (default 64). */
export function hexToBigint(text: unknown, path: string, bits = 64): bigint {
  if (typeof text !== 'string' || !/^0x[0-9a-f]+$/i.test(text)) {
    throw new SnapshotError('shape', `${path} must be a 0x-prefixed hex string, got ${typeof text === 'string' ? JSON.stringify(text) : typeof text}`);
  }
  const v = BigInt(text);
  if (v >> BigInt(bits) !== 0n) throw new SnapshotError('shape', `${path} = ${text} does not fit in ${bits} bits`);
  return v;
}

/** A bitmap as one hex string, most significant word first, 8 digits per word. */
export function bitmapToHex(map: Bitmap): string {
  let s = '';
  for (let i = map.words.length - 1; i >= 0; i--) s += map.words[i]!.toString(16).padStart(8, '0');
  return s;
}

/** Loads {@link bitmapToHex}'s output into `into`, which fixes the expected size. */
export function bitmapFromHex(text: unknown, into: Bitmap, path: string): Bitmap {
  const digits = into.words.length * 8;
  if (typeof text !== 'string' || text.length !== digits || !/^[0-9a-f]*$/i.test(text)) {
    throw new SnapshotError('shape', `${path} must be ${digits} hex digits for a ${into.size}-bit set`);
  }
  for (let i = 0; i < into.words.length; i++) {
    const start = text.length - (i + 1) * 8;
    const word = parseInt(text.slice(start, start + 8), 16) >>> 0;
    const bitsInWord = into.size - i * 32;
    if (bitsInWord < 32 && word >>> bitsInWord !== 0) {
      throw new SnapshotError('shape', `${path} has bits set beyond bit ${into.size - 1}`);
    }
    into.setWord(i, word);
  }
  return into;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
const B64_INDEX = new Int16Array(128).fill(-1);
for (let i = 0; i < B64.length; i++) B64_INDEX[B64.charCodeAt(i)] = i;

/** Standard base64 (RFC 4648, with padding) of bytes; works without Node's Buffer. */
export function bytesToBase64(bytes: Uint8Array): string {
  let out = '';
  let i = 0;
  for (; i + 2 < bytes.length; i += 3) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out += B64[n >>> 18]! + B64[(n >>> 12) & 63]! + B64[(n >>> 6) & 63]! + B64[n & 63]!;
  }
  const rest = bytes.length - i;
  if (rest === 1) {
    const n = bytes[i]! << 16;
    out += B64[n >>> 18]! + B64[(n >>> 12) & 63]! + '==';
  } else if (rest === 2) {
    const n = (bytes[i]! << 16) | (bytes[i + 1]! << 8);
    out += B64[n >>> 18]! + B64[(n >>> 12) & 63]! + B64[(n >>> 6) & 63]! + '=';
  }
  return out;
}

/** Decodes {@link bytesToBase64}'s output, rejecting anything malformed. */
export function base64ToBytes(text: unknown, path: string): Uint8Array {
  if (typeof text !== 'string' || text.length % 4 !== 0) throw new SnapshotError('shape', `${path} must be a base64 string`);
  const pad = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  const out = new Uint8Array((text.length / 4) * 3 - pad);
  let o = 0;
  for (let i = 0; i < text.length; i += 4) {
    let n = 0;
    for (let j = 0; j < 4; j++) {
      const c = text.charCodeAt(i + j);
      const isPad = c === 61 && i + 4 === text.length && j >= 4 - pad;
      const v = isPad ? 0 : c < 128 ? B64_INDEX[c]! : -1;
      if (v < 0) throw new SnapshotError('shape', `${path} is not valid base64 (character ${i + j})`);
      n = (n << 6) | v;
    }
    if (o < out.length) out[o++] = (n >>> 16) & 255;
    if (o < out.length) out[o++] = (n >>> 8) & 255;
    if (o < out.length) out[o++] = n & 255;
  }
  return out;
}
