import { describe, expect, it } from 'vitest';
import { PhysicalMemory } from './physical-memory.js';
import { MemoryError } from './memory-error.js';

describe('PhysicalMemory page views', () => {
  it('reads and writes the live page, with no copy', () => {
    const mem = new PhysicalMemory();
    mem.addRegion(0x1000, 0x2000);
    const view = mem.pageView(0x1234)!;
    expect(view.address).toBe(0x1000);
    view.words[1] = 0xdead_beef;
    expect(mem.read32(0x1004)).toBe(0xdead_beef);
    mem.write8(0x1ffc, 0x5a);
    expect(view.bytes[0xffc]).toBe(0x5a);
    expect(mem.pageView(0x1000)).toBe(view);
  });

  it('has no view of unbacked or read-only pages', () => {
    const mem = new PhysicalMemory();
    mem.addRegion(0x1000, 0x1000, { readOnly: true });
    expect(mem.pageView(0x1000)).toBeUndefined();
    expect(mem.pageView(0x9000)).toBeUndefined();
    expect(mem.pageView(2 ** 60)).toBeUndefined();
    expect(mem.pageView(-4096)).toBeUndefined();
  });

  it('changes the generation when a region is removed or the contents restored', () => {
    const mem = new PhysicalMemory();
    mem.addRegion(0, 0x1000);
    const view = mem.pageView(0)!;
    const saved = mem.saveState();
    expect(view.generation).toBe(mem.generation);
    mem.restoreState(saved);
    expect(mem.generation).not.toBe(view.generation);
    const again = mem.pageView(0)!;
    expect(again).not.toBe(view);
    mem.removeRegion(0);
    expect(mem.generation).not.toBe(again.generation);
    expect(mem.pageView(0)).toBeUndefined();
  });

  it('changes the generation when a region is added, so what a user learnt about an address is re-checked', () => {
    const mem = new PhysicalMemory();
    const before = mem.generation;
    expect(mem.isBacked(0x5000)).toBe(false); // say a CPU remembers "a device's page, not RAM"
    mem.addRegion(0x5000, 0x1000);
    expect(mem.generation).not.toBe(before);
    expect(mem.isBacked(0x5000)).toBe(true);
  });

  it('gives a view of the current generation after another region was removed', () => {
    const mem = new PhysicalMemory();
    mem.addRegion(0, 0x1000);
    mem.addRegion(0x10000, 0x1000);
    const before = mem.pageView(0)!;
    mem.removeRegion(0x10000);
    const after = mem.pageView(0)!;
    expect(after.generation).toBe(mem.generation);
    expect(after).not.toBe(before);
    expect(mem.pageView(0)).toBe(after);
    after.words[0] = 7;
    expect(mem.read32(0)).toBe(7);
  });
});

describe('PhysicalMemory write observers', () => {
  it('sees every kind of write with its range, and stops when detached', () => {
    const mem = new PhysicalMemory();
    mem.addRegion(0, 0x3000);
    const seen: [number, number][] = [];
    const detach = mem.addWriteObserver((a, n) => seen.push([a, n]));
    expect(mem.observed).toBe(true);
    mem.write8(1, 1);
    mem.write16(2, 1);
    mem.write32(4, 1);
    mem.write64(8, 1n);
    mem.writeBytes(0x100, new Uint8Array(3));
    mem.fill(0x200, 5, 1);
    mem.noteWritten(0x300, 4);
    expect(seen).toEqual([[1, 1], [2, 2], [4, 4], [8, 8], [0x100, 3], [0x200, 5], [0x300, 4]]);
    detach();
    detach();
    expect(mem.observed).toBe(false);
    mem.write32(0, 0);
    mem.noteWritten(0, 4);
    expect(seen).toHaveLength(7);
  });

  it('reports a write that crosses a page boundary byte by byte', () => {
    const mem = new PhysicalMemory();
    mem.addRegion(0, 0x2000);
    const seen: number[] = [];
    mem.addWriteObserver((a) => seen.push(a));
    mem.write32(0xffe, 0x01020304);
    expect(seen).toEqual([0xffe, 0xfff, 0x1000, 0x1001]);
  });

  it('does not notify a write that failed', () => {
    const mem = new PhysicalMemory();
    mem.addRegion(0, 0x1000, { readOnly: true });
    let calls = 0;
    mem.addWriteObserver(() => calls++);
    expect(() => mem.write32(0, 1)).toThrow(MemoryError);
    expect(calls).toBe(0);
  });

  it('rejects an observer that is not a function', () => {
    const mem = new PhysicalMemory();
    expect(() => mem.addWriteObserver(42 as never)).toThrow(/write observer must be a function, got 42/);
  });
});

describe('PhysicalMemory.isWritable', () => {
  it('is false for read-only and unbacked ranges', () => {
    const mem = new PhysicalMemory();
    mem.addRegion(0, 0x1000);
    mem.addRegion(0x1000, 0x1000, { readOnly: true });
    expect(mem.isWritable(0, 0x1000)).toBe(true);
    expect(mem.isWritable(0xfff, 2)).toBe(false);
    expect(mem.isWritable(0x5000)).toBe(false);
  });
});
