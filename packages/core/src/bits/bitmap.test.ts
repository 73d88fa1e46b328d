import { describe, expect, it } from 'vitest';
import { Bitmap } from './bitmap.js';

describe('Bitmap', () => {
  it('finds highest and lowest', () => {
    const b = new Bitmap(256);
    expect(b.findHighest()).toBe(-1);
    b.set(3);
    b.set(200);
    expect(b.findHighest()).toBe(200);
    expect(b.findLowest()).toBe(3);
  });
});
