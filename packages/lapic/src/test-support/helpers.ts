/** Shared test helpers (not exported from the package). */
import { CpuException, Clock } from '@hvsim/core';
import { LocalApic, type LocalApicOptions } from '../apic/local-apic.js';
import { APIC } from '../apic/regs.js';

export const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
export const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

/** An APIC with a clock, software-enabled (SVR = 0x1FF) unless `enabled` is false. */
export function makeApic(options: Partial<LocalApicOptions> = {}, enabled = true): { apic: LocalApic; clock: Clock } {
  const clock = options.clock ?? new Clock();
  const apic = new LocalApic({ id: 0, ...options, clock });
  if (enabled) apic.mmioWrite(APIC.SVR, 4, 0x1ff);
  return { apic, clock };
}

/** Puts an APIC into x2APIC mode (xAPIC -> x2APIC: EN | EXTD). */
export function toX2apic(apic: LocalApic): void {
  apic.writeMsr(0x1b, (apic.apicBase & ~0xc00n) | 0xc00n);
}

/** Expects `fn` to raise #GP. */
export function expectGp(fn: () => unknown): CpuException {
  try {
    fn();
  } catch (e) {
    if (e instanceof CpuException && e.vector === 13) return e;
    throw new Error(`expected #GP, got ${String(e)}`);
  }
  throw new Error('expected #GP, nothing was thrown');
}

/** Reads a 32-bit register through the xAPIC page. */
export function rd(apic: LocalApic, offset: number): number {
  return apic.mmioRead(offset, 4);
}

/** Writes a 32-bit register through the xAPIC page. */
export function wr(apic: LocalApic, offset: number, value: number): void {
  apic.mmioWrite(offset, 4, value);
}
