// docs/conventions.md "Errors": host misuse throws core's UsageError with kind
// 'bad-argument' | 'bad-state' | 'unknown-name' and a message naming the value.
// VmxError stays as a UsageError subclass so `instanceof VmxError` keeps working.
import { describe, expect, it } from 'vitest';
import { HvsimError, UsageError } from '@hvsim/core';
import { VmxError, VmxProcessor, VMCS_FIELD, Vmcs } from './index.js';
import { rootFixture } from './internal/test-setup.js';

/** The error `fn` throws (fails the test when it returns). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('expected a throw');
}

describe('errors: one scheme (core UsageError)', () => {
  it('each kind of misuse is a UsageError with its kind, still a VmxError', () => {
    const { p } = rootFixture();
    const cases: [() => unknown, string, RegExp][] = [
      [() => new Vmcs(0).read(0x4001), 'unknown-name', /0x4001 is not a VMCS field encoding \(SDM 3C Appendix B\)/],
      [() => p.vmread(-1), 'bad-argument', /VMREAD field encoding must be a non-negative safe integer or a bigint, got -1/],
      [() => p.instructionBoundary(true), 'bad-state', /instructionBoundary is a VMX non-root event, but the processor is in VMX root operation/],
    ];
    for (const [fn, kind, message] of cases) {
      const e = thrown(fn);
      expect(e).toBeInstanceOf(UsageError);
      expect(e).toBeInstanceOf(HvsimError);
      // The deprecated class, for hosts written before the convention: where it was thrown, it still is.
      // eslint-disable-next-line @typescript-eslint/no-deprecated
      expect(e).toBeInstanceOf(VmxError);
      expect(e).toMatchObject({ kind, name: 'VmxError' });
      expect((e as Error).message).toMatch(message);
    }
    // Checks shared with other packages (core's assertInteger) throw UsageError itself: catch UsageError.
    const shared = thrown(() => new VmxProcessor({ memory: p.memory, capabilities: { preemptionTimerRate: 32 } }));
    expect(shared).toBeInstanceOf(UsageError);
    expect(shared).toMatchObject({ kind: 'bad-argument' });
    expect((shared as Error).message).toMatch(/^preemptionTimerRate must be an integer in \[0, 31\], got 32/);
    expect(p.vmread32(VMCS_FIELD.VM_INSTRUCTION_ERROR)).toBe(0); // misuse changes nothing
  });
});
