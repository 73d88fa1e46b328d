import { describe, expect, it } from 'vitest';
import { ICR_HIGH_WRITABLE, ICR_LOW_WRITABLE } from './icr.js';
import { LVT_WRITABLE } from './lvt.js';
import { APIC, IA32_APIC_BASE_MSR, IA32_TSC_DEADLINE_MSR, X2APIC_MSR_BASE, offsetForX2apicMsr, x2apicMsrForOffset } from './regs.js';

describe('APIC register address map (SDM 3A Table 11-1, x2APIC Table 11-6)', () => {
  it('maps offsets to x2APIC MSRs as 0x800 + offset/16', () => {
    expect(x2apicMsrForOffset(APIC.ID)).toBe(0x802);
    expect(x2apicMsrForOffset(APIC.EOI)).toBe(0x80b);
    expect(x2apicMsrForOffset(APIC.ICR_LOW)).toBe(0x830);
    expect(x2apicMsrForOffset(APIC.SELF_IPI)).toBe(0x83f);
    expect(x2apicMsrForOffset(APIC.IRR0 + 0x70)).toBe(0x827);
    expect(offsetForX2apicMsr(0x839)).toBe(APIC.TIMER_CURRENT_COUNT);
    for (let off = 0; off < 0x1000; off += 16) expect(offsetForX2apicMsr(x2apicMsrForOffset(off))).toBe(off);
    expect([X2APIC_MSR_BASE, IA32_APIC_BASE_MSR, IA32_TSC_DEADLINE_MSR]).toEqual([0x800, 0x1b, 0x6e0]);
  });

  it('rejects offsets and MSRs outside the map', () => {
    expect(() => x2apicMsrForOffset(0x24)).toThrow('APIC register offset must be a multiple of 16 in [0, 0xff0], got 36 (0x24)');
    expect(() => x2apicMsrForOffset(0x1000)).toThrow('APIC register offset');
    expect(() => offsetForX2apicMsr(0x900)).toThrow('x2APIC MSR must be an integer in [0x800, 0x8ff], got 2304 (0x900)');
  });
});

describe('write masks derived from the field tables', () => {
  it('match the SDM figures', () => {
    expect(ICR_LOW_WRITABLE).toBe(0x000c_cfff); // SDM 3A Figure 11-12
    expect(ICR_HIGH_WRITABLE).toBe(0xff00_0000);
    expect(LVT_WRITABLE).toEqual([0x1_07ff, 0x7_00ff, 0x1_07ff, 0x1_07ff, 0x1_a7ff, 0x1_a7ff, 0x1_00ff]); // SDM 3A Figure 11-8
  });
});
