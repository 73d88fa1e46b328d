/**
 * Issue 8 speed targets: ITS translation (cached) to a pending LPI
 * (>= 5 M/s), direct vLPI to a resident vPE through guest acknowledge and
 * EOI (>= 5 M/s), and LPI selection with 65,536 LPIs configured: cost per
 * acknowledge with 1,000 pending within 1.5x of the cost with 10 pending.
 */
import { bench, describe } from 'vitest';
import { PhysicalMemory } from '@hvsim/core';
import { GicV3 } from '../v3/gic-v3.js';
import { GICR_VLPI_BASE } from '../v4/regs.js';
import { PROP_TABLE, VM_CONFIG, VPT, lpiConfig, makeItsRig, mapDevice, type ItsRig } from '../test-support/its.js';

/** Operations per benchmark call: ops/s = hz x LOOP. */
const LOOP = 1000;
const LPI = 8192;

/** One device with LOOP events mapped to LOOP distinct LPIs on CPU 0, all enabled at 0xa0. */
function physicalRig(): ItsRig {
  const rig = makeItsRig({ cpus: 1 });
  mapDevice(rig, 1, 10);
  for (let e = 0; e < LOOP; e++) {
    rig.cmd('MAPTI', { deviceId: 1, eventId: e, intid: LPI + e, icid: 0 });
    rig.memory.write8(PROP_TABLE + e, lpiConfig(0xa0));
  }
  rig.cmd('INVALL', { icid: 0 });
  // Warm the translation cache.
  for (let e = 0; e < LOOP; e++) rig.its.translate(1, e);
  const cpu = rig.gic.cpuInterface(0);
  for (let e = 0; e < LOOP; e++) cpu.writeEoir(1, cpu.readIar(1));
  return rig;
}

describe('ITS translation (cached) to a pending LPI', () => {
  const rig = physicalRig();
  const its = rig.its;
  const cpu = rig.gic.cpuInterface(0);
  bench(`translate ${LOOP} events, then acknowledge and EOI each [ops=${LOOP}]`, () => {
    for (let e = 0; e < LOOP; e++) its.translate(1, e);
    for (let e = 0; e < LOOP; e++) cpu.writeEoir(1, cpu.readIar(1));
  });
  bench(`translate -> ICC_IAR1 -> ICC_EOIR1, one at a time [ops=${LOOP}]`, () => {
    for (let e = 0; e < LOOP; e++) {
      its.translate(1, e);
      cpu.writeEoir(1, cpu.readIar(1));
    }
  });
});

describe('direct vLPI to a resident vPE through guest acknowledge and EOI (GICv4.1)', () => {
  const rig = makeItsRig({ cpus: 1, gicv4: 'v4.1' });
  rig.memory.fill(VM_CONFIG, 0x1_0000, lpiConfig(0x60));
  rig.cmd('VMAPP', { vpeId: 1, rdbase: 0, valid: 1, vptAddress: VPT(1), vptSize: 15, vconfAddress: VM_CONFIG, doorbell: 1023 });
  mapDevice(rig, 9);
  rig.cmd('VMAPTI', { deviceId: 9, eventId: 0, vpeId: 1, vintid: LPI + 10, doorbell: 1023 });
  rig.gic.write(0, 'ICH_HCR_EL2', 1n);
  rig.gic.write(0, 'ICH_VMCR_EL2', (0xf8n << 24n) | 2n);
  rig.gicr64(0, GICR_VLPI_BASE + 0x78, (1n << 63n) | (1n << 58n) | 1n);
  const its = rig.its;
  const vcpu = rig.gic.virtualInterface(0);
  its.translate(9, 0);
  vcpu.writeEoir(1, vcpu.readIar(1));
  bench(`translate -> ICV_IAR1 -> ICV_EOIR1 [ops=${LOOP}]`, () => {
    for (let k = 0; k < LOOP; k++) {
      its.translate(9, 0);
      vcpu.writeEoir(1, vcpu.readIar(1));
    }
  });
  const gic = rig.gic;
  gic.setVirtualRouting(0, { imo: true, fmo: true });
  bench(`translate -> guest by name (ICC_IAR1_EL1 / ICC_EOIR1_EL1 routed to ICV, bigint) [ops=${LOOP}]`, () => {
    for (let k = 0; k < LOOP; k++) {
      its.translate(9, 0);
      gic.write(0, 'ICC_EOIR1_EL1', gic.read(0, 'ICC_IAR1_EL1'));
    }
  });
});

