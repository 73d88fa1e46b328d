import { describe, expect, it } from 'vitest';
import { PostedInterruptDescriptor } from '@hvsim/lapic';
import { ADDR, apicvOptions, launch, preparedFixture } from '../internal/test-setup.js';

const NV = 0xf2;
const VAPIC = ADDR.VAPIC;
// Virtual-APIC page words (SDM 3C "Virtual-APIC State"): VPPR at 0A0H, VISR at 100H, VIRR at 200H (16 bytes per 32 vectors).
const VPPR = VAPIC + 0xa0;
const visrWord = (v: number): number => VAPIC + 0x100 + ((v >>> 5) << 4);
const virrWord = (v: number): number => VAPIC + 0x200 + ((v >>> 5) << 4);

/** A running APICv guest whose virtual-APIC page writes are recorded (dirty logging sees every change). */
function observed(): { f: ReturnType<typeof preparedFixture>; pid: PostedInterruptDescriptor; writes: number[] } {
  const f = preparedFixture(apicvOptions());
  launch(f);
  const writes: number[] = [];
  f.memory.addWriteObserver((address, size) => {
    if (address >= VAPIC && address < VAPIC + 0x1000) writes.push(address, size);
  });
  return { f, pid: new PostedInterruptDescriptor(f.memory, ADDR.PID), writes };
}

describe('virtual-APIC page writes through the page view (SDM 3C "Posted-Interrupt Processing", "Virtual-Interrupt Delivery", "EOI Virtualization")', () => {
  it('posted-interrupt processing writes only the VIRR words that received PIR bits, and tells write observers', () => {
    const { f, pid, writes } = observed();
    pid.testAndSetPir(0x51);
    pid.testAndSetPir(0xe3);
    pid.on = true;
    expect(f.p.externalInterrupt(NV, true).kind).toBe('posted');
    expect(writes).toEqual([virrWord(0x51), 4, virrWord(0xe3), 4]);
    expect(f.memory.read32(virrWord(0x51))).toBe(1 << (0x51 & 31));
    expect(f.memory.read32(virrWord(0xe3))).toBe(1 << (0xe3 & 31));
    expect(f.p.vapic.rvi).toBe(0xe3);
  });

  it('delivery writes VISR, VPPR and VIRR; the virtualized EOI writes VISR and VPPR; memory matches after each step', () => {
    const { f, pid, writes } = observed();
    pid.postFromSoftware(0x51);
    f.p.externalInterrupt(NV, true);
    writes.length = 0;
    const d = f.p.instructionBoundary(true);
    expect(d.kind === 'deliver' && d.event.vector).toBe(0x51);
    expect(writes).toEqual([visrWord(0x51), 4, VPPR, 4, virrWord(0x51), 4]);
    expect([f.memory.read32(visrWord(0x51)), f.memory.read32(VPPR), f.memory.read32(virrWord(0x51))]).toEqual([1 << (0x51 & 31), 0x50, 0]);
    writes.length = 0;
    expect(f.p.wrmsr(0x80b, 0).kind).toBe('continue');
    expect(writes).toEqual([visrWord(0x51), 4, VPPR, 4]);
    expect([f.memory.read32(visrWord(0x51)), f.memory.read32(VPPR)]).toEqual([0, 0]);
    // A second EOI with an empty VISR: the VISR word is written again, VPPR (still 0) is not.
    writes.length = 0;
    f.p.wrmsr(0x80b, 0);
    expect(writes).toEqual([visrWord(0), 4]);
  });

  it('nested delivery and EOI keep SVI, VPPR and memory in step', () => {
    const { f, pid } = observed();
    pid.postFromSoftware(0x51);
    f.p.externalInterrupt(NV, true);
    f.p.instructionBoundary(true);
    pid.postFromSoftware(0x62);
    f.p.externalInterrupt(NV, true);
    const d = f.p.instructionBoundary(true);
    expect(d.kind === 'deliver' && d.event.vector).toBe(0x62);
    expect([f.p.vapic.svi, f.p.vapic.vppr, f.memory.read32(VPPR)]).toEqual([0x62, 0x60, 0x60]);
    f.p.wrmsr(0x80b, 0);
    expect([f.p.vapic.svi, f.p.vapic.vppr, f.memory.read32(VPPR), f.p.vapic.visrVectors()]).toEqual([0x51, 0x50, 0x50, [0x51]]);
  });
});
