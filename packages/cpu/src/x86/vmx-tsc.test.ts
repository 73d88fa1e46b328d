import { describe, expect, it } from 'vitest';
import { CPU_BASED, EXIT_REASON } from '@hvsim/vmcs';
import type { X86Guest } from '../guest/guest.js';
import type { Op } from '../guest/ops.js';
import { GUEST, HOST, vmxMachine } from '../test-support/vmx-machine.js';
import { x86Machine } from '../test-support/x86-machine.js';

type Routine = Generator<Op, void, number>;

/** Runs RDTSC then RDMSR IA32_TSC in the guest; each with the native IA32_TSC at the moment it completed, and its halves. */
function readBoth(m: ReturnType<typeof vmxMachine>): { guest: number; native: number; lo: number; hi: number }[] {
  const seen: { guest: number; native: number; lo: number; hi: number }[] = [];
  m.program.define(GUEST.ENTRY, function* main(g: X86Guest): Routine {
    let v = yield g.rdtsc();
    seen.push({ guest: v, native: m.cpu.tsc, lo: g.lo, hi: g.hi });
    yield g.compute(1000);
    v = yield g.rdmsr(0x10);
    seen.push({ guest: v, native: m.cpu.tsc, lo: g.lo, hi: g.hi });
  });
  m.cpu.start(GUEST.ENTRY);
  expect(m.enterAndRun(1_000_000)).toBe('finished');
  return seen;
}

describe('the TSC in VMX non-root operation (SDM 3C 25.6.5 "Time-Stamp Counter Offset and Multiplier", 26.3)', () => {
  it('adds the VMCS TSC offset to RDTSC and to RDMSR of IA32_TSC with "use TSC offsetting" set', () => {
    const m = vmxMachine({ proc: CPU_BASED.USE_TSC_OFFSETTING, msrBitmap: HOST.MSR_BITMAP, fields: { TSC_OFFSET: 1_000_000_000 } });
    const seen = readBoth(m);
    expect(seen.map((s) => s.guest - s.native)).toEqual([1_000_000_000, 1_000_000_000]);
    expect(seen[1]!.native - seen[0]!.native).toBeGreaterThanOrEqual(1000); // the counter runs on
    expect(m.exits).toEqual([]);
  });

  it('ignores the offset field while "use TSC offsetting" is clear', () => {
    const m = vmxMachine({ msrBitmap: HOST.MSR_BITMAP, fields: { TSC_OFFSET: 1_000_000_000 } });
    expect(readBoth(m).map((s) => s.guest - s.native)).toEqual([0, 0]);
  });

  it('adds a negative offset as a 64-bit two\'s-complement sum that wraps (KVM writes the offset as u64)', () => {
    // -10^6: the guest's first RDTSC comes before cycle 10^6, so its sum is below zero and wraps to near 2^64.
    const m = vmxMachine({ proc: CPU_BASED.USE_TSC_OFFSETTING, msrBitmap: HOST.MSR_BITMAP, fields: { TSC_OFFSET: BigInt.asUintN(64, -1_000_000n) } });
    const seen = readBoth(m);
    for (const s of seen) {
      const expected = BigInt.asUintN(64, BigInt(s.native) - 1_000_000n);
      expect((BigInt(s.hi) << 32n) | BigInt(s.lo)).toBe(expected);
    }
    expect(seen[0]!.hi).toBe(0xffff_ffff); // the native TSC is below 10^6 here: the sum wrapped
  });

  it('carries bits 31:0 of the sum into bits 63:32 exactly, beyond 2^53', () => {
    const offset = 0x1234_5678_ffff_ffffn;
    const m = vmxMachine({ proc: CPU_BASED.USE_TSC_OFFSETTING, msrBitmap: HOST.MSR_BITMAP, fields: { TSC_OFFSET: offset } });
    for (const s of readBoth(m)) expect((BigInt(s.hi) << 32n) | BigInt(s.lo)).toBe(BigInt(s.native) + offset);
  });

  it('exits instead with "RDTSC exiting" set, whatever the offset (SDM 3C 26.1.3)', () => {
    const m = vmxMachine({ proc: CPU_BASED.USE_TSC_OFFSETTING | CPU_BASED.RDTSC_EXITING, fields: { TSC_OFFSET: 5 } });
    m.program.define(GUEST.ENTRY, function* main(g: X86Guest): Routine {
      yield g.rdtsc();
    });
    m.cpu.start(GUEST.ENTRY);
    expect(m.enterAndRun(1_000_000)).toBe('exit');
    expect(m.cpu.lastExit!.basicReason).toBe(EXIT_REASON.RDTSC);
  });

  it('RDMSR of IA32_TSC exits instead when the MSR bitmap says so (no bitmap: every RDMSR exits)', () => {
    const m = vmxMachine({ proc: CPU_BASED.USE_TSC_OFFSETTING, fields: { TSC_OFFSET: 5 } });
    m.program.define(GUEST.ENTRY, function* main(g: X86Guest): Routine {
      yield g.rdmsr(0x10);
    });
    m.cpu.start(GUEST.ENTRY);
    expect(m.enterAndRun(1_000_000)).toBe('exit');
    expect(m.cpu.lastExit!.basicReason).toBe(EXIT_REASON.MSR_READ);
  });
});

describe('X86Cpu.tsc and setTsc (SDM 3B 18.17)', () => {
  it('sets IA32_TSC from the host as a WRMSR would; the guest reads it counting on', () => {
    const m = x86Machine();
    m.cpu.setTsc(7_000_000);
    expect(m.cpu.tsc).toBe(7_000_000);
    const seen: number[] = [];
    m.program.define(0x1000_0000, function* main(g: X86Guest): Routine {
      yield g.compute(500);
      seen.push((yield g.rdtsc()) - m.cpu.tsc);
    });
    m.cpu.start(0x1000_0000);
    m.cpu.run(100_000);
    expect(seen).toEqual([0]);
    expect(m.cpu.tsc).toBeGreaterThanOrEqual(7_000_500);
    expect(() => m.cpu.setTsc(-1)).toThrow(/IA32_TSC must be a non-negative safe integer, got -1/);
    expect(() => m.cpu.setTsc(2 ** 53)).toThrow(/IA32_TSC/);
  });

  it('is saved and restored with the CPU', () => {
    const a = x86Machine();
    a.cpu.setTsc(123_456_789);
    const b = x86Machine();
    b.cpu.restoreState(a.cpu.saveState());
    expect(b.cpu.tsc).toBe(123_456_789);
  });
});
