import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { UsageError } from '@hvsim/core';
import { LocalApic } from './local-apic.js';
import { APIC, ESR_BIT } from './regs.js';
import { expectGp, makeApic, numRuns, rd, seed, toX2apic, wr } from '../test-support/helpers.js';

function x2(id = 0x25): LocalApic {
  const { apic } = makeApic({ id });
  toX2apic(apic);
  apic.writeMsr(0x80f, 0x1ffn);
  return apic;
}

describe('x2APIC MSR interface (SDM 3A 11.12.1.2, Table 11-6)', () => {
  it('x2APIC MSRs raise #GP outside x2APIC mode', () => {
    const { apic } = makeApic();
    expectGp(() => apic.readMsr(0x802));
    expectGp(() => apic.writeMsr(0x808, 0n));
    expectGp(() => apic.writeMsr(0x80b, 0n));
  });

  it('the xAPIC page is not decoded in x2APIC mode (SDM 3A 11.12.2)', () => {
    const apic = x2();
    expect(apic.decodesMmio).toBe(false);
    expect(rd(apic, APIC.VERSION)).toBe(0xffff_ffff);
    wr(apic, APIC.TPR, 0x40);
    expect(apic.readMsr(0x808)).toBe(0n);
  });

  it('ID is the 32-bit x2APIC ID, read-only; LDR is derived from it (SDM 3A 11.12.10.2)', () => {
    const apic = x2(0x25);
    expect(apic.readMsr(0x802)).toBe(0x25n);
    expectGp(() => apic.writeMsr(0x802, 0x25n));
    // cluster = 0x25 >> 4 = 2, bit 0x25 & 0xf = 5
    expect(apic.readMsr(0x80d)).toBe(0x0002_0020n);
    expectGp(() => apic.writeMsr(0x80d, 0n));
    const big = x2(0x12345);
    expect(big.readMsr(0x802)).toBe(0x12345n);
    expect(big.readMsr(0x80d)).toBe(0x1234_0020n);
  });

  it.each([
    ['APR 0x809', 0x809],
    ['RRD 0x80C', 0x80c],
    ['DFR 0x80E', 0x80e],
    ['ICR2 0x831', 0x831],
    ['0x801', 0x801],
    ['0x840', 0x840],
    ['0x8FF', 0x8ff],
  ])('%s does not exist: #GP on read and write', (_n, msr) => {
    const apic = x2();
    expectGp(() => apic.readMsr(msr));
    expectGp(() => apic.writeMsr(msr, 0n));
  });

  it.each([
    ['ID', 0x802],
    ['VERSION', 0x803],
    ['PPR', 0x80a],
    ['LDR', 0x80d],
    ['ISR0', 0x810],
    ['TMR3', 0x81b],
    ['IRR7', 0x827],
    ['TMCCT', 0x839],
  ])('WRMSR to read-only %s raises #GP', (_n, msr) => {
    const apic = x2();
    expect(() => apic.readMsr(msr)).not.toThrow();
    expectGp(() => apic.writeMsr(msr, 0n));
  });

  it('RDMSR of write-only EOI and SELF IPI raises #GP', () => {
    const apic = x2();
    expectGp(() => apic.readMsr(0x80b));
    expectGp(() => apic.readMsr(0x83f));
  });

  it.each([
    ['TPR bits 31:8', 0x808, 0x100n],
    ['EOI non-zero', 0x80b, 1n],
    ['ESR non-zero', 0x828, 1n],
    ['SVR bit 10', 0x80f, 0x4ffn],
    ['SVR bit 13', 0x80f, 0x20ffn],
    ['LVT timer bit 19', 0x832, 0x8_0000n],
    ['LVT timer mode 11b', 0x832, 0x6_0000n],
    ['LVT thermal bit 13 (polarity only on LINT)', 0x833, 0x2000n],
    ['LVT error delivery mode', 0x837, 0x400n],
    ['LVT LINT0 bit 17', 0x835, 0x2_0000n],
    ['TDCR bit 2', 0x83e, 0x4n],
    ['SELF IPI bits 31:8', 0x83f, 0x130n],
    ['ICR bit 13', 0x830, 0x2030n],
    ['ICR bits 17:16', 0x830, 0x1_0030n],
    ['ICR bits 31:20', 0x830, 0x10_0030n],
    ['upper half of a 32-bit register', 0x808, 1n << 32n],
  ])('reserved bits raise #GP: %s', (_n, msr, value) => {
    const apic = x2();
    expectGp(() => apic.writeMsr(msr, value));
  });

  it('read-only LVT bits (status, remote IRR) are not reserved', () => {
    const apic = x2();
    apic.writeMsr(0x835, 0x1_5030n);
    expect(apic.readMsr(0x835)).toBe(0x1_0030n);
  });

  it('ICR is one 64-bit MSR with a 32-bit destination; bit 12 is ignored (SDM 3A 11.12.9)', () => {
    const apic = x2(7);
    apic.writeMsr(0x830, (7n << 32n) | 0x1040n); // fixed, vector 0x40, busy bit set, to self by ID
    expect(apic.readMsr(0x830)).toBe((7n << 32n) | 0x40n);
    expect(apic.isRequested(0x40)).toBe(true);
  });

  it('property: the ICR value survives WRMSR whatever the destination, as a bigint or a number (SDM 3A 11.12.9)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 0xffff_fffe }), fc.constantFrom(0x0040, 0x0840), fc.boolean(), (dest, low, asNumber) => {
        const apic = x2(3);
        const value = (BigInt(dest) << 32n) | BigInt(low); // fixed, vector 0x40, physical or logical
        if (asNumber && value <= BigInt(Number.MAX_SAFE_INTEGER)) apic.writeMsr(0x830, Number(value));
        else apic.writeMsr(0x830, value);
        expect(apic.readMsr(0x830)).toBe(value);
      }),
      { seed, numRuns },
    );
  });

  it('SELF IPI delivers a fixed edge interrupt to this APIC (SDM 3A 11.12.11; kvm-unit-tests test_self_ipi_x2apic)', () => {
    const apic = x2();
    apic.writeMsr(0x83f, 0xf1n);
    expect(apic.acknowledge()).toBe(0xf1);
    expect(apic.acknowledge()).toBe(0xff); // exactly once
    apic.writeMsr(0x80b, 0n);
    apic.writeMsr(0x83f, 0x05n);
    apic.writeMsr(0x828, 0n);
    expect(apic.readMsr(0x828)).toBe(BigInt(ESR_BIT.SEND_ILLEGAL_VECTOR | ESR_BIT.RECEIVE_ILLEGAL_VECTOR));
  });

  it('TPR, PPR, ISR, IRR and EOI through MSRs share the xAPIC register logic', () => {
    const apic = x2();
    apic.writeMsr(0x808, 0x20n);
    apic.acceptInterrupt({ vector: 0x61, trigger: 'edge' });
    expect(apic.readMsr(0x823)).toBe(2n);
    expect(apic.acknowledge()).toBe(0x61);
    expect(apic.readMsr(0x813)).toBe(2n);
    expect(apic.readMsr(0x80a)).toBe(0x60n);
    apic.writeMsr(0x80b, 0n);
    expect(apic.readMsr(0x80a)).toBe(0x20n);
  });

  it('ESR is written with 0 only, and latches like xAPIC', () => {
    const apic = x2();
    apic.acceptInterrupt({ vector: 1, trigger: 'edge' });
    expect(apic.readMsr(0x828)).toBe(0n);
    apic.writeMsr(0x828, 0n);
    expect(apic.readMsr(0x828)).toBe(BigInt(ESR_BIT.RECEIVE_ILLEGAL_VECTOR));
  });

  it('misuse of the MSR API is a UsageError, not a fault', () => {
    const apic = x2();
    expect(() => apic.readMsr(0x10)).toThrow(UsageError);
    expect(() => apic.writeMsr(0x808, -1n)).toThrow('MSR value must be an unsigned 64-bit bigint or a non-negative safe integer, got -1n');
    expect(() => apic.writeMsr(0x808, 2 ** 53)).toThrow('MSR value must be an unsigned 64-bit bigint or a non-negative safe integer, got 9007199254740992');
    expect(() => apic.writeMsr(0x808, 1.5)).toThrow(UsageError);
    expect(() => apic.writeMsr(0x808, '5' as unknown as number)).toThrow(`got "5"`);
    expect(() => apic.writeMsr(0x123, 0n)).toThrow('MSR 291 (0x123) does not belong to the local APIC');
    expect(() => apic.readMsr(2056.5)).toThrow('MSR index must be an unsigned 32-bit integer');
    expect(() => apic.writeMsr(-1, 0n)).toThrow('MSR index must be an unsigned 32-bit integer');
  });

  it('CMCI MSR 0x82F exists only with 7 LVT entries', () => {
    const { apic } = makeApic({ lvtCount: 6 });
    toX2apic(apic);
    expectGp(() => apic.readMsr(0x82f));
    expect(x2().readMsr(0x82f)).toBe(0x1_0000n);
  });
});

