import { describe, expect, it } from 'vitest';
import { bringUpV2, makeV2 } from '../test-support/v2.js';
import { GICC, GICD, GICH } from './regs.js';

/** GICH_LR<n> (IHI0048B 5.3.8). */
function lr(f: { vintid: number; pid?: number; priority: number; state: number; grp1?: boolean; hw?: boolean }): number {
  return (
    (f.vintid | ((f.pid ?? 0) << 10) | ((f.priority >>> 3) << 23) | (f.state << 28) | (f.grp1 === true ? 1 << 30 : 0) | (f.hw === true ? 1 << 31 : 0)) >>> 0
  );
}

function hyp(listRegisters = 4) {
  const rig = makeV2({ cpus: 2, listRegisters });
  bringUpV2(rig);
  rig.wgich(0, GICH.HCR, 1);
  rig.wgich(0, GICH.VMCR, (0x1f << 27) | 0x1); // VMPriMask 0xf8, VMGrp0En
  return rig;
}

describe('GICv2 virtual interface control, GICH (IHI0048B 5.3)', () => {
  it.each([
    ['GICH_VTR read-only: ListRegs, PREbits, PRIbits (5.3.2)', GICH.VTR, 0, 0x9000_0003],
    ['GICH_HCR control bits and EOICount (5.3.1)', GICH.HCR, 0xffff_ffff, 0xf800_00ff],
    ['GICH_VMCR fields, binary points clamped (5.3.3)', GICH.VMCR, 0, (2 << 21) | (3 << 18)],
    ['GICH_VMCR all ones', GICH.VMCR, 0xffff_ffff, 0xf8fc_021f],
    ['GICH_APR (5.3.7)', GICH.APR, 0x8000_0001, 0x8000_0001],
    ['GICH_LR0 with HW = 0 keeps EOI and CPUID only (5.3.8)', GICH.LR0, 0x7fff_ffff, 0x7f88_1fff],
    ['GICH_LR1 with HW = 1 (5.3.8)', GICH.LR0 + 4, 0xffff_ffff, 0xff8f_ffff],
    ['GICH_LR beyond ListRegs RAZ/WI', GICH.LR0 + 16, 0xffff_ffff, 0],
    ['GICH_MISR read-only', GICH.MISR, 0xff, 0],
    ['GICH_ELRSR0 read-only, all empty', GICH.ELRSR0, 0, 0xf],
    ['GICH_EISR0 read-only', GICH.EISR0, 0xff, 0],
  ])('%s', (_n, offset, value, expected) => {
    const rig = makeV2({ cpus: 1 });
    rig.wgich(0, offset, value);
    expect(rig.gich(0, offset)).toBe(expected >>> 0);
  });

  it('the guest acknowledges and completes through GICV without the hypervisor (5.4)', () => {
    const rig = hyp();
    rig.wgich(0, GICH.LR0, lr({ vintid: 44, priority: 0xa0, state: 1 }));
    expect(rig.virq[0]).toBe(true);
    expect(rig.gicv(0, GICC.HPPIR)).toBe(44);
    expect(rig.gicv(0, GICC.IAR)).toBe(44);
    expect(rig.gicv(0, GICC.RPR)).toBe(0xa0);
    expect(rig.gich(0, GICH.APR)).toBe(1 << 20);
    expect(rig.gicv(0, GICC.APR0)).toBe(1 << 20);
    expect(rig.gich(0, GICH.LR0) >>> 28).toBe(2);
    rig.wgicv(0, GICC.EOIR, 44);
    expect(rig.gich(0, GICH.LR0) >>> 28).toBe(0);
    expect(rig.gich(0, GICH.ELRSR0)).toBe(0xf);
    expect(rig.gicv(0, GICC.IAR)).toBe(1023);
  });

  it('virtual SGIs carry the CPUID from the list register (5.3.8)', () => {
    const rig = hyp();
    rig.wgich(0, GICH.LR0, lr({ vintid: 3, pid: 2, priority: 0x80, state: 1 }));
    rig.wgich(0, GICH.LR0 + 4, lr({ vintid: 3, pid: 1, priority: 0x90, state: 1 }));
    expect(rig.gicv(0, GICC.IAR)).toBe((2 << 10) | 3);
    rig.wgicv(0, GICC.EOIR, (2 << 10) | 3);
    expect(rig.gich(0, GICH.LR0) >>> 28).toBe(0);
    expect(rig.gicv(0, GICC.IAR)).toBe((1 << 10) | 3);
  });

  it('Group 1 virtual interrupts need AckCtl on GICV_IAR (1022) or GICV_AIAR (5.4)', () => {
    const rig = hyp();
    rig.wgicv(0, GICC.CTLR, 0x3);
    rig.wgich(0, GICH.LR0, lr({ vintid: 50, priority: 0x80, state: 1, grp1: true }));
    expect(rig.gicv(0, GICC.IAR)).toBe(1022);
    expect(rig.gicv(0, GICC.AIAR)).toBe(50);
    rig.wgicv(0, GICC.AEOIR, 50);
    expect((rig.gich(0, GICH.LR0) >>> 28) & 3).toBe(0);
  });

  it('GICV_CTLR aliases GICH_VMCR.VMCCtlr; GICV_PMR aliases VMPriMask (5.4.1, 5.3.3)', () => {
    const rig = hyp();
    rig.wgicv(0, GICC.CTLR, 0x21b);
    expect(rig.gich(0, GICH.VMCR) & 0x3ff).toBe(0x21b);
    rig.wgicv(0, GICC.PMR, 0x80);
    expect(rig.gich(0, GICH.VMCR) >>> 27).toBe(0x10);
    rig.wgicv(0, GICC.ABPR, 7); // a plain register even with CBPR set
    expect((rig.gich(0, GICH.VMCR) >>> 18) & 7).toBe(7);
  });

  it('a HW list register deactivates the physical interrupt on guest EOI (5.3.8)', () => {
    const rig = hyp();
    rig.wgicd(0, GICD.ISENABLER + 4, 1 << 8);
    rig.wgicc(0, GICC.CTLR, 0x201); // host EOImodeS = 1
    rig.gic.setSpiLevel(40, true);
    expect(rig.gicc(0, GICC.IAR)).toBe(40);
    rig.gic.setSpiLevel(40, false);
    rig.wgicc(0, GICC.EOIR, 40);
    expect(rig.gicd(0, GICD.ISACTIVER + 4)).toBe(1 << 8);
    rig.wgich(0, GICH.LR0, lr({ vintid: 40, pid: 40, hw: true, priority: 0xa0, state: 1 }));
    expect(rig.gicv(0, GICC.IAR)).toBe(40);
    rig.wgicv(0, GICC.EOIR, 40);
    expect(rig.gicd(0, GICD.ISACTIVER + 4)).toBe(0);
  });

  it('maintenance interrupt (PPI 25) on EOI of an EOI = 1 list register and on EOICount (5.3.1, 5.3.4)', () => {
    const rig = hyp();
    rig.wgicd(0, GICD.ISENABLER, 1 << 25);
    rig.wgich(0, GICH.LR0, lr({ vintid: 44, pid: 1 << 9, priority: 0xa0, state: 1 }));
    expect(rig.gicv(0, GICC.IAR)).toBe(44);
    rig.wgicv(0, GICC.EOIR, 44);
    expect(rig.gich(0, GICH.EISR0)).toBe(1);
    expect(rig.gich(0, GICH.ELRSR0)).toBe(0xe);
    expect(rig.gich(0, GICH.MISR)).toBe(1);
    expect(rig.gic.maintenanceLevel(0)).toBe(true);
    expect(rig.gicc(0, GICC.HPPIR)).toBe(25);
    rig.wgich(0, GICH.LR0, 0);
    expect(rig.gic.maintenanceLevel(0)).toBe(false);
    // an EOI for an interrupt no longer in a list register
    rig.wgich(0, GICH.HCR, 0x5); // En | LRENPIE
    rig.wgich(0, GICH.LR0, lr({ vintid: 45, priority: 0xa0, state: 1 }));
    rig.gicv(0, GICC.IAR);
    rig.wgich(0, GICH.LR0, 0);
    rig.wgicv(0, GICC.EOIR, 45);
    expect(rig.gich(0, GICH.HCR) >>> 27).toBe(1);
    expect(rig.gich(0, GICH.MISR)).toBe(0x4);
    expect(rig.gic.maintenanceLevel(0)).toBe(true);
  });

  it('GICV_DIR deactivates with EOImode = 1 (5.4)', () => {
    const rig = hyp();
    rig.wgicv(0, GICC.CTLR, 0x201);
    rig.wgich(0, GICH.LR0, lr({ vintid: 46, priority: 0xa0, state: 1 }));
    rig.gicv(0, GICC.IAR);
    rig.wgicv(0, GICC.EOIR, 46);
    expect(rig.gich(0, GICH.LR0) >>> 28).toBe(2);
    rig.wgicv(0, GICC.DIR, 46);
    expect(rig.gich(0, GICH.LR0) >>> 28).toBe(0);
  });

  it('64 list registers use both EISR and ELRSR words (5.3.5, 5.3.6)', () => {
    const rig = hyp(64);
    expect(rig.gich(0, GICH.VTR) & 0x3f).toBe(63);
    expect(rig.gich(0, GICH.ELRSR1)).toBe(0xffff_ffff);
    rig.wgich(0, GICH.LR0 + 4 * 40, lr({ vintid: 60, priority: 0x10, state: 1 }));
    expect(rig.gich(0, GICH.ELRSR1)).toBe(0xffff_feff);
    expect(rig.gicv(0, GICC.IAR)).toBe(60);
  });
});

describe('GicV2 vCPU context save/restore', () => {
  it('moves a vCPU with an active virtual interrupt to another CPU interface', () => {
    const rig = hyp();
    rig.wgich(0, GICH.LR0, lr({ vintid: 44, priority: 0x80, state: 1 }));
    rig.wgich(0, GICH.LR0 + 4, lr({ vintid: 45, priority: 0xa0, state: 1 }));
    expect(rig.gicv(0, GICC.IAR)).toBe(44);
    const ctx = JSON.parse(JSON.stringify(rig.gic.saveVirtualInterface(0)));
    rig.gic.restoreVirtualInterface(1, ctx);
    expect(rig.gicv(1, GICC.RPR)).toBe(0x80);
    rig.wgicv(1, GICC.EOIR, 44);
    expect(rig.gicv(1, GICC.IAR)).toBe(45);
    expect(() => rig.gic.restoreVirtualInterface(1, { ...ctx, lrState: [9, 0, 0, 0] })).toThrow(/lrState\[0\] must be an integer in \[0, 3\]/);
  });
});
