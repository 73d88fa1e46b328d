import type { GicV3SysregName } from './sysregs.js';
import { describe, expect, it } from 'vitest';
import { ARM64_EXCEPTION_CLASS, CpuException, SnapshotError } from '@hvsim/core';
import { bringUpV3, makeV3 } from '../test-support/v3.js';
import { GICD, GICR_SGI } from './regs.js';

/** ICH_LR<n>_EL2 value (IHI0069 12.4.6). */
function lr(f: { vintid: number; pintid?: number; priority: number; state: number; group?: number; hw?: boolean; eoi?: boolean }): bigint {
  let v = BigInt(f.vintid);
  if (f.hw === true) v |= (BigInt(f.pintid ?? 0) << 32n) | (1n << 61n);
  if (f.eoi === true) v |= 1n << 41n;
  v |= BigInt(f.priority) << 48n;
  v |= BigInt(f.group ?? 1) << 60n;
  v |= BigInt(f.state) << 62n;
  return v;
}

/** A hypervisor has enabled the virtual interface and the guest its Group 1 (VMCR VENG1, VPMR 0xf8). */
function hyp(listRegisters = 4) {
  const rig = makeV3({ cpus: 2, listRegisters });
  bringUpV3(rig);
  const { gic } = rig;
  gic.write(0, 'ICH_HCR_EL2', 1n);
  gic.write(0, 'ICH_VMCR_EL2', (0xf8n << 24n) | 0x2n);
  return rig;
}

describe('GICv3 virtual CPU interface registers: ICV_*_EL1 (IHI0069 12.3)', () => {
  it.each([
    ['ICV_PMR_EL1 keeps 5 virtual priority bits (12.3.16)', 'ICV_PMR_EL1', 0xffn, 0xf8n, 'ICH_VMCR_EL2', 0xf800_0000n],
    ['ICV_BPR0_EL1 below minimum reads 2 (12.3.3)', 'ICV_BPR0_EL1', 0n, 2n, 'ICH_VMCR_EL2', 2n << 21n],
    ['ICV_BPR1_EL1 aliases VMCR.VBPR1 (12.3.4)', 'ICV_BPR1_EL1', 6n, 6n, 'ICH_VMCR_EL2', 6n << 18n],
    ['ICV_CTLR_EL1 CBPR and EOImode alias VMCR (12.3.5)', 'ICV_CTLR_EL1', 0xffff_ffffn, 0x403n, 'ICH_VMCR_EL2', 0x210n],
    ['ICV_IGRPEN0_EL1 aliases VMCR.VENG0 (12.3.13)', 'ICV_IGRPEN0_EL1', 1n, 1n, 'ICH_VMCR_EL2', 1n],
    ['ICV_IGRPEN1_EL1 aliases VMCR.VENG1 (12.3.14)', 'ICV_IGRPEN1_EL1', 3n, 1n, 'ICH_VMCR_EL2', 2n],
    ['ICV_AP1R0_EL1 aliases ICH_AP1R0_EL2 (12.3.2)', 'ICV_AP1R0_EL1', 0x10n, 0x10n, 'ICH_AP1R0_EL2', 0x10n],
  ])('%s', (_n, name, value, expected, alias, aliasValue) => {
    const { gic } = makeV3({ cpus: 1 });
    gic.write(0, name as GicV3SysregName, value);
    expect(gic.read(0, name as GicV3SysregName)).toBe(expected);
    const after = alias === 'ICH_VMCR_EL2' ? gic.read(0, alias) & ~0x8n : gic.read(0, alias as GicV3SysregName);
    expect(after & aliasValue).toBe(aliasValue);
  });

  it('ICV_RPR_EL1 and ICV_IAR/HPPIR are read-only, ICV_EOIR/DIR write-only (UNDEFINED otherwise)', () => {
    const { gic } = makeV3({ cpus: 1 });
    expect(() => gic.write(0, 'ICV_RPR_EL1', 0n)).toThrow(CpuException);
    expect(() => gic.write(0, 'ICV_IAR1_EL1', 0n)).toThrow(CpuException);
    expect(() => gic.read(0, 'ICV_EOIR0_EL1')).toThrow(CpuException);
    expect(() => gic.read(0, 'ICV_DIR_EL1')).toThrow(CpuException);
    expect(gic.read(0, 'ICV_RPR_EL1')).toBe(0xffn);
  });
});