describe('x2APIC register values after entering x2APIC mode (SDM 3A 11.12.5.1, Table 11-6)', () => {
  it.each([
    ['ID 0x802', 0x802, 0x25n],
    ['VERSION 0x803', 0x803, 0x0106_0015n],
    ['TPR 0x808', 0x808, 0n],
    ['PPR 0x80A', 0x80a, 0n],
    ['LDR 0x80D', 0x80d, 0x0002_0020n],
    ['SVR 0x80F', 0x80f, 0xffn],
    ['ISR7 0x817', 0x817, 0n],
    ['TMR0 0x818', 0x818, 0n],
    ['IRR0 0x820', 0x820, 0n],
    ['ESR 0x828', 0x828, 0n],
    ['LVT CMCI 0x82F', 0x82f, 0x1_0000n],
    ['ICR 0x830', 0x830, 0n],
    ['LVT timer 0x832', 0x832, 0x1_0000n],
    ['LVT thermal 0x833', 0x833, 0x1_0000n],
    ['LVT perf 0x834', 0x834, 0x1_0000n],
    ['LVT LINT0 0x835', 0x835, 0x1_0000n],
    ['LVT LINT1 0x836', 0x836, 0x1_0000n],
    ['LVT error 0x837', 0x837, 0x1_0000n],
    ['TMICT 0x838', 0x838, 0n],
    ['TMCCT 0x839', 0x839, 0n],
    ['TDCR 0x83E', 0x83e, 0n],
  ])('%s', (_n, msr, value) => {
    const { apic } = makeApic({ id: 0x25 }, false);
    toX2apic(apic);
    expect(apic.readMsr(msr)).toBe(value);
  });

  it.each([
    ['TPR', 0x808, 0xffn, 0xffn],
    ['SVR with EOI-broadcast suppression', 0x80f, 0x13ffn, 0x13ffn],
    ['LVT LINT1', 0x836, 0x1_a7ffn, 0x1_a7ffn],
    ['LVT timer periodic', 0x832, 0x2_00ecn, 0x2_00ecn],
    ['TMICT', 0x838, 0xffff_ffffn, 0xffff_ffffn],
    ['TDCR', 0x83e, 0xbn, 0xbn],
  ])('%s: write then read back', (_n, msr, value, expected) => {
    const apic = x2();
    apic.writeMsr(msr, value);
    expect(apic.readMsr(msr)).toBe(expected);
  });
});

