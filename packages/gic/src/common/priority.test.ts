import { describe, expect, it } from 'vitest';
import { UsageError } from '@hvsim/core';
import { ActivePriorities, groupPriorityMask, implementedPriorityMask, minimumBinaryPoint, writtenBinaryPoint } from './priority.js';

describe('priority helpers', () => {
  // IHI0069 4.8.1: unimplemented low-order priority bits are RAZ/WI.
  it.each([
    [4, 0xf0],
    [5, 0xf8],
    [8, 0xff],
  ])('%i priority bits implement mask 0x%s', (bits, mask) => {
    expect(implementedPriorityMask(bits)).toBe(mask);
  });

  // IHI0069 4.8.3 Table 4-7 (Group 0 split [7:n+1]) and the Group 1 offset ([7:n]).
  it.each([
    [0, 0, 0xfe, 0xff],
    [2, 3, 0xf8, 0xf8],
    [3, 4, 0xf0, 0xf0],
    [7, 7, 0x00, 0x80],
  ])('BPR0 %i / BPR1 %i give group masks 0x%s / 0x%s', (b0, b1, m0, m1) => {
    expect(groupPriorityMask(0, b0, b1, false)).toBe(m0);
    expect(groupPriorityMask(1, b0, b1, false)).toBe(m1);
  });

  it('CBPR makes Group 1 use the Group 0 binary point (IHI0069 12.2.6 ICC_CTLR_EL1.CBPR)', () => {
    expect(groupPriorityMask(1, 2, 7, true)).toBe(0xf8);
  });

  it('minimum binary point follows the preemption bits (IHI0069 12.2.4 ICC_BPR0_EL1)', () => {
    expect(minimumBinaryPoint(5)).toBe(2);
    expect(minimumBinaryPoint(7)).toBe(0);
  });
});

// IHI0069 4.8.2 running priority, 12.2.2 ICC_AP1R<n>_EL1.
describe('ActivePriorities', () => {
  it('tracks the running priority and drops the highest active first', () => {
    const a = new ActivePriorities(5);
    expect(a.words).toBe(1);
    expect(a.running()).toBe(0xff);
    a.activate(0xa0, 1);
    a.activate(0x40, 0);
    expect(a.running()).toBe(0x40);
    expect(a.read(1, 0)).toBe(1 << (0xa0 >> 3));
    expect(a.read(0, 0)).toBe(1 << (0x40 >> 3));
    expect(a.drop()).toBe(0x40);
    expect(a.running()).toBe(0xa0);
    expect(a.drop()).toBe(0xa0);
    expect(a.drop()).toBe(0xff);
    expect(a.isEmpty()).toBe(true);
  });

  it('uses four words with seven preemption bits', () => {
    const a = new ActivePriorities(7);
    expect(a.words).toBe(4);
    a.activate(0xfe, 1);
    expect(a.read(1, 3)).toBe(0x8000_0000);
    expect(a.running()).toBe(0xfe);
    a.write(1, 3, 0);
    a.write(0, 5, 1);
    expect(a.read(0, 5)).toBe(0);
    expect(a.running()).toBe(0xff);
  });

  it('rejects preemption bits outside 4-7', () => {
    expect(() => new ActivePriorities(8)).toThrow(UsageError);
    expect(() => new ActivePriorities(3)).toThrow(/preemption bits must be an integer in \[4, 7\], got 3/);
  });
});

describe('writtenBinaryPoint', () => {
  // IHI0048B 4.4.3, IHI0069 12.2.4-12.2.5: writes below the minimum binary point set the minimum;
  // Group 1's own binary point is one above Group 0's.
  it('keeps bits [2:0] and raises them to the minimum for the group', () => {
    expect(writtenBinaryPoint(0, 0, 2)).toBe(2);
    expect(writtenBinaryPoint(0, 5, 2)).toBe(5);
    expect(writtenBinaryPoint(1, 2, 2)).toBe(3);
    expect(writtenBinaryPoint(1, 0xf, 2)).toBe(7);
    expect(writtenBinaryPoint(0, 0x8, 0)).toBe(0);
  });
});