describe('GICv3 virtual interface: ICH_*_EL2 (IHI0069 12.4)', () => {
  it('ICH_VTR_EL2 describes list registers and virtual priority bits (12.4.9)', () => {
    const { gic } = makeV3({ cpus: 1, listRegisters: 16, virtualPriorityBits: 6, virtualPreemptionBits: 6 });
    const vtr = gic.read(0, 'ICH_VTR_EL2');
    expect(vtr & 0x1fn).toBe(15n);
    expect((vtr >> 26n) & 7n).toBe(5n);
    expect((vtr >> 29n) & 7n).toBe(5n);
    expect((vtr >> 20n) & 1n).toBe(1n); // nV4: no direct injection yet
    expect(() => gic.write(0, 'ICH_VTR_EL2', 0n)).toThrow(CpuException);
    expect(gic.read(0, 'ICH_AP1R1_EL2')).toBe(0n); // 6 preemption bits: two AP registers
    expect(() => gic.read(0, 'ICH_AP1R2_EL2')).toThrow(CpuException);
  });

  it('ICH_LR<n>_EL2 reads back with RES0 and unimplemented priority bits cleared (12.4.6)', () => {
    const { gic } = makeV3({ cpus: 1 });
    gic.write(0, 'ICH_LR0_EL2', lr({ vintid: 0x1234, pintid: 0x1abc, hw: true, priority: 0xff, state: 3 }));
    expect(gic.read(0, 'ICH_LR0_EL2')).toBe(lr({ vintid: 0x1234, pintid: 0x1abc, hw: true, priority: 0xf8, state: 3 }));
    gic.write(0, 'ICH_LR1_EL2', 0xffff_ffff_ffff_ffffn & ~(1n << 61n));
    // HW = 0: only the EOI bit of pINTID survives; bits 59 (NMI), 58:56 and vINTID[31:16] are RES0
    expect(gic.read(0, 'ICH_LR1_EL2')).toBe((3n << 62n) | (1n << 60n) | (0xf8n << 48n) | (1n << 41n) | 0xffffn);
    expect(() => gic.read(0, 'ICH_LR4_EL2')).toThrow(CpuException); // 4 LRs implemented
  });

  it('ICH_VMCR_EL2 fields, VFIQEn RES1, binary points clamped (12.4.8)', () => {
    const { gic } = makeV3({ cpus: 1 });
    gic.write(0, 'ICH_VMCR_EL2', 0xffff_ffffn);
    expect(gic.read(0, 'ICH_VMCR_EL2')).toBe(0xf8fc_021bn);
    gic.write(0, 'ICH_VMCR_EL2', 0n);
    expect(gic.read(0, 'ICH_VMCR_EL2')).toBe((2n << 21n) | (3n << 18n) | 0x8n);
  });

  it('ICH_HCR_EL2 keeps its control and trap bits and EOIcount (12.4.5)', () => {
    const { gic } = makeV3({ cpus: 1 });
    gic.write(0, 'ICH_HCR_EL2', 0xffff_ffffn);
    expect(gic.read(0, 'ICH_HCR_EL2')).toBe(0xf800_5cffn);
  });

  it('the guest acknowledges and completes a virtual interrupt without the hypervisor (6.2)', () => {
    const rig = hyp();
    const { gic } = rig;
    gic.write(0, 'ICH_LR0_EL2', lr({ vintid: 44, priority: 0xa0, state: 1 }));
    expect(rig.virq[0]).toBe(true);
    expect(gic.read(0, 'ICH_ELRSR_EL2')).toBe(0b1110n);
    expect(gic.read(0, 'ICV_HPPIR1_EL1')).toBe(44n);
    expect(gic.read(0, 'ICV_IAR1_EL1')).toBe(44n);
    expect(rig.virq[0]).toBe(false);
    expect(gic.read(0, 'ICV_RPR_EL1')).toBe(0xa0n);
    expect(gic.read(0, 'ICH_AP1R0_EL2')).toBe(1n << 20n);
    expect(gic.read(0, 'ICH_LR0_EL2') >> 62n).toBe(2n);
    gic.write(0, 'ICV_EOIR1_EL1', 44n);
    expect(gic.read(0, 'ICH_LR0_EL2') >> 62n).toBe(0n);
    expect(gic.read(0, 'ICH_ELRSR_EL2')).toBe(0b1111n);
    expect(gic.read(0, 'ICH_AP1R0_EL2')).toBe(0n);
  });

  it('with HCR_EL2.IMO routing, ICC_* names at EL1 reach the virtual interface (6.3)', () => {
    const rig = hyp();
    const { gic } = rig;
    gic.setVirtualRouting(0, { imo: true, fmo: false });
    gic.write(0, 'ICH_LR1_EL2', lr({ vintid: 27, priority: 0x80, state: 1 }));
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(27n);
    gic.write(0, 'ICC_EOIR1_EL1', 27n);
    expect(gic.read(0, 'ICC_PMR_EL1')).toBe(0xf8n); // the virtual PMR
    expect(() => gic.write(0, 'ICC_SGI1R_EL1', 1n)).toThrow(CpuException); // SGIs trap to EL2
    gic.setVirtualRouting(0, { imo: false, fmo: false });
    expect(gic.read(0, 'ICC_PMR_EL1')).toBe(0xf0n); // the physical PMR set at bring-up
  });

  // IHI0069 6.2.4: hardware interrupts and their physical deactivation
  it('a HW list register deactivates the physical interrupt when the guest deactivates it', () => {
    const rig = hyp();
    const { gic } = rig;
    rig.wsgi(0, GICR_SGI.ISENABLER0, 1 << 27);
    gic.setPpiLevel(0, 27, true); // the virtual timer fires at the host
    gic.write(0, 'ICC_CTLR_EL1', 2n); // host uses EOImode = 1, as KVM
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(27n);
    gic.write(0, 'ICC_EOIR1_EL1', 27n);
    expect(rig.sgi(0, GICR_SGI.ISACTIVER0)).toBe(1 << 27);
    gic.write(0, 'ICH_LR0_EL2', lr({ vintid: 27, pintid: 27, hw: true, priority: 0xa0, state: 1 }));
    gic.setVirtualRouting(0, { imo: true, fmo: true });
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(27n);
    gic.write(0, 'ICC_EOIR1_EL1', 27n);
    expect(rig.sgi(0, GICR_SGI.ISACTIVER0)).toBe(0);
  });

  it('maintenance interrupt on PPI 25 for EOI = 1 list registers (12.4.7)', () => {
    const rig = hyp();
    const { gic } = rig;
    rig.wsgi(0, GICR_SGI.ISENABLER0, 1 << 25);
    gic.write(0, 'ICH_LR0_EL2', lr({ vintid: 40, priority: 0xa0, state: 1, eoi: true }));
    expect(gic.read(0, 'ICV_IAR1_EL1')).toBe(40n);
    gic.write(0, 'ICV_EOIR1_EL1', 40n);
    expect(gic.read(0, 'ICH_EISR_EL2')).toBe(1n);
    expect(gic.read(0, 'ICH_MISR_EL2')).toBe(1n);
    expect(gic.maintenanceLevel(0)).toBe(true);
    expect(rig.irq[0]).toBe(true);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(25n);
    gic.write(0, 'ICH_LR0_EL2', 0n);
    expect(gic.maintenanceLevel(0)).toBe(false);
    gic.write(0, 'ICC_EOIR1_EL1', 25n);
    expect(rig.irq[0]).toBe(false);
  });

  it('underflow and no-pending maintenance (ICH_HCR_EL2.UIE, NPIE)', () => {
    const rig = hyp();
    const { gic } = rig;
    gic.write(0, 'ICH_LR0_EL2', lr({ vintid: 40, priority: 0xa0, state: 1 }));
    gic.write(0, 'ICH_LR1_EL2', lr({ vintid: 41, priority: 0xa0, state: 1 }));
    gic.write(0, 'ICH_HCR_EL2', 0b1011n);
    expect(gic.read(0, 'ICH_MISR_EL2')).toBe(0n);
    gic.read(0, 'ICV_IAR1_EL1');
    gic.write(0, 'ICV_EOIR1_EL1', 40n);
    expect(gic.read(0, 'ICH_MISR_EL2')).toBe(0b0010n); // U: one valid LR left
    gic.read(0, 'ICV_IAR1_EL1');
    expect(gic.read(0, 'ICH_MISR_EL2')).toBe(0b1010n); // and nothing pending
    expect(gic.maintenanceLevel(0)).toBe(true);
  });

  it('ICH_HCR_EL2 trap bits send guest accesses to EL2 (12.4.5)', () => {
    const rig = hyp();
    const { gic } = rig;
    gic.setVirtualRouting(0, { imo: true, fmo: true });
    gic.write(0, 'ICH_HCR_EL2', 1n | (1n << 12n));
    expect(() => gic.read(0, 'ICC_IAR1_EL1')).toThrow(CpuException);
    try {
      gic.read(0, 'ICC_IAR1_EL1');
    } catch (e) {
      expect((e as CpuException).vector).toBe(ARM64_EXCEPTION_CLASS.SYS64);
    }
    expect(gic.read(0, 'ICC_IAR0_EL1')).toBe(1023n);
    gic.write(0, 'ICH_HCR_EL2', 1n | (1n << 14n));
    expect(() => gic.write(0, 'ICC_DIR_EL1', 1n)).toThrow(/ICV_DIR_EL1 trapped to EL2/);
    gic.write(0, 'ICH_HCR_EL2', 1n | (1n << 10n));
    expect(() => gic.read(0, 'ICC_PMR_EL1')).toThrow(CpuException);
    expect(gic.read(0, 'ICC_IAR1_EL1')).toBe(1023n);
  });

  it('a vCPU state saved through ICH_* registers can be restored on another PE', () => {
    const rig = hyp();
    const { gic } = rig;
    gic.write(0, 'ICH_LR0_EL2', lr({ vintid: 40, priority: 0x80, state: 1 }));
    gic.write(0, 'ICH_LR1_EL2', lr({ vintid: 41, priority: 0xa0, state: 1 }));
    expect(gic.read(0, 'ICV_IAR1_EL1')).toBe(40n);
    const names: GicV3SysregName[] = ['ICH_VMCR_EL2', 'ICH_AP1R0_EL2', 'ICH_AP0R0_EL2', 'ICH_LR0_EL2', 'ICH_LR1_EL2', 'ICH_HCR_EL2'];
    const saved = names.map((n) => gic.read(0, n));
    for (const n of names) if (n !== 'ICH_VMCR_EL2') gic.write(0, n, 0n);
    names.forEach((n, i) => gic.write(1, n, saved[i]!));
    expect(gic.read(1, 'ICV_RPR_EL1')).toBe(0x80n);
    gic.write(1, 'ICV_EOIR1_EL1', 40n);
    expect(gic.read(1, 'ICV_IAR1_EL1')).toBe(41n);
    expect(rig.virq[1]).toBe(false);
  });

  it('a spurious acknowledge when no list register is pending', () => {
    const rig = hyp();
    expect(rig.gic.read(0, 'ICV_IAR1_EL1')).toBe(1023n);
    expect(rig.gic.read(0, 'ICV_HPPIR0_EL1')).toBe(1023n);
    rig.wgicd(GICD.CTLR, 0);
  });
});

