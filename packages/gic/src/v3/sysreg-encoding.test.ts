/**
 * GICv3 system registers by MRS/MSR encoding (IHI0069 12.1.6 Table 12-1):
 * the number path a CPU uses agrees with the by-name path for every register,
 * routing and trap setting, and reports the same architectural exceptions.
 */
import type { GicV3SysregName } from './sysregs.js';
import { ARM64_EXCEPTION_CLASS, CpuException, UsageError } from '@hvsim/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { GICV3_SYSREGS, gicv3SysregName, sysregEncoding } from './sysregs.js';
import { bringUpV3, makeV3 } from '../test-support/v3.js';
import { GICD } from './regs.js';

const seed = Number(process.env.HVSIM_PROPERTY_SEED ?? 20261124);
const numRuns = Number(process.env.HVSIM_PROPERTY_RUNS ?? 100);

const enc = (name: string): number => GICV3_SYSREGS.get(name)!.encoding;

/** What an access did: a value, or the exception class it raised. */
function outcome(fn: () => bigint | number | undefined): string {
  try {
    const v = fn();
    return `ok ${String(v)}`;
  } catch (e) {
    if (e instanceof CpuException) return `exception ${e.vector}`;
    throw e;
  }
}

describe('system registers by encoding (IHI0069 12.1.6)', () => {
  it('packs op0:op1:CRn:CRm:op2 as the instruction does (Arm ARM C5.1.2)', () => {
    expect(sysregEncoding(3, 0, 12, 12, 0)).toBe(0xc660); // ICC_IAR1_EL1
    expect(enc('ICC_IAR1_EL1')).toBe(0xc660);
    expect(enc('ICH_LR15_EL2')).toBe(sysregEncoding(3, 4, 12, 13, 7));
    expect(gicv3SysregName(3, 0, 4, 6, 0)).toBe('ICC_PMR_EL1');
    expect(gicv3SysregName(3, 0, 4, 6, 9)).toBeUndefined();
  });

  it('IAR/EOIR on numbers acknowledge and complete like the named registers (12.2.13, 12.2.10)', () => {
    const rig = makeV3({ cpus: 1 });
    bringUpV3(rig);
    rig.wgicd(GICD.ISENABLER + 4, 1 << 8);
    rig.gic.signalSpi(40);
    expect(rig.irq[0]).toBe(true);
    expect(rig.gic.readSysreg(0, enc('ICC_IAR1_EL1'))).toBe(40);
    expect(rig.gic.sysregHigh).toBe(0);
    expect(rig.irq[0]).toBe(false);
    expect(rig.gic.readSysreg(0, enc('ICC_RPR_EL1'))).toBe(0xa0);
    rig.gic.writeSysreg(0, enc('ICC_EOIR1_EL1'), 40);
    expect(rig.gic.readSysreg(0, enc('ICC_RPR_EL1'))).toBe(0xff);
  });

  it('ICH_LR<n>_EL2 reads return both halves; MISR/EISR/ELRSR read as numbers (12.4.6, 12.4.7, 12.4.3, 12.4.4)', () => {
    const { gic } = makeV3({ cpus: 1 });
    gic.writeSysreg(0, enc('ICH_LR2_EL2'), 27, 0x50a0_0000); // pending, Group 1, priority 0xa0
    expect(gic.readSysreg(0, enc('ICH_LR2_EL2'))).toBe(27);
    expect(gic.sysregHigh).toBe(0x50a0_0000);
    expect(gic.read(0, 'ICH_LR2_EL2')).toBe(0x50a0_0000_0000_001bn);
    const v = gic.virtualInterface(0);
    expect(v.readElrsr()).toBe(0b1011);
    expect(gic.readSysreg(0, enc('ICH_ELRSR_EL2'))).toBe(0b1011);
    gic.writeSysreg(0, enc('ICH_HCR_EL2'), 0b1001); // En | NPIE
    expect(v.readMisr()).toBe(0);
    gic.writeSysreg(0, enc('ICH_LR2_EL2'), 27, 0x0000_0200); // invalid, EOI maintenance requested
    expect(v.readEisr()).toBe(0b100);
    expect(v.readMisr()).toBe(0b1001); // EOI | NP
    expect(gic.readSysreg(0, enc('ICH_MISR_EL2'))).toBe(0b1001);
  });

  it('with HCR_EL2.IMO an EL1 ICC_IAR1_EL1 encoding reaches ICV_IAR1_EL1; SGI generation traps (6.3, 12.2.22)', () => {
    const { gic } = makeV3({ cpus: 1 });
    gic.writeSysreg(0, enc('ICH_HCR_EL2'), 1);
    gic.writeSysreg(0, enc('ICH_VMCR_EL2'), 0xf000_0002); // VPMR 0xf0, VENG1
    gic.writeSysreg(0, enc('ICH_LR0_EL2'), 27, 0x50a0_0000);
    gic.setVirtualRouting(0, { imo: true, fmo: true });
    expect(gic.readSysreg(0, enc('ICC_IAR1_EL1'))).toBe(27);
    expect(() => gic.writeSysreg(0, enc('ICC_SGI1R_EL1'), 0, 0)).toThrow(expect.objectContaining({ vector: ARM64_EXCEPTION_CLASS.SYS64 }));
    // ICH_HCR_EL2.TALL1 traps Group 1 ICV accesses to EL2 (12.4.5).
    gic.setVirtualRouting(0, { imo: false, fmo: false });
    gic.writeSysreg(0, enc('ICH_HCR_EL2'), 1 | (1 << 12));
    gic.setVirtualRouting(0, { imo: true, fmo: true });
    expect(() => gic.readSysreg(0, enc('ICC_IAR1_EL1'))).toThrow(expect.objectContaining({ vector: ARM64_EXCEPTION_CLASS.SYS64 }));
    expect(gic.readSysreg(0, enc('ICC_HPPIR0_EL1'))).toBe(1023);
  });

  it('an encoding that is no GIC register is UNDEFINED (EC 0x00); a bad argument is a UsageError naming it', () => {
    const { gic } = makeV3({ cpus: 1 });
    expect(gic.hasSysreg(enc('ICC_PMR_EL1'))).toBe(true);
    expect(gic.hasSysreg(sysregEncoding(3, 0, 1, 0, 0))).toBe(false);
    expect(() => gic.readSysreg(0, sysregEncoding(3, 0, 1, 0, 0))).toThrow(expect.objectContaining({ vector: ARM64_EXCEPTION_CLASS.UNKNOWN }));
    // Wrong direction: reading a write-only register, writing a read-only one (Arm ARM D1.3).
    expect(() => gic.readSysreg(0, enc('ICC_EOIR1_EL1'))).toThrow(expect.objectContaining({ vector: ARM64_EXCEPTION_CLASS.UNKNOWN }));
    expect(() => gic.writeSysreg(0, enc('ICC_IAR1_EL1'), 0)).toThrow(expect.objectContaining({ vector: ARM64_EXCEPTION_CLASS.UNKNOWN }));
    expect(() => gic.readSysreg(0, 0x1_0000)).toThrow(UsageError);
    expect(() => gic.readSysreg(0, 0x1_0000)).toThrow(/encoding must be an integer in \[0, 0xffff\], got 65536/);
    expect(() => gic.writeSysreg(0, enc('ICC_PMR_EL1'), -1)).toThrow(/lo -1/);
    expect(() => gic.readSysreg(2, enc('ICC_PMR_EL1'))).toThrow(/cpu must be an integer in \[0, 0\], got 2/);
  });

  it('agrees with the by-name path for every register, routing and ICH_HCR_EL2 trap setting (property)', () => {
    const names = [...GICV3_SYSREGS.keys()].filter((n) => !n.startsWith('ICV_')) as GicV3SysregName[];
    const op = fc.record({
      name: fc.constantFrom(...names),
      write: fc.boolean(),
      lo: fc.nat({ max: 0xffff_ffff }),
      hi: fc.nat({ max: 0xffff_ffff }),
    });
    fc.assert(
      fc.property(fc.nat({ max: 3 }), fc.constantFrom(0, 1 << 10, 1 << 11, 1 << 12, 1 << 14), fc.array(op, { maxLength: 12 }), (route, trap, ops) => {
        const a = makeV3({ cpus: 1 });
        const b = makeV3({ cpus: 1 });
        for (const r of [a, b]) {
          r.gic.write(0, 'ICH_HCR_EL2', BigInt(1 | trap));
          r.gic.setVirtualRouting(0, { imo: (route & 2) !== 0, fmo: (route & 1) !== 0 });
        }
        for (const o of ops) {
          const byName = outcome(() => {
            if (!o.write) return a.gic.read(0, o.name);
            a.gic.write(0, o.name, (BigInt(o.hi) << 32n) | BigInt(o.lo));
            return undefined;
          });
          const byEnc = outcome(() => {
            if (o.write) {
              b.gic.writeSysreg(0, enc(o.name), o.lo, o.hi);
              return undefined;
            }
            const lo = b.gic.readSysreg(0, enc(o.name));
            return (BigInt(b.gic.sysregHigh) << 32n) | BigInt(lo);
          });
          expect(byEnc).toBe(byName);
        }
        expect(JSON.stringify(b.gic.saveState())).toBe(JSON.stringify(a.gic.saveState()));
      }),
      { seed, numRuns },
    );
  });
});
