/**
 * GICv3 speed (issue 7 targets): SPI raise -> acknowledge -> EOI with 988
 * SPIs configured (>= 5 M/s), guest acknowledge + EOI through a list register
 * (>= 10 M/s), and selection cost at 32, 256 and 988 SPIs (flat).
 */
import { bench, describe } from 'vitest';

/** Operations per benchmark call, so the harness's per-call timing does not dominate: ops/s = hz x LOOP. */
const LOOP = 1000;
import { GicV3 } from './gic-v3.js';
import { GICD, GICR, GICR_SGI_BASE, GICR_SGI } from './regs.js';
import { GICV3_SYSREGS } from './sysregs.js';

/** A one-PE GIC with `spis` SPIs, all enabled Group 1 edge at 0xa0; `backlog` of them left pending at 0xe0 (masked). */
function setup(spis: number, backlog: number): GicV3 {
  const gic = new GicV3({ cpus: 1, spis });
  const d = gic.distributorFor(0);
  gic.redistributorRegion.mmioWrite(GICR.WAKER, 4, 0);
  gic.redistributorRegion.mmioWrite(GICR_SGI_BASE + GICR_SGI.IGROUPR0, 4, 0xffff_ffff);
  d.mmioWrite(GICD.CTLR, 4, 3);
  for (let i = 1; i < (spis + 32) / 32; i++) {
    d.mmioWrite(GICD.IGROUPR + 4 * i, 4, 0xffff_ffff);
    d.mmioWrite(GICD.ISENABLER + 4 * i, 4, 0xffff_ffff);
  }
  for (let i = 2; i < (spis + 32) / 16; i++) d.mmioWrite(GICD.ICFGR + 4 * i, 4, 0xaaaa_aaaa);
  for (let i = 8; i < (spis + 32) / 4; i++) d.mmioWrite(GICD.IPRIORITYR + 4 * i, 4, 0xa0a0_a0a0);
  gic.write(0, 'ICC_PMR_EL1', 0xc0n);
  gic.write(0, 'ICC_IGRPEN1_EL1', 1n);
  for (let k = 0; k < backlog; k++) {
    const intid = 33 + k;
    d.mmioWrite(GICD.IPRIORITYR + intid, 1, 0xe0);
    gic.signalSpi(intid);
  }
  return gic;
}

describe('GICv3 physical: SPI raise -> IAR -> EOIR, 988 SPIs configured', () => {
  const gic = setup(988, 0);
  const cpu = gic.cpuInterface(0);
  bench('number API (signalSpi, readIar, writeEoir) (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      gic.signalSpi(32);
      const id = cpu.readIar(1);
      cpu.writeEoir(1, id);
    }
  });
  // The run-all workload (issue 12): 988 SPIs at mixed priorities, raised in turn.
  const mixed = setup(988, 0);
  const md = mixed.distributorFor(0);
  for (let id = 32; id < 1020; id++) md.mmioWrite(GICD.IPRIORITYR + id, 1, ((id * 7) % 31) << 3);
  mixed.write(0, 'ICC_PMR_EL1', 0xffn);
  const mcpu = mixed.cpuInterface(0);
  let next = 0;
  bench('number API, 988 SPIs in turn at mixed priorities (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      mixed.signalSpi(32 + next);
      next = next === 987 ? 0 : next + 1;
      const id = mcpu.readIar(1);
      if (id !== 1023) mcpu.writeEoir(1, id);
    }
  });
  const encoded = setup(988, 0);
  const PMR = GICV3_SYSREGS.get('ICC_PMR_EL1')!.encoding;
  const IAR1 = GICV3_SYSREGS.get('ICC_IAR1_EL1')!.encoding;
  const EOIR1 = GICV3_SYSREGS.get('ICC_EOIR1_EL1')!.encoding;
  bench('by encoding as Arm64Cpu decodes MRS/MSR (IAR1, PMR, EOIR1) (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      encoded.signalSpi(32);
      const id = encoded.readSysreg(0, IAR1);
      encoded.writeSysreg(0, PMR, 0xc0);
      encoded.writeSysreg(0, EOIR1, id);
    }
  });
  const named = setup(988, 0);
  bench('by name (read/write with bigint) (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      named.signalSpi(32);
      const id = named.read(0, 'ICC_IAR1_EL1');
      named.write(0, 'ICC_EOIR1_EL1', id);
    }
  });
});

