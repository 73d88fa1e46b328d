import { describe, expect, it } from 'vitest';
import { UsageError } from '@hvsim/core';
import { X86Guest } from './guest.js';
import { OP, type Op } from './ops.js';
import { GuestProgram } from './program.js';

/** The operations a code entry's generator yields when every operation completes with `results[i]`. */
function run(code: (g: X86Guest, vector: number, errorCode: number) => Generator<Op, void, number>, results: number[]): string[] {
  const g = new X86Guest();
  const routine = code(g, 0x40, -1);
  const seen: string[] = [];
  let r = routine.next(0);
  for (let i = 0; r.done !== true; i++) {
    seen.push(`${r.value.code}:${r.value.a}:${r.value.b}`);
    r = routine.next(results[i] ?? 0);
  }
  return seen;
}

describe('GuestProgram: generator and step code', () => {
  it('keeps step code as its step function and as an equivalent generator', () => {
    const p = new GuestProgram<X86Guest>();
    p.define(0x1000, {
      steps: function irq(g: X86Guest, pc: number, result: number, vector: number) {
        if (pc === 0) return g.ld32(0x100 + vector);
        if (pc === 1) return g.st32(0x200, result + 1);
        return pc === 2 ? g.iret() : null;
      },
    });
    p.define(0x2000, function* same(g: X86Guest, vector: number) {
      const v = yield g.ld32(0x100 + vector);
      yield g.st32(0x200, v + 1);
      yield g.iret();
    });
    p.define(0x3000, { steps: (g: X86Guest) => g.compute(1) });
    const steps = p.at(0x1000)!;
    expect(steps.name).toBe('irq');
    expect(typeof steps.steps).toBe('function');
    expect(p.at(0x2000)!.steps).toBeNull();
    expect(p.at(0x3000)!.name).toBe('code@0x3000');
    expect(run(steps.code, [41])).toEqual(run(p.at(0x2000)!.code, [41]));
    expect(run(steps.code, [41])).toEqual([`${OP.LOAD}:320:0`, `${OP.STORE}:512:42`, `${OP.IRET}:0:0`]);
    expect(p.list().map((e) => e.address)).toEqual([0x1000, 0x2000, 0x3000]);
  });

  it('rejects what is no code, naming it', () => {
    const p = new GuestProgram<X86Guest>();
    expect(() => p.define(0x10, { steps: 5 } as never)).toThrow(UsageError);
    expect(() => p.define(0x10, { steps: 5 } as never)).toThrow(/code at 0x10 must be a generator function or \{ steps: function \}, got 5/);
    expect(() => p.define(0x10, 'code' as never)).toThrow(/got "code"/);
    expect(() => p.define(0x10, { steps: () => null }, 7 as never)).toThrow(/code name must be a string, got 7/);
    p.define(0x10, { steps: () => null }, 'idle');
    expect(() => p.define(0x10, { steps: () => null })).toThrow(/0x10 already holds idle/);
  });
});