describe('GicV3 vCPU context save/restore', () => {
  it('saveVirtualInterface / restoreVirtualInterface move a vCPU between PEs mid-interrupt', () => {
    const rig = hyp();
    const { gic } = rig;
    gic.write(0, 'ICH_LR0_EL2', lr({ vintid: 40, priority: 0x80, state: 1 }));
    gic.write(0, 'ICH_LR1_EL2', lr({ vintid: 41, priority: 0xa0, state: 1 }));
    expect(gic.read(0, 'ICV_IAR1_EL1')).toBe(40n);
    gic.write(0, 'ICH_HCR_EL2', 1n | (1n << 12n));
    const ctx = JSON.parse(JSON.stringify(gic.saveVirtualInterface(0)));
    const other = makeV3({ cpus: 2 });
    other.gic.restoreVirtualInterface(1, ctx);
    expect(other.gic.read(1, 'ICH_HCR_EL2')).toBe(1n | (1n << 12n));
    other.gic.write(1, 'ICH_HCR_EL2', 1n);
    expect(other.gic.read(1, 'ICV_RPR_EL1')).toBe(0x80n);
    other.gic.write(1, 'ICV_EOIR1_EL1', 40n);
    expect(other.gic.read(1, 'ICV_IAR1_EL1')).toBe(41n);
    expect(() => makeV3({ cpus: 1, listRegisters: 8 }).gic.restoreVirtualInterface(0, ctx)).toThrow(/listRegisters must be an integer in \[8, 8\]/);
    expect(() => other.gic.restoreVirtualInterface(0, { ...ctx, type: 'hvsim.gic-v2.vcpu' })).toThrow(SnapshotError);
  });
});