describe('GICv3 native delivery as Arm64Cpu drives it (issue 13): MSR ICC_SGI1R_EL1 -> IRQ line -> MRS ICC_IAR1_EL1 -> MSR ICC_EOIR1_EL1', () => {
  const SGI1R = GICV3_SYSREGS.get('ICC_SGI1R_EL1')!.encoding;
  const IAR1 = GICV3_SYSREGS.get('ICC_IAR1_EL1')!.encoding;
  const EOIR1 = GICV3_SYSREGS.get('ICC_EOIR1_EL1')!.encoding;
  const DIR = GICV3_SYSREGS.get('ICC_DIR_EL1')!.encoding;
  const CTLR = GICV3_SYSREGS.get('ICC_CTLR_EL1')!.encoding;
  const PMR = GICV3_SYSREGS.get('ICC_PMR_EL1')!.encoding;
  // The CPU's IRQ input, wired as a CPU wires it (onIrq on every level change).
  let irq = false;
  const wired = (): GicV3 => {
    const gic = new GicV3({ cpus: 1, spis: 64, onIrq: (_c, level) => (irq = level) });
    gic.redistributorRegion.mmioWrite(GICR.WAKER, 4, 0);
    gic.redistributorRegion.mmioWrite(GICR_SGI_BASE + GICR_SGI.IGROUPR0, 4, 0xffff_ffff);
    gic.redistributorRegion.mmioWrite(GICR_SGI_BASE + GICR_SGI.ISENABLER0, 4, 0xffff);
    gic.distributorFor(0).mmioWrite(GICD.CTLR, 4, 3);
    gic.writeSysreg(0, PMR, 0xf0);
    gic.write(0, 'ICC_IGRPEN1_EL1', 1n);
    return gic;
  };
  const gic = wired();
  bench('SGI 1 to self, IRQ taken, IAR1, EOIR1 (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      gic.writeSysreg(0, SGI1R, (1 << 24) | 1);
      if (!irq) throw new Error('the SGI did not raise IRQ');
      gic.writeSysreg(0, EOIR1, gic.readSysreg(0, IAR1));
    }
  });
  const split = wired();
  split.writeSysreg(0, CTLR, 1 << 1); // EOImode = 1: EOIR drops priority, DIR deactivates
  bench('with EOImode = 1: SGI, IAR1, EOIR1, DIR (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      split.writeSysreg(0, SGI1R, (1 << 24) | 1);
      const id = split.readSysreg(0, IAR1);
      split.writeSysreg(0, EOIR1, id);
      split.writeSysreg(0, DIR, id);
    }
  });
  const pmr = wired();
  bench('PMR write + read (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      pmr.writeSysreg(0, PMR, 0xf0 - (k & 0x70));
      pmr.readSysreg(0, PMR);
    }
  });
});

describe('GICv3 selection cost vs SPIs configured (half of them pending, masked)', () => {
  for (const spis of [32, 256, 988]) {
    const gic = setup(spis, spis / 2);
    const cpu = gic.cpuInterface(0);
    bench(`${spis} SPIs (x1000)`, () => {
      for (let k = 0; k < LOOP; k++) {
        gic.signalSpi(32);
        const id = cpu.readIar(1);
        cpu.writeEoir(1, id);
      }
    });
    const hppi = gic.cpuInterface(0);
    gic.signalSpi(32);
    bench(`${spis} SPIs, HPPIR read only (x1000)`, () => {
      for (let k = 0; k < LOOP; k++) hppi.readHppir(1);
    });
  }
});

