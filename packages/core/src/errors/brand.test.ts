import { describe, expect, it, vi } from 'vitest';
import { CpuException } from './cpu-exception.js';
import { HvsimError, UsageError } from './hvsim-error.js';
import { MemoryError } from '../memory/memory-error.js';

// The dual-package hazard: an error thrown by one copy of @hvsim/core (say the CJS build) is not `instanceof` the
// class of another copy (the ESM build). `is` checks a brand that every copy shares.
describe('error brand checks across package copies', () => {
  it('recognises an error of another module instance, where instanceof does not', async () => {
    vi.resetModules();
    const copy = './hvsim-error.js?copy';
    const other = (await import(/* @vite-ignore */ copy)) as typeof import('./hvsim-error.js');
    const theirs = new other.UsageError('bad-argument', 'from the other copy');
    expect(theirs instanceof UsageError).toBe(false);
    expect(UsageError.is(theirs)).toBe(true);
    expect(HvsimError.is(theirs)).toBe(true);
    expect(MemoryError.is(theirs)).toBe(false);
    const cpuCopy = './cpu-exception.js?copy';
    const otherCpu = (await import(/* @vite-ignore */ cpuCopy)) as typeof import('./cpu-exception.js');
    const fault = otherCpu.CpuException.gp('x');
    expect(fault instanceof CpuException).toBe(false);
    expect(CpuException.is(fault)).toBe(true);
    expect(UsageError.is(fault)).toBe(false);
  });

  it('follows subclassing and rejects look-alikes', () => {
    class Narrow extends UsageError {}
    const e = new Narrow('bad-state', 'x');
    expect(UsageError.is(e)).toBe(true);
    expect(Narrow.is(e)).toBe(true);
    expect(Narrow.is(new UsageError('bad-state', 'y'))).toBe(false);
    expect(UsageError.is({ name: 'UsageError', kind: 'bad-state', message: 'forged' })).toBe(false);
    expect(UsageError.is(new Error('plain'))).toBe(false);
    expect(UsageError.is(undefined)).toBe(false);
    expect(CpuException.is(null)).toBe(false);
  });
});
