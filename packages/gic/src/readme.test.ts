// The usage example of README.md, kept runnable (IHI0069 12.9.4, 12.10.37, 12.2.13, 12.2.9, 6.2).
import { describe, expect, it } from 'vitest';
import { GicV2, GicV3, GICC, GICD, GICR, GICV2_GICD } from './index.js';

describe('README example', () => {
  it('runs the GICv3 example', () => {
    const irq: boolean[] = [];
    const gic = new GicV3({ cpus: 2, spis: 64, onIrq: (cpu, level) => (irq[cpu] = level) });
    // Map gic.distributor at GICD_base and gic.redistributorRegion at GICR_base on your bus.
    const gicd = gic.distributor;
    const gicr = gic.redistributorRegion;

    // What an OS does at boot: wake the redistributor, enable Group 1, route and enable SPI 40.
    gicr.mmioWrite(GICR.WAKER, 4, 0);
    gicd.mmioWrite(GICD.CTLR, 4, 0x2);
    gicd.mmioWrite(GICD.IGROUPR + 4, 4, 1 << 8);
    gicd.mmioWrite(GICD.IPRIORITYR + 40, 1, 0xa0);
    gicd.mmioWrite(GICD.ISENABLER + 4, 4, 1 << 8);
    gic.write(0, 'ICC_PMR_EL1', 0xf0n);
    gic.write(0, 'ICC_IGRPEN1_EL1', 1n);

    gic.setSpiLevel(40, true); // a device raises its line
    expect(irq[0]).toBe(true);
    const intid = gic.read(0, 'ICC_IAR1_EL1'); // 40n
    gic.setSpiLevel(40, false);
    gic.write(0, 'ICC_EOIR1_EL1', intid);
    expect(intid).toBe(40n);

    // A hypervisor injects virtual INTID 27 through a list register; the guest takes it.
    gic.write(1, 'ICH_HCR_EL2', 1n); // En
    gic.write(1, 'ICH_VMCR_EL2', (0xf8n << 24n) | 0x2n); // VPMR, VENG1
    gic.write(1, 'ICH_LR0_EL2', (1n << 62n) | (1n << 60n) | (0xa0n << 48n) | 27n); // pending, Group 1
    gic.setVirtualRouting(1, { imo: true, fmo: true }); // the PE enters the guest
    expect(gic.read(1, 'ICC_IAR1_EL1')).toBe(27n); // served by ICV_IAR1_EL1
    gic.write(1, 'ICC_EOIR1_EL1', 27n);
    expect(gic.read(1, 'ICH_ELRSR_EL2')).toBe(0b1111n);
  });

  it('runs the GICv2 example', () => {
    const gic = new GicV2({ cpus: 2 });
    // Every CPU maps its own views at the same addresses: distributor(cpu), cpuInterface(cpu), ...
    const gicd0 = gic.distributor(0);
    const gicc1 = gic.cpuInterface(1);
    gicd0.mmioWrite(GICV2_GICD.CTLR, 4, 1);
    gic.distributor(1).mmioWrite(GICV2_GICD.ISENABLER, 4, 1 << 3); // SGI 3 on CPU 1
    gicc1.mmioWrite(GICC.PMR, 4, 0xf0);
    gicc1.mmioWrite(GICC.CTLR, 4, 1);
    gicd0.mmioWrite(GICV2_GICD.SGIR, 4, (0b10 << 16) | 3); // CPU 0 sends SGI 3 to CPU 1
    const iar = gicc1.mmioRead(GICC.IAR, 4); // 3 | (source CPU 0 << 10)
    gicc1.mmioWrite(GICC.EOIR, 4, iar);
    expect(iar).toBe(3);
  });
});