describe('GICv3 virtual: hypervisor fills a list register, guest ICV IAR -> EOIR', () => {
  const gic = setup(64, 0);
  gic.write(0, 'ICH_HCR_EL2', 1n);
  gic.write(0, 'ICH_VMCR_EL2', (0xf8n << 24n) | 2n);
  const v = gic.virtualInterface(0);
  const hi = ((1 << 30) | (1 << 28) | (0xa0 << 16)) >>> 0;
  bench('number API (writeLr + readIar + writeEoir) (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      v.writeLr(0, 44, hi);
      const id = v.readIar(1);
      v.writeEoir(1, id);
    }
  });
  const g1 = setup(64, 0);
  g1.write(0, 'ICH_HCR_EL2', 1n);
  g1.write(0, 'ICH_VMCR_EL2', (0xf8n << 24n) | 2n);
  const v1 = g1.virtualInterface(0);
  bench('hypervisor list-register write alone, to subtract (x1000)', () => {
    for (let k = 0; k < LOOP; k++) v1.writeLr(0, 44, hi);
  });
  const g2 = setup(64, 0);
  g2.write(0, 'ICH_HCR_EL2', 1n);
  g2.write(0, 'ICH_VMCR_EL2', (0xf8n << 24n) | 2n);
  g2.setVirtualRouting(0, { imo: true, fmo: true });
  const v2 = g2.virtualInterface(0);
  bench('guest by name (ICC_IAR1_EL1 / ICC_EOIR1_EL1 routed to ICV) (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      v2.writeLr(0, 44, hi);
      const id = g2.read(0, 'ICC_IAR1_EL1');
      g2.write(0, 'ICC_EOIR1_EL1', id);
    }
  });
  const g3 = setup(64, 0);
  g3.write(0, 'ICH_HCR_EL2', 1n);
  g3.write(0, 'ICH_VMCR_EL2', (0xf8n << 24n) | 2n);
  g3.setVirtualRouting(0, { imo: true, fmo: true });
  const v3 = g3.virtualInterface(0);
  const IAR1 = GICV3_SYSREGS.get('ICC_IAR1_EL1')!.encoding;
  const EOIR1 = GICV3_SYSREGS.get('ICC_EOIR1_EL1')!.encoding;
  bench('guest by encoding (MRS/MSR as a CPU decodes them, routed to ICV) (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      v3.writeLr(0, 44, hi);
      const id = g3.readSysreg(0, IAR1);
      g3.writeSysreg(0, EOIR1, id);
    }
  });
});

describe('GICv3 hypervisor: vCPU switch and list-register flush', () => {
  const gic = setup(64, 0);
  const v = gic.virtualInterface(0);
  for (let n = 0; n < 4; n++) v.writeLr(n, 40 + n, ((1 << 30) | (1 << 28) | (0xa0 << 16)) >>> 0);
  const json = gic.saveVirtualInterface(0);
  bench('vcpu_put + vcpu_load as JSON objects (x1000)', () => {
    for (let k = 0; k < LOOP; k++) gic.restoreVirtualInterface(0, gic.saveVirtualInterface(0));
  });
  const words = new Uint32Array(gic.virtualInterfaceWords);
  bench('vcpu_put + vcpu_load as a typed array (x1000)', () => {
    for (let k = 0; k < LOOP; k++) {
      gic.saveVirtualInterfaceWords(0, words);
      gic.restoreVirtualInterfaceWords(0, words);
    }
  });
  void json;
  const dist = setup(64, 0);
  for (let id = 32; id < 48; id++) dist.signalSpi(id);
  const out = new Int32Array(4);
  bench('enumerate the best 4 pending of 16 without acknowledging (x1000)', () => {
    for (let k = 0; k < LOOP; k++) dist.pendingInterrupts(0, out);
  });
});
