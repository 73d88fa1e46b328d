import { describe, expect, it } from 'vitest';
import { S1_ACCESS } from '@hvsim/mmu';
import type { Arm64Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { ARM_LAYOUT, arm64Machine, enableStage1 } from '../test-support/arm64-machine.js';

/** A PE with stage 1 on (identity map of RAM, the GIC as Device memory), so accesses go through the cache (Arm ARM D8). */
function translating() {
  const m = arm64Machine({}, { trace: false });
  m.program.define(ARM_LAYOUT.MAIN, function* main(g: Arm64Guest): Generator<Op, void, number> {
    yield* enableStage1(g);
  });
  m.cpu.start(ARM_LAYOUT.MAIN);
  expect(m.cpu.run(1_000_000)).toBe('finished');
  return m;
}

describe('PageCache: multi-word RAM access through one translation', () => {
  it('gives the live words of a RAM page, and null for a split, a misaligned range, a device or a fault', () => {
    const m = translating();
    const mem = m.cpu.memory;
    m.memory.write32(ARM_LAYOUT.DATA + 8, 0x1234_5678);
    const words = mem.ramWords(ARM_LAYOUT.DATA, 16, S1_ACCESS.READ);
    expect(words).not.toBeNull();
    expect(words![mem.wordIndex + 2]).toBe(0x1234_5678);
    expect(mem.ramWords(ARM_LAYOUT.DATA + 0xff8, 16, S1_ACCESS.READ)).toBeNull(); // crosses into the next page
    expect(mem.ramWords(ARM_LAYOUT.DATA + 2, 8, S1_ACCESS.READ)).toBeNull();
    expect(mem.ramWords(ARM_LAYOUT.GICR, 8, S1_ACCESS.READ)).toBeNull(); // a device: no page view
    expect(mem.ramWords(ARM_LAYOUT.UNMAPPED, 8, S1_ACCESS.READ)).toBeNull(); // a translation fault: read/write produce it
    expect(mem.read(ARM_LAYOUT.UNMAPPED, 8, S1_ACCESS.READ, { lo: 0, hi: 0 })).toBe(false);
  });

  it('tells write observers (dirty logging) about words written through the view', () => {
    const m = translating();
    const mem = m.cpu.memory;
    const seen: number[] = [];
    m.memory.addWriteObserver((address, size) => seen.push(address, size));
    const words = mem.ramWords(ARM_LAYOUT.DATA + 0x40, 8, S1_ACCESS.WRITE)!;
    words[mem.wordIndex] = 7;
    expect(mem.lastPhysical).toBe(ARM_LAYOUT.DATA + 0x40); // stage 1 maps RAM one to one
    mem.notePhysical(mem.lastPhysical, 8);
    expect(m.memory.read32(ARM_LAYOUT.DATA + 0x40)).toBe(7);
    expect(seen).toEqual([ARM_LAYOUT.DATA + 0x40, 8]);
  });
});
