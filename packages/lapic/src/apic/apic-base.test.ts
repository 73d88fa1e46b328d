import { describe, expect, it } from 'vitest';
import { UsageError } from '@hvsim/core';
import { LocalApic } from './local-apic.js';
import { APIC } from './regs.js';
import { expectGp, makeApic, rd, toX2apic, wr } from '../test-support/helpers.js';

const DISABLED = 0xfee00000n;
const XAPIC = 0xfee00800n;
const X2APIC = 0xfee00c00n;
const INVALID = 0xfee00400n;

function inMode(mode: 'disabled' | 'xapic' | 'x2apic'): LocalApic {
  const { apic } = makeApic({ id: 1 });
  if (mode === 'x2apic') toX2apic(apic);
  if (mode === 'disabled') apic.writeMsr(0x1b, DISABLED);
  return apic;
}

describe('IA32_APIC_BASE state machine (SDM 3A 11.12.5, Figure 11-27; kvm-unit-tests test_enable_x2apic)', () => {
  it.each([
    ['disabled', XAPIC, 'xapic'],
    ['xapic', DISABLED, 'disabled'],
    ['xapic', X2APIC, 'x2apic'],
    ['x2apic', DISABLED, 'disabled'],
  ] as const)('%s -> %s is allowed', (from, value, to) => {
    const apic = inMode(from);
    apic.writeMsr(0x1b, value);
    expect(apic.mode).toBe(to);
    expect(apic.readMsr(0x1b)).toBe(value);
  });

  it.each([
    ['disabled', X2APIC],
    ['disabled', INVALID],
    ['xapic', INVALID],
    ['x2apic', XAPIC],
    ['x2apic', INVALID],
  ] as const)('%s -> 0x%s raises #GP and changes nothing', (from, value) => {
    const apic = inMode(from);
    const before = apic.readMsr(0x1b);
    expectGp(() => apic.writeMsr(0x1b, value));
    expect(apic.readMsr(0x1b)).toBe(before);
  });

  it('reserved bits and bits at or above MAXPHYADDR raise #GP (kvm-unit-tests test_apicbase)', () => {
    const apic = inMode('xapic');
    expectGp(() => apic.writeMsr(0x1b, XAPIC | 0x1n));
    expectGp(() => apic.writeMsr(0x1b, XAPIC | 0x200n));
    expectGp(() => apic.writeMsr(0x1b, XAPIC | (1n << 46n)));
    const narrow = new LocalApic({ id: 1, maxPhysAddrBits: 39 });
    expectGp(() => narrow.writeMsr(0x1b, XAPIC | (1n << 39n)));
  });

  it('EXTD is reserved without x2APIC support', () => {
    const apic = new LocalApic({ id: 1, x2apic: false });
    expectGp(() => apic.writeMsr(0x1b, X2APIC));
  });

  it('BSP is read-only to the guest; a host-initiated write may change it and make any valid transition', () => {
    const apic = inMode('x2apic');
    apic.writeMsr(0x1b, X2APIC | 0x100n);
    expect(apic.isBsp).toBe(false);
    apic.setApicBase(XAPIC | 0x100n, true);
    expect(apic.mode).toBe('xapic');
    expect(apic.isBsp).toBe(true);
    expect(() => apic.setApicBase(INVALID, true)).toThrow(/#GP/);
    expect(() => apic.setApicBase(XAPIC | 1n, true)).toThrow(UsageError);
  });

  it('relocation moves the page and reports it (kvm-unit-tests test_apicbase)', () => {
    let seen = 0;
    const { apic } = makeApic({ id: 1, onBaseChange: (a) => (seen = a.baseAddress) });
    apic.writeMsr(0x1b, 0xfed40800n);
    expect(apic.baseAddress).toBe(0xfed40000);
    expect(seen).toBe(0xfed40000);
    expect(rd(apic, APIC.VERSION) & 0xff).toBe(0x15);
  });

  it('disabling resets the registers except the ID; re-enabling gives xAPIC with reset values (SDM 3A 11.12.5.1; test_apic_disable)', () => {
    const { apic } = makeApic({ id: 1, xapicIdWritable: true });
    wr(apic, APIC.ID, 0x0900_0000);
    wr(apic, APIC.TPR, 0x30);
    apic.acceptInterrupt({ vector: 0x40, trigger: 'edge' });
    apic.writeMsr(0x1b, DISABLED);
    expect(apic.decodesMmio).toBe(false);
    expect(rd(apic, APIC.TPR)).toBe(0xffff_ffff); // not decoded
    apic.acceptInterrupt({ vector: 0x41, trigger: 'edge' }); // a disabled APIC takes nothing
    apic.writeMsr(0x1b, XAPIC);
    expect(rd(apic, APIC.ID)).toBe(0x0900_0000);
    expect(rd(apic, APIC.TPR)).toBe(0);
    expect(rd(apic, APIC.SVR)).toBe(0xff);
    expect(apic.isRequested(0x40)).toBe(false);
    expect(apic.isRequested(0x41)).toBe(false);
  });

  it('xAPIC -> x2APIC keeps register state and re-initialises the LDR', () => {
    const apic = inMode('xapic');
    wr(apic, APIC.LDR, 0x0100_0000);
    wr(apic, APIC.TPR, 0x30);
    toX2apic(apic);
    expect(apic.readMsr(0x808)).toBe(0x30n);
    expect(apic.readMsr(0x80d)).toBe(0x2n); // id 1 -> cluster 0, bit 1
  });

  it('x2APIC -> disabled -> xAPIC keeps the IDs (kvm-unit-tests test_apic_id)', () => {
    const { apic } = makeApic({ id: 0x42 });
    toX2apic(apic);
    expect(apic.apicId).toBe(0x42);
    apic.writeMsr(0x1b, DISABLED);
    apic.writeMsr(0x1b, XAPIC);
    expect(rd(apic, APIC.ID)).toBe(0x4200_0000);
  });

  it('power-up reset returns to xAPIC mode and the configured ID', () => {
    const { apic } = makeApic({ id: 0x42, xapicIdWritable: true });
    wr(apic, APIC.ID, 0x0500_0000);
    toX2apic(apic);
    apic.reset();
    expect(apic.mode).toBe('xapic');
    expect(rd(apic, APIC.ID)).toBe(0x4200_0000);
    expect(apic.readMsr(0x1b)).toBe(XAPIC);
  });
});
