import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CpuException } from '@hvsim/core';
import { ACCESS, APIC_REGISTERS, APIC_REGISTER_INFO, registerAt } from './register-file.js';
import { APIC, APIC_REG, APIC_RESET, X2APIC, X2APIC_MSR, X2APIC_MSR_BASE } from './regs.js';
import { IOAPIC, IOAPIC_INDIRECT, IOAPIC_MMIO, IOAPIC_REG } from '../ioapic/regs.js';
import { expectGp, makeApic, numRuns, rd, seed, toX2apic, wr } from '../test-support/helpers.js';

describe('register tables named by the block prefix (issue 12 conventions)', () => {
  it('APIC members are the SDM mnemonics without APIC_; APIC_REG stays as the prefixed alias', () => {
    // SDM 3A Table 11-1
    expect([APIC.ID, APIC.TPR, APIC.EOI, APIC.SVR, APIC.ICR_LOW, APIC.ICR_HIGH, APIC.SELF_IPI]).toEqual([0x20, 0x80, 0xb0, 0xf0, 0x300, 0x310, 0x3f0]);
    const alias: Record<string, number> = APIC_REG; // eslint-disable-line @typescript-eslint/no-deprecated -- the alias under test
    for (const [name, offset] of Object.entries(APIC)) expect(alias[`APIC_${name}`]).toBe(offset);
    expect(Object.keys(alias)).toHaveLength(Object.keys(APIC).length);
  });

  it('the x2APIC MSR numbers come from the one table: 0x800 + offset >> 4 (SDM 3A 11.12.1.2 Table 11-6)', () => {
    expect([X2APIC.TPR, X2APIC.EOI, X2APIC.ICR_LOW, X2APIC.SELF_IPI, X2APIC.LVT_TIMER]).toEqual([0x808, 0x80b, 0x830, 0x83f, 0x832]);
    for (const [name, msr] of Object.entries(X2APIC)) expect(msr).toBe(X2APIC_MSR_BASE + (APIC[name as keyof typeof APIC] >>> 4));
    // APR, RRD, DFR and ICR[63:32] have no MSR.
    expect(Object.keys(X2APIC).sort()).toEqual(Object.keys(APIC).filter((n) => !['APR', 'RRD', 'DFR', 'ICR_HIGH'].includes(n)).sort());
    const alias: Record<string, number> = X2APIC_MSR; // eslint-disable-line @typescript-eslint/no-deprecated -- the alias under test
    for (const [name, msr] of Object.entries(X2APIC)) expect(alias[`APIC_${name}`]).toBe(msr);
  });

  it('IOAPIC and IOAPIC_INDIRECT, with the earlier tables as aliases (82093AA 3.1, 3.2)', () => {
    expect(IOAPIC).toEqual({ IOREGSEL: 0x00, IOWIN: 0x10, EOI: 0x40 });
    expect(IOAPIC_MMIO).toBe(IOAPIC); // eslint-disable-line @typescript-eslint/no-deprecated -- the alias under test
    expect(IOAPIC_INDIRECT).toEqual({ ID: 0, VER: 1, ARB: 2, IOREDTBL0: 0x10 });
    // eslint-disable-next-line @typescript-eslint/no-deprecated -- the alias under test
    expect(IOAPIC_REG).toEqual({ IOAPICID: 0, IOAPICVER: 1, IOAPICARB: 2, IOREDTBL0: 0x10 });
  });
});

