// The usage example of README.md, kept runnable (IHI0069 12.9.4, 12.11.42, 12.2.14, 12.2.10, 6.2).
import { describe, expect, it } from 'vitest';
import { DELIVERY_STATUS, GuestPhysicalMemory, Memslots, PhysicalMemory } from '@hvsim/core';
import { GicV2, GicV3, GICC, GICD, GICR, GICV2_GICD, GITS, encodeItsCommand, sysregEncoding } from './index.js';

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

  it('runs the ITS example (IHI0069 5.1, 5.2, 5.3)', () => {
    const irq: boolean[] = [];
    const memory = new PhysicalMemory();
    memory.addRegion(0x4000_0000, 0x100_0000);
    const gic = new GicV3({ cpus: 1, lpis: { memory }, onIrq: (cpu, level) => (irq[cpu] = level) });
    const its = gic.createIts();
    const gicr = gic.redistributorRegion;
    gicr.mmioWrite(GICR.WAKER, 4, 0);
    gic.distributor.mmioWrite(GICD.CTLR, 4, 0x2);
    gic.write(0, 'ICC_PMR_EL1', 0xf0n);
    gic.write(0, 'ICC_IGRPEN1_EL1', 1n);

    memory.write8(0x4000_0000, 0xa3);
    gicr.mmioWrite64(GICR.PROPBASER, 0x4000_0000n | 15n);
    gicr.mmioWrite64(GICR.PENDBASER, 0x4010_0000n);
    gicr.mmioWrite(GICR.CTLR, 4, 1);

    its.mmioWrite64(GITS.BASER, 0x4020_0000n | (1n << 63n));
    its.mmioWrite64(GITS.BASER + 8, 0x4021_0000n | (1n << 63n));
    its.mmioWrite64(GITS.CBASER, 0x4023_0000n | (1n << 63n));
    its.mmioWrite(GITS.CTLR, 4, 1);
    let cwriter = 0;
    const send = (...cmd: Parameters<typeof encodeItsCommand>): void => {
      memory.writeBytes(0x4023_0000 + cwriter, new Uint8Array(encodeItsCommand(...cmd).buffer));
      cwriter += 32;
      its.mmioWrite(GITS.CWRITER, 4, cwriter);
    };
    send('MAPC', { icid: 0, rdbase: 0, valid: 1 });
    send('MAPD', { deviceId: 7, size: 4, ittAddress: 0x4030_0000, valid: 1 });
    send('MAPTI', { deviceId: 7, eventId: 3, intid: 8192, icid: 0 });
    send('SYNC', { rdbase: 0 });

    expect(its.translate(7, 3)).toBe('lpi');
    expect(irq[0]).toBe(true);
    const lpi = gic.read(0, 'ICC_IAR1_EL1');
    gic.write(0, 'ICC_EOIR1_EL1', lpi);
    expect(lpi).toBe(8192n);
    expect(its.commandErrorCount).toBe(0);
  });

  it('runs the system registers by encoding example', () => {
    const IAR1 = sysregEncoding(3, 0, 12, 12, 0);
    const EOIR1 = sysregEncoding(3, 0, 12, 12, 1);
    expect(IAR1).toBe(0xc660);
    const gic = new GicV3({ cpus: 1 });
    gic.writeSysreg(0, sysregEncoding(3, 4, 12, 11, 0), 1);
    gic.writeSysreg(0, sysregEncoding(3, 4, 12, 11, 7), 0xf000_0002);
    gic.writeSysreg(0, sysregEncoding(3, 4, 12, 12, 0), 27, 0x50a0_0000);
    gic.setVirtualRouting(0, { imo: true, fmo: true });
    const intid = gic.readSysreg(0, IAR1);
    expect(intid).toBe(27);
    gic.writeSysreg(0, EOIR1, intid);
    expect(gic.virtualInterface(0).readElrsr()).toBe(0b1111);
  });

  it('runs the emulated distributor, vCPU switch and vITS examples', () => {
    const kicks: number[] = [];
    const kick = (vcpu: number): number => kicks.push(vcpu);
    const dist = new GicV3({ cpus: 2, onPendingChange: (vcpu) => kick(vcpu) });
    dist.redistributorRegion.mmioWrite(GICR.WAKER, 4, 0);
    dist.distributor.mmioWrite(GICD.CTLR, 4, 0x2);
    dist.distributor.mmioWrite(GICD.IGROUPR + 4, 4, 1 << 8);
    dist.distributor.mmioWrite(GICD.ISENABLER + 4, 4, 1 << 8);
    expect(dist.acceptInterrupt({ vector: 40, trigger: 'edge', flow: 7 })).toBe(DELIVERY_STATUS.DELIVERED);
    expect(kicks).toEqual([0]);
    const hw = new GicV3({ cpus: 2 });
    const ids = new Int32Array(4);
    const n = dist.pendingInterrupts(0, ids);
    for (let i = 0; i < n; i++) {
      const state = dist.takeForListRegister(0, ids[i]!) & 3;
      const hi = (state << 30) | (dist.interruptGroup(0, ids[i]!) << 28) | (dist.interruptPriority(0, ids[i]!) << 16);
      hw.virtualInterface(0).writeLr(i, ids[i]!, hi);
    }
    expect(hw.virtualInterface(0).readLrLow(0)).toBe(40);
    const v = hw.virtualInterface(0);
    for (let i = 0; i < n; i++) dist.foldListRegister(0, v.readLrLow(i), (v.readLrHigh(i) >>> 30) & 3);
    expect(dist.pendingInterrupts(0, ids)).toBe(1);

    const ctx = new Uint32Array(hw.virtualInterfaceWords);
    hw.saveVirtualInterfaceWords(0, ctx);
    hw.restoreVirtualInterfaceWords(1, ctx);
    expect(hw.virtualInterface(1).readLrLow(0)).toBe(40);

    const host = new PhysicalMemory();
    host.addRegion(0x2_0000_0000, 0x100_0000);
    const slots = new Memslots();
    slots.add({ id: 0, guestPhysical: 0x4000_0000, size: 0x100_0000, hostPhysical: 0x2_0000_0000 });
    const vgic = new GicV3({ cpus: 2, lpis: { memory: new GuestPhysicalMemory(host, slots) } });
    const vits = vgic.createIts({ commandErrors: 'ignore' });
    expect(vits.isEnabled).toBe(false);
  });
});