describe('vPE residency change with a 16-bit VPT (57,344 vLPIs), 3 pending (IHI0069 12.11.38)', () => {
  // Each schedule reads the VPT and configuration table; each deschedule writes back what changed:
  // proportional to the pending vLPIs, not to the table.
  const rig = makeItsRig({ cpus: 1, gicv4: 'v4.1' });
  rig.memory.fill(VM_CONFIG, 0xe000, lpiConfig(0x60));
  rig.cmd('VMAPP', { vpeId: 1, rdbase: 0, valid: 1, vptAddress: VPT(1), vptSize: 15, vconfAddress: VM_CONFIG, doorbell: 1023 });
  mapDevice(rig, 9);
  for (let e = 0; e < 3; e++) rig.cmd('VMAPTI', { deviceId: 9, eventId: e, vpeId: 1, vintid: LPI + 100 + e * 9000, doorbell: 1023 });
  for (let e = 0; e < 3; e++) rig.its.translate(9, e);
  const VPENDBASER = GICR_VLPI_BASE + 0x78;
  bench(`schedule -> one vLPI -> deschedule [ops=${LOOP}]`, () => {
    for (let k = 0; k < LOOP; k++) {
      rig.gicr64(0, VPENDBASER, (1n << 63n) | (1n << 58n) | 1n);
      rig.its.translate(9, 0);
      rig.gicr64(0, VPENDBASER, 1n);
    }
  });
});

/**
 * A one-PE GIC with 17 INTID bits and 65,536 LPIs enabled in the
 * configuration table; `backlog` of them pending at 0xe0, below the
 * priority mask 0xc0, so they stay pending throughout.
 */
function selectionRig(backlog: number): GicV3 {
  const memory = new PhysicalMemory();
  memory.addRegion(0x4000_0000, 0x100_0000);
  const gic = new GicV3({ cpus: 1, lpis: { memory, idBits: 17 } });
  const region = gic.redistributorRegion;
  memory.fill(PROP_TABLE, 65536, lpiConfig(0xe0));
  memory.write8(PROP_TABLE, lpiConfig(0x80));
  region.mmioWrite64(0x70, BigInt(PROP_TABLE) | 16n); // GICR_PROPBASER, IDbits 16: 17 bits
  region.mmioWrite64(0x78, BigInt(0x4010_0000) | (1n << 62n)); // GICR_PENDBASER, PTZ
  region.mmioWrite(0x0, 4, 1); // EnableLPIs
  region.mmioWrite(0x14, 4, 0); // GICR_WAKER: awake
  gic.distributorFor(0).mmioWrite(0x0, 4, 3);
  gic.write(0, 'ICC_PMR_EL1', 0xc0n);
  gic.write(0, 'ICC_IGRPEN1_EL1', 1n);
  for (let k = 0; k < backlog; k++) region.mmioWrite(0x40, 4, LPI + 1 + k * 61); // GICR_SETLPIR
  return gic;
}

describe('LPI selection with 65,536 LPIs configured: acknowledge cost with 10 vs 1,000 pending', () => {
  for (const backlog of [10, 1000]) {
    const gic = selectionRig(backlog);
    const lpi = gic.lpiRedistributor(0);
    const cpu = gic.cpuInterface(0);
    bench(`${backlog} pending: set LPI pending -> ICC_IAR1 -> ICC_EOIR1 [ops=${LOOP}]`, () => {
      for (let k = 0; k < LOOP; k++) {
        lpi.setPending(LPI);
        cpu.writeEoir(1, cpu.readIar(1));
      }
    });
  }
});