describe('one description per register serves both views (SDM 3A Table 11-1, Table 11-6)', () => {
  it('describes every register of APIC once, each 16-byte slot at most once', () => {
    expect(APIC_REGISTERS.map((d) => d.name).sort()).toEqual(Object.keys(APIC).sort());
    const slots = new Set<number>();
    for (const d of APIC_REGISTERS) {
      for (let i = 0; i < d.count; i++) {
        const slot = (APIC[d.name] >>> 4) + i;
        expect(slots.has(slot)).toBe(false);
        slots.add(slot);
        expect(registerAt(slot << 4)).toBe(d);
      }
    }
    expect(registerAt(0x10)).toBeUndefined();
  });

  it('APIC_REGISTER_INFO shows the descriptions for the default options: offsets, access per view (SDM 3A Table 11-1, Table 11-6)', () => {
    const info = Object.fromEntries(APIC_REGISTER_INFO.map((d) => [d.name, d]));
    expect(info.EOI).toEqual({ name: 'EOI', offset: 0xb0, count: 1, xapic: ACCESS.WO, x2apic: ACCESS.WO, reset: undefined, reservedChecked: true });
    expect(info.ID).toMatchObject({ xapic: ACCESS.RO, x2apic: ACCESS.RO }); // read-only since Nehalem; x2APIC always
    expect(info.LVT_CMCI).toMatchObject({ xapic: ACCESS.RW, x2apic: ACCESS.RW, reset: APIC_RESET.LVT });
    expect(info.DFR).toMatchObject({ xapic: ACCESS.RW, x2apic: ACCESS.NONE, reset: 0xffff_ffff });
    expect(info.SELF_IPI).toMatchObject({ xapic: ACCESS.NONE, x2apic: ACCESS.WO });
    expect(info.ICR_LOW!.reservedChecked).toBe(true); // the 64-bit ICR's bits 31:20, 17:16, 13 (SDM 3A 11.12.9)
    expect(info.IRR0).toMatchObject({ offset: 0x200, count: 8, x2apic: ACCESS.RO });
    expect(Object.isFrozen(APIC_REGISTER_INFO) && Object.isFrozen(info.TPR)).toBe(true);
    // A 6-entry APIC has no CMCI register in either view.
    const { apic } = makeApic({ id: 2, lvtCount: 6 });
    rd(apic, APIC.LVT_CMCI);
    expect(rd(apic, APIC.ESR)).toBe(0);
    wr(apic, APIC.ESR, 0);
    expect(rd(apic, APIC.ESR)).toBe(0x80); // illegal register address (SDM 3A 11.5.3)
  });

  it('registers with a reset value read it after power-up in both views (SDM 3A 11.4.7.1)', () => {
    const { apic: x } = makeApic({ id: 3 }, false);
    const { apic: x2 } = makeApic({ id: 3 }, false);
    toX2apic(x2);
    for (const d of APIC_REGISTERS) {
      if (d.reset === undefined) continue;
      const offset = APIC[d.name];
      if (d.xapic === ACCESS.RW) expect(rd(x, offset), d.name).toBe(d.reset);
      if (d.x2apic === ACCESS.RW && d.name !== 'ICR_LOW') expect(x2.readMsr(X2APIC_MSR_BASE + (offset >>> 4)), d.name).toBe(BigInt(d.reset));
    }
    expect(APIC_RESET.SVR).toBe(0xff);
  });

  it('property: a value written through the page reads the same through the MSR after the switch to x2APIC, and WRMSR takes it back (SDM 3A 11.12.5.1)', () => {
    // TPR, SVR, the LVT entries, the initial count and the divide configuration are RW in both views.
    const names = APIC_REGISTERS.filter((d) => d.xapic === ACCESS.RW && d.x2apic === ACCESS.RW && d.name !== 'ICR_LOW' && d.name !== 'ESR').map((d) => d.name);
    expect(names).toContain('LVT_LINT0');
    fc.assert(
      fc.property(fc.constantFrom(...names), fc.integer({ min: 0, max: 0xffff_ffff }), (name, value) => {
        const { apic } = makeApic({ id: 1 });
        const offset = APIC[name];
        const msr = X2APIC_MSR_BASE + (offset >>> 4);
        wr(apic, offset, value);
        const kept = rd(apic, offset);
        toX2apic(apic);
        expect(apic.readMsr(msr)).toBe(BigInt(kept));
        // What the page kept has no reserved bit by the register's description: WRMSR accepts it unchanged.
        apic.writeMsr(msr, kept);
        expect(apic.readMsr(msr)).toBe(BigInt(kept));
      }),
      { seed, numRuns },
    );
  });

  it('WRMSR checks the reserved bits its description gives: TPR 31:8, EOI and ESR all, divide config (SDM 3A 11.12.1.2)', () => {
    const { apic } = makeApic({ id: 1 });
    toX2apic(apic);
    expect(expectGp(() => apic.writeMsr(X2APIC.TPR, 0x100))).toBeInstanceOf(CpuException);
    expectGp(() => apic.writeMsr(X2APIC.EOI, 1));
    expectGp(() => apic.writeMsr(X2APIC.ESR, 1));
    expectGp(() => apic.writeMsr(X2APIC.TIMER_DIVIDE_CONFIG, 0x4));
    expectGp(() => apic.writeMsr(X2APIC.LVT_TIMER, 3 << 17)); // timer mode 11b
    expectGp(() => apic.writeMsr(X2APIC.ICR_LOW, 1 << 13)); // ICR bit 13 (SDM 3A 11.12.9)
    apic.writeMsr(X2APIC.TPR, 0x20);
    expect(apic.tpr).toBe(0x20);
  });
});