describe('writeMsr takes a bigint or a number (issue 12: one rule for 64-bit values)', () => {
  it('a number does what the same bigint does: TPR, SELF IPI, ICR, EOI, IA32_APIC_BASE, TSC deadline', () => {
    const apic = x2();
    apic.writeMsr(0x808, 0x20);
    expect(apic.readMsr(0x808)).toBe(0x20n);
    apic.writeMsr(0x83f, 0x61);
    apic.writeMsr(0x830, 0x4_0000 | 0x62); // self shorthand
    expect(apic.acknowledge()).toBe(0x62);
    apic.writeMsr(0x80b, 0);
    expect(apic.isInService(0x62)).toBe(false);
    apic.writeMsr(0x830, 0x25 * 2 ** 32 + 0x63); // 64-bit ICR as a number: destination 0x25 (itself)
    expect(apic.isRequested(0x63)).toBe(true);
    apic.writeMsr(0x832, 0x4_0000 | 0x64); // TSC-deadline mode
    apic.writeMsr(0x6e0, 1_000_000);
    expect(apic.readMsr(0x6e0)).toBe(1_000_000n);
    apic.writeMsr(0x1b, 0xfee0_0c00);
    expect(apic.apicBase).toBe(0xfee0_0c00n);
  });

  it('#GP for a number with bits 63:32 set where they are reserved (SDM 3A 11.12.1.2)', () => {
    const apic = x2();
    expectGp(() => apic.writeMsr(0x808, 2 ** 32));
    expectGp(() => apic.writeMsr(0x80b, 1));
  });
});
